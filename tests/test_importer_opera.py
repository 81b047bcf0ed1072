"""OPeRA importer on a fixture in the real column schema, odd rows included."""
from __future__ import annotations

import json
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.opera_fixture import (EXPECTED, EXPECTED_ACTIONS, OPERA_COLUMNS_FIXTURE, SESSION_A, SESSION_B, SESSION_C,
                           USER_1, PERSONA_1, PERSONA_2, opera_rows, page, user_rows, write_opera_layout,
                                 write_table)
from shop_env.cli import main as cli_main
from shop_env.data import import_opera, open_store
from shop_env.data.importers.opera import OPERA_COLUMNS, timestamp_key
from shop_env.data.store import MANIFEST
from shop_env.errors import DataError


def actions_by_session(path: Path) -> dict[str, list[tuple[str, str, str]]]:
    return {s.session_id: [(a.type, a.name, a.text) for a in s.actions] for s in open_store(path)}


def steps_by_session(path: Path) -> dict[str, list[dict]]:
    return {s.session_id: [st.to_record() for st in s.steps] for s in open_store(path)}


def test_fixture_uses_the_real_column_schema() -> None:
    assert OPERA_COLUMNS_FIXTURE == OPERA_COLUMNS
    assert all(list(r) == list(OPERA_COLUMNS) for r in opera_rows())


def test_import_parquet_layout_accounts_for_every_row(tmp_path: Path) -> None:
    base = write_opera_layout(tmp_path)
    report = import_opera(base, tmp_path / "out")
    for key, value in EXPECTED.items():
        assert getattr(report, key) == value, key
    assert report.balanced and report.rows_in == report.steps_written + report.rows_skipped
    action_file = str(base / "action" / "train-00000-of-00001.parquet")
    assert report.input_files == [action_file]
    # Each skip names the file and the 1-based row of the odd row.
    assert report.skip_examples == {"click_without_name": [f"{action_file}:5"],
                                    "duplicate_action_id": [f"{action_file}:6"],
                                    "input_without_text": [f"{action_file}:7"],
                                    "action_type_not_modelled": [f"{action_file}:8"]}
    assert actions_by_session(tmp_path / "out") == EXPECTED_ACTIONS
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["source"] == "opera" and manifest["synthetic"] is False
    assert manifest["import_report"]["balanced"] and manifest["import_report"]["rows_in"] == 12


def test_steps_keep_page_url_rationale_metadata_and_persona(tmp_path: Path) -> None:
    import_opera(write_opera_layout(tmp_path), tmp_path / "out")
    store = open_store(tmp_path / "out")
    a = store[store.index_of(SESSION_A)]
    assert a.user_id == USER_1 and a.source == "opera"
    assert a.persona == PERSONA_1  # the parsed survey, nothing else
    rows = {r["action_id"]: r for r in opera_rows()}
    for step, action_id in zip(a.steps, ["a-01", "a-02", "a-04", "a-05"]):
        row = rows[action_id]
        assert step.page_html == row["simplified_html"] and step.url == row["url"]
        assert step.rationale == row["rationale"] and step.timestamp == row["timestamp"]
        for col in ("action_id", "action_type", "click_type", "mouse_position", "element_meta", "window_size",
                    "page_meta", "products", "image"):
            assert step.metadata[col] == row[col], col
    b = store[store.index_of(SESSION_B)]
    assert b.persona == PERSONA_2
    ts = [timestamp_key(s.timestamp) for s in b.steps]
    assert ts == sorted(ts)  # reordered by time


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_inputs_give_the_same_store(tmp_path: Path, fmt: str) -> None:
    import_opera(write_opera_layout(tmp_path / "pq"), tmp_path / "pq_out")
    report = import_opera(write_opera_layout(tmp_path / fmt, fmt=fmt), tmp_path / f"{fmt}_out")
    assert report.balanced and report.skipped == EXPECTED["skipped"]
    assert steps_by_session(tmp_path / f"{fmt}_out") == steps_by_session(tmp_path / "pq_out")
    assert open_store(tmp_path / f"{fmt}_out")[0].persona is not None


