"""Trainers for the LLM agent: SFT cold start (:mod:`.sft`), GRPO (:mod:`.grpo`), the
paper's named settings (:mod:`.settings`, JSON in ``paper_configs/``), shared training
utilities (:mod:`.utils`) and the tiny random-initialised model for CPU runs (:mod:`.tiny`)."""
