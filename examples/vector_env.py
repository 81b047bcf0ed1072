"""Several replayed sessions at once with :func:`shop_env.env.make_vector_env`.

    python examples/vector_env.py [--envs 4] [--steps 200]

Each worker process replays its own sessions (teacher forcing); a batched policy answers
all of them per call. ``make_vector_env`` builds an ``AsyncVectorEnv`` with
``shared_memory=False`` (text observations do not fit gymnasium's fixed-size shared
memory) and same-step autoreset: a finished env starts its next session in the same call,
so every action sent is scored and every recorded step is scored once.
"""
from __future__ import annotations

import argparse
import time

from agents.baselines import RandomPolicy
from shop_env.env import make_vector_env, unbatch_infos
from shop_env.paths import sample_data_dir


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(sample_data_dir()), help="store folder (default: the sample)")
    p.add_argument("--envs", type=int, default=4, help="environments (worker processes)")
    p.add_argument("--steps", type=int, default=200, help="vector steps")
    p.add_argument("--seed", type=int, default=0, help="reset and policy seed")
    a = p.parse_args(argv)

    vec = make_vector_env(a.envs, data_path=a.data, split="train", context="latest_step")
    policy = RandomPolicy(seed=a.seed)
    try:
        obs, info = vec.reset(seed=[a.seed + i for i in range(a.envs)])
        total = episodes = 0.0
        t = time.perf_counter()
        for _ in range(a.steps):
            outputs = policy.act(list(obs), unbatch_infos(info, a.envs))
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
