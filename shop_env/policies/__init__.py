"""Policies that live in the library itself (no torch): models served behind an API.

Not imported by ``import shop_env``; the ``openai`` client is loaded only when a policy is
created (``pip install 'shop-r1[api]'``).
"""
from shop_env.policies.openai_chat import (APICallError, OpenAIChatPolicy, default_batch_size,
                                          openai_policy_from_args)
from shop_env.policies.retry import Backoff

__all__ = ["APICallError", "Backoff", "OpenAIChatPolicy", "default_batch_size", "openai_policy_from_args"]