def test_iterable_of_rows_as_from_datasets(tmp_path: Path) -> None:
    write_table(user_rows(), tmp_path / "users.parquet")
    report = import_opera(iter(opera_rows()), tmp_path / "out", users=tmp_path / "users.parquet")
    assert report.balanced and report.steps_written == EXPECTED["steps_written"]
    assert report.skip_examples["action_type_not_modelled"] == ["<rows>:8"]
    assert actions_by_session(tmp_path / "out") == EXPECTED_ACTIONS


def test_strict_raises_on_first_odd_row_and_writes_nothing(tmp_path: Path) -> None:
    base = write_opera_layout(tmp_path)
    with pytest.raises(DataError) as e:
        import_opera(base, tmp_path / "out", strict=True)
    assert e.value.row == 5 and e.value.field == "semantic_id" and e.value.path.endswith(".parquet")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["OPeRA_filtered"]  # spill and temp store removed


def test_a_scroll_row_in_filtered_rows_is_odd_not_a_full_variant(tmp_path: Path) -> None:
    """Rows with terminates and no full-variant columns are the filtered variant: a stray
    scroll row there does not make the import 'full', and --strict refuses it."""
    rows = [r for i, r in enumerate(opera_rows(), start=1) if i not in (5, 6, 7)]  # only the scroll is odd
    assert [r["action_type"] for r in rows].count("scroll") == 1
    src = write_table(rows, tmp_path / "rows.jsonl")
    report = import_opera(src, tmp_path / "out")
    assert report.variant == "filtered" and report.skipped == {"action_type_not_modelled": 1}
    with pytest.raises(DataError) as e:
        import_opera(src, tmp_path / "strict", strict=True)
    assert e.value.field == "action_type" and e.value.row == 5
    assert not (tmp_path / "strict").exists()


def test_min_steps_drops_short_sessions_counted(tmp_path: Path) -> None:
    report = import_opera(write_opera_layout(tmp_path), tmp_path / "out", min_steps=2)
    assert report.skipped["session_too_short"] == 1 and report.balanced
    assert SESSION_C not in actions_by_session(tmp_path / "out")


def test_assume_grouped_streams_sorted_input_and_rejects_interleaved(tmp_path: Path) -> None:
    rows = opera_rows()
    write_table(rows, tmp_path / "mixed.jsonl")
    with pytest.raises(DataError, match="not grouped") as e:
        import_opera(tmp_path / "mixed.jsonl", tmp_path / "x", assume_grouped=True)
    assert e.value.row == 3 and e.value.field == "session_id"
    write_table(sorted(rows, key=lambda r: r["session_id"]), tmp_path / "sorted.jsonl")
    streamed = import_opera(tmp_path / "sorted.jsonl", tmp_path / "streamed", assume_grouped=True)
    spilled = import_opera(tmp_path / "sorted.jsonl", tmp_path / "spilled", n_buckets=2)
    assert streamed.balanced and streamed.skipped == spilled.skipped
    assert steps_by_session(tmp_path / "streamed") == steps_by_session(tmp_path / "spilled")


def test_input_name_fallback_is_counted(tmp_path: Path) -> None:
    rows = opera_rows()
    rows[0]["semantic_id"] = None
    write_table(rows, tmp_path / "a.jsonl")
    r1 = import_opera(tmp_path / "a.jsonl", tmp_path / "o1")
    assert r1.skipped["input_without_name"] == 1
    r2 = import_opera(tmp_path / "a.jsonl", tmp_path / "o2", input_name_fallback="nav_bar.search_input")
    assert r2.filled == {"input_name_fallback": 1} and "input_without_name" not in r2.skipped
    assert actions_by_session(tmp_path / "o2")[SESSION_A][0] == ("type_and_submit", "nav_bar.search_input",
                                                                 "rice cooker")


