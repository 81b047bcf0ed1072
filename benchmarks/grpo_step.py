"""One GRPO step (generation + reference + loss + optimizer step) on a random-init Qwen2 model.

Shared by ``bench_grpo_memory.py`` (CPU, peak RSS) and ``gpu_grpo.py`` (CUDA, tokens/s and
peak GPU memory). It drives the trainer's own pieces: :func:`agents.sampling.sample_prompts`
(each prompt prefilled once, its cache shared by its samples) and
:func:`agents.training.grpo_update.update` (one prompt's rows per micro-batch, no padding
masks), with random prompts, no stop token (every completion has ``new_tokens`` tokens)
and random rewards. Nothing is downloaded: the model is built from a ``Qwen2Config``.
"""
from __future__ import annotations

import copy
import time

import torch

#: Qwen2.5 architectures (the published configs' shapes), built with random weights.
QWEN25 = {
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, tie_word_embeddings=True),
    "3b": dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
               num_key_value_heads=2, tie_word_embeddings=True),
    "small": dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=2, tie_word_embeddings=True),
}


def random_qwen2(arch: str, *, vocab_size: int = 151936, max_positions: int = 32768, dtype=torch.float32,
                 device: str = "cpu", gradient_checkpointing: bool = True, seed: int = 0):
    """A random-init Qwen2 causal LM of the named shape (``QWEN25``), ready to train."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(vocab_size=vocab_size, max_position_embeddings=max_positions, rope_theta=1e6,
                         attn_implementation="sdpa", **QWEN25[arch])
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype).to(device)
    if gradient_checkpointing:
        (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    return model


def frozen_copy(model):
    """The reference policy: a frozen copy in the same dtype."""
    ref = copy.deepcopy(model).eval()
    ref.requires_grad_(False)
    return ref


def grpo_step(model, ref, optimizer, *, prompts: int, group: int, prompt_tokens: int, new_tokens: int,
              micro_batch: int = 1, generation_rows: int | None = None, seed: int = 0) -> dict[str, float]:
    """Run one step; return its seconds, generated tokens and the trainer's stats."""
    from agents.sampling import sample_prompts
    from agents.training.grpo import GRPOConfig
    from agents.training.grpo_update import row_chunks, update
    from agents.training.utils import Runtime

    device = next(model.parameters()).device
    runtime = Runtime(str(device))
    cfg = GRPOConfig(model="random", num_generations=group, micro_batch_size=micro_batch, temperature=0.6)
    g = torch.Generator(device=device).manual_seed(seed)
    vocab = model.config.vocab_size
    rows = [torch.randint(0, vocab, (prompt_tokens,), generator=g, device=device) for _ in range(prompts)]
    t0 = time.perf_counter()
    model.eval()
    with runtime.autocast():
        batch = sample_prompts(model, rows, group, max_new_tokens=new_tokens, stop_ids=[-1], pad_id=0,
                               temperature=0.6, generator=g, max_rows=generation_rows)
    t_gen = time.perf_counter() - t0
    model.train()
    adv = torch.randn(prompts * group, generator=g, device=device)
    chunks = row_chunks(rows, batch.mask, group, micro_batch)
    params = [p for p in model.parameters() if p.requires_grad]
    stats = update(model, ref, optimizer, params, chunks, batch.tokens, batch.mask, adv, beta=1e-3,
                   config=cfg, runtime=runtime)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "generation_seconds": t_gen, "completion_tokens": float(batch.mask.sum()),
            "prompt_tokens": float(prompts * prompt_tokens), **stats}
