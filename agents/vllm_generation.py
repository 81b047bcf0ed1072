"""Optional vLLM sampling for GPU users (``pip install 'shop-r1[vllm]'``); imported lazily.

vLLM returns tokens but no logits, so the self-certainty bonus is computed by the trainer
from the logits of its own forward pass over the sampled tokens
(:func:`agents.training.grpo_update.forward_self_certainty`), before the update. With one
update per batch that model is the policy that sampled, so the value equals what the HF
sampling path records at sampling time (tested on the CPU through the HF path).

The engine runs in the training process ("colocate", vLLM's ``external_launcher`` executor,
as TRL's colocate mode does); after every optimizer step :meth:`VLLMGenerator.load_weights`
pushes the policy's weights into it. This module is not exercised in CI (vLLM needs a GPU)
and has not been run on one; its interface is, through a stand-in with the same methods.
"""
from __future__ import annotations

import os
from typing import Sequence

import torch

from agents.sampling import SampleBatch

__all__ = ["VLLMGenerator"]


class VLLMGenerator:
    """Sample continuations of token-id prompts with a colocated ``vllm.LLM``."""

    def __init__(self, model_path: str | os.PathLike, *, temperature: float, top_p: float, max_new_tokens: int,
                 stop_ids: list[int], pad_id: int, seed: int = 0, gpu_memory_utilization: float = 0.3,
                 max_model_len: int | None = None, dtype: str = "bfloat16") -> None:
        try:
            import vllm
        except ImportError as e:
            from shop_env.errors import MissingExtraError
            raise MissingExtraError("vllm", "vllm") from e
        self._vllm = vllm
        self.temperature, self.top_p, self.max_new_tokens = temperature, top_p, max_new_tokens
        self.stop_ids, self.pad_id = list(stop_ids), pad_id
        # "external_launcher" keeps the engine in this process (one engine per training
        # process), which is what lets load_weights reach the model; it reads the
        # torch.distributed variables, set here for a single-process run.
        for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1"),
                           ("MASTER_PORT", str(_free_port()))):
            os.environ.setdefault(key, value)
        self.llm = vllm.LLM(model=str(model_path), dtype=dtype, seed=seed, gpu_memory_utilization=gpu_memory_utilization,
                            max_model_len=max_model_len, enable_prefix_caching=True,
                            distributed_executor_backend="external_launcher")

    def sample(self, prompts: Sequence[torch.Tensor], num_samples: int, *, seed: int) -> SampleBatch:
        """``num_samples`` continuations per prompt, rows grouped by prompt (no self-certainty)."""
        params = self._vllm.SamplingParams(n=num_samples, temperature=self.temperature, top_p=self.top_p,
                                           max_tokens=self.max_new_tokens, seed=seed % (2**31), stop_token_ids=self.stop_ids,
                                           logprobs=0, skip_special_tokens=False)
        outs = self.llm.generate([{"prompt_token_ids": p.tolist()} for p in prompts], params, use_tqdm=False)
        rows, finished = [], []
        for o in outs:
            for c in o.outputs:
                ids = list(c.token_ids)
                stopped = c.finish_reason == "stop"
                if stopped and (not ids or ids[-1] not in self.stop_ids):
                    ids.append(self.stop_ids[0])  # the stop token is trained like any other token
                rows.append((ids, [_chosen_logprob(d, t) for d, t in zip(c.logprobs or [], c.token_ids)]))
                finished.append(stopped)
        device = prompts[0].device
        T = max(1, max(len(ids) for ids, _ in rows))
        tokens = torch.full((len(rows), T), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), T), dtype=torch.long)
        logprobs = torch.zeros((len(rows), T))
        for i, (ids, lps) in enumerate(rows):
            tokens[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            mask[i, :len(ids)] = 1
            logprobs[i, :len(lps)] = torch.tensor(lps)
        finished = torch.tensor(finished, dtype=torch.bool)
        return SampleBatch(tokens=tokens.to(device), mask=mask.to(device), logprobs=logprobs.to(device),
                           token_self_certainty=torch.zeros((len(rows), T), device=device),
                           finished=finished.to(device))

    def load_weights(self, model) -> None:
        """Copy the policy's current weights into the engine (after an optimizer step)."""
        if hasattr(model, "disable_adapter"):
            raise ValueError("the vLLM generator takes full weights; train without LoRA or merge the adapter first")
        runner = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        runner.load_weights(((name, p.detach()) for name, p in model.named_parameters()))
        self.llm.reset_prefix_cache()


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chosen_logprob(step: dict, token: int) -> float:
    """vLLM's log-probability of the sampled token at one position (0.0 when absent)."""
    entry = (step or {}).get(token)
    return float(entry.logprob) if entry is not None else 0.0
