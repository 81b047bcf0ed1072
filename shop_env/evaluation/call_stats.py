"""Cost and speed of a policy that calls a served model: per-step call records -> one summary.

A policy may report, for each output of its latest ``act`` call, a dict
``{"attempts", "prompt_tokens", "completion_tokens", "latency_s"}`` via
``last_call_stats()``. The runner keeps it in the step's record (key ``call``), so a
resumed run still counts each logged step's call once, and :func:`summarize_calls`
totals them for the report.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

CALL_KEYS = ("attempts", "prompt_tokens", "completion_tokens", "latency_s")


def summarize_calls(calls: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over answered calls: requests (HTTP attempts), retries, prompt and completion
    tokens (from the server's ``usage``; ``None`` when it never reported them), and the
    per-call latency p50/p95/mean in seconds (first attempt to answer, waits included)."""
    calls = [c for c in calls if c]
    attempts = [int(c.get("attempts") or 1) for c in calls]
    latencies = np.array([float(c.get("latency_s") or 0.0) for c in calls], dtype=float)

    def tokens(key: str) -> int | None:
        seen = [int(c[key]) for c in calls if c.get(key) is not None]
        return sum(seen) if seen else None

    return {
        "calls": len(calls),
        "requests": sum(attempts),
        "retries": sum(a - 1 for a in attempts),
        "prompt_tokens": tokens("prompt_tokens"),
        "completion_tokens": tokens("completion_tokens"),
        "latency_p50_s": float(np.percentile(latencies, 50)) if len(calls) else None,
        "latency_p95_s": float(np.percentile(latencies, 95)) if len(calls) else None,
        "latency_mean_s": float(latencies.mean()) if len(calls) else None,
    }


def markdown_lines(summary: Mapping[str, Any]) -> list[str]:
    """The report's "Cost and speed" section for a :func:`summarize_calls` summary."""
    def num(v: Any) -> str:
        return "n/a" if v is None else f"{v:,}"

    def ms(v: Any) -> str:
        return "n/a" if v is None else f"{1000.0 * v:.0f} ms"

    return ["## Cost and speed (API calls)", "",
            "| calls | requests | retries | prompt tokens | completion tokens | latency p50 | latency p95 |",
            "|---|---|---|---|---|---|---|",
            f"| {num(summary.get('calls'))} | {num(summary.get('requests'))} | {num(summary.get('retries'))} | "
            f"{num(summary.get('prompt_tokens'))} | {num(summary.get('completion_tokens'))} | "
            f"{ms(summary.get('latency_p50_s'))} | {ms(summary.get('latency_p95_s'))} |", ""]
