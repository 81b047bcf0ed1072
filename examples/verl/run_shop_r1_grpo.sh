#!/usr/bin/env bash
# Shop-R1 GRPO with verl: the Shop-R1 reward (format + hierarchical action reward with DARS)
# as verl's custom reward function, on the parquet files written by prepare_data.py.
#
#   CONFIG=examples/verl/config/single_node_8gpu.env bash examples/verl/run_shop_r1_grpo.sh
#   CONFIG=examples/verl/config/multi_node_4x8gpu.env bash examples/verl/run_shop_r1_grpo.sh   # on the Ray head
#
# Extra arguments are passed on to verl as Hydra overrides, e.g. trainer.logger='["console"]'.
# Written for verl 0.9.x; `make test-verl` checks every key below against the installed verl.
# The self-certainty rationale bonus (alpha 0.005) needs the policy's logits and is not part
# of this rule reward; see README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONFIG=${CONFIG:-$HERE/config/single_node_8gpu.env}
# shellcheck source=/dev/null
source "$CONFIG"
# Reward options: RewardConfig fields, passed to compute_score as reward.custom_reward_function.reward_kwargs.
DARS_FACTOR=${DARS_FACTOR:-1000.0}
ACTION_REWARD=${ACTION_REWARD:-hierarchical}

python3 -m verl.trainer.main_ppo \
    algorithm.adv_estimator=grpo \
    algorithm.use_kl_in_reward=False \
    data.train_files="$DATA_DIR/train.parquet" \
    data.val_files="$DATA_DIR/test.parquet" \
    data.prompt_key=prompt \
    data.reward_fn_key=data_source \
    data.train_batch_size="$TRAIN_BATCH_SIZE" \
    data.max_prompt_length="$MAX_PROMPT_LENGTH" \
    data.max_response_length="$MAX_RESPONSE_LENGTH" \
    data.filter_overlong_prompts=True \
    data.truncation=left \
    actor_rollout_ref.model.path="$MODEL_PATH" \
    actor_rollout_ref.model.use_remove_padding=True \
    actor_rollout_ref.model.enable_gradient_checkpointing=True \
    actor_rollout_ref.actor.strategy=fsdp \
    actor_rollout_ref.actor.optim.lr="$LR" \
    actor_rollout_ref.actor.ppo_mini_batch_size="$PPO_MINI_BATCH_SIZE" \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu="$MICRO_BATCH_PER_GPU" \
    actor_rollout_ref.actor.use_dynamic_bsz=True \
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu=$(( (MAX_PROMPT_LENGTH + MAX_RESPONSE_LENGTH) )) \
    actor_rollout_ref.actor.ulysses_sequence_parallel_size="$SEQ_PARALLEL" \
    actor_rollout_ref.actor.use_kl_loss=True \
    actor_rollout_ref.actor.kl_loss_coef="$KL_COEF" \
    actor_rollout_ref.actor.kl_loss_type=low_var_kl \
    actor_rollout_ref.actor.entropy_coeff=0 \
    actor_rollout_ref.actor.fsdp_config.param_offload="$OFFLOAD" \
    actor_rollout_ref.actor.fsdp_config.optimizer_offload="$OFFLOAD" \
    actor_rollout_ref.ref.fsdp_config.param_offload=True \
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu="$MICRO_BATCH_PER_GPU" \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.n="$ROLLOUT_N" \
    actor_rollout_ref.rollout.temperature="$TEMPERATURE" \
    actor_rollout_ref.rollout.tensor_model_parallel_size="$ROLLOUT_TP" \
    actor_rollout_ref.rollout.gpu_memory_utilization="$GPU_MEM_UTIL" \
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu="$MICRO_BATCH_PER_GPU" \
    actor_rollout_ref.rollout.val_kwargs.temperature="$TEMPERATURE" \
    actor_rollout_ref.rollout.val_kwargs.do_sample=True \
    reward.reward_manager.name=naive \
    reward.custom_reward_function.path="$HERE/reward_fn.py" \
    reward.custom_reward_function.name=compute_score \
    ++reward.custom_reward_function.reward_kwargs.dars_factor="$DARS_FACTOR" \
    ++reward.custom_reward_function.reward_kwargs.action_reward="$ACTION_REWARD" \
    trainer.critic_warmup=0 \
    trainer.logger='["console","tensorboard"]' \
    trainer.project_name=shop_r1 \
    trainer.experiment_name="grpo_${NNODES}x${GPUS_PER_NODE}" \
    trainer.nnodes="$NNODES" \
    trainer.n_gpus_per_node="$GPUS_PER_NODE" \
    trainer.total_training_steps="$TOTAL_STEPS" \
    trainer.save_freq=50 \
    trainer.test_freq=50 \
    trainer.resume_mode=auto \
    "$@"
