"""The replay (oracle) agent in ``ShopR1-v0``: output the recorded action, earn the maximum.

    python examples/replay_agent.py                       # every session of the sample's train split
    python examples/replay_agent.py --data PATH --split test --context latest_step

It looks the recorded step up in the store by ``info["session_id"]`` and
``info["step_index"]`` (not ``info["gold"]``), so it is an upper bound, not a policy. Every
step must earn ``max_reward(gold)`` and be an exact match; anything else is a bug in the
parser, the reward or the environment, and the script exits with status 1.
"""
from __future__ import annotations

import argparse
import sys

from shop_env.actions import format_model_output
from shop_env.env import ShopSessionEnv
from shop_env.reward import max_reward


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="store folder (default: the embedded sample)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--context", choices=["whole_session", "latest_step"], default="whole_session")
    ap.add_argument("--max-chars", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="replay only the first N sessions")
    args = ap.parse_args(argv)

    env = ShopSessionEnv(args.data, split=args.split, context=args.context, max_chars=args.max_chars,
                         replay="until_mismatch")
    n_sessions = len(env.store) if args.limit is None else min(args.limit, len(env.store))
    steps = exact = at_max = targets_cut = 0
    total = 0.0
    for i in range(n_sessions):
        obs, info = env.reset(options={"session_index": i})
        session = env.store[i]
        done = False
        while not done:
            step = session.steps[info["step_index"]]
            targets_cut += not info["target_kept"]
            obs, reward, done, truncated, info = env.step(format_model_output(step.rationale or "", step.action))
            steps += 1
            exact += info["exact_match"]
            at_max += reward == max_reward(step.action, env.reward_config)
            total += reward
    env.close()
    result = {"sessions": n_sessions, "steps": steps, "exact_match": exact / max(steps, 1),
              "at_max_reward": at_max / max(steps, 1), "mean_reward": total / max(steps, 1),
              "targets_cut_by_budget": targets_cut}
    print(f"replay: {n_sessions} sessions, {steps} steps, exact match {100 * result['exact_match']:.2f}%, "
          f"max reward on {100 * result['at_max_reward']:.2f}% of steps, mean reward {result['mean_reward']:.2f}, "
          f"gold target cut by the budget on {targets_cut} steps")
    return result


if __name__ == "__main__":
    r = main()
    sys.exit(0 if r["exact_match"] == 1.0 and r["at_max_reward"] == 1.0 else 1)
