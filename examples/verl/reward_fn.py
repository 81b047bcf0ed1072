"""verl custom reward entry point: ``custom_reward_function.path=examples/verl/reward_fn.py``.

verl loads this file by path on every worker and calls ``compute_score(data_source,
solution_str, ground_truth, extra_info, **reward_kwargs)``; the Shop-R1 reward itself lives
in :mod:`shop_env.integrations.verl` (so ``shop-r1`` must be installed on every node).
"""
from shop_env.integrations.verl import compute_score

__all__ = ["compute_score"]
