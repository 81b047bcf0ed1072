"""verl adapter: parquet export round trip (pyarrow), compute_score == compute_reward, and (with verl
installed) the example's settings against verl's own config and verl's reward managers over the export."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shop_env.actions import Action, format_model_output
from shop_env.data.model import Session, Step
from shop_env.data.store import write_store
from shop_env.integrations import verl as V
from shop_env.prompts import build_prompt
from shop_env.reward import RewardConfig, compute_reward

GOLDS = [
    Action("type_and_submit", "nav_bar.search_input", "wireless earbuds"),
    Action("click", "search_results.auralux_earbuds.product_title"),
    Action("terminate"),
]
OUTPUTS = [
    format_model_output("I search.", Action("type_and_submit", "nav_bar.search_input", "wireless earbuds")),
    format_model_output("I search.", Action("type_and_submit", "nav_bar.search_input", "bluetooth earbuds")),
    format_model_output("I click.", Action("click", "search_results.auralux_earbuds.product_title")),
    format_model_output("I click.", Action("click", "search_results.other.product_title")),
    format_model_output("I leave.", Action("terminate")),
    '{"rationale": "x", "action": {"type": "click"}}',
    "not json at all",
    "",
]


def _session(sid: str, n: int) -> Session:
    steps = [Step(page_html=f'<html><body><input name="nav_bar.search_input"/><a name="p.{k}">item {k}</a>'
                            f'</body></html>', action=GOLDS[k % len(GOLDS)], url=f"https://shop.example/{k}")
             for k in range(n)]
    return Session(session_id=sid, steps=steps, user_id=f"u{sid}")


@pytest.fixture()
def store(tmp_path):
    return write_store(tmp_path / "store", [_session("a", 3), _session("b", 2)])


@pytest.mark.parametrize("gold", GOLDS)
@pytest.mark.parametrize("out", OUTPUTS)
def test_compute_score_equals_compute_reward(out, gold):
    got = V.compute_score(V.DATA_SOURCE, out, gold.to_json())
    ref = compute_reward(out, gold)
    assert got["score"] == ref.total
    assert (got["format"], got["type"], got["attribute"], got["value"]) == (ref.format, ref.type, ref.attribute,
                                                                            ref.value)
    # ground truth may also arrive as a dict (verl keeps non-tensor data as objects)
    assert V.compute_score(V.DATA_SOURCE, out, gold.to_dict())["score"] == ref.total


def test_compute_score_reward_kwargs_and_presets():
    gold = GOLDS[1]
    out = OUTPUTS[2]
    assert V.compute_score(V.DATA_SOURCE, out, gold.to_json())["score"] == pytest.approx(0.5 + 0.3 + 0.2 + 1000.0)
    small = V.compute_score(V.DATA_SOURCE, out, gold.to_json(), dars_factor=10.0)["score"]
    assert small == compute_reward(out, gold, RewardConfig(dars_factor=10.0)).total == pytest.approx(11.0)
    binary = V.compute_score(V.DATA_SOURCE, out, gold.to_json(), preset="binary")
    assert binary["score"] == 1.0 and binary["exact_match"] == 1.0
    assert V.compute_score(V.DATA_SOURCE, OUTPUTS[3], gold.to_json())["exact_match"] == 0.0


def test_compute_score_strips_chat_end_markers_and_never_raises_on_output():
    gold = GOLDS[2]
    assert V.compute_score(V.DATA_SOURCE, OUTPUTS[4] + "<|im_end|>", gold.to_json())["score"] == 0.8
    assert V.compute_score(V.DATA_SOURCE, OUTPUTS[4] + "<|im_end|>\n<|endoftext|>", gold.to_json())["score"] == 0.8
    for bad in ["<|im_end|>", "{", "\x00", "{}" * 1000]:
        assert V.compute_score(V.DATA_SOURCE, bad, gold.to_json())["score"] == 0.0
    with pytest.raises(ValueError):
        V.compute_score(V.DATA_SOURCE, OUTPUTS[4], "not json")


def test_export_round_trip(store, tmp_path):
    out = V.export_verl_parquet(store, tmp_path / "verl" / "train.parquet", split="all", max_chars=2000,
                                batch_rows=2)
    table = pq.read_table(out)
    assert table.schema.equals(V.VERL_SCHEMA)
    rows = table.to_pylist()
    assert len(rows) == 5  # one row per replayed step (3 + 2)
    from shop_env.data.store import open_store
    st = open_store(store)
    expected = [(s, k) for s in range(len(st)) for k in range(len(st[s]))]
    for i, (row, (s, k)) in enumerate(zip(rows, expected)):
        session = st[s]
        prompt = build_prompt(session, k, max_chars=2000)
        assert row["data_source"] == V.DATA_SOURCE
        assert row["prompt"] == prompt.messages
        assert row["reward_model"]["style"] == "rule"
        assert Action.from_dict(json.loads(row["reward_model"]["ground_truth"])) == session.steps[k].action
        assert row["extra_info"] == {"split": "all", "index": i, "session_id": session.session_id,
                                     "step_index": k, "target_kept": prompt.target_kept,
                                     "gold_type": session.steps[k].action.type}
        # the exported ground truth feeds compute_score directly
        perfect = format_model_output("r", session.steps[k].action)
        assert V.compute_score(row["data_source"], perfect, row["reward_model"]["ground_truth"],
                               row["extra_info"])["exact_match"] == 1.0


def test_export_with_a_tokenizer_path_equals_the_environments_prompts(tmp_path):
    """A token budget with the tokenizer given as a path, as the environment accepts it."""
    from shop_env.env import ShopSessionEnv
    from shop_env.paths import sample_data_dir
    from tests.tiny_data import cached_easy_model
    model_dir = str(cached_easy_model()[0])
    rows = list(V.verl_records(sample_data_dir(), "test", max_tokens=300, tokenizer=model_dir, limit=6))
    env = ShopSessionEnv(sample_data_dir(), split="test", max_tokens=300, tokenizer=model_dir)
    for row in rows:
        _, info = env.reset(options={"session_id": row["extra_info"]["session_id"],
                                     "step": row["extra_info"]["step_index"]})
        assert row["prompt"] == info["messages"]
    assert len({r["extra_info"]["session_id"] for r in rows}) > 1


def test_export_limit_and_empty(store, tmp_path):
    rows = pq.read_table(V.export_verl_parquet(store, tmp_path / "a.parquet", split="all", limit=2)).to_pylist()
    assert [r["extra_info"]["index"] for r in rows] == [0, 1]
    empty = write_store(tmp_path / "empty", [])
    t = pq.read_table(V.export_verl_parquet(empty, tmp_path / "e.parquet", split="all"))
    assert t.num_rows == 0 and t.schema.equals(V.VERL_SCHEMA)
    assert not list(tmp_path.glob(".*.tmp"))


# --- verl itself: the example's settings against verl's shipped config, and verl's reward path ---

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "verl"
CONFIGS = sorted((EXAMPLE / "config").glob("*.env"))


@pytest.fixture(scope="module")
def verl():
    # verl pins transformers<5.11, so it is not in [dev]; `make test-verl` runs these in their own venv
    return pytest.importorskip("verl", reason="verl is not installed: run `make test-verl`")


def _script_overrides(tmp_path: Path, config: Path, **env: str) -> list[str]:
    """The Hydra overrides run_shop_r1_grpo.sh hands to verl: the script runs with a stub ``python3``."""
    stub = tmp_path / "bin"
    stub.mkdir(exist_ok=True)
    (stub / "python3").write_text('#!/bin/sh\nfor a in "$@"; do printf \'%s\\0\' "$a"; done > "$ARGV_OUT"\n')
    (stub / "python3").chmod(0o755)
    argv_out = tmp_path / "argv"
    run_env = {**os.environ, **env, "PATH": f"{stub}{os.pathsep}{os.environ['PATH']}", "CONFIG": str(config),
               "ARGV_OUT": str(argv_out)}
    subprocess.run(["bash", str(EXAMPLE / "run_shop_r1_grpo.sh")], env=run_env, check=True, timeout=60)
    argv = argv_out.read_text().split("\0")[:-1]
    assert argv[:2] == ["-m", "verl.trainer.main_ppo"]
    return argv[2:]


def _sbatch_overrides() -> list[str]:
    """The extra overrides slurm_multinode.sbatch appends, with its Slurm variables filled in."""
    text = (EXAMPLE / "slurm_multinode.sbatch").read_text()
    line = re.search(r"run_shop_r1_grpo\.sh (.+)$", text, re.M)
    assert line, "slurm_multinode.sbatch no longer calls run_shop_r1_grpo.sh"
    values = {"SLURM_JOB_NUM_NODES": "4", "SLURM_CPUS_PER_TASK": "64"}
    return [re.sub(r'"?\$\{?(\w+)\}?"?', lambda m: values[m.group(1)], arg) for arg in line.group(1).split()]


def _compose(overrides: list[str]):
    """verl's trainer config with ``overrides``, composed as ``verl.trainer.main_ppo`` does (Hydra)."""
    from hydra import compose, initialize_config_dir
    import verl.trainer.main_ppo as main_ppo

    with initialize_config_dir(config_dir=str(Path(main_ppo.__file__).parent / "config"), version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_example_keys_exist_in_verls_trainer_config(verl, config, tmp_path):
    """Every key run_shop_r1_grpo.sh (and the sbatch file) sets is in verl's ppo_trainer.yaml, and verl's
    own validation accepts the sizes; a renamed key fails composition."""
    from hydra.errors import ConfigCompositionException
    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    overrides = _script_overrides(tmp_path, config) + _sbatch_overrides()
    forced = [o for o in overrides if o.startswith("+")]
    assert all(o.startswith("++reward.custom_reward_function.reward_kwargs.") for o in forced), forced
    cfg = _compose(overrides)  # raises on a key verl's config does not have
    for o in overrides:
        key = o.lstrip("+").split("=", 1)[0]
        assert OmegaConf.select(cfg, key, throw_on_missing=False) is not None or o.endswith("=null"), key
    assert "custom_reward_function" in _compose([]).reward  # the parent of the forced (++) keys
    validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    assert cfg.algorithm.adv_estimator == "grpo" and cfg.actor_rollout_ref.rollout.n == 8
    with pytest.raises(ConfigCompositionException):  # the check has teeth: a misspelt key is refused
        _compose(overrides + ["actor_rollout_ref.actor.kl_loss_typ=low_var_kl"])


def _dataproto_with_responses(rows, tokenizer, responses: list[str]):
    """A rollout-shaped DataProto: verl's dataset rows plus left-padded prompts and right-padded responses
    (each ending in the end-of-turn token), as verl's rollout hands them to the reward."""
    import numpy as np
    import torch
    from verl import DataProto
    from verl.utils.dataset.rl_dataset import collate_fn

    prompts = [tokenizer.apply_chat_template(list(r["raw_prompt"]), add_generation_prompt=True, tokenize=True)
               for r in rows]
    prompts = [list(p["input_ids"]) if hasattr(p, "keys") else list(p) for p in prompts]
    outs = [tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for text in responses]
    width_p, width_r = max(map(len, prompts)), max(map(len, outs))
    pad = tokenizer.pad_token_id
    prompt_ids = torch.tensor([[pad] * (width_p - len(p)) + p for p in prompts])
    response_ids = torch.tensor([o + [pad] * (width_r - len(o)) for o in outs])
    mask = torch.tensor([[0] * (width_p - len(p)) + [1] * len(p) + [1] * len(o) + [0] * (width_r - len(o))
                         for p, o in zip(prompts, outs)])
    batch = collate_fn(rows)
    batch.update(prompts=prompt_ids, responses=response_ids, attention_mask=mask,
                 input_ids=torch.cat([prompt_ids, response_ids], dim=1))
    data = DataProto.from_single_dict(batch)
    assert isinstance(data.non_tensor_batch["reward_model"], np.ndarray)
    return data, [len(o) for o in outs]


def test_verl_reward_managers_score_exported_parquet_with_compute_score(verl, tmp_path):
    """verl reads the exported parquet with its own dataset class, and its reward managers (the reward
    loop's NaiveRewardManager that verl's trainer runs, and the legacy batch NaiveRewardManager), loaded
    from the example script's settings, give exactly our compute_score / score_output."""
    from agents.training.tiny import cached_tiny_model
    from shop_env.paths import sample_data_dir
    from shop_env.reward import score_output
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.utils.dataset.rl_dataset import RLHFDataset
    from verl.workers.reward_manager import NaiveRewardManager

    data_dir = tmp_path / "data"
    for split in ("train", "test"):
        V.export_verl_parquet(sample_data_dir(), data_dir / f"{split}.parquet", split=split,
                              context="latest_step", max_chars=1500, limit=6)
    model_dir = cached_tiny_model()
    overrides = _script_overrides(tmp_path, EXAMPLE / "config" / "single_node_8gpu.env", DATA_DIR=str(data_dir),
                                  MODEL_PATH=str(model_dir), DARS_FACTOR="10.0")
    cfg = _compose(overrides)  # verl's trainer reads reward.* as composed (it does not migrate legacy keys)
    assert cfg.reward.custom_reward_function.path == str(EXAMPLE / "reward_fn.py")

    worker = RewardLoopWorker(cfg)  # loads the tokenizer from actor_rollout_ref.model.path
    tokenizer = worker.input_tokenizer
    dataset = RLHFDataset(cfg.data.train_files, tokenizer, cfg.data)
    assert len(dataset) == 6  # nothing filtered: every exported prompt fits max_prompt_length
    rows = [dataset[i] for i in range(len(dataset))]
    golds = [json.loads(r["reward_model"]["ground_truth"]) for r in rows]
    # rows take turns: the gold output itself, a wrong element, an unfinished output
    responses = []
    for i, (r, g) in enumerate(zip(rows, golds)):
        gold = Action.from_dict(g)
        variants = [format_model_output("I do what I came for.", gold),
                    format_model_output("x", Action("click", gold.name + ".other") if gold.type == "click" else
                                        Action("type_and_submit", gold.name + ".other", "zzz")
                                        if gold.type == "type_and_submit" else Action("click", "nav_bar.cart")),
                    '{"rationale": "unfinished", "action": {"type": ']
        responses.append(variants[i % len(variants)])
    assert {r["data_source"] for r in rows} == {V.DATA_SOURCE}
    assert list(rows[0]["raw_prompt"]) == V.verl_records(sample_data_dir(), "train", context="latest_step",
                                                        max_chars=1500, limit=1).__next__()["prompt"]
    data, lengths = _dataproto_with_responses(rows, tokenizer, responses)

    reward_kwargs = {"dars_factor": 10.0, "action_reward": "hierarchical"}
    expected = [V.compute_score(V.DATA_SOURCE, text, r["reward_model"]["ground_truth"], **reward_kwargs)
                for text, r in zip(responses, rows)]
    config = RewardConfig(dars_factor=10.0)
    assert [e["score"] for e in expected] == [score_output(t, g, config).reward.total
                                              for t, g in zip(responses, golds)]
    assert [e["exact_match"] for e in expected] == [1.0, 0.0, 0.0] * 2
    assert max(e["score"] for e in expected) > 10.0  # the script's DARS factor reached compute_score

    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))  # the worker's own loop
    assert [o["reward_score"] for o in outputs] == [e["score"] for e in expected]
    assert [o["reward_extra_info"]["exact_match"] for o in outputs] == [e["exact_match"] for e in expected]
    rm_scores = worker.reward_manager.assemble_rm_scores(data, [o["reward_score"] for o in outputs])
    for i, n in enumerate(lengths):  # the reward sits on the last response token (the end-of-turn token)
        assert rm_scores[i, n - 1].item() == pytest.approx(expected[i]["score"])
        assert rm_scores[i].abs().sum().item() == pytest.approx(abs(expected[i]["score"]))

    legacy = NaiveRewardManager(tokenizer, num_examine=0, compute_score=get_custom_reward_fn(cfg))
    out = legacy(data, return_dict=True)
    for i, n in enumerate(lengths):
        assert out["reward_tensor"][i, n - 1].item() == pytest.approx(expected[i]["score"])
    assert out["reward_extra_info"]["score"] == [e["score"] for e in expected]