@pytest.mark.parametrize("column,value,reason", [
    ("timestamp", "yesterday", "bad_timestamp"), ("timestamp", None, "bad_timestamp"),
    ("simplified_html", "  ", "missing_page"), ("session_id", "", "missing_session_id"),
])
def test_more_skip_reasons(tmp_path: Path, column: str, value, reason: str) -> None:
    rows = opera_rows()
    rows[2][column] = value
    write_table(rows, tmp_path / "a.parquet")
    report = import_opera(tmp_path / "a.parquet", tmp_path / "out")
    assert report.skipped[reason] == 1 and report.balanced
    assert report.skip_examples[reason] == [f"{tmp_path / 'a.parquet'}:3"]


def test_missing_required_column_names_file_and_field(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "action_type"} for r in opera_rows()]
    write_table(rows, tmp_path / "a.parquet")
    with pytest.raises(DataError) as e:
        import_opera(tmp_path / "a.parquet", tmp_path / "out")
    assert e.value.field == "action_type" and e.value.path == str(tmp_path / "a.parquet")


def test_truncated_parquet_is_a_data_error(tmp_path: Path) -> None:
    path = write_table(opera_rows(), tmp_path / "a.parquet")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated") as e:
        import_opera(path, tmp_path / "out")
    assert e.value.path == str(path)
    assert not (tmp_path / "out").exists()


def test_invalid_json_line_and_wrong_types(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    lines = [json.dumps(r) for r in opera_rows()]
    lines[3] = lines[3][:40]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        import_opera(path, tmp_path / "out")
    assert e.value.row == 4 and e.value.path == str(path)
    rows = opera_rows()
    rows[1]["semantic_id"] = ["not", "text"]
    write_table(rows, tmp_path / "b.jsonl")
    with pytest.raises(DataError) as e:
        import_opera(tmp_path / "b.jsonl", tmp_path / "out")
    assert (e.value.row, e.value.field) == (2, "semantic_id")


def test_users_file_without_user_id(tmp_path: Path) -> None:
    write_table([{"uid": "x", "age": "1"}], tmp_path / "u.parquet")
    with pytest.raises(DataError) as e:
        import_opera(iter(opera_rows()), tmp_path / "out", users=tmp_path / "u.parquet")
    assert e.value.field == "user_id"


def test_folder_with_both_configs_is_ambiguous(tmp_path: Path) -> None:
    write_opera_layout(tmp_path)
    (tmp_path / "OPeRA_full").mkdir()
    with pytest.raises(DataError, match="OPeRA_full"):
        import_opera(tmp_path, tmp_path / "out")


def test_cli_import_validate_stats(tmp_path: Path, capsys) -> None:
    base = write_opera_layout(tmp_path)
    assert cli_main(["data", "import-opera", str(base), str(tmp_path / "out"),
                     "--report-json", str(tmp_path / "r.json")]) == 0
    assert "rows in: 12" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["balanced"] is True
    assert cli_main(["data", "validate", str(tmp_path / "out")]) == 0
    bad = write_table(opera_rows(), tmp_path / "bad.parquet")
    bad.write_bytes(bad.read_bytes()[:100])
    assert cli_main(["data", "import-opera", str(bad), str(tmp_path / "out2")]) == 1
    assert str(bad) in capsys.readouterr().err


def test_memory_is_bounded_by_a_session_not_the_input(tmp_path: Path) -> None:
    big = "<div>" + "z" * 20_000 + "</div>"
    rows = []
    for i in range(400):  # 100 sessions x 4 steps x 20 kB, interleaved: 8 MB of pages
        sid = f"s{i % 100:03d}"
        rows.append({**opera_rows()[10], "session_id": sid, "action_id": f"{sid}-{i}",
                     "timestamp": f"2025-04-14T21:{i // 100:02d}:00.000Z", "simplified_html": big + str(i)})
    path = write_table(rows, tmp_path / "big.parquet")
    tracemalloc.start()
    try:
        report = import_opera(path, tmp_path / "out", batch_size=16, n_buckets=8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.steps_written == 400 and len(open_store(tmp_path / "out")) == 100
    assert peak < 3_000_000, peak  # a few sessions' worth, not the 8 MB input


# -- property test against an independent in-memory reference ------------------------------
_TYPES = ["click", "input", "terminate", "scroll", "hover", "INPUT"]


def _reference(rows: list[dict]) -> tuple[Counter, dict[str, list[str]]]:
    """Straightforward in-memory version of the documented rules."""
    skipped: Counter = Counter()
    sessions: dict[str, list[tuple[float, int, str]]] = {}
    seen: dict[str, set] = {}
    for seq, r in enumerate(rows):
        t = (r["action_type"] or "").strip().lower()
        name, text = (r["semantic_id"] or "").strip(), (r["input_text"] or "").strip()
        if t in ("scroll", "navigation", "tab_activate"):
            skipped["action_type_not_modelled"] += 1
        elif t not in ("click", "input", "terminate"):
            skipped["unknown_action_type"] += 1
        elif t == "click" and not name:
            skipped["click_without_name"] += 1
        elif t == "input" and not name:
            skipped["input_without_name"] += 1
        elif t == "input" and not text:
            skipped["input_without_text"] += 1
        elif r["action_id"] in seen.setdefault(r["session_id"], set()):
            skipped["duplicate_action_id"] += 1
        else:
            seen[r["session_id"]].add(r["action_id"])
            sessions.setdefault(r["session_id"], []).append((timestamp_key(r["timestamp"]), seq, r["action_id"]))
    return skipped, {sid: [a for _, _, a in sorted(v)] for sid, v in sessions.items()}


_row = st.fixed_dictionaries({
    "session_id": st.sampled_from(["s1", "s2", "s3", "u_2025-01-01T00:00:00Z_x"]),
    "action_id": st.sampled_from([f"a{i}" for i in range(12)]),
    "timestamp": st.integers(0, 50).map(lambda s: f"2025-04-14T21:52:{s:02d}.000Z"),
    "action_type": st.sampled_from(_TYPES),
    "semantic_id": st.sampled_from([None, "", "  ", "nav_bar.search_input", "buybox.add_to_cart"]),
    "input_text": st.sampled_from([None, "", "rice cooker", " tea "]),
    "simplified_html": st.just(page("p", "nav_bar.search_input")),
})


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=0, max_size=25))
def test_property_report_balances_and_matches_reference(tmp_path_factory, rows) -> None:
    out = tmp_path_factory.mktemp("prop") / "store"
    report = import_opera(iter(rows), out, n_buckets=3)
    ref_skipped, ref_sessions = _reference(rows)
    assert report.balanced and report.rows_in == len(rows)
    assert report.skipped == dict(ref_skipped)
    got = {s.session_id: [st.metadata["action_id"] for st in s.steps] for s in open_store(out)}
    assert got == ref_sessions


