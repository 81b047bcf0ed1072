"""PNG plots of a report (matplotlib figures drawn off-screen: no display, no pyplot, and the
process-wide matplotlib backend is left as the user set it)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Protocol

from shop_env.actions import ACTION_TYPES


class Report(Protocol):
    """What the plots read of a :class:`shop_env.evaluation.report.Report` (a protocol, so
    that this module does not import the report module that calls it)."""

    @property
    def name(self) -> str: ...
    @property
    def table3(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def confusion(self) -> Mapping[str, Any]: ...


PER_TYPE_PNG = "per_type.png"
CONFUSION_PNG = "confusion.png"
TABLE2_PNG = "table2.png"
TABLE2_METRICS = (("exact", "exact match"), ("type_accuracy", "type accuracy"), ("type_macro_f1", "type macro-F1"))


def plots_wanted(plots: bool | None) -> bool:
    """Whether to draw: ``True``/``False`` as given; ``None`` draws when matplotlib is
    installed and otherwise warns once, naming the extra (reports are complete without PNGs)."""
    if plots is not None:
        return plots
    import importlib.util
    import warnings

    if importlib.util.find_spec("matplotlib") is not None:
        return True
    warnings.warn("matplotlib is not installed, so no PNG plots were drawn: pip install 'shop-r1[plots]'",
                  stacklevel=3)
    return False


def new_figure(figsize: tuple[float, float]):
    """A ``(figure, axes)`` pair that is not registered with pyplot (nothing to close, and
    no global backend switch); ``savefig`` renders it with Agg."""
    from shop_env.integrations._optional import require

    figure = require("matplotlib.figure", "plots")
    fig = figure.Figure(figsize=figsize, dpi=100)
    return fig, fig.subplots()


def plot_per_type(report: "Report", path: str | os.PathLike) -> Path:
    """Grouped bars: exact match and type accuracy per action type (paper Table 3)."""
    fig, ax = new_figure((6, 3.6))
    width = 0.38
    xs = range(len(ACTION_TYPES))
    for j, (key, label) in enumerate((("exact", "exact match"), ("type_accuracy", "type accuracy"))):
        vals = [100 * report.table3.get(t, {}).get(key, 0.0) for t in ACTION_TYPES]
        bars = ax.bar([x + (j - 0.5) * width for x in xs], vals, width, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(list(xs), [f"{t}\n(n={report.table3.get(t, {}).get('n', 0)})" for t in ACTION_TYPES])
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of the human's steps of the type")
    ax.set_title(f"{report.name}: per action type")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


COLORBAR_LABEL = "share of the human's steps of this type (row)"


def confusion_figure(report: "Report"):
    """The confusion heat map as a matplotlib figure.

    Rows are the human's action types, columns the policy's (``invalid``: unparseable).
    Colour and cell text show the same thing: each cell's share of its row (what the
    policy did when the human did that type), with the step count beneath.
    """
    rows, cols, m = report.confusion["rows"], report.confusion["columns"], report.confusion["matrix"]
    share = [[v / (sum(r) or 1) for v in r] for r in m]
    fig, ax = new_figure((5.8, 3.8))
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for i, r in enumerate(m):
        for j, v in enumerate(r):
            ax.text(j, i, f"{100 * share[i][j]:.0f}%\n({v})", ha="center", va="center", fontsize=8,
                    color="white" if share[i][j] > 0.5 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=20)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("policy's action type")
    ax.set_ylabel("human's action type")
    ax.set_title(f"{report.name}: action-type confusion\n(% of the row, step count in brackets)", fontsize=10)
    bar = fig.colorbar(im, ax=ax, fraction=0.046)
    bar.set_label(COLORBAR_LABEL, fontsize=8)
    bar.ax.yaxis.set_major_formatter(lambda x, _: f"{100 * x:.0f}%")
    fig.tight_layout()
    return fig


def plot_confusion(report: "Report", path: str | os.PathLike) -> Path:
    """Write :func:`confusion_figure` to ``path`` (PNG)."""
    fig = confusion_figure(report)
    fig.savefig(path)
    return Path(path)


def table2_figure(table: Mapping[str, Mapping[str, Mapping[str, float]]], title: str = ""):
    """Grouped bars per setting (paper Table 2): exact match, type accuracy and type macro-F1,
    each with its interval as an error bar. ``table``: setting -> metric -> ``{value, ci_low, ci_high}``."""
    rows = list(table)
    fig, ax = new_figure((max(6.0, 1.3 * len(rows) + 1.5), 3.8))
    width = 0.8 / len(TABLE2_METRICS)
    for j, (key, label) in enumerate(TABLE2_METRICS):
        cells = [table[r][key] for r in rows]
        vals = [100 * c["value"] for c in cells]
        # a value outside its interval (possible for a pooled value) draws no bar on that side
        err = [[100 * max(0.0, c["value"] - c["ci_low"]) for c in cells],
               [100 * max(0.0, c["ci_high"] - c["value"]) for c in cells]]
        xs = [i + (j - (len(TABLE2_METRICS) - 1) / 2) * width for i in range(len(rows))]
        bars = ax.bar(xs, vals, width, yerr=err, capsize=2, label=label, error_kw={"elinewidth": 0.8})
        ax.bar_label(bars, fmt="%.1f", fontsize=6, padding=2)
    ax.set_xticks(range(len(rows)), rows, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title(title or "Table 2 (bars: value, whiskers: 95% interval)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_table2(table: Mapping[str, Mapping[str, Mapping[str, float]]], path: str | os.PathLike,
                title: str = "") -> Path:
    """Write :func:`table2_figure` to ``path`` (PNG)."""
    table2_figure(table, title).savefig(path)
    return Path(path)


def save_plots(report: "Report", out: str | os.PathLike) -> dict[str, Path]:
    """Write both plots into ``out``; returns ``{"per_type": path, "confusion": path}``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return {"per_type": plot_per_type(report, out / PER_TYPE_PNG),
            "confusion": plot_confusion(report, out / CONFUSION_PNG)}
