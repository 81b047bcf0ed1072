"""Baseline policies for the evaluation harness: random, majority, rule-based, replay (oracle).

Every baseline implements :class:`agents.base.Policy` (batched ``act(observations, infos)``)
and emits the model output format ``{"rationale": ..., "action": {...}}``. They read the
page's named elements from ``info["elements"]`` (from the environment) and never read
``info["gold"]``. The replay oracle gets the recorded actions from the session store, by
``info["session_id"]`` and ``info["step_index"]``: it is the upper bound, not a policy.

``shop_env.cli.policies.resolve_policy`` turns a command-line spec into one of them.
"""
from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from shop_env.actions import CLICK, TERMINATE, TYPE_AND_SUBMIT, Action, format_model_output
from shop_env.data.store import SessionStore

def element_fields(element: Any) -> tuple[str, str, str]:
    """``(name, kind, text)`` of an element given as an object (``Element``) or a dict."""
    if isinstance(element, Mapping):
        get = element.get
    else:
        def get(key: str, default: Any = "") -> Any:
            return getattr(element, key, default)
    return str(get("name", "") or ""), str(get("kind", "") or "click"), str(get("text", "") or "")


def page_elements(info: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Names of the clickable and input elements of the page, and the page's element texts."""
    clicks, inputs, texts = [], [], []
    for el in info.get("elements") or ():
        name, kind, text = element_fields(el)
        if not name:
            continue
        (inputs if kind == "input" else clicks).append(name)
        if text:
            texts.append(text)
    return clicks, inputs, texts


def _step_rng(seed: int, info: Mapping[str, Any]) -> random.Random:
    """A generator that depends only on (seed, session, step): resumed runs repeat themselves."""
    key = f"{seed}\x00{info.get('session_id')}\x00{info.get('step_index')}".encode("utf-8")
    return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little"))


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]{2,}")


