"""The closed-loop report: JSON, Markdown and one plot (distance per statistic with its interval)."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shop_env.evaluation.fidelity import STATISTICS
from shop_env.evaluation.results import write_json_atomic, write_text_atomic

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
FIDELITY_PNG = "fidelity.png"


@dataclass
class LiveReport:
    """Fidelity of one policy's closed-loop sessions to the shopper's recorded sessions.

    ``fidelity`` maps each statistic to ``{policy, human, distance, ci_low, ci_high}``;
    ``fidelity_distance`` is the mean distance (0 = indistinguishable); ``steps`` has the
    mean Table-1 reward and exact match against the reference human at every state.
    """

    name: str
    fidelity: dict[str, dict[str, Any]]
    fidelity_distance: float
    config: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": "live", **asdict(self)}

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LiveReport":
        p = Path(path)
        data = json.loads((p / REPORT_JSON if p.is_dir() else p).read_text(encoding="utf-8"))
        data.pop("mode", None)
        return cls(**data)

    def to_markdown(self) -> str:
        c = self.config
        lines = [f"# Closed-loop fidelity: {self.name}", "",
                 f"{c.get('episodes')} episodes of ShopR1Live-v0 (split {c.get('split')!r}, max {c.get('max_steps')} "
                 f"steps, {c.get('context')}) against the synthetic shopper's sessions for the same personas. "
                 f"Distance: Jensen-Shannon (base 2, 0 = same distribution, 1 = disjoint); 95% bootstrap "
                 f"interval over {c.get('bootstrap')} resamples.", "",
                 "| statistic | policy | human | distance | 95% interval |", "|---|---|---|---|---|"]
        for stat in STATISTICS:
            f = self.fidelity[stat]
            lines.append(f"| {stat} | {_fmt(f['policy'])} | {_fmt(f['human'])} | {f['distance']:.4f} | "
                         f"[{f['ci_low']:.4f}, {f['ci_high']:.4f}] |")
        lines += ["", f"**fidelity_distance (mean): {self.fidelity_distance:.4f}**", "",
                  f"Steps: {self.steps.get('n')}, mean reward against the reference human "
                  f"{self.steps.get('mean_reward')}, exact match {self.steps.get('exact_match')}.", ""]
        return "\n".join(lines)

    def save(self, out: str | os.PathLike, *, plots: bool | None = None) -> dict[str, Path]:
        """Write ``report.json``, ``report.md`` and ``fidelity.png`` under ``out``
        (``plots=None``: only when matplotlib is installed)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": write_json_atomic(out / REPORT_JSON, self.to_dict()),
                 "markdown": write_text_atomic(out / REPORT_MD, self.to_markdown())}
        from shop_env.evaluation.plots import plots_wanted
        if plots_wanted(plots):
            paths["plot"] = plot_fidelity(self, out / FIDELITY_PNG)
        return paths


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v:.2f}" for k, v in value.items())
    return "-" if value is None else f"{value:g}"


def plot_fidelity(report: LiveReport, path: str | os.PathLike) -> Path:
    """Horizontal bars: the distance of each statistic with its bootstrap interval."""
    from shop_env.evaluation.plots import new_figure

    stats = list(STATISTICS)
    d = [report.fidelity[s]["distance"] for s in stats]
    lo = [max(0.0, x - report.fidelity[s]["ci_low"]) for x, s in zip(d, stats)]
    hi = [max(0.0, report.fidelity[s]["ci_high"] - x) for x, s in zip(d, stats)]
    fig, ax = new_figure((6.4, 3.6))
    ax.barh(range(len(stats)), d, xerr=[lo, hi], color="#4c72b0", capsize=3)
    ax.set_yticks(range(len(stats)), stats)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("Jensen-Shannon distance (0 = like the shopper)")
    ax.set_title(f"{report.name}: fidelity {report.fidelity_distance:.3f}")
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


__all__ = ["FIDELITY_PNG", "LiveReport", "REPORT_JSON", "REPORT_MD", "plot_fidelity"]
