"""Adapters to existing RL tooling. Each submodule pulls in its own optional extra on use.

- :mod:`shop_env.integrations.sb3`: Stable-Baselines3 / sb3-contrib ``MaskablePPO``
  (``pip install 'shop-r1[sb3]'``): Discrete candidate actions, action masks, Box features.
- :mod:`shop_env.integrations.trl`: TRL ``GRPOTrainer`` dataset builder and reward functions
  (``pip install 'shop-r1[trl]'``).
- :mod:`shop_env.integrations.verl`: verl parquet exporter and ``compute_score``
  (``pip install 'shop-r1[verl]'`` for the exporter's extras; verl itself runs on the cluster).

Importing this package (or :mod:`shop_env`) imports none of those libraries.
"""
from __future__ import annotations

from shop_env.integrations._optional import require

__all__ = ["require"]