class RandomPolicy:
    """Uniform over the action types the page allows, then a uniform named element of the page.

    ``type_and_submit`` types 1-3 words drawn from the page's element texts. Seeded per
    ``(seed, session_id, step_index)``, so its output never depends on batching or resumes.
    """

    def __init__(self, seed: int = 0, name: str = "random") -> None:
        self.seed = seed
        self.name = name

    def set_seed(self, seed: int) -> None:
        self.seed = seed

    def act_one(self, info: Mapping[str, Any]) -> str:
        rng = _step_rng(self.seed, info)
        clicks, inputs, texts = page_elements(info)
        types = [TERMINATE] + ([CLICK] if clicks else []) + ([TYPE_AND_SUBMIT] if inputs else [])
        t = rng.choice(types)
        if t == CLICK:
            action = Action(CLICK, name=rng.choice(clicks))
        elif t == TYPE_AND_SUBMIT:
            words = [w.lower() for w in _WORD.findall(" ".join(texts))] or ["something"]
            action = Action(TYPE_AND_SUBMIT, name=rng.choice(inputs),
                            text=" ".join(rng.choice(words) for _ in range(rng.randint(1, 3))))
        else:
            action = Action(TERMINATE)
        return format_model_output("I pick something at random.", action)

    def act(self, observations: Sequence[str], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        return [self.act_one(info) for info in infos]


class MajorityTypePolicy:
    """Always the most frequent action type of the training split.

    For that type it picks the most frequent training element name that is on the current
    page (else the page's first element of the right kind), and for ``type_and_submit``
    the most frequent training query.
    """

    def __init__(self, majority_type: str = CLICK, name_counts: Mapping[str, Counter] | None = None,
                 top_query: str = "", name: str = "majority") -> None:
        self.majority_type = majority_type
        self.name_counts = {t: Counter(c) for t, c in (name_counts or {}).items()}
        self.top_query = top_query
        self.name = name

    @classmethod
    def fit(cls, sessions: Iterable[Any]) -> "MajorityTypePolicy":
        """Count action types, element names and queries over ``sessions`` (e.g. the train split)."""
        types: Counter = Counter()
        names: dict[str, Counter] = {CLICK: Counter(), TYPE_AND_SUBMIT: Counter()}
        queries: Counter = Counter()
        for session in sessions:
            for action in session.actions:
                types[action.type] += 1
                if action.type in names:
                    names[action.type][action.name] += 1
                if action.type == TYPE_AND_SUBMIT:
                    queries[action.text] += 1
        if not types:
            raise ValueError("cannot fit the majority policy on zero steps")
        majority = sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        top_query = queries.most_common(1)[0][0] if queries else "product"
        return cls(majority, names, top_query)

    def _pick(self, kind_type: str, on_page: list[str]) -> str:
        counts = self.name_counts.get(kind_type, Counter())
        present = set(on_page)
        for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if name in present:
                return name
        if on_page:
            return on_page[0]
        return counts.most_common(1)[0][0] if counts else "unknown"

    def act(self, observations: Sequence[str], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        outputs = []
        for info in infos:
            clicks, inputs, _ = page_elements(info)
            if self.majority_type == CLICK:
                action = Action(CLICK, name=self._pick(CLICK, clicks))
            elif self.majority_type == TYPE_AND_SUBMIT:
                action = Action(TYPE_AND_SUBMIT, name=self._pick(TYPE_AND_SUBMIT, inputs), text=self.top_query)
            else:
                action = Action(TERMINATE)
            outputs.append(format_model_output("I do what most shoppers do here.", action))
        return outputs


def _last_token(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower()


class RuleBasedPolicy:
    """A scripted shopper: search, open the first result, add it to the cart, check out.

    Reads only the names of the page's elements. In order of priority: finish an order
    (``place_order`` / ``checkout``), ``add_to_cart`` on a product page, open the first
    product title on a results page, search from a page with a search box, else leave.
    The search query is the first few words of the observation's persona/intent line when
    present, else of the page's first product-like text.
    """

    FINISH = ("place_order", "place_your_order", "proceed_to_checkout", "checkout")
    QUERY_HINT = re.compile(r"(?:shopping for|looking for|want to buy|searching for|in the market for)\s+"
                            r"(?:an?\s+|some\s+|the\s+)?(.+?)(?=\s+(?:for|as|to|with|under)\b|[.,;:!?\n]|$)",
                            re.IGNORECASE)

    def __init__(self, name: str = "rule") -> None:
        self.name = name

    def _query(self, observation: str, texts: list[str]) -> str:
        m = self.QUERY_HINT.search(observation or "")
        if m:
            return " ".join(m.group(1).split()[:5])
        words = _WORD.findall(" ".join(texts[:3]))
        return " ".join(w.lower() for w in words[:3]) or "best sellers"

    def act_one(self, observation: str, info: Mapping[str, Any]) -> str:
        clicks, inputs, texts = page_elements(info)
        by_last = {}
        for n in clicks:
            by_last.setdefault(_last_token(n), n)
        finish = next((by_last[k] for k in self.FINISH if k in by_last), None)
        titles = [n for n in clicks if _last_token(n) == "product_title"]
        if finish:
            action, why = Action(CLICK, name=finish), "I have what I want, so I complete the order."
        elif "add_to_cart" in by_last:
            action, why = Action(CLICK, name=by_last["add_to_cart"]), "This product looks right, I add it to my cart."
        elif titles and int(info.get("step_index", 0)) > 0:
            action, why = Action(CLICK, name=titles[0]), "I open the first result to look at it."
        elif inputs:
            search = next((n for n in inputs if "search" in n.lower()), inputs[0])
            action = Action(TYPE_AND_SUBMIT, name=search, text=self._query(observation, texts))
            why = "I search for what I came to buy."
        else:
            action, why = Action(TERMINATE), "Nothing here helps me, I leave."
        return format_model_output(why, action)

    def act(self, observations: Sequence[str], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        return [self.act_one(o, info) for o, info in zip(observations, infos)]


class ReplayPolicy:
    """Oracle: replays the recorded action (and rationale) of each step from ``store``.

    Looks the session up by ``info["session_id"]`` in the store (not ``info["gold"]``), so
    it works with any environment that reports session id and step index. Scores 100%
    exact by construction; a lower score means the harness or the scorer is broken.
    """

    def __init__(self, store: SessionStore, name: str = "replay") -> None:
        self.store = store
        self.name = name
        self._cache: dict[str, Any] = {}

    def _session(self, session_id: str):
        if session_id not in self._cache:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[session_id] = self.store[self.store.index_of(session_id)]
        return self._cache[session_id]

    def act(self, observations: Sequence[str], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        outputs = []
        for info in infos:
            step = self._session(str(info["session_id"])).steps[int(info["step_index"])]
            outputs.append(format_model_output(step.rationale or "I do what I did.", step.action))
        return outputs


def resolve_model_path(path_or_name: str) -> str:
    """A loadable model folder for what ``llm:`` names.

    A folder with ``config.json`` is used as is; a trainer's output folder resolves to its
    ``final/`` model, else to the model of its latest checkpoint (``latest`` pointer);
    anything else is passed on as a Hugging Face model name.
    """
    p = Path(path_or_name)
    if not p.is_dir() or (p / "config.json").exists() or (p / "adapter_config.json").exists():
        return path_or_name
    if (p / "final" / "config.json").exists():
        return str(p / "final")
    pointer = p / "latest"
    if pointer.exists():
        model = p / pointer.read_text(encoding="utf-8").strip() / "model"
        if model.is_dir():
            return str(model)
    raise FileNotFoundError(f"{p}: no model here (no config.json, final/ or latest checkpoint)")
