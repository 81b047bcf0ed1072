"""Several replayed sessions at once with ``gymnasium.vector.AsyncVectorEnv``.

    python examples/vector_env.py [--envs 4] [--steps 200]

Each worker process replays its own sessions (teacher forcing); a batched policy answers
all of them per call. Text observations need ``shared_memory=False`` (gymnasium's shared
memory holds only fixed-size arrays). ``autoreset_mode=SAME_STEP`` makes a finished env
start its next session in the same call, so every action sent is scored.
"""
from __future__ import annotations

import argparse
import functools
import time
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from agents.baselines import RandomPolicy
from shop_env.env import ShopSessionEnv
from shop_env.paths import sample_data_dir


def per_env_infos(info: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Split a vector env's info (a dict of per-env arrays, with ``_key`` masks) into one dict per env."""
    return [{k: v[i] for k, v in info.items() if not k.startswith("_") and not isinstance(v, dict)
             and info.get(f"_{k}", [True] * n)[i]} for i in range(n)]


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(sample_data_dir()))
    p.add_argument("--envs", type=int, default=4)
    p.add_argument("--steps", type=int, default=200, help="vector steps")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    make = functools.partial(ShopSessionEnv, a.data, split="train", context="latest_step")
    vec = gym.vector.AsyncVectorEnv([make] * a.envs, shared_memory=False, autoreset_mode=AutoresetMode.SAME_STEP)
    policy = RandomPolicy(seed=a.seed)
    try:
        obs, info = vec.reset(seed=[a.seed + i for i in range(a.envs)])
        total = episodes = 0.0
        t = time.perf_counter()
        for _ in range(a.steps):
            outputs = policy.act(list(obs), per_env_infos(info, a.envs))
            obs, reward, terminated, truncated, info = vec.step(outputs)
            total += float(reward.sum())
            episodes += float(terminated.sum())
        seconds = time.perf_counter() - t
    finally:
        vec.close()
    n = a.steps * a.envs
    result = {"env_steps_per_s": n / seconds, "mean_reward": total / n, "episodes": episodes}
    print(f"{a.envs} async envs: {n} scored steps in {seconds:.2f} s ({result['env_steps_per_s']:.0f} steps/s), "
          f"{int(episodes)} sessions finished, random policy mean reward {result['mean_reward']:.3f}")
    return result


if __name__ == "__main__":
    main()
