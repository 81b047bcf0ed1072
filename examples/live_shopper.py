"""Closed loop in ``ShopR1Live-v0``: the synthetic shopper (or a random agent) shops, and how human-like it is.

    python examples/live_shopper.py                        # 3 episodes of the shopper, printed step by step
    python examples/live_shopper.py --policy random --episodes 3

Each step prints what the policy did, what the store made of it, and what the reference
human (``info["gold_action"]``) would have done in that state, with the Table 1 reward.
"""
from __future__ import annotations

import argparse

import gymnasium as gym

import shop_env  # noqa: F401  (registers ShopR1Live-v0)
from shop_env.synth.policy import ShopperPolicy


def main(argv: list[str] | None = None) -> dict[str, int]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", choices=("shopper", "random"), default="shopper")
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.policy == "shopper":
        policy = ShopperPolicy(seed=args.seed)
    else:
        from agents.baselines import RandomPolicy
        policy = RandomPolicy(seed=args.seed)
    env = gym.make("ShopR1Live-v0", seed=args.seed, max_steps=30)
    outcomes: dict[str, int] = {}
    for episode in range(args.episodes):
        obs, info = env.reset()
        print(f"episode {episode}: {info['persona']['description']}")
        done = False
        while not done:
            output = policy.act([obs], [info])[0]
            gold = info["gold_action"]
            obs, reward, terminated, truncated, info = env.step(output)
            done = terminated or truncated
            did = info["parsed"].get("action", "(unparseable)")
            print(f"  {did}  -> {info['store_message']}\n     reference human: {gold}  reward {reward:.1f}")
        outcomes[info["outcome"]] = outcomes.get(info["outcome"], 0) + 1
    print("outcomes:", outcomes)
    return outcomes


if __name__ == "__main__":
    main()
