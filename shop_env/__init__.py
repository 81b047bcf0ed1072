"""shop-r1: recorded human shopping sessions as a Gymnasium environment (Shop-R1, arXiv 2507.17842).

Importing this package registers the environment ``ShopR1-v0``::

    import gymnasium as gym
    import shop_env
    env = gym.make("ShopR1-v0")          # the embedded (synthetic) sample, train split
"""
from __future__ import annotations

from gymnasium.envs.registration import register, registry

from shop_env.actions import ACTION_TYPES, Action, format_model_output
from shop_env.paths import sample_data_dir

__version__ = "0.1.0"
ENV_ID = "ShopR1-v0"

if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="shop_env.env:ShopSessionEnv")
if "ShopR1Live-v0" not in registry:  # closed loop on the synthetic store (shop_env/live.py)
    register(id="ShopR1Live-v0", entry_point="shop_env.live:ShopLiveEnv")

__all__ = ["ACTION_TYPES", "Action", "ENV_ID", "ShopSessionEnv", "format_model_output", "sample_data_dir"]


def __getattr__(name: str):
    if name == "ShopSessionEnv":
        from shop_env.env import ShopSessionEnv
        return ShopSessionEnv
    raise AttributeError(name)
