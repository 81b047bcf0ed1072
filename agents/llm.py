"""``LLMAgent``: any Hugging Face causal LM as a batched shop-r1 policy.

* Prompts: the tokenizer's chat template when it has one, else a plain
  ``### System / ### User / ### Assistant`` template (:func:`render_chat`).
* Sampling: our own KV-cached loop (:mod:`agents.sampling`): each prompt is prefilled
  once and its cache shared by its samples, at most ``max_rows`` rows decode together;
  temperature 0.6 by default (the paper's RL setting), top-p, ``max_new_tokens``, seeded.
* Per sample: text, token ids, per-token log-probabilities (tempered sampling
  distribution), and the self-certainty of the rationale span, computed from the raw
  (untempered) logits of the generating forward pass (see :mod:`agents.self_certainty`
  for why raw). The rationale's tokens are found through the tokenizer's character
  offsets inside the generated JSON.
* ``act(observations, infos)`` implements :class:`agents.base.Policy` using
  ``info["messages"]`` from the environment.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from agents.sampling import SampleBatch, sample_prompts, unpad_rows
from agents.self_certainty import rationale_token_mask

__all__ = ["Generation", "Rollout", "LLMAgent", "render_chat", "chat_segments", "resolve_device", "encode_chat"]

PLAIN_HEADERS = {"system": "### System:\n", "user": "### User:\n", "assistant": "### Assistant:\n"}
Messages = Sequence[dict[str, str]]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU; anything else is passed to ``torch.device``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _plain_turn(tokenizer, message: dict[str, str]) -> str:
    role = message["role"]
    if role not in PLAIN_HEADERS:
        raise ValueError(f"message role must be one of {sorted(PLAIN_HEADERS)}, got {role!r}")
    end = (tokenizer.eos_token or "") if role == "assistant" else ""
    return f"{PLAIN_HEADERS[role]}{message['content']}{end}\n\n"


def render_chat(tokenizer, messages: Messages, add_generation_prompt: bool = True) -> str:
    """The prompt text for ``messages``: chat template if the tokenizer has one, else plain."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(messages), tokenize=False,
                                             add_generation_prompt=add_generation_prompt)
    text = (tokenizer.bos_token or "") + "".join(_plain_turn(tokenizer, m) for m in messages)
    return text + (PLAIN_HEADERS["assistant"] if add_generation_prompt else "")


