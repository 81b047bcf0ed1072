"""``ShopR1Live-v0``: closed-loop shopping on the synthetic store, with a reference human at every state.

Unlike ``ShopR1-v0`` (which replays a recorded session whatever the policy does), here the
policy's action is *executed* on the store (:mod:`shop_env.synth.store`) and the next page
is the one the action leads to. Observation and prompt are built exactly as in
``ShopR1-v0`` (the same :class:`~shop_env.prompts.PromptBuilder`, over the pages seen and
the actions executed so far), so a policy trained on replay runs here unchanged.

Episodes: each ``reset`` draws a persona (or takes the one given) and starts on the home
page. ``step`` takes the model's text (or an :class:`~shop_env.actions.Action`); the episode
terminates on ``terminate`` or on a purchase ("Place your order") and is truncated after
``max_steps`` calls of ``step``. Any text is accepted: an unparseable output scores 0,
leaves the page as it is and is not added to the action history (the shopper then decides
again on the same page, a fresh draw); a well-formed action that
does nothing (an element that is not on the page, a click on a text box...) leaves the
page as it is, is added to the history, and ``info["store_message"]`` says why.

Reference human and reward: ``info["gold_action"]`` is what the synthetic shopper
(:class:`~shop_env.synth.shopper.Shopper`) would do on the current page, given the
persona and the history the *policy* produced; the step reward is the paper's Table 1
(:func:`shop_env.reward.score_output`) against it.

Randomness (why the same seed gives the same gold): an episode is the synthetic
generator's session ``(split, index)``: its persona and one ``random.Random`` seeded from
``(catalog_seed, split, index)`` exactly as :func:`shop_env.synth.session_setup` does. That
one stream is drawn, in a fixed order, by the shopper's patience, the page noise and products
on show, the shopper's decision on each page (a seeded *draw*, not the most likely action)
and the time spent on a page. So the pages and the gold actions are a function of the seed
and of the policy's actions only; a policy that repeats the shopper's recorded actions sees
exactly the recorded pages and prompts of that session (tests check this on the sample).
``reset(seed=s)`` picks ``index`` from the seeded ``np_random``; ``options={"split": ...,
"index": k}`` picks one session directly (``split="test"`` gives the personas of the
sample's test split).

Info keys (``reset`` and ``step``, describing the new observation) are those of
``ShopR1-v0`` (``messages``, ``session_id``, ``step_index``, ``n_steps``, ``url``,
``elements``, ``target_kept``, ``dropped_pages``, ``history``, ``persona``; here
``step_index`` is the current page's 0-based position in the episode and ``n_steps`` the
pages so far, the current one included) plus
``page_type``, ``gold_action`` (action dict; ``{}`` once the episode is over),
``gold_rationale``, ``outcome`` (``""``, ``"purchase"``, ``"terminate"`` or ``"truncated"``)
and ``page_state`` (the store's :class:`~shop_env.synth.store.PageState`, read-only, for
the shopper policy; ``None`` at the end). ``step`` adds ``gold`` (the action scored
against), ``reward``, ``parsed``, ``parse_error``, ``exact_match``, ``type_match``,
``executed`` (the page changed or the episode ended) and ``store_message``.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any

from gymnasium.error import ResetNeeded

from shop_env.data.model import Session, Step
from shop_env.env import PageElements, PromptEnv, as_output_text
from shop_env.reward import RewardConfig, score_output
from shop_env.synth import session_setup
from shop_env.synth.catalog import build_catalog
from shop_env.synth.pages import View
from shop_env.synth.persona import Persona, persona_from_dict
from shop_env.synth.shopper import Choice, Shopper, next_page
from shop_env.synth.store import PageState, Store

__all__ = ["ShopLiveEnv", "LIVE_ENV_ID", "TRUNCATED", "live_store"]

LIVE_ENV_ID = "ShopR1Live-v0"
TRUNCATED = "truncated"
_OPTIONS = frozenset({"split", "index", "persona"})
_NO_OP_SECONDS = 2.0  # clock advance for a step that leaves the page as it is


@functools.lru_cache(maxsize=4)
def live_store(catalog_seed: int = 0) -> Store:
    """The store of catalogue ``catalog_seed`` (built once per process; 0 is the sample's)."""
    return Store.build(build_catalog(catalog_seed))


class ShopLiveEnv(PromptEnv):
    """Closed-loop shopping on the synthetic store; observation = prompt text, action = model output text.

    Args:
        seed: seed of the first ``reset`` that gives none (later resets continue the stream).
        persona: a :class:`~shop_env.synth.persona.Persona` or its dict form (as stored in a
            session) used for every episode; ``None`` draws one per episode. Checked against
            the catalogue at ``reset`` (:class:`~shop_env.synth.persona.PersonaError`).
        max_steps: ``step`` calls before the episode is truncated.
        context / max_chars / max_tokens / tokenizer / include_persona: as in ``ShopR1-v0``.
        reward_config: a :class:`RewardConfig` (default: the paper's Shop-R1 setting).
        catalog_seed: which synthetic catalogue (0: the one of the embedded sample).
        split: the generator split episodes are drawn from (default ``"live"``).
        render_mode: ``None`` or ``"ansi"``.
        elements: put the page's named elements in ``info["elements"]``.
    """

    def __init__(self, seed: int | None = None, persona: Persona | dict[str, Any] | None = None, max_steps: int = 30,
                 context: str = "whole_session", *, max_chars: int | None = None, max_tokens: int | None = None,
                 tokenizer: Any = None, reward_config: RewardConfig | None = None, include_persona: bool = True,
                 catalog_seed: int = 0, split: str = "live", render_mode: str | None = None,
                 elements: bool = True) -> None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        self._setup_prompting(context=context, max_chars=max_chars, max_tokens=max_tokens, tokenizer=tokenizer,
                              reward_config=reward_config, include_persona=include_persona,
                              render_mode=render_mode, elements=elements)
        self.store = live_store(int(catalog_seed))
        self.catalog_seed = int(catalog_seed)
        self.persona = persona
        self.max_steps = max_steps
        self.split = split
        self._first_seed = seed
        self._session: Session | None = None
        self._state: PageState | None = None
        self._choice: Choice | None = None
        self._done = True
        self._outcome = ""
        self._last: dict[str, Any] = {}

    # -- episode control ----------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode on the home page. ``options``: ``{"split": str, "index": int}`` to
        choose the generator session, ``{"persona": Persona | dict}`` to set the persona."""
        if seed is None:
            seed = self._first_seed
        self._first_seed = None  # the constructor's seed applies to the first reset only
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; allowed: {sorted(_OPTIONS)}")
        split = str(options.get("split", self.split))
        index = options.get("index")
        index = int(self.np_random.integers(2**31)) if index is None else int(index)
        drawn, rng, _, t0 = session_setup(self.catalog_seed, split, index)
        given = options.get("persona", self.persona)
        who = drawn if given is None else persona_from_dict(given, user_id=drawn.user_id)
        self._rng = rng
        self._shopper = Shopper(who, rng)
        self._state = self.store.render(View("home"), who, rng)
        self._session = Session(session_id=f"live-{self.catalog_seed}-{split}-{index:06d}", steps=[],
                                user_id=who.user_id, persona=who.to_dict(), source="synthetic-live",
                                metadata={"synthetic": True, "split": split, "index": index, "outcome": "",
                                          "n_invalid": 0})
        self._t = t0
        self._n_calls = 0
        self._done = False
        self._outcome = ""
        self._last = {}
        self._decide()
        return self._observe()

    def _decide(self) -> None:
        """The shopper's choice on the current page, shown as the current step's placeholder action."""
        state, session = self._state, self._session
        assert state is not None and session is not None
        self._choice = self._shopper.decide(state, self._rng, strict=False)
        step = Step(page_html=state.html, action=self._choice.action, url=state.url, rationale=None,
                    timestamp=round(self._t, 3), metadata=_page_metadata(state))
        if session.steps and session.steps[-1].metadata.get("pending"):
            session.steps[-1] = step
        else:
            session.steps.append(step)
        step.metadata["pending"] = True

    def _observe(self) -> tuple[str, dict[str, Any]]:
        s = self._session
        assert s is not None
        history = tuple(dataclasses.replace(st.action) for st in s.steps if not st.metadata.get("pending"))
        common = {"session_id": s.session_id, "history": history,
                  "persona": copy.deepcopy(s.persona) if self.include_persona else {}, "outcome": self._outcome}
        if self._done:
            return "", {"messages": [], "step_index": len(s.steps), "n_steps": len(s.steps), "url": None,
                        "elements": [], "target_kept": True, "dropped_pages": [], "page_type": "",
                        "gold_action": {}, "gold_rationale": "", "page_state": None, **common}
        k = len(s.steps) - 1
        state, choice = self._state, self._choice
        assert state is not None and choice is not None
        p = self._builder.build(s, k)
        elements = PageElements("", state.elements) if self.with_elements else []
        return p.text, {"messages": p.messages, "step_index": k, "n_steps": k + 1, "url": state.url,
                        "elements": elements, "target_kept": p.target_kept, "dropped_pages": p.dropped_pages,
                        "page_type": state.view.kind, "gold_action": choice.action.to_dict(),
                        "gold_rationale": choice.rationale, "page_state": state, **common}

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Score ``action`` (any text or an :class:`Action`; never raises on it) against the
        shopper's choice, execute it on the store and show the page it leads to."""
        if self._done or self._session is None or self._state is None or self._choice is None:
            raise ResetNeeded("call reset() before step(): the episode has ended or not started")
        text = as_output_text(action)
        state, choice, session = self._state, self._choice, self._session
        gold = choice.action
        score = score_output(text, gold, self.reward_config)
        pred = score.action
        self._n_calls += 1
        if pred is None:
            executed, message = False, f"unparseable output ({score.parsed.error}); page unchanged"
            session.metadata["n_invalid"] += 1
        else:
            move = self.store.transition(state, pred)
            executed, message = move.changed, move.message
            k = len(session.steps) - 1
            done_step = dataclasses.replace(session.steps[k], action=pred, rationale=score.parsed.rationale,
                                            metadata={**session.steps[k].metadata, "executed": executed})
            done_step.metadata.pop("pending", None)
            session.steps[k] = done_step
            self._shopper.commit(state, choice, pred, move.view)
            if move.outcome is not None:
                self._outcome = move.outcome
            elif move.view is not None:
                self._state, dwell = next_page(self.store, state, move.view, self._rng)
                self._t += dwell
            else:
                self._t += _NO_OP_SECONDS
        terminated = bool(self._outcome)
        truncated = not terminated and self._n_calls >= self.max_steps
        if truncated:
            self._outcome = TRUNCATED
        if terminated or truncated:
            self._done = True
            if session.steps and session.steps[-1].metadata.get("pending"):
                session.steps.pop()
            session.metadata["outcome"] = self._outcome
        else:
            self._decide()
        obs, info = self._observe()
        info.update(gold=gold.to_dict(), reward=score.reward.to_dict(),
                    parsed={} if pred is None else {"rationale": score.parsed.rationale, "action": pred.to_dict()},
                    parse_error=score.parsed.error, exact_match=score.exact_match, type_match=score.type_match,
                    executed=executed, store_message=message)
        self._last = {"output": text, "info": info}
        return obs, float(score.reward.total), terminated, truncated, info

    def session(self) -> Session:
        """The episode so far as a recorded :class:`Session` (pages seen, actions executed;
        ``metadata["outcome"]`` once it is over). A copy: changing it changes nothing here."""
        if self._session is None:
            raise ResetNeeded("call reset() first")
        s = copy.deepcopy(self._session)
        s.steps = [st for st in s.steps if not st.metadata.get("pending")]
        return s

    def render(self) -> str | None:
        """``"ansi"``: the episode's position, the current page and the last scored step."""
        if self.render_mode != "ansi":
            return None
        if self._session is None:
            return "ShopLiveEnv: not reset\n"
        s = self._session
        where = f"  ({self._outcome})" if self._done else f"  {self._state.url if self._state else ''}"
        lines = [f"episode {s.session_id}  step {self._n_calls + (0 if self._done else 1)}/{self.max_steps}{where}"]
        if self._last:
            info, out = self._last["info"], self._last["output"]
            lines.append(f"  output {out[:120]!r}{'...' if len(out) > 120 else ''}")
            lines.append(f"    gold {info['gold']}  reward {info['reward']['total']:.3f}  exact {info['exact_match']}"
                         f"  store: {info['store_message']}")
        return "\n".join(lines) + "\n"


def _page_metadata(state: PageState) -> dict[str, Any]:
    meta: dict[str, Any] = {"page_type": state.view.kind}
    if state.view.kind == "product":
        meta["product"] = state.view.pid
    return meta
