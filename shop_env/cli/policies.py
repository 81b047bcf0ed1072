"""Turn a ``--policy`` spec into a policy object: one prefix table, plus your own classes.

Specs::

    random | majority | rule | replay      the baselines (agents.baselines)
    llm:PATH_OR_NAME                      a checkpoint saved by ``shop-r1 train`` or a HF model
    MODULE:CLASS                          your class, from a module in the current folder or on PYTHONPATH
    path/to/file.py:CLASS                 your class, loaded from a Python file

``PolicyContext`` carries what a builder may need (data, split, seed, temperature and the
``--policy-kwargs`` JSON). A new prefix is one entry in :data:`BUILDERS`.
A custom class is called with the ``--policy-kwargs`` as keyword arguments and must give
an object with ``act(observations, infos) -> list[str]`` (:class:`shop_env.policy.Policy`).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from shop_env.data.store import SessionStore, resolve_store

POLICY_HELP = "random | majority | rule | replay | llm:PATH_OR_NAME | MODULE:CLASS | FILE.py:CLASS"


class PolicySpecError(ValueError):
    """A ``--policy`` spec that names no policy we can build."""


@dataclass(frozen=True)
class PolicyContext:
    """What a policy builder may use."""

    data: str | os.PathLike | SessionStore | None = None
    split: str = "test"
    train_split: str = "train"
    seed: int = 0
    temperature: float | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


def _store(ctx: PolicyContext, spec: str, split: str) -> SessionStore:
    if ctx.data is None:
        raise PolicySpecError(f"policy {spec!r} needs data")
    return resolve_store(ctx.data, split)


def _random(arg: str, ctx: PolicyContext) -> Any:
    from agents.baselines import RandomPolicy
    return RandomPolicy(**{"seed": ctx.seed, **ctx.kwargs})


def _rule(arg: str, ctx: PolicyContext) -> Any:
    from agents.baselines import RuleBasedPolicy
    return RuleBasedPolicy(**ctx.kwargs)


def _majority(arg: str, ctx: PolicyContext) -> Any:
    from agents.baselines import MajorityTypePolicy
    if ctx.kwargs:
        raise PolicySpecError(f"policy 'majority' takes no --policy-kwargs (got {ctx.kwargs}): it is "
                              "fitted on the training split")
    return MajorityTypePolicy.fit(_store(ctx, "majority", ctx.train_split))


def _replay(arg: str, ctx: PolicyContext) -> Any:
    from agents.baselines import ReplayPolicy
    return ReplayPolicy(_store(ctx, "replay", ctx.split), **ctx.kwargs)


def _llm(arg: str, ctx: PolicyContext) -> Any:
    if not arg:
        raise PolicySpecError("llm policy needs a checkpoint folder or model name: llm:PATH_OR_NAME")
    from agents import LLMAgent
    from agents.baselines import resolve_model_path
    kwargs: dict[str, Any] = {"seed": ctx.seed, **ctx.kwargs}
    if ctx.temperature is not None:
        kwargs["temperature"] = ctx.temperature
    return LLMAgent.from_pretrained(resolve_model_path(arg), **kwargs)


# Spec prefix (the part before the first ":", or the whole bare name) -> builder(arg, ctx).
BUILDERS: dict[str, Callable[[str, PolicyContext], Any]] = {
    "random": _random,
    "majority": _majority,
    "rule": _rule,
    "replay": _replay,
    "llm": _llm,
}


def _load_attribute(spec: str) -> Any:
    """The object ``MODULE:NAME`` or ``FILE.py:NAME`` names."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise PolicySpecError(f"unknown policy {spec!r}; expected {POLICY_HELP}")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise PolicySpecError(f"policy {spec!r}: no such file {target}")
        module_name = f"_shop_r1_policy_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise PolicySpecError(f"policy {spec!r}: cannot load {target} as Python")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module  # dataclasses and pickling look classes up here
        module_spec.loader.exec_module(module)
    else:
        if os.getcwd() not in sys.path:  # like `python -m`: modules in the current folder import
            sys.path.append(os.getcwd())
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as e:
            if e.name and target.startswith(e.name):  # the module itself, not one it imports
                raise PolicySpecError(f"policy {spec!r}: no module named {e.name!r} (is it on "
                                      "PYTHONPATH? or give a file: path/to/file.py:CLASS)") from None
            raise
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PolicySpecError(f"policy {spec!r}: {target} has no attribute {attr!r}") from None


def _custom(spec: str, ctx: PolicyContext) -> Any:
    factory = _load_attribute(spec)
    if not callable(factory):
        raise PolicySpecError(f"policy {spec!r} is not a class or factory")
    try:
        policy = factory(**ctx.kwargs)
    except TypeError as e:
        raise PolicySpecError(f"policy {spec!r} cannot be built with --policy-kwargs {ctx.kwargs}: {e}") from None
    if not callable(getattr(policy, "act", None)):
        raise PolicySpecError(f"policy {spec!r} gave a {type(policy).__name__} without "
                              "act(observations, infos) -> list[str]")
    return policy


def resolve_policy(spec: str, ctx: PolicyContext | None = None) -> Any:
    """Build the policy ``spec`` names (see the module docstring)."""
    ctx = ctx or PolicyContext()
    prefix, _, arg = spec.partition(":")
    builder = BUILDERS.get(prefix)
    if builder is not None:
        try:
            return builder(arg, ctx)
        except TypeError as e:
            if not ctx.kwargs:
                raise
            raise PolicySpecError(f"policy {spec!r} cannot be built with --policy-kwargs {ctx.kwargs}: {e}") from None
    if ":" not in spec:
        raise PolicySpecError(f"unknown policy {spec!r}; expected {POLICY_HELP}")
    return _custom(spec, ctx)
