"""Closed-loop evaluation: run a policy for N episodes of ``ShopR1Live-v0`` and compare its sessions
with the sessions the synthetic shopper records under the same personas.

``evaluate_live(policy, episodes=N)`` plays episodes ``0..N-1`` of the generator split
``split`` (each one persona and one seeded store, see :mod:`shop_env.live`), with up to
``batch_size`` environments stepped together so batched policies (LLMs) get full batches.
The human side is :func:`shop_env.synth.generate_sessions` for the same split and indices:
the sessions the shopper records for those personas (for ``split="test"`` and N <= 100, the
embedded sample's test split). The report (:class:`~shop_env.evaluation.live_report.LiveReport`)
holds the fidelity statistics of :mod:`shop_env.evaluation.fidelity` and the mean step
reward / exact match against the reference human at every state.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable

from shop_env.data.model import Session
from shop_env.evaluation.fidelity import fidelity
from shop_env.evaluation.live_report import LiveReport
from shop_env.live import ShopLiveEnv, live_store
from shop_env.policy import Policy, as_policy
from shop_env.synth import generate_sessions

__all__ = ["evaluate_live", "run_live_episodes"]


def run_live_episodes(policy: Policy | Callable[[str], str], episodes: int, *, split: str = "test",
                      batch_size: int = 8, progress: bool = True, **env_kwargs: Any
                      ) -> tuple[list[Session], dict[str, float]]:
    """Play episodes ``0..episodes-1`` of ``split``; returns the sessions (in episode order) and
    step totals: ``steps``, ``reward`` (sum), ``exact`` (exact matches with the reference human)."""
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive int, got {episodes!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    pol = as_policy(policy)
    envs = [ShopLiveEnv(split=split, **env_kwargs) for _ in range(min(batch_size, episodes))]
    sessions: list[Session | None] = [None] * episodes
    totals = {"steps": 0.0, "reward": 0.0, "exact": 0.0}
    nxt = 0
    live: dict[int, tuple[int, str, dict[str, Any]]] = {}  # env slot -> (episode, obs, info)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=episodes, desc=f"live {getattr(pol, 'name', 'policy')}", unit="episode", file=sys.stderr,
                   leave=False, mininterval=1.0)
    while nxt < episodes or live:
        for slot, env in enumerate(envs):
            if slot not in live and nxt < episodes:
                obs, info = env.reset(options={"index": nxt})
                live[slot] = (nxt, obs, info)
                nxt += 1
        slots = sorted(live)
        outputs = pol.act([live[s][1] for s in slots], [live[s][2] for s in slots])
        if len(outputs) != len(slots):
            raise ValueError(f"policy returned {len(outputs)} outputs for {len(slots)} observations")
        for slot, text in zip(slots, outputs):
            episode = live[slot][0]
            obs, reward, terminated, truncated, info = envs[slot].step(text)
            totals["steps"] += 1
            totals["reward"] += reward
            totals["exact"] += bool(info["exact_match"])
            if terminated or truncated:
                sessions[episode] = envs[slot].session()
                del live[slot]
                if bar is not None:
                    bar.update(1)
            else:
                live[slot] = (episode, obs, info)
    if bar is not None:
        bar.close()
    return [s for s in sessions if s is not None], totals


def evaluate_live(policy: Policy | Callable[[str], str], episodes: int = 100, *, split: str = "test",
                  catalog_seed: int = 0, max_steps: int = 30, context: str = "whole_session", seed: int = 0,
                  n_boot: int = 200, batch_size: int = 8, out: str | os.PathLike | None = None,
                  progress: bool = True, name: str | None = None, env_kwargs: dict[str, Any] | None = None,
                  plots: bool | None = None) -> LiveReport:
    """Run ``episodes`` closed-loop episodes and report session-level fidelity (see module doc).

    ``seed`` seeds the bootstrap (and ``set_seed`` of policies that have one); episodes are
    fixed by ``split`` and their index. With ``out``, writes ``report.json``, ``report.md``
    and ``fidelity.png`` there.
    """
    pol = as_policy(policy)
    if hasattr(pol, "set_seed"):
        pol.set_seed(seed)  # type: ignore[attr-defined]
    kwargs = dict(env_kwargs or {})
    kwargs.update(catalog_seed=catalog_seed, max_steps=max_steps, context=context)
    sessions, totals = run_live_episodes(pol, episodes, split=split, batch_size=batch_size, progress=progress,
                                         **kwargs)
    humans = list(generate_sessions(episodes, catalog_seed, split=split, store=live_store(catalog_seed)))
    fid = fidelity(sessions, humans, n_boot=n_boot, seed=seed)
    steps = max(totals["steps"], 1.0)
    report = LiveReport(
        name=name or getattr(pol, "name", type(pol).__name__), fidelity=fid["fidelity"],
        fidelity_distance=fid["fidelity_distance"],
        config={"episodes": episodes, "split": split, "catalog_seed": catalog_seed, "max_steps": max_steps,
                "context": context, "seed": seed, "bootstrap": n_boot, "distance": fid["distance"],
                "human": f"shop_env.synth.generate_sessions({episodes}, {catalog_seed}, split={split!r})"},
        steps={"n": int(totals["steps"]), "mean_reward": round(totals["reward"] / steps, 4),
               "exact_match": round(totals["exact"] / steps, 4)})
    if out is not None:
        report.save(out, plots=plots)
    return report
