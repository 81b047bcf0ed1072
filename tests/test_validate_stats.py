"""validate_store and store statistics, and their CLI commands."""
from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from shop_env.actions import Action
from shop_env.cli import main as cli_main
from shop_env.data import Session, Step, import_opera, open_store, validate_store, write_store
from shop_env.data import validate as validate_mod
from shop_env.data.stats import compute_stats, format_stats, store_stats
from shop_env.data.store import DATA_FILE, MANIFEST
from tests.opera_fixture import write_opera_layout

_NAME = re.compile(r"<(a|input|button)\b[^>]*\bname=\"([^\"]+)\"")


def _stub_named_elements(html: str):
    """Independent stand-in for shop_env.html.named_elements: names of a/input/button tags."""
    return [types.SimpleNamespace(name=m.group(2)) for m in _NAME.finditer(html)]


@pytest.fixture
def stub_targets(monkeypatch):
    monkeypatch.setattr(validate_mod, "_named_elements", lambda: _stub_named_elements)


PAGE = '<html><body><div name="banner">x</div><a name="buy">Buy</a><input name="search" type="text"/></body></html>'


def _step(action: Action, page: str = PAGE) -> Step:
    return Step(page_html=page, action=action, url="https://x/")


def bad_sessions() -> list[Session]:
    """Line -> what is wrong (see test_validate_reports_file_line_field)."""
    return [
        Session("ok", [_step(Action("type_and_submit", "search", "tea")), _step(Action("click", "buy")),
                       _step(Action("terminate"))]),                              # line 1: fine
        Session("empty-page", [_step(Action("click", "buy"), page="   ")]),       # line 2
        Session("no-name", [_step(Action("terminate")), _step(Action("click", ""))]),  # line 3
        Session("no-text", [_step(Action("type_and_submit", "search", " "))]),   # line 4
        Session("no-steps", []),                                                   # line 5
        Session("missing-target", [_step(Action("click", "sell"))]),              # line 6
        Session("non-interactive", [_step(Action("click", "banner"))]),           # line 7 (warning)
        Session("ok", [_step(Action("terminate"))]),                               # line 8: duplicate id
    ]


def test_validate_reports_file_line_field(tmp_path: Path, stub_targets) -> None:
    path = write_store(tmp_path / "s", bad_sessions())
    report = validate_store(path)
    data = str(path / DATA_FILE)
    got = {(p.line, p.field, p.severity) for p in report.problems}
    assert got == {
        (2, "steps[0].page", "error"), (3, "steps[1].action", "error"), (4, "steps[0].action", "error"),
        (5, "steps", "error"), (6, "steps[0].action.name", "error"), (7, "steps[0].action.name", "warning"),
        (8, "session_id", "error"),
    }
    assert all(p.file == data for p in report.problems)
    assert not report.ok and report.n_errors == 6 and report.n_warnings == 1
    assert report.n_sessions == 8 and report.n_steps == 10 and report.checked_targets
    text = report.summary()
    assert f"{data}:6: error: steps[0].action.name: target 'sell' is not a named element" in text
    assert "duplicate session id (first on line 1)" in text


def test_clean_import_validates(tmp_path: Path, stub_targets) -> None:
    import_opera(write_opera_layout(tmp_path), tmp_path / "out")
    report = validate_store(tmp_path / "out")
    assert report.ok and report.problems == [] and (report.n_sessions, report.n_steps) == (3, 8)


def test_targets_checked_with_the_real_named_elements(tmp_path: Path) -> None:
    from shop_env.html import named_elements  # noqa: F401 - the validator must find it
    path = write_store(tmp_path / "s", bad_sessions())
    report = validate_store(path)
    assert report.checked_targets
    target_problems = {(p.line, p.severity) for p in report.problems if p.field == "steps[0].action.name"}
    # a named element of any tag is a candidate (line 7 clicks a named non-interactive banner)
    assert target_problems == {(6, "error")}
    assert validate_store(path, check_targets=False).checked_targets is False
    assert not any(p.field == "steps[0].action.name" for p in validate_store(path, check_targets=False).problems)


