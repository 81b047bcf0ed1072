"""Benchmark any policy against the recorded humans (issue 8).

``evaluate(policy, data, EvalSettings(split="test", ...)) -> Report`` (or keyword
overrides of :class:`EvalSettings`: ``evaluate(policy, data, limit=20)``) runs a policy over every step of
every held-out session through :class:`shop_env.env.ShopSessionEnv` (teacher forcing),
with a crash-safe, resumable per-step log; :class:`Report` holds the paper's Table 2
(exact, type accuracy, type macro-F1 with 95% intervals) and Table 3 (per type), plus
session-level fidelity, and writes JSON, Markdown and PNG plots.
"""
from shop_env.evaluation.compare import comparison_table, load_reports
from shop_env.evaluation.report import Report, build_report
from shop_env.evaluation.runner import EvalSettings, evaluate

__all__ = ["EvalSettings", "Report", "build_report", "comparison_table", "evaluate", "load_reports"]
