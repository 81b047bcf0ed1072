"""A random agent in ``ShopR1-v0``: the plain Gymnasium loop, and what chance scores.

    python examples/random_agent.py                       # embedded sample, train split
    python examples/random_agent.py --data PATH --split test --episodes 50 --mode text

``--mode elements`` (default) picks a uniformly random action over the current page's named
elements (``info["elements"]``); ``--mode text`` sends ``env.action_space.sample()``, random
Unicode strings, which never parse (reward 0) but show that any text is accepted.
"""
from __future__ import annotations

import argparse
import random

import gymnasium as gym

import shop_env  # noqa: F401  (registers ShopR1-v0)
from shop_env.actions import Action, format_model_output


def random_output(info: dict, rng: random.Random) -> str:
    """A random well-formed output over the page's named elements."""
    clicks = [e.name for e in info["elements"] if e.kind != "input"]
    inputs = [e.name for e in info["elements"] if e.kind == "input"]
    kinds = ["terminate"] + (["click"] if clicks else []) + (["type_and_submit"] if inputs else [])
    kind = rng.choice(kinds)
    if kind == "click":
        action = Action("click", rng.choice(clicks))
    elif kind == "type_and_submit":
        action = Action("type_and_submit", rng.choice(inputs), rng.choice(["shoes", "usb cable", "gift"]))
    else:
        action = Action("terminate")
    return format_model_output("I pick something at random.", action)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="store folder (default: the embedded sample)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mode", choices=["elements", "text"], default="elements")
    ap.add_argument("--context", choices=["whole_session", "latest_step"], default="whole_session")
    ap.add_argument("--render", action="store_true", help="print the ansi rendering after each step")
    args = ap.parse_args(argv)

    env = gym.make("ShopR1-v0", data_path=args.data, split=args.split, context=args.context,
                   render_mode="ansi" if args.render else None)
    env.action_space.seed(args.seed)
    rng = random.Random(args.seed)
    steps = exact = 0
    total = 0.0
    obs, info = env.reset(seed=args.seed)
    for _ in range(args.episodes):
        done = False
        while not done:
            text = random_output(info, rng) if args.mode == "elements" else env.action_space.sample()
            obs, reward, terminated, truncated, info = env.step(text)
            steps, total, exact = steps + 1, total + reward, exact + info["exact_match"]
            if args.render:
                print(env.render(), end="")
            done = terminated or truncated
        obs, info = env.reset()
    env.close()
    result = {"episodes": args.episodes, "steps": steps, "mean_reward": total / max(steps, 1),
              "exact_match": exact / max(steps, 1)}
    print(f"random ({args.mode}): {steps} steps over {args.episodes} episodes, "
          f"mean reward {result['mean_reward']:.3f}, exact match {100 * result['exact_match']:.2f}%")
    return result


if __name__ == "__main__":
    main()
