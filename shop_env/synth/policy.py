"""The synthetic shopper as a policy (``--policy shopper``): the reference human, run like any other policy.

:class:`ShopperPolicy` implements :class:`shop_env.policy.Policy` for ``ShopR1Live-v0``. It
reads the page from ``info["page_state"]`` (the structured page the store drew) and the
persona from it, keeps one :class:`~shop_env.synth.shopper.Shopper` per episode (by
``info["session_id"]``) and never reads ``info["gold_action"]``. Its own random draws are
seeded per ``(seed, episode)``, independent of the environment's, so its sessions are a
fresh sample of the shopper's behaviour, not a copy of the reference's draws: its
session-level statistics should match the recorded shopper's up to sampling noise.
"""
from __future__ import annotations

import random
from typing import Any, Mapping, Sequence

from shop_env.actions import TERMINATE, Action, format_model_output
from shop_env.synth.shopper import Choice, Shopper
from shop_env.synth.store import PageState

_MAX_EPISODES = 4096  # episodes remembered at once (oldest forgotten first)


class _Run:
    def __init__(self, shopper: Shopper, rng: random.Random) -> None:
        self.shopper = shopper
        self.rng = rng
        self.pending: tuple[PageState, Choice] | None = None


class ShopperPolicy:
    """The synthetic shopper deciding on the live store's pages (needs ``info["page_state"]``)."""

    def __init__(self, seed: int = 0, name: str = "shopper") -> None:
        self.seed = seed
        self.name = name
        self._runs: dict[str, _Run] = {}

    def set_seed(self, seed: int) -> None:
        self.seed = seed

    def _run(self, info: Mapping[str, Any], state: PageState) -> _Run:
        sid = str(info.get("session_id"))
        run = self._runs.get(sid)
        if run is None or (int(info.get("step_index", 0)) == 0 and not info.get("history")):
            rng = random.Random(f"shopper-policy:{self.seed}:{sid}")
            run = self._runs[sid] = _Run(Shopper(state.persona, rng), rng)
            while len(self._runs) > _MAX_EPISODES:
                self._runs.pop(next(iter(self._runs)))
        return run

    def act_one(self, info: Mapping[str, Any]) -> str:
        state = info.get("page_state")
        if not isinstance(state, PageState):
            return format_model_output("There is no page I can read here, so I'll leave.", Action(TERMINATE))
        run = self._run(info, state)
        if run.pending is not None:  # what my last action led to
            before, choice = run.pending
            run.shopper.commit(before, choice, choice.action, None if state is before else state.view)
        choice = run.shopper.decide(state, run.rng, strict=False)
        run.pending = (state, choice)
        return format_model_output(choice.rationale, choice.action)

    def act(self, observations: Sequence[str], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        return [self.act_one(info) for info in infos]


__all__ = ["ShopperPolicy"]
