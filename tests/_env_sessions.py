"""Small hand-made sessions and stores for the prompt and environment tests (no sample data needed)."""
from __future__ import annotations

import random
from pathlib import Path

from shop_env.actions import Action
from shop_env.data.model import Session, Step
from shop_env.data.store import write_store

SEARCH = "nav_bar.search_input"


def page(step: int, names: list[str], filler: int = 0, extra: str = "") -> str:
    """A simplified-looking page: a search input, named links, optional filler text."""
    links = "".join(f'<a name="{n}">{n.split(".")[-1].replace("_", " ")} {step}</a>' for n in names)
    body = f"<p>{'lorem ipsum ' * filler}</p>" if filler else ""
    return (f'<html><body><input name="{SEARCH}" type="text" placeholder="Search">'
            f"{links}{body}{extra}</body></html>")


def make_session(sid: str, n_steps: int, *, rng: random.Random | None = None, persona: object = None,
                 filler: int = 3) -> Session:
    """A session of ``n_steps`` steps mixing the three action types; the last is terminate."""
    rng = rng or random.Random(sid)
    steps: list[Step] = []
    for k in range(n_steps):
        names = [f"search_results.item_{k}_{j}.product_title" for j in range(rng.randint(1, 5))]
        names.append("buybox.purchase_form.add_to_cart")
        if k == n_steps - 1:
            action = Action("terminate")
        elif k == 0 or rng.random() < 0.25:
            action = Action("type_and_submit", SEARCH, rng.choice(["usb c cable", "red running shoes",
                                                                   "coffee grinder burr", "手机壳 case"]))
        else:
            action = Action("click", rng.choice(names))
        steps.append(Step(page(k, names, filler=rng.randint(0, filler) * 10), action,
                          url=f"https://shop.example/{sid}/{k}", rationale=f"I decide at step {k}."))
    return Session(sid, steps, user_id=f"u{sid}", persona=persona)


def make_store(path: Path, n_sessions: int = 12, seed: int = 0) -> Path:
    """A store of ``n_sessions`` sessions with 1..6 steps, some with personas and Unicode."""
    rng = random.Random(seed)
    sessions = []
    for i in range(n_sessions):
        persona = None if i % 3 == 0 else {"age": 20 + i, "note": "loves deals 😀 ünïcode"}
        sessions.append(make_session(f"sess-{i}", rng.randint(1, 6), rng=rng, persona=persona))
    return write_store(path, sessions)


def train_tokenizer():
    """A small byte-level BPE tokenizer (``tokenizers``) trained here on prompt text; no download."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from shop_env.prompts import SYSTEM_PROMPT, build_prompt
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = [build_prompt(make_session("tok", 6, persona={"a": 1}), 5).text, SYSTEM_PROMPT] * 2
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["[UNK]"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok
