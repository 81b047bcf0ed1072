"""Side-by-side comparison of several reports in the paper's Table 2 layout."""
from __future__ import annotations

import os
from typing import Sequence

from shop_env.evaluation.report import TABLE2_COLUMNS, Report, fmt_interval

# The paper's Table 2 (Qwen-2.5-3B-Instruct, proprietary data): exact, type acc, type F1 in %.
PAPER_TABLE2: tuple[tuple[str, float, float, float], ...] = (
    ("zero-shot prompting", 0.32, 15.33, 16.15),
    ("RL (binary)", 1.01, 6.17, 9.92),
    ("SFT", 16.76, 22.25, 24.52),
    ("SFT + RL (binary)", 16.55, 23.74, 28.07),
    ("Shop-R1", 27.72, 36.40, 31.28),
)


def load_reports(paths: Sequence[str | os.PathLike]) -> list[Report]:
    """Load each ``report.json`` (or folder holding one)."""
    return [Report.load(p) for p in paths]


def comparison_table(reports: Sequence[Report], *, paper: bool = False, markdown: bool = True) -> str:
    """One row per report: exact, type accuracy, type macro-F1 with 95% intervals.

    Rows from SYNTHETIC data are flagged. With ``paper`` the paper's own rows are appended
    for reference (different data and model: not comparable numbers, only the layout).
    """
    header = ["policy", *[t for _, t in TABLE2_COLUMNS], "steps", "data"]
    rows = []
    for r in reports:
        data = f"{r.config.get('split', '?')}{' (synthetic)' if r.config.get('synthetic') else ''}"
        rows.append([r.name, *[fmt_interval(r.table2.get(k)) for k, _ in TABLE2_COLUMNS], str(r.n_steps), data])
    if paper:
        for name, *vals in PAPER_TABLE2:
            rows.append([f"paper: {name}", *[f"{v:.2f}%" for v in vals], "-", "paper (proprietary)"])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*row) for row in rows])