def test_corrupt_line_is_reported_and_validation_continues(tmp_path: Path, stub_targets) -> None:
    path = write_store(tmp_path / "s", bad_sessions()[:1] * 3)
    data = path / DATA_FILE
    lines = data.read_bytes().splitlines(keepends=True)
    lines[1] = b"x" * (len(lines[1]) - 1) + b"\n"
    data.write_bytes(b"".join(lines) + b"trailing garbage")
    report = validate_store(path)
    where = sorted((p.line, p.message.split(":")[0]) for p in report.problems)
    assert where == [(2, "corrupt JSON"), (3, "duplicate session id (first on line 1)"),
                     (4, "16 bytes after the last indexed line")]
    assert report.n_sessions == 2  # lines 1 and 3 were still read


def test_broken_manifest_is_one_located_problem(tmp_path: Path) -> None:
    path = write_store(tmp_path / "s", bad_sessions()[:1])
    (path / MANIFEST).write_text("{oops")
    report = validate_store(path)
    assert [p.file for p in report.problems] == [str(path / MANIFEST)] and not report.ok


def test_split_folder_validates_both(tmp_path: Path, stub_targets) -> None:
    write_store(tmp_path / "train", bad_sessions()[:2])
    write_store(tmp_path / "test", bad_sessions()[4:6])
    report = validate_store(tmp_path)
    assert report.n_sessions == 4 and report.n_errors == 3
    assert {Path(p.file).parent.name for p in report.problems} == {"train", "test"}


def test_cli_validate_exit_status(tmp_path: Path, capsys, stub_targets) -> None:
    good = write_store(tmp_path / "good", bad_sessions()[:1])
    bad = write_store(tmp_path / "bad", bad_sessions())
    assert cli_main(["data", "validate", str(good)]) == 0
    assert cli_main(["data", "validate", str(bad)]) == 1
    assert f"{bad / DATA_FILE}:2: error: steps[0].page" in capsys.readouterr().out


# -- stats ----------------------------------------------------------------------------------
def stat_sessions() -> list[Session]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(30):
        n = int(rng.integers(0, 6))
        kinds = rng.choice(["click", "type_and_submit", "terminate"], size=n)
        steps = [Step("p" * int(rng.integers(10, 5000)),
                      Action(k, "el" if k != "terminate" else "", "q" if k == "type_and_submit" else ""),
                      rationale="why" if j % 2 else None) for j, k in enumerate(kinds)]
        out.append(Session(f"s{i}", steps, user_id=f"u{i % 7}"))
    return out


def test_stats_match_an_independent_computation(tmp_path: Path) -> None:
    sessions = stat_sessions()
    stats = compute_stats(open_store(write_store(tmp_path / "s", sessions, source="unit")))
    steps = [st for s in sessions for st in s.steps]
    sizes = np.array([len(st.page_html) for st in steps])
    lengths = np.array([len(s.steps) for s in sessions])
    assert (stats["sessions"], stats["steps"], stats["users"]) == (30, len(steps), 7)
    assert stats["sessions_without_steps"] == int((lengths == 0).sum())
    assert stats["action_types"] == {t: sum(st.action.type == t for st in steps)
                                     for t in ("click", "type_and_submit", "terminate")}
    assert abs(sum(stats["action_type_fraction"].values()) - 1) < 1e-9
    for q in (50, 90, 99):
        assert stats["page_chars"][f"p{q}"] == pytest.approx(np.percentile(sizes, q))
        assert stats["steps_per_session"][f"p{q}"] == pytest.approx(np.percentile(lengths, q))
    assert stats["page_chars"]["max"] == sizes.max() and stats["steps_per_session"]["mean"] == lengths.mean()
    assert stats["rationale_fraction"] == pytest.approx(np.mean([bool(st.rationale) for st in steps]))
    assert stats["synthetic"] is False and "SYNTHETIC" not in format_stats(stats)


