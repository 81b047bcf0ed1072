"""Run any policy over every step of every held-out session, in teacher forcing.

:func:`evaluate` drives :class:`shop_env.env.ShopSessionEnv` (the replay environment):
whatever the policy says, the next observation is the page the human saw next, so each
step is scored independently against the recorded action. Several sessions run side by
side so the policy sees batches of ``batch_size`` observations.

With ``out`` set, every scored step is appended to ``out/steps.jsonl`` and fsync'ed
before the next batch is requested (see :mod:`shop_env.evaluation.results`). A run that
is killed (even with SIGKILL) and started again with the same arguments skips the steps
already logged: the policy is not called for them again and none is counted twice. The
environment is reset straight to the first step not yet logged.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from shop_env.policy import Policy, as_policy
from shop_env.data.model import Session
from shop_env.data.store import SessionStore, open_store
from shop_env.evaluation.report import Report, build_report
from shop_env.evaluation.results import RUN_FILE, STEPS_FILE, StepLog, write_json_atomic
from shop_env.evaluation.session_metrics import LEAVE, PURCHASE, is_purchase
from shop_env.reward import score_output

CONTEXTS = ("whole_session", "latest_step")
# Run settings that must match for a resumed run to reuse logged steps.
RESUME_KEYS = ("policy", "data", "split", "context", "temperature", "seed", "env")


def open_data(data: str | os.PathLike | SessionStore, split: str) -> SessionStore:
    """A store view for ``split``: ``data`` may be an open store or a store folder."""
    if isinstance(data, SessionStore):
        return data
    return open_store(data, split=split)


def policy_name(policy: Any) -> str:
    """Display name of a policy (its ``name`` attribute, else its class name)."""
    return str(getattr(policy, "name", None) or type(policy).__name__)


def default_env_factory(store: SessionStore, context: str, **env_kwargs: Any):
    """A :class:`shop_env.env.ShopSessionEnv` replaying ``store`` with the given context mode."""
    from shop_env.env import ShopSessionEnv
    return ShopSessionEnv(store, context=context, **env_kwargs)


@dataclass
class _Slot:
    """One environment working through one session at a time."""

    env: Any
    session_index: int = -1
    session: Session | None = None
    step_index: int = 0
    obs: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        return self.session is not None


def _outcome(action: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None = None) -> str:
    return PURCHASE if is_purchase(action, metadata) else LEAVE


def make_record(*, session: Session, session_index: int, step_index: int, output: str,
                info: Mapping[str, Any], reward: float) -> dict[str, Any]:
    """The logged result of one step (what reports are computed from)."""
    gold_step = session.steps[step_index]
    gold = gold_step.action.to_dict()
    if "parsed" in info:  # the environment already scored the output
        parsed = info["parsed"]
        pred = parsed["action"] if parsed else None
        parse_error = info.get("parse_error")
        exact, type_match = bool(info.get("exact_match", False)), bool(info.get("type_match", False))
    else:  # an environment that does not score: the one scoring path
        score = score_output(output, gold_step.action)
        pred = score.action.to_dict() if score.action is not None else None
        parse_error, exact, type_match = score.parsed.error, score.exact_match, score.type_match
    return {
        "session_id": session.session_id,
        "session_index": session_index,
        "step_index": step_index,
        "n_steps": len(session.steps),
        "output": output,
        "gold": gold,
        "pred": pred,
        "pred_type": pred["type"] if pred else None,
        "parse_error": parse_error,
        "exact": exact,
        "type_match": type_match,
        "reward": float(reward),
        # per step; session_metrics reads the session's outcome over all of its steps. A
        # prediction naming the recorded element inherits its recorded click_type, so the
        # oracle's outcome always equals the human's
        "gold_outcome": _outcome(gold, gold_step.metadata),
        "pred_outcome": _outcome(pred, gold_step.metadata if pred and pred.get("name") == gold.get("name")
                                 else None),
    }


def _apply_temperature(policy: Any, temperature: float | None) -> None:
    if temperature is None:
        return
    if hasattr(policy, "temperature"):
        policy.temperature = float(temperature)
    elif hasattr(policy, "generation_kwargs") and isinstance(policy.generation_kwargs, dict):
        policy.generation_kwargs["temperature"] = float(temperature)


def _seed_globals(seed: int) -> None:
    """Seed torch's global generator (if loaded); policies keep their own seeds."""
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _describe(value: Any) -> Any:
    """A JSON-safe, stable description of an environment setting (objects by name/path)."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    return str(getattr(value, "name_or_path", None) or type(value).__name__)


def _check_resume(out: Path, config: Mapping[str, Any]) -> None:
    path = out / RUN_FILE
    if not path.exists():
        return
    old = json.loads(path.read_text(encoding="utf-8"))
    diff = {k: (old.get(k), config.get(k)) for k in RESUME_KEYS if old.get(k) != config.get(k)}
    if diff:
        raise ValueError(f"{path}: an evaluation with other settings is logged here {diff}; "
                         "use another --out folder or resume=False to start over")


def evaluate(policy: Policy | Callable[[str], str], data: str | os.PathLike | SessionStore,
             split: str = "test", context: str = "whole_session", temperature: float | None = None,
             limit: int | None = None, out: str | os.PathLike | None = None, resume: bool = True,
             seed: int = 0, batch_size: int = 8, progress: bool = False,
             env_kwargs: Mapping[str, Any] | None = None, name: str | None = None,
             data_label: str | None = None, env_factory: Callable[..., Any] | None = None) -> Report:
    """Score ``policy`` on every step of the first ``limit`` sessions of ``split``.

    ``policy`` is an :class:`agents.base.Policy` (batched ``act(observations, infos)``) or a
    plain ``callable(observation_text) -> output_text``. ``out`` (optional) receives
    ``run.json``, ``steps.jsonl`` and, via :meth:`Report.save`, ``report.json`` /
    ``report.md`` / plots; an existing partial run there is resumed when ``resume``.
    Returns the :class:`Report` over all steps of the selected sessions.

    ``env_kwargs`` go to the environment (e.g. a prompt budget); ``env_factory(store,
    context, **env_kwargs)`` replaces :func:`default_env_factory` (e.g. a wrapped env).
    """
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    store = open_data(data, split)
    pol = as_policy(policy)
    _apply_temperature(pol, temperature)
    _seed_globals(seed)
    n_sessions = len(store) if limit is None else min(int(limit), len(store))
    config = {
        "policy": name or policy_name(pol), "data": data_label or str(Path(store.path).resolve()),
        "split": split, "context": context, "temperature": temperature, "seed": seed,
        "limit": limit, "n_sessions": n_sessions, "synthetic": store.synthetic,
        "env": {k: _describe(v) for k, v in sorted(dict(env_kwargs or {}).items())},
    }
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            _check_resume(out_dir, config)
        write_json_atomic(out_dir / RUN_FILE, config)
    log = StepLog(out_dir / STEPS_FILE if out_dir is not None else None, resume=resume)
    try:
        factory = env_factory or default_env_factory
        _run(pol, store, n_sessions, log, batch_size, progress, seed,
             lambda: factory(store, context, **dict(env_kwargs or {})))
    finally:
        log.close()
    selected = _selected_ids(n_sessions, log.done)
    records = [r for r in log.done.values() if r["session_id"] in selected]
    report = build_report(records, config)
    if out_dir is not None:
        report.save(out_dir)
    return report


def _selected_ids(n_sessions: int, done: Mapping[tuple[str, int], Any]) -> set[str]:
    index_of = {int(r["session_index"]): r["session_id"] for r in done.values()}
    return {sid for i, sid in index_of.items() if i < n_sessions}


def _run(pol: Policy, store: SessionStore, n_sessions: int, log: Any, batch_size: int,
         progress: bool, seed: int, make_env: Callable[[], Any]) -> None:
    total = int(sum(store.n_steps(i) for i in range(n_sessions)))
    already = sum(1 for r in log.done.values() if int(r["session_index"]) < n_sessions)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, initial=already, unit="step", desc=f"eval {policy_name(pol)}")
    queue = iter(range(n_sessions))
    slots = [_Slot(env=make_env()) for _ in range(min(batch_size, max(n_sessions, 1)))]
    try:
        while True:
            for slot in slots:
                _advance(slot, queue, store, log, seed)
            ready = [s for s in slots if s.busy]
            if not ready:
                break
            outputs = pol.act([s.obs for s in ready], [s.info for s in ready])
            if len(outputs) != len(ready):
                raise RuntimeError(f"policy {policy_name(pol)} returned {len(outputs)} outputs "
                                   f"for {len(ready)} observations")
            records = [_step(s, str(o) if o is not None else "") for s, o in zip(ready, outputs)]
            log.append(records)
            if bar is not None:
                bar.update(len(records))
    finally:
        if bar is not None:
            bar.close()
        for slot in slots:
            close = getattr(slot.env, "close", None)
            if close:
                close()


def _first_undone(session: Session, start: int, log: Any) -> int | None:
    for k in range(start, len(session.steps)):
        if (session.session_id, k) not in log:
            return k
    return None


def _advance(slot: _Slot, queue: Any, store: SessionStore, log: Any, seed: int) -> None:
    """Bring ``slot`` to a step that still needs the policy (or leave it idle when all done).

    Steps already in the log are skipped by resetting the environment straight to the next
    step that is not (the environment's ``step`` reset option), so they cost nothing.
    """
    while True:
        if slot.busy:
            k = _first_undone(slot.session, slot.step_index, log)
            if k == slot.step_index:
                return
            if k is not None:
                slot.obs, slot.info = slot.env.reset(seed=seed, options={"session_index": slot.session_index,
                                                                          "step": k})
                slot.step_index = k
                return
            slot.session, slot.obs, slot.info = None, None, {}
        i = next(queue, None)
        if i is None:
            return
        if store.n_steps(i) == 0:
            continue
        session = store[i]
        k = _first_undone(session, 0, log)
        if k is None:
            continue  # finished in an earlier run: no environment work at all
        slot.obs, slot.info = slot.env.reset(seed=seed, options={"session_index": i, "step": k})
        slot.session_index, slot.session, slot.step_index = i, session, k


def _env_step(slot: _Slot, output: str) -> tuple[float, dict[str, Any]]:
    obs, reward, terminated, truncated, info = slot.env.step(output)
    slot.step_index += 1
    if terminated or truncated or slot.step_index >= len(slot.session.steps):
        slot.session, slot.obs, slot.info = None, None, {}
    else:
        slot.obs, slot.info = obs, info
    return float(reward), info


def _step(slot: _Slot, output: str) -> dict[str, Any]:
    session, i, k = slot.session, slot.session_index, slot.step_index
    reward, info = _env_step(slot, output)
    if info.get("scored_step_index", k) != k:
        raise RuntimeError(f"environment scored step {info.get('scored_step_index')} of session "
                           f"{session.session_id!r}, expected {k}")
    return make_record(session=session, session_index=i, step_index=k, output=output, info=info,
                       reward=reward)