@pytest.mark.parametrize("assume_grouped", [False, True])
def test_list_of_rows_binary_cells_and_new_parent_folder(tmp_path: Path, assume_grouped: bool) -> None:
    rows = sorted(opera_rows(), key=lambda r: r["session_id"])
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
    for r in rows:
        r["image"] = png
    out = tmp_path / "not" / "yet" / "there"
    report = import_opera(rows, out, assume_grouped=assume_grouped)
    assert report.balanced and report.input_files == ["<rows>"]
    assert {st.metadata["image"] for s in open_store(out) for st in s.steps} == {f"<binary: {len(png)} bytes>"}


@pytest.mark.parametrize("text, expected", [
    ("2024-05-01T10:00:00Z", 1714557600.0),
    ("2024-05-01T10:00:00.1Z", 1714557600.1),
    ("2024-05-01T10:00:00.123456789+00:00", 1714557600.123456),  # nanoseconds cut to micro
    ("2024-05-01 12:00:00.25+02:00", 1714557600.25),
    ("1714557600.5", 1714557600.5),
    ("not a time", None),
])
def test_timestamp_key_reads_iso_strings_of_any_fraction_length(text, expected):
    from shop_env.data.importers.opera import timestamp_key
    got = timestamp_key(text)
    assert got == (None if expected is None else pytest.approx(expected, abs=1e-6))
