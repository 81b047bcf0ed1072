"""Train sb3-contrib's MaskablePPO on the sample train split; compare with the random baseline on test.

    python examples/sb3_maskable_ppo.py [--timesteps 8192] [--seed 0] [--threads 1] [--save model.zip]

The policy picks one of the current page's candidate actions (``terminate``, a search with
a candidate query, or a click on a named element) from hashed features of the page, the
history and the persona, which the wrapper reads from the environment's ``info``
(:mod:`shop_env.integrations.sb3`); the reward is the Shop-R1 reward scaled by 1e-3 (DARS
makes a correct click worth ~1000). Both policies are then scored by the evaluation
harness on every step of the held-out sessions. Progress bars show training and
evaluation. Requires ``pip install 'shop-r1[sb3]'``.
"""
from __future__ import annotations

import argparse
import time

from agents.baselines import RandomPolicy
from shop_env.evaluation.runner import evaluate
from shop_env.integrations.sb3 import SB3Policy, ShopSB3Env, train_maskable_ppo
from shop_env.paths import sample_data_dir


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(sample_data_dir()))
    p.add_argument("--timesteps", type=int, default=8192,
                   help="training steps (8192: the setting tests/test_integration_sb3.py checks)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (the policy is a small MLP: more threads only add overhead)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--context", default="latest_step", choices=["whole_session", "latest_step"])
    p.add_argument("--save", default=None, help="write the trained model here (.zip)")
    a = p.parse_args(argv)
    import torch  # installed with the sb3 extra

    torch.set_num_threads(a.threads)

    t0 = time.perf_counter()
    env = ShopSB3Env(data_path=a.data, split="train", context=a.context, reward_scale=1e-3)
    t = time.perf_counter()
    model = train_maskable_ppo(env, a.timesteps, seed=a.seed, progress=True)
    print(f"trained MaskablePPO for {a.timesteps} steps in {time.perf_counter() - t:.1f} s")
    if a.save:
        model.save(a.save)
    rows = {}
    for name, policy in (("random", RandomPolicy(seed=a.seed)), ("maskable_ppo", SB3Policy(model))):
        rep = evaluate(policy, a.data, split="test", context=a.context, progress=True, name=name)
        rows[name] = {"exact": rep.table2["exact"]["value"], "type_accuracy": rep.table2["type_accuracy"]["value"],
                      "type_macro_f1": rep.table2["type_macro_f1"]["value"], "mean_reward": rep.extra["mean_reward"]}
    print(f"test split ({rep.n_steps} steps of {rep.n_sessions} sessions; "
          f"{time.perf_counter() - t0:.0f} s in all):")
    print(f"  {'policy':14s} {'exact':>7s} {'type acc':>9s} {'type F1':>8s} {'mean reward':>12s}")
    for name, r in rows.items():
        print(f"  {name:14s} {r['exact']:7.3f} {r['type_accuracy']:9.3f} {r['type_macro_f1']:8.3f} "
              f"{r['mean_reward']:12.2f}")
    return rows


if __name__ == "__main__":
    main()
