"""Policies that act in ShopSessionEnv: baselines and the LLM agent (with its trainers).

Note: the import name ``agents`` is also used by the unrelated PyPI package
``openai-agents``; do not install both into one environment.
"""
from shop_env.policy import CallablePolicy, Policy, as_policy

__all__ = ["CallablePolicy", "Policy", "as_policy", "LLMAgent"]


def __getattr__(name: str):
    if name == "LLMAgent":  # torch/transformers load on first use
        from agents.llm import LLMAgent
        return LLMAgent
    raise AttributeError(name)
