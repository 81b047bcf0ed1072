"""`shop-r1 demo`: runs on the embedded SYNTHETIC sample and ends with the comparison table."""
from __future__ import annotations

import json

from shop_env.cli import main

TABLE_HEADER = "| policy | Exact match | Type acc. | Type F1 | steps | data |"


def _check_common(out, text: str, policies: list[str]) -> None:
    assert "SYNTHETIC data, TINY model" in text
    assert "import-opera" in text and "llm:runs/shop_r1 " in text  # the real-data command
    table = text[text.index(TABLE_HEADER):]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0][2:] for r in rows] == policies
    replay = next(r for r in rows if r.startswith("| replay |"))
    assert replay.count("100.00% [100.00, 100.00]") >= 2  # the oracle is exact
    assert all("(synthetic)" in r for r in rows)
    assert TABLE_HEADER in (out / "comparison.md").read_text()
    for name in ("random", "majority", "rule", "replay"):
        report = json.loads((out / "eval" / name / "report.json").read_text())
        assert report["config"]["synthetic"] is True
        assert (out / "eval" / name / "confusion.png").stat().st_size > 1000


def test_demo_baselines_only(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--skip-training", "--out", str(out)]) == 0
    _check_common(out, capsys.readouterr().out, ["random", "majority", "rule", "replay"])


def test_demo_quick_with_tiny_model_training(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    _check_common(out, text, ["random", "majority", "rule", "replay", "tiny zero-shot", "tiny SFT",
                              "tiny SFT+GRPO (Shop-R1)"])
    assert (out / "models" / "grpo" / "final" / "config.json").exists()
