"""A tiny random-init causal LM plus a BPE tokenizer trained locally: CPU end-to-end runs.

Nothing is downloaded. :func:`build_tiny_model` trains a byte-level BPE tokenizer with the
``tokenizers`` library on texts from the embedded sample data (pages, rationales and the
exact JSON outputs), sets a ChatML chat template, builds a Llama (or Qwen2) model from a
config with a few thousand parameters per layer, and writes both with
``save_pretrained``. Everything downstream then loads it with ``from_pretrained``, the
same path a real model takes. The result is a deterministic function of the arguments.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from shop_env.data.atomic import atomic_directory, check_replaceable

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Always in the training corpus, so that the JSON schema tokenises compactly.
SEED_TEXTS = [
    '{"rationale": "I want to search for the product.", "action": {"type": "type_and_submit", '
    '"name": "nav_bar.search_input", "text": "running shoes"}}',
    '{"rationale": "I want to check this product.", "action": {"type": "click", '
    '"name": "search_results.product.product_title"}}',
    '{"rationale": "I am done here.", "action": {"type": "terminate"}}',
    "system user assistant rationale action type name text click type_and_submit terminate",
]
# With ``compact=True``: the fixed strings of the output format (``format_model_output``)
# become single tokens, so the action type is one token and the JSON scaffolding cannot be
# misspelt. They are plain (not special) tokens: decoding keeps them.
SCHEMA_TOKENS = [
    '{"rationale": "',
    '", "action": {"type": "type_and_submit", "name": "',
    '", "action": {"type": "click", "name": "',
    '", "action": {"type": "terminate"}}',
    '", "text": "',
    '"}}',
]
# With ``compact=True``: pre-tokenisation keeps dotted/underscored identifiers (element names
# such as nav_bar.search_input, JSON keys) in one piece, so BPE can merge them into few tokens.
IDENTIFIER_SPLIT = r"\s?[A-Za-z0-9_.]+|\s?[^\sA-Za-z0-9_.]+|\s+"
_VERSION = 2  # bump when the build changes, to invalidate caches


def iter_sample_texts(data: str | os.PathLike | None = None, max_chars: int = 2_000_000) -> Iterator[str]:
    """Texts from a session store (default: the embedded sample, train split) for tokenizer training."""
    from shop_env.actions import format_model_output
    from shop_env.data.store import open_store
    from shop_env.paths import sample_data_dir

    root = Path(data) if data is not None else sample_data_dir()
    if not root.exists():
        return
    store = open_store(root, split="train") if (root / "train").exists() else open_store(root)
    used = 0
    for session in store:
        for step in session.steps:
            for t in (step.page_html, step.rationale or "",
                      format_model_output(step.rationale or "", step.action)):
                if t:
                    yield t
                    used += len(t)
            if used >= max_chars:
                return


def iter_prompt_texts(data: str | os.PathLike | None = None, *, context: str = "latest_step",
                      max_chars: int | None = None, target_repeats: int = 5) -> Iterator[str]:
    """Tokenizer-training texts shaped like what a model sees (train split of ``data``).

    Per step: the user turn of ``build_prompt(session, k, context=..., max_chars=...)`` and
    the target output ``target_repeats`` times, so the vocabulary spends its merges on the
    prompts and outputs actually used rather than on the parts of pages that never fit.
    """
    from shop_env.actions import format_model_output
    from shop_env.data.store import open_store
    from shop_env.paths import sample_data_dir
    from shop_env.prompts import PromptBuilder

    root = Path(data) if data is not None else sample_data_dir()
    store = open_store(root, split="train") if (root / "train").exists() else open_store(root)
    builder = PromptBuilder(context=context, max_chars=max_chars)
    for session in store:
        for k, step in enumerate(session.steps):
            yield builder.build(session, k).messages[1]["content"]
            target = format_model_output(step.rationale or "", step.action)
            for _ in range(target_repeats):
                yield target


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048, *, compact: bool = False):
    """Train a byte-level BPE tokenizer and wrap it as a ``PreTrainedTokenizerFast`` with ChatML.

    ``compact``: keep identifiers whole during pre-tokenisation (:data:`IDENTIFIER_SPLIT`)
    and add :data:`SCHEMA_TOKENS` as single tokens (beyond ``vocab_size``).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    if compact:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(IDENTIFIER_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    from shop_env.prompts import SYSTEM_PROMPT

    tok.train_from_iterator(list(SEED_TEXTS) + [SYSTEM_PROMPT] + list(texts), trainer=trainer)
    if compact:
        tok.add_tokens([AddedToken(t, normalized=False) for t in SCHEMA_TOKENS])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", bos_token=None, unk_token=None)
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_model(out: str | os.PathLike, *, texts: Iterable[str] | None = None,
                     data: str | os.PathLike | None = None, vocab_size: int = 2048,
                     hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4,
                     intermediate_size: int = 128, max_positions: int = 8192,
                     arch: str = "llama", seed: int = 0, pad_vocab_to: int | None = None,
                     compact: bool = False) -> Path:
    """Build and save a tiny random-init causal LM and its tokenizer at ``out``; returns ``out``.

    ``texts`` (default: the sample store at ``data``, or the embedded sample) train the
    tokenizer. ``arch`` is ``"llama"`` or ``"qwen2"``. ``pad_vocab_to`` widens the embedding
    and output layers beyond the tokenizer (as real models do; for benchmarks). ``compact``
    (see :func:`train_tokenizer`) gives element names and the output format few tokens.
    Written atomically (temp dir, then rename); an existing ``out`` is replaced only when
    it is empty or holds a model (``config.json``).
    """
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    check_replaceable(Path(out), "config.json", "a model")

    tokenizer = train_tokenizer(iter_sample_texts(data) if texts is None else texts, vocab_size, compact=compact)
    common = dict(vocab_size=max(len(tokenizer), pad_vocab_to or 0), hidden_size=hidden_size, num_hidden_layers=num_layers,
                  num_attention_heads=num_heads, num_key_value_heads=num_heads,
                  intermediate_size=intermediate_size, max_position_embeddings=max_positions,
                  tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                  pad_token_id=tokenizer.pad_token_id, bos_token_id=None)
    if arch == "llama":
        config = LlamaConfig(**common)
    elif arch == "qwen2":
        config = Qwen2Config(**common)
    else:
        raise ValueError(f"arch must be 'llama' or 'qwen2', got {arch!r}")
    with torch.random.fork_rng(devices=[]):  # the caller's global torch RNG is left as it was
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out


def cached_tiny_model(cache_dir: str | os.PathLike | None = None, **kwargs) -> Path:
    """:func:`build_tiny_model` once per distinct arguments (and source version), then reuse.

    The cache key hashes the keyword arguments, this module's source and the sample
    store's manifest, so a changed build never serves a stale model. Default cache:
    ``$TMPDIR/shop_r1_tiny``. Safe under concurrent callers (atomic rename).
    """
    from shop_env.paths import sample_data_dir

    data = kwargs.get("data")
    root = Path(data) if data is not None else sample_data_dir()
    manifests = sorted(str(p.read_text()) for p in root.glob("**/manifest.json")) if root.exists() else []
    key_src = json.dumps({"kw": {k: str(v) for k, v in sorted(kwargs.items())}, "v": _VERSION,
                          "src": Path(__file__).read_text(), "data": manifests}, sort_keys=True)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    base = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "shop_r1_tiny"
    path = base / key
    if not (path / "config.json").exists():
        base.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}.build-", dir=base))
        built = build_tiny_model(staging / "m", **kwargs)
        try:
            os.rename(built, path)
        except OSError:  # another process finished first: use its copy
            if not (path / "config.json").exists():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return path
