"""Kept for old imports: the :class:`Policy` protocol lives in :mod:`shop_env.policy`."""
from shop_env.policy import CallablePolicy, Policy, as_policy

__all__ = ["Policy", "CallablePolicy", "as_policy"]
