"""Run any policy over every step of every held-out session, in teacher forcing.

:func:`evaluate` drives :class:`shop_env.env.ShopSessionEnv` (the replay environment):
whatever the policy says, the next observation is the page the human saw next, so each
step is scored independently against the recorded action. ``batch_size`` sessions run side
by side: a plain policy gets their observations in one ``act`` call; a
:class:`~shop_env.policy.StreamingPolicy` (a served model) gets each observation as soon as
its step is ready, and its environment is stepped as soon as the answer is back, so its
``concurrency`` requests stay in flight instead of waiting for a batch's slowest.

With ``out`` set, every scored step is appended to ``out/steps.jsonl`` and fsync'ed
before its session's next step is requested (see :mod:`shop_env.evaluation.results`). A run that
is killed (even with SIGKILL) and started again with the same arguments skips the steps
already logged: the policy is not called for them again and none is counted twice. The
environment is reset straight to the first step not yet logged.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from shop_env.data.model import Session
from shop_env.data.store import SessionStore, resolve_store
from shop_env.evaluation.report import Report, build_report
from shop_env.evaluation.results import RUN_FILE, STEPS_FILE, StepLog, write_json_atomic
from shop_env.evaluation.session_metrics import LEAVE, PURCHASE, is_purchase
from shop_env.policy import Policy, StreamingPolicy, as_policy
from shop_env.prompts import CONTEXT_MODES
from shop_env.reward import RewardConfig, score_output

# Run settings that must match for a resumed run to reuse logged steps.
RESUME_KEYS = ("policy", "data", "split", "context", "temperature", "seed", "env", "env_factory")


class ResumeMismatchError(ValueError):
    """``out`` already logs an evaluation with other settings."""


@dataclass(frozen=True)
class EvalSettings:
    """How :func:`evaluate` runs. Every field has a default; override with keywords.

    Attributes:
        split: ``"train"``, ``"test"`` or ``"all"`` (ignored when ``data`` is an open store).
        context: ``"whole_session"`` or ``"latest_step"`` (:data:`shop_env.prompts.CONTEXT_MODES`).
        temperature: sampling temperature given to the policy (its ``temperature`` attribute
            or ``generation_kwargs["temperature"]``) on a copy, so the caller's policy is not
            changed; ``None`` keeps the policy's own.
        limit: evaluate only the first ``limit`` sessions (``None``: all).
        seed: seed of the environment's resets (policies keep their own seeds; no global RNG is touched).
        batch_size: sessions run side by side: observations per ``policy.act`` call (a
            streaming policy has up to this many submitted at once).
        resume: reuse the steps already logged in ``out`` by a run with the same settings.
        progress: show a tqdm progress bar.
        name: the policy's name in the report (default: its ``name`` attribute or class).
        data_label: how the report names the data (default: the store's resolved path).
        env_kwargs: passed to the environment (e.g. ``max_chars``, ``max_tokens``, ``tokenizer``).
        env_factory: ``factory(store, context, **env_kwargs)`` replacing
            :func:`default_env_factory` (e.g. a wrapped environment).
    """

    split: str = "test"
    context: str = "whole_session"
    temperature: float | None = None
    limit: int | None = None
    seed: int = 0
    batch_size: int = 8
    resume: bool = True
    progress: bool = False
    name: str | None = None
    data_label: str | None = None
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    env_factory: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if self.context not in CONTEXT_MODES:
            raise ValueError(f"context must be one of {CONTEXT_MODES}, got {self.context!r}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")


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


def _with_temperature(policy: Any, temperature: float | None) -> Any:
    """``policy`` sampling at ``temperature``: a shallow copy with the setting changed (the
    model and other state are shared), so the caller's object is left as it was."""
    if temperature is None:
        return policy
    if hasattr(policy, "temperature"):
        policy = copy.copy(policy)
        policy.temperature = float(temperature)
    elif isinstance(getattr(policy, "generation_kwargs", None), dict):
        policy = copy.copy(policy)
        policy.generation_kwargs = {**policy.generation_kwargs, "temperature": float(temperature)}
    return policy


def _describe(value: Any) -> Any:
    """A JSON-safe, stable description of an environment setting: dataclasses (e.g. a
    :class:`~shop_env.reward.RewardConfig`) by their field values, so that two rewards never
    look alike; functions by their qualified name; other objects by name/path."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _describe(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__type__": type(value).__name__, **fields}
    if isinstance(value, Mapping):
        return {str(k): _describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, functools.partial):
        return {"partial": _describe(value.func), "args": _describe(value.args),
                "keywords": _describe(value.keywords)}
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    return str(getattr(value, "name_or_path", None) or type(value).__name__)


def _check_resume(out: Path, config: Mapping[str, Any]) -> None:
    path = out / RUN_FILE
    if not path.exists():
        return
    old = json.loads(path.read_text(encoding="utf-8"))
    diff = {k: (old.get(k), config.get(k)) for k in RESUME_KEYS if old.get(k) != config.get(k)}
    if diff:
        changed = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
        raise ResumeMismatchError(f"{path}: an evaluation with other settings is logged here ({changed}); "
                                  "use another output folder, or start over with --restart "
                                  "(resume=False in Python)")


def evaluate(policy: Policy | Callable[[str], str], data: str | os.PathLike | SessionStore,
             settings: EvalSettings | None = None, *, out: str | os.PathLike | None = None,
             **overrides: Any) -> Report:
    """Score ``policy`` on every step of the first ``settings.limit`` sessions of ``data``.

    ``policy`` is a :class:`shop_env.policy.Policy` (batched ``act(observations, infos)``)
    or a plain ``callable(observation_text) -> output_text``; it is not modified.
    ``data`` is a store folder or an open :class:`SessionStore`. ``settings`` is an
    :class:`EvalSettings`; keyword ``overrides`` replace its fields, so
    ``evaluate(p, data, split="all", limit=10)`` works without building one. ``out``
    (optional) receives ``run.json``, ``steps.jsonl`` and, via :meth:`Report.save`,
    ``report.json`` / ``report.md`` / plots; a partial run there is resumed when
    ``settings.resume``. Returns the :class:`Report` over all steps of the selected sessions.
    """
    settings = dataclasses.replace(settings or EvalSettings(), **overrides)
    store = resolve_store(data, settings.split)
    pol = _with_temperature(as_policy(policy), settings.temperature)
    limit = settings.limit
    n_sessions = len(store) if limit is None else min(int(limit), len(store))
    env_kwargs = dict(settings.env_kwargs)
    if env_kwargs.get("replay", "teacher_forcing") != "teacher_forcing":
        raise ValueError("evaluate scores every recorded step, so the environment must replay with "
                         f"teacher forcing, not replay={env_kwargs['replay']!r}; the report's session "
                         "section gives the until-mismatch view")
    reward_config = env_kwargs.get("reward_config") or RewardConfig()
    config = {
        "policy": settings.name or policy_name(pol),
        "data": settings.data_label or str(Path(store.path).resolve()),
        "split": settings.split, "context": settings.context, "temperature": settings.temperature,
        "seed": settings.seed, "limit": limit, "n_sessions": n_sessions, "synthetic": store.synthetic,
        "env": {k: _describe(v) for k, v in sorted(env_kwargs.items())},
        "env_factory": None if settings.env_factory is None else _describe(settings.env_factory),
    }
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        if settings.resume:
            _check_resume(out_dir, config)
        write_json_atomic(out_dir / RUN_FILE, config)
    log = StepLog(out_dir / STEPS_FILE if out_dir is not None else None, resume=settings.resume)
    try:
        factory = settings.env_factory or default_env_factory
        _run(pol, store, n_sessions, log, settings.batch_size, settings.progress, settings.seed,
             lambda: factory(store, settings.context, **env_kwargs))
    finally:
        log.close()
    selected = _selected_ids(n_sessions, log.done)
    records = [r for r in log.done.values() if r["session_id"] in selected]
    report = build_report(records, config, threshold=reward_config.threshold)
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
    calls = _Streamed(pol) if isinstance(pol, StreamingPolicy) else _Batched(pol)
    try:
        ready = slots
        while True:
            for slot in ready:
                _advance(slot, queue, store, log, seed)
                if slot.busy:
                    calls.submit(slot)
            if not calls.pending:
                break
            answered = calls.collect()
            records = []
            for slot, output, stats in answered:
                records.append(_step(slot, str(output) if output is not None else ""))
                if stats:
                    records[-1]["call"] = dict(stats)
            log.append(records)
            if bar is not None:
                bar.update(len(records))
            ready = [slot for slot, _, _ in answered]
    except BaseException:
        calls.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
        for slot in slots:
            close = getattr(slot.env, "close", None)
            if close:
                close()


class _Batched:
    """Hands a plain :class:`Policy` every waiting observation in one ``act`` call."""

    def __init__(self, pol: Policy) -> None:
        self.pol = pol
        self.waiting: list[_Slot] = []

    @property
    def pending(self) -> bool:
        return bool(self.waiting)

    def submit(self, slot: _Slot) -> None:
        self.waiting.append(slot)

    def collect(self) -> list[tuple[_Slot, Any, dict[str, Any] | None]]:
        batch, self.waiting = self.waiting, []
        outputs = self.pol.act([s.obs for s in batch], [s.info for s in batch])
        if len(outputs) != len(batch):
            raise RuntimeError(f"policy {policy_name(self.pol)} returned {len(outputs)} outputs "
                               f"for {len(batch)} observations")
        # a served policy's per-output call stats (optional), logged with each step
        stats = getattr(self.pol, "last_call_stats", None)
        calls = stats() if callable(stats) else None
        if not calls or len(calls) != len(batch):
            calls = [None] * len(batch)
        return list(zip(batch, outputs, calls))

    def cancel(self) -> None:
        self.waiting = []


class _Streamed:
    """Keeps a :class:`StreamingPolicy` busy: each observation is submitted as soon as its step
    is ready and stepped as soon as its answer is back (no waiting on a batch's slowest)."""

    def __init__(self, pol: StreamingPolicy) -> None:
        self.pol = pol
        self.futures: dict[Future, _Slot] = {}

    @property
    def pending(self) -> bool:
        return bool(self.futures)

    def submit(self, slot: _Slot) -> None:
        self.futures[self.pol.submit(slot.obs, slot.info)] = slot

    def collect(self) -> list[tuple[_Slot, Any, dict[str, Any] | None]]:
        done, _ = wait(list(self.futures), return_when=FIRST_COMPLETED)
        answered = []
        for future in sorted(done, key=lambda f: self.futures[f].session_index):
            slot = self.futures.pop(future)
            completion = future.result()  # a failed call stops the run here (cancel() follows)
            answered.append((slot, completion.text, completion.stats))
        return answered

    def cancel(self) -> None:
        self.pol.cancel()
        for future in self.futures:
            future.cancel()
        self.futures = {}


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