def test_stats_sample_is_seeded(tmp_path: Path) -> None:
    store = open_store(write_store(tmp_path / "s", stat_sessions()))
    a, b = compute_stats(store, sample=10, seed=1), compute_stats(store, sample=10, seed=1)
    assert a == b and a["sessions_read"] == 10 and a["sessions"] == 30
    assert "estimated from 10 sampled sessions" in format_stats(a)


def test_stats_split_views(tmp_path: Path) -> None:
    path = write_store(tmp_path / "s", stat_sessions())
    test = store_stats(path, split="test", test_fraction=0.3, seed=2, by="user")["test"]
    assert test["sessions"] == len(open_store(path, split="test", test_fraction=0.3, seed=2, by="user"))
    write_store(tmp_path / "f" / "train", stat_sessions()[:20])
    write_store(tmp_path / "f" / "test", stat_sessions()[20:])
    both = store_stats(tmp_path / "f")
    assert {k: v["sessions"] for k, v in both.items()} == {"train": 20, "test": 10}


def test_synthetic_store_is_labelled_everywhere(tmp_path: Path, capsys) -> None:
    path = write_store(tmp_path / "s", stat_sessions(), synthetic=True)
    assert format_stats(compute_stats(open_store(path))).startswith("*** SYNTHETIC DATA")
    assert cli_main(["data", "stats", str(path)]) == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    assert cli_main(["data", "stats", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["all"]["synthetic"] is True


def test_cli_synth_calls_the_generator(tmp_path: Path, monkeypatch, capsys) -> None:
    calls = []

    def generate(n_sessions, seed, out):
        calls.append((n_sessions, seed, Path(out)))
        return write_store(out, stat_sessions()[:n_sessions], synthetic=True, source="synth")

    monkeypatch.setitem(sys.modules, "shop_env.synth", types.SimpleNamespace(generate=generate))
    assert cli_main(["data", "synth", "--sessions", "4", "--seed", "9", str(tmp_path / "syn")]) == 0
    assert calls == [(4, 9, tmp_path / "syn")]
    assert "SYNTHETIC" in capsys.readouterr().out
    assert cli_main(["data", "stats", str(tmp_path / "syn")]) == 0
    assert "*** SYNTHETIC DATA" in capsys.readouterr().out


def test_cli_reports_data_errors_without_traceback(tmp_path: Path, capsys) -> None:
    assert cli_main(["data", "stats", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(tmp_path) in err


def test_cli_defaults_to_the_embedded_sample(tmp_path: Path, monkeypatch, capsys) -> None:
    write_store(tmp_path / "train", stat_sessions()[:20], synthetic=True)
    write_store(tmp_path / "test", stat_sessions()[20:], synthetic=True)
    monkeypatch.setenv("SHOP_R1_SAMPLE_DIR", str(tmp_path))
    assert cli_main(["data", "stats"]) == 0
    out = capsys.readouterr().out
    assert "[train]" in out and "[test]" in out and out.count("*** SYNTHETIC DATA") == 2
    assert cli_main(["data", "validate", "--no-targets"]) == 1  # stat_sessions has empty sessions
    assert "session has no steps" in capsys.readouterr().out


def test_real_synth_store_is_labelled_and_valid(tmp_path: Path, capsys) -> None:
    out = tmp_path / "syn"
    assert cli_main(["data", "synth", "--sessions", "8", "--seed", "1", str(out)]) == 0
    assert cli_main(["data", "stats", str(out)]) == 0
    text = capsys.readouterr().out
    assert "*** SYNTHETIC DATA" in text
    report = validate_store(out)
    assert report.ok, report.summary()
    assert report.n_sessions == 8