def chat_segments(tokenizer, messages: Messages) -> list[tuple[str, bool]]:
    """Split a rendered conversation into ``(text, is_assistant)`` pieces that concatenate to it.

    An assistant piece is the assistant's content plus the template's end-of-turn marker
    (what the model must learn to emit); everything else (headers, user turns) is context.
    Requires a template whose rendering of a prefix of the conversation is a prefix of the
    full rendering (true for ChatML/Qwen2.5, Llama 3 and the plain template).
    """
    segments: list[tuple[str, bool]] = []
    done = ""
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = render_chat(tokenizer, messages[:i], add_generation_prompt=True)
        through = render_chat(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not before.startswith(done) or not through.startswith(before):
            raise ValueError("the chat template does not render conversations prefix-consistently; "
                             "cannot locate assistant tokens")
        reply = through[len(before):]
        body = reply.rstrip("\n")  # the template's newline after end-of-turn is context
        segments += [(before[len(done):], False), (body, True)]
        done = before + body
    rest = render_chat(tokenizer, messages, add_generation_prompt=False)
    if len(rest) > len(done):
        segments.append((rest[len(done):], False))
    return [(t, a) for t, a in segments if t]


def encode_chat(tokenizer, messages: Messages) -> tuple[list[int], list[bool]]:
    """Token ids of the whole conversation and, per token, whether it is an assistant token."""
    ids: list[int] = []
    is_assistant: list[bool] = []
    for text, assistant in chat_segments(tokenizer, messages):
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        is_assistant += [assistant] * len(piece)
    return ids, is_assistant


@dataclass
class Generation:
    """One sampled output. ``rationale_mask[i]`` marks token ``i`` as part of the rationale."""

    text: str
    token_ids: list[int]
    logprobs: list[float]
    self_certainty: float
    rationale_mask: list[bool]
    finish_reason: str  # "stop" or "length"
    prompt_index: int


@dataclass
class Rollout:
    """What :meth:`LLMAgent.sample` drew: row ``i`` of ``batch`` continues ``prompts[i // num_samples]``."""

    prompts: list[torch.Tensor]  # unpadded prompt token ids, one 1-D tensor per prompt
    batch: SampleBatch
    generations: list[Generation]
    num_samples: int


class LLMAgent:
    """A Hugging Face causal LM + tokenizer as a batched, seeded shop-r1 policy.

    Sampling (``temperature > 0``) draws from one generator seeded with ``seed``: the same
    calls give the same outputs, but an output also depends on the batch it was sampled in
    and on the calls before it, so an evaluation run with another batch size, or resumed
    part-way, samples differently. Greedy decoding (``temperature=0``) depends on neither.
    """

    def __init__(self, model, tokenizer, *, temperature: float = 0.6, top_p: float = 1.0,
                 max_new_tokens: int = 256, seed: int = 0, max_prompt_tokens: int | None = None,
                 batch_size: int | None = None, max_rows: int | None = None, name: str | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.temperature = temperature
        self.top_p = top_p
        self.max_new_tokens = max_new_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.batch_size = batch_size
        self.max_rows = max_rows  # rows decoded at once (None: all rows of a call)
        self.name = name or f"llm:{getattr(model.config, '_name_or_path', '') or type(model).__name__}"
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if self.pad_id is None:
            raise ValueError("tokenizer has neither a pad token nor an eos token")
        self.stop_ids = self._stop_ids()
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.last_generations: list[Generation] = []

    @classmethod
    def from_pretrained(cls, path_or_name: str, device: str | torch.device | None = "auto",
                        dtype: str | torch.dtype = "auto", **kwargs: Any) -> "LLMAgent":
        """Load model and tokenizer (local dir or hub name); CUDA when present, bf16 there."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dev = resolve_device(device)
        if dtype == "auto":
            dtype = torch.bfloat16 if dev.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        tokenizer = AutoTokenizer.from_pretrained(path_or_name)
        model = AutoModelForCausalLM.from_pretrained(path_or_name, dtype=dtype).to(dev)
        model.eval()
        return cls(model, tokenizer, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _stop_ids(self) -> list[int]:
        ids = set()
        for src in (self.tokenizer.eos_token_id, getattr(self.model.generation_config, "eos_token_id", None)):
            if src is None:
                continue
            ids.update(src if isinstance(src, (list, tuple)) else [src])
        if not ids:
            raise ValueError("no eos token: cannot tell when a sample ends")
        return sorted(int(i) for i in ids)

    # -- prompts ------------------------------------------------------------------------
    def encode_prompts(self, prompts: Sequence[Messages | str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded ``(input_ids, attention_mask)`` for chat messages or bare user texts."""
        rows = []
        for p in prompts:
            messages = [{"role": "user", "content": p}] if isinstance(p, str) else p
            ids = self.tokenizer(render_chat(self.tokenizer, messages), add_special_tokens=False)["input_ids"]
            if self.max_prompt_tokens is not None and len(ids) > self.max_prompt_tokens:
                # Never cut from the left (that removes the system prompt): budget the prompt upstream.
                raise ValueError(f"prompt of {len(ids)} tokens exceeds max_prompt_tokens={self.max_prompt_tokens}; "
                                 "budget it with shop_env.prompts.PromptBuilder (env/eval max_tokens)")
            rows.append(ids)
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            if r:
                input_ids[i, width - len(r):] = torch.tensor(r)
                mask[i, width - len(r):] = 1
        return input_ids.to(self.device), mask.to(self.device)

    # -- sampling -----------------------------------------------------------------------
    def sample(self, prompts: Sequence[Messages | str], num_samples: int = 1, *,
               generator: torch.Generator | None = None, temperature: float | None = None,
               with_self_certainty: bool = True) -> Rollout:
        """Sample ``num_samples`` continuations per prompt (rows grouped by prompt).

        Each prompt is prefilled once; its samples share that prefill's KV cache.
        """
        if not prompts:
            raise ValueError("no prompts")
        rows = unpad_rows(*self.encode_prompts(prompts))
        was_training = self.model.training
        self.model.eval()
        try:
            batch = sample_prompts(self.model, rows, num_samples, max_new_tokens=self.max_new_tokens,
                                   stop_ids=self.stop_ids, pad_id=self.pad_id,
                                   temperature=self.temperature if temperature is None else temperature,
                                   top_p=self.top_p, generator=generator or self.generator,
                                   with_self_certainty=with_self_certainty, max_rows=self.max_rows)
        finally:
            self.model.train(was_training)
        return Rollout(rows, batch, self.generations(batch, num_samples), num_samples)

    def generations(self, batch: SampleBatch, num_samples: int) -> list[Generation]:
        """One :class:`Generation` per row of ``batch`` (rows grouped by prompt, ``num_samples`` each)."""
        return [self._to_generation(batch, i, i // num_samples) for i in range(batch.tokens.shape[0])]

    def generate(self, prompts: Sequence[Messages | str], num_samples: int = 1, **kwargs: Any) -> list[list[Generation]]:
        """``num_samples`` :class:`Generation` s per prompt, in micro-batches of ``batch_size`` prompts."""
        step = self.batch_size or len(prompts)
        out: list[list[Generation]] = []
        for start in range(0, len(prompts), step):
            gens = self.sample(prompts[start:start + step], num_samples, **kwargs).generations
            for j in range(0, len(gens), num_samples):
                group = gens[j:j + num_samples]
                for g in group:
                    g.prompt_index += start
                out.append(group)
        return out

    def act(self, observations: Sequence[str], infos: Sequence[dict[str, Any]] | None = None) -> list[str]:
        """One output text per observation, prompting with ``info["messages"]`` when given."""
        infos = infos or [{}] * len(observations)
        prompts = [info.get("messages") or obs for obs, info in zip(observations, infos)]
        self.last_generations = [g[0] for g in self.generate(prompts, 1)]
        return [g.text for g in self.last_generations]

    # -- decoding -----------------------------------------------------------------------
    def _to_generation(self, batch: SampleBatch, row: int, prompt_index: int) -> Generation:
        n = int(batch.mask[row].sum())
        ids = batch.tokens[row, :n].tolist()
        text, offsets = self.decode_with_offsets(ids)
        rmask = rationale_token_mask(text, offsets)
        sc = batch.token_self_certainty[row, :n]
        m = torch.tensor(rmask, dtype=torch.bool, device=sc.device)
        value = float(sc[m].mean()) if bool(m.any()) else 0.0
        return Generation(text=text, token_ids=ids, logprobs=batch.logprobs[row, :n].tolist(),
                          self_certainty=value, rationale_mask=rmask,
                          finish_reason="stop" if bool(batch.finished[row]) else "length",
                          prompt_index=prompt_index)

    def decode_with_offsets(self, ids: list[int]) -> tuple[str, list[tuple[int, int]]]:
        """Decoded text (special tokens skipped) and each token's ``(start, end)`` in it.

        Offsets come from re-tokenising the text with ``return_offsets_mapping`` when that
        reproduces the same ids (the usual case); otherwise from decoding growing
        prefixes. Special tokens get the empty range at the end of the text so far.
        """
        tok = self.tokenizer
        special = set(tok.all_special_ids)
        keep = [i for i in ids if i not in special]
        text = tok.decode(keep, skip_special_tokens=True)
        enc = None
        if getattr(tok, "is_fast", False):
            enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        if enc is not None and enc["input_ids"] == keep:
            content = [tuple(o) for o in enc["offset_mapping"]]
        else:
            content, prev = [], 0
            for k in range(len(keep)):
                prefix = tok.decode(keep[:k + 1], skip_special_tokens=True)
                cur = len(prefix)
                content.append((prev, cur))
                # Until its last byte arrives, a multi-byte character shows as U+FFFD: the
                # next token starts on it too, so every token of the character covers it.
                pending = prefix.endswith("\ufffd") and text[cur - 1:cur] != "\ufffd"
                prev = cur - 1 if pending else cur
        offsets, k, end = [], 0, 0
        for i in ids:
            if i in special:
                offsets.append((end, end))
            else:
                offsets.append(content[k])
                end = content[k][1]
                k += 1
        return text, offsets
