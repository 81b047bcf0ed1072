"""The evaluation report: the paper's Table 2 and Table 3, session-level fidelity, writers.

A :class:`Report` is built from the runner's per-step records. Next-action metrics come
from :func:`shop_env.metrics.compute_metrics` (exact match, action-type accuracy and
macro-F1 over {click, type_and_submit, terminate}, with 95% bootstrap intervals); the
session-level numbers from :mod:`shop_env.evaluation.session_metrics`.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from shop_env.actions import ACTION_TYPES, Action
from shop_env.evaluation.call_stats import markdown_lines, summarize_calls
from shop_env.evaluation.results import write_json_atomic, write_text_atomic
from shop_env.evaluation.session_metrics import TYPE_LABELS, session_level

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
# Table 2 metric keys, in the paper's column order, with their column titles.
TABLE2_COLUMNS: tuple[tuple[str, str], ...] = (
    ("exact", "Exact match"), ("type_accuracy", "Type acc."), ("type_macro_f1", "Type F1"))


@dataclass
class Report:
    """Everything one evaluation run measured; JSON round-trips via :meth:`to_dict`/:meth:`load`.

    ``table2`` maps ``exact`` / ``exact_strict`` / ``type_accuracy`` / ``type_macro_f1`` to
    ``{"value", "ci_low", "ci_high"}`` (fractions in [0, 1]); ``table3`` maps each action
    type to ``{"n", "exact", "type_accuracy"}``; ``confusion`` holds gold-by-predicted
    counts over :data:`TYPE_LABELS`; ``session`` the session-level metrics.
    """

    config: dict[str, Any]
    n_steps: int
    n_sessions: int
    table2: dict[str, dict[str, float]]
    table3: dict[str, dict[str, float]]
    confusion: dict[str, Any]
    session: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.config.get("policy", "policy"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Report":
        return cls(**{k: data[k] for k in ("config", "n_steps", "n_sessions", "table2", "table3",
                                           "confusion", "session")}, extra=dict(data.get("extra", {})))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Report":
        """Read a ``report.json`` (or the folder holding one)."""
        p = Path(path)
        if p.is_dir():
            p = p / REPORT_JSON
        try:
            return cls.from_dict(json.loads(p.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            from shop_env.errors import DataError
            raise DataError(f"not an evaluation report: {e!r}", path=p) from None

    def to_markdown(self) -> str:
        """Human-readable report (Markdown)."""
        return render_markdown(self)

    def save(self, out: str | os.PathLike, *, plots: bool | None = None) -> dict[str, Path]:
        """Write ``report.json``, ``report.md`` and the PNG plots into ``out``
        (``plots=None``: only when matplotlib is installed)."""
        out = Path(out)
        paths = {"json": write_json_atomic(out / REPORT_JSON, self.to_dict()),
                 "markdown": write_text_atomic(out / REPORT_MD, self.to_markdown())}
        from shop_env.evaluation.plots import plots_wanted, save_plots
        if plots_wanted(plots):
            paths.update(save_plots(self, out))
        return paths


def _interval(value: float, ci: Sequence[float] | None) -> dict[str, float]:
    lo, hi = (ci[0], ci[1]) if ci else (value, value)
    return {"value": float(value), "ci_low": float(lo), "ci_high": float(hi)}


# Our Table 2 keys -> shop_env.metrics keys.
_METRIC_KEYS = {"exact": "exact_match", "exact_strict": "exact_match_strict",
                "type_accuracy": "type_accuracy", "type_macro_f1": "type_macro_f1"}


def build_report(records: Sequence[Mapping[str, Any]], config: Mapping[str, Any], *,
                 threshold: float = 0.75, bootstrap: int = 1000, seed: int = 0) -> Report:
    """Aggregate per-step records (see :func:`shop_env.evaluation.runner.make_record`).

    Intervals are percentile bootstrap intervals over steps (``bootstrap`` resamples,
    seeded), as computed by :func:`shop_env.metrics.compute_metrics`.
    """
    from shop_env.metrics import compute_metrics

    if not records:
        raise ValueError("no evaluated steps: the selected split/limit holds no sessions with steps")
    records = sorted(records, key=lambda r: (int(r["session_index"]), int(r["step_index"])))
    outputs = [r["output"] for r in records]
    golds = [Action.from_dict(r["gold"]) for r in records]
    m = compute_metrics(outputs, golds, threshold=threshold, bootstrap=bootstrap, seed=seed)
    table2 = {ours: _interval(m[theirs], m["ci"].get(theirs)) for ours, theirs in _METRIC_KEYS.items()}
    table3 = {t: {"n": int(v["n"]), "exact": float(v["exact_match"] or 0.0),
                  "type_accuracy": float(v["type_accuracy"] or 0.0)} for t, v in m["per_type"].items()}
    confusion = {"rows": list(m["confusion"]["labels"]), "columns": list(m["confusion"]["pred_labels"]),
                 "matrix": m["confusion"]["matrix"]}
    n = len(records)
    extra = {
        "mean_reward": sum(float(r.get("reward", 0.0)) for r in records) / n,
        "parse_failure_rate": 1.0 - float(m["format_rate"]),
        "per_label_f1": m["per_label_f1"],
        # The environment's own exact-match flags, kept as a cross-check of the scorer.
        "env_exact_rate": sum(bool(r.get("exact")) for r in records) / n,
        "threshold": threshold,
    }
    calls = [r["call"] for r in records if r.get("call")]
    if calls:  # a policy behind an API: cost and speed (shop_env.evaluation.call_stats)
        extra["api"] = summarize_calls(calls)
    return Report(config=dict(config), n_steps=n, n_sessions=len({r["session_id"] for r in records}),
                  table2=table2, table3=table3, confusion=confusion, session=session_level(records),
                  extra=extra)


def pct(x: float) -> str:
    """A fraction as a percentage with two decimals."""
    return f"{100.0 * x:.2f}%"


def fmt_interval(m: Mapping[str, float] | None) -> str:
    """``27.72% [25.10, 30.20]`` (the 95% interval in brackets)."""
    if not m:
        return "n/a"
    return f"{pct(m['value'])} [{100 * m['ci_low']:.2f}, {100 * m['ci_high']:.2f}]"


def render_markdown(r: Report) -> str:
    c = r.config
    synthetic = " **(SYNTHETIC data)**" if c.get("synthetic") else ""
    lines = [
        f"# Evaluation: {r.name}", "",
        f"- data: `{c.get('data')}`{synthetic}, split `{c.get('split')}`",
        f"- context: `{c.get('context')}`, temperature: {c.get('temperature')}, seed: {c.get('seed')}",
        f"- sessions: {r.n_sessions}, steps: {r.n_steps}", "",
        "## Next-action prediction (paper Table 2; 95% bootstrap intervals)", "",
        "| policy | " + " | ".join(t for _, t in TABLE2_COLUMNS) + " | Exact (strict text) |",
        "|---|" + "---|" * (len(TABLE2_COLUMNS) + 1),
        f"| {r.name} | " + " | ".join(fmt_interval(r.table2.get(k)) for k, _ in TABLE2_COLUMNS)
        + f" | {fmt_interval(r.table2.get('exact_strict'))} |", "",
        "## Per action type (paper Table 3)", "",
        "| type | n | exact | type acc. |", "|---|---|---|---|",
    ]
    for t in ACTION_TYPES:
        v = r.table3.get(t, {"n": 0, "exact": 0.0, "type_accuracy": 0.0})
        lines.append(f"| {t} | {v['n']} | {pct(v['exact'])} | {pct(v['type_accuracy'])} |")
    s = r.session
    um, oc, td = s["until_mismatch"], s["outcome"], s["type_distribution"]
    lines += [
        "", "## Session level", "",
        f"- steps matched before the first miss (`until_mismatch`): {um['mean_steps_matched']:.2f} on average "
        f"({pct(um['mean_fraction_matched'])} of a session; {pct(um['fully_matched_sessions'])} of "
        f"{um['sessions']} sessions fully matched)",
        f"- session outcome (purchase vs leave, over the whole session): purchase F1 {pct(oc['purchase_f1'])}, "
        f"macro-F1 {pct(oc['macro_f1'])}, accuracy {pct(oc['accuracy'])} "
        f"(humans purchase {pct(oc['gold_purchase_rate'])}, policy {pct(oc['pred_purchase_rate'])})",
        f"- action-type distribution vs humans: total variation {td['total_variation']:.3f}, "
        f"Jensen-Shannon {td['js_divergence']:.3f} bits", "",
        "| type | " + " | ".join(TYPE_LABELS) + " |", "|---|" + "---|" * len(TYPE_LABELS),
        "| humans | " + " | ".join(pct(td["human"][k]) for k in TYPE_LABELS) + " |",
        "| policy | " + " | ".join(pct(td["policy"][k]) for k in TYPE_LABELS) + " |",
        "", "## Type confusion (rows: human, columns: policy)", "",
        "| human \\ policy | " + " | ".join(r.confusion["columns"]) + " |",
        "|---|" + "---|" * len(r.confusion["columns"]),
    ]
    for row, counts in zip(r.confusion["rows"], r.confusion["matrix"]):
        lines.append(f"| {row} | " + " | ".join(str(x) for x in counts) + " |")
    e = r.extra
    lines += ["", f"Mean reward {e.get('mean_reward', 0.0):.3f}; unparseable outputs "
              f"{pct(e.get('parse_failure_rate', 0.0))}.", ""]
    if e.get("api"):
        lines += markdown_lines(e["api"])
    return "\n".join(lines)
