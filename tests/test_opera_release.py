"""OPeRA import on a whole download in the Hub's layout (both variants), end to end.

The fixture (tests/opera_fixture.py::write_opera_release) has action shards
``action/{train,test}-00000-of-00001.parquet``, ``user/`` and ``session/`` tables per split
and an ``images/`` folder; long pages, empty rationales, purchase clicks, a target missing
from its page, a user in both splits; the full variant adds scroll / navigation /
tab_activate rows and drops terminate.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import gymnasium as gym
import pytest

import shop_env  # noqa: F401 - registers ShopR1-v0
from shop_env.cli import main as cli_main
from shop_env.data import import_opera, open_store, write_store
from shop_env.data.importers.rows import iter_file_rows
from shop_env.data.store import MANIFEST
from shop_env.errors import DataError
from tests.opera_fixture import (FULL_DROPPED, PERSONA_1, PURCHASE_SESSIONS, RELEASE_SESSIONS, RELEASE_STEPS,
                                 TRANSCRIPT, USER_1, USER_3, release_user_rows, write_opera_release,
                                 write_table)


def _strict_json(line: str):
    def no_constant(name: str):
        raise ValueError(f"{name} is not JSON")
    return json.loads(line, parse_constant=no_constant)


def _file_sessions(path: Path) -> set[str]:
    return {row["session_id"] for _, _, row in iter_file_rows(path)}


@pytest.fixture()
def release(tmp_path: Path) -> Path:
    return write_opera_release(tmp_path / "dl")


def test_opera_split_is_kept_as_train_and_test_stores(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "opera"
    report = import_opera(release, out)
    assert report.balanced and report.variant == "filtered" and report.splits == RELEASE_SESSIONS
    assert sorted(p.name for p in out.iterdir()) == ["test", "train"]  # laid out like data/sample
    for split in ("train", "test"):
        store = open_store(out, split=split)
        assert {s.session_id for s in store} == _file_sessions(release / "action" / f"{split}-00000-of-00001.parquet")
        assert store.num_steps == RELEASE_STEPS[split]
        manifest = json.loads((out / split / MANIFEST).read_text())
        assert manifest["split"] == split and manifest["import_report"]["balanced"]
    # OPeRA's train and test share users: counted and said
    assert report.users_in_both_splits == 1 and any("share 1 user(s)" in n for n in report.notes)
    with pytest.raises(DataError, match="split"):
        open_store(out)  # a split folder needs split=...
    assert report.input_files == sorted(report.input_files) and all("/action/" in f for f in report.input_files)
    assert all("/user/" in f for f in report.user_files)  # session/ and images/ are not read


def test_split_by_user_is_seeded_and_user_disjoint(release: Path, tmp_path: Path) -> None:
    single = import_opera(release, tmp_path / "one", split_by="none")
    assert single.splits == {"all": 4}
    for seed in range(6):
        r = import_opera(release, tmp_path / f"u{seed}", split_by="user", test_fraction=0.5, seed=seed)
        users = {sp: {s.user_id for s in open_store(tmp_path / f"u{seed}", split=sp)} for sp in ("train", "test")}
        assert not users["train"] & users["test"] and r.users_in_both_splits == 0
        # the same assignment as a seeded by-user split of the single store
        ref = open_store(tmp_path / "one", split="test", test_fraction=0.5, seed=seed, by="user")
        assert {s.session_id for s in open_store(tmp_path / f"u{seed}", split="test")} == \
            {s.session_id for s in ref}
    again = import_opera(release, tmp_path / "u5b", split_by="user", test_fraction=0.5, seed=5)
    assert again.splits == r.splits


def test_single_split_source_gives_one_store(release: Path, tmp_path: Path) -> None:
    report = import_opera(release / "action" / "test-00000-of-00001.parquet", tmp_path / "t")
    assert report.splits == {"all": 2} and len(open_store(tmp_path / "t")) == 2


def test_persona_is_the_parsed_survey_other_columns_on_request(release: Path, tmp_path: Path) -> None:
    report = import_opera(release, tmp_path / "o")
    s = next(s for s in open_store(tmp_path / "o", split="train") if s.user_id == USER_1)
    assert s.persona == PERSONA_1  # a dict with the survey's keys; no raw_survey, no transcript
    assert report.users_loaded == 3 and report.users_without_survey == 1
    assert report.sessions_without_persona == 1  # USER_3 has no survey
    assert next(s for s in open_store(tmp_path / "o", split="test") if s.user_id == USER_3).persona is None
    import_opera(release, tmp_path / "p", persona_fields=["interview_transcript"])
    s = next(s for s in open_store(tmp_path / "p", split="train") if s.user_id == USER_1)
    assert s.persona == {**PERSONA_1, "interview_transcript": TRANSCRIPT.strip()}


@pytest.mark.parametrize("table,field", [("session", "survey"), ("bad_ids", "user_id"), ("fields", "nope")])
def test_wrong_user_table_is_a_clear_error(release: Path, tmp_path: Path, table: str, field: str) -> None:
    users = {"session": release / "session" / "train" / "train.parquet",
             "bad_ids": write_table([{"uid": "x", "survey": "{}"}], tmp_path / "u.parquet"),
             "fields": release / "user"}[table]
    with pytest.raises(DataError) as e:
        import_opera(release, tmp_path / "o", users=users, persona_fields=["nope"] if table == "fields" else ())
    assert e.value.field == field and e.value.path is not None
    if table == "session":
        assert "survey" in str(e.value) and "session table" in str(e.value)
    assert not (tmp_path / "o").exists()


def test_users_from_rows_and_a_datasets_dataset(release: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ref = import_opera(release, tmp_path / "ref")
    rows = release_user_rows("train") + release_user_rows("test")
    for i, users in enumerate([rows, iter(rows), datasets.Dataset.from_list(rows),
                               datasets.DatasetDict({"train": datasets.Dataset.from_list(release_user_rows("train")),
                                                     "test": datasets.Dataset.from_list(release_user_rows("test"))})]):
        r = import_opera(release, tmp_path / f"o{i}", users=users)
        assert r.users_loaded == ref.users_loaded == 3
        for split in ("train", "test"):
            assert [s.persona for s in open_store(tmp_path / f"o{i}", split=split)] == \
                [s.persona for s in open_store(tmp_path / "ref", split=split)]
    # a DatasetDict of action rows keeps the split too
    dd = datasets.DatasetDict({sp: datasets.Dataset.from_list(
        [row for _, _, row in iter_file_rows(release / "action" / f"{sp}-00000-of-00001.parquet")])
        for sp in ("train", "test")})
    r = import_opera(dd, tmp_path / "dd", users=rows)
    assert r.splits == RELEASE_SESSIONS and r.balanced


def test_nan_records_from_pandas_are_missing_not_text(release: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.read_parquet(release / "action" / "train-00000-of-00001.parquet")
    df["products"] = float("nan")           # an all-empty column
    df.loc[1, "semantic_id"] = float("nan")  # a click without a name
    df.loc[0, "rationale"] = float("nan")
    df["window_size"] = df["window_size"].astype(object)
    df.loc[0, "window_size"] = float("inf")
    rows = df.to_dict("records")
    users = pd.DataFrame(release_user_rows("train")).to_dict("records")  # NaN transcripts
    report = import_opera(rows, tmp_path / "o", users=users, persona_fields=["interview_transcript"])
    assert report.skipped == {"click_without_name": 1} and report.balanced
    lines = (tmp_path / "o" / "sessions.jsonl").read_text(encoding="utf-8").splitlines()
    records = [_strict_json(line) for line in lines]  # strict JSON: no NaN / Infinity anywhere
    steps = [st for rec in records for st in rec["steps"]]
    assert all(st["action"].get("name") != "nan" for st in steps)
    assert all(st["metadata"]["products"] is None for st in steps)
    assert records[0]["steps"][0]["rationale"] is None and records[0]["steps"][0]["metadata"]["window_size"] is None
    personas = {rec["user_id"]: rec["persona"] for rec in records}
    assert "interview_transcript" not in (personas.get("8f1e2d3c-aaaa-4bbb-8ccc-0123456789ab") or {})


def test_store_writer_refuses_nan_and_infinity(tmp_path: Path) -> None:
    from shop_env.data import Action, Session, Step
    bad = Session("s", [Step("<a name='x'>x</a>", Action("click", "x"), metadata={"price": math.nan})])
    with pytest.raises(DataError) as e:
        write_store(tmp_path / "s", [bad])
    assert e.value.field == "steps[0].metadata.price" and "NaN" in str(e.value)
    assert not (tmp_path / "s").exists()


def test_targets_not_on_their_page_are_counted_and_strict_fails(release: Path, tmp_path: Path) -> None:
    report = import_opera(release, tmp_path / "o")
    test_file = str(release / "action" / "test-00000-of-00001.parquet")
    assert report.targets_not_on_page == 1 and report.target_not_on_page_examples == [f"{test_file}:6"]
    with pytest.raises(DataError) as e:
        import_opera(release, tmp_path / "s", strict=True)
    assert (e.value.path, e.value.row, e.value.field) == (test_file, 6, "semantic_id")
    assert not (tmp_path / "s").exists()
    assert cli_main(["data", "import-opera", str(release), str(tmp_path / "c"), "--strict"]) == 1


def test_full_variant_drops_counted_by_type_and_has_no_terminate(tmp_path: Path) -> None:
    base = write_opera_release(tmp_path / "dl", "full")
    report = import_opera(base, tmp_path / "o")
    assert report.variant == "full" and report.balanced
    want = {t: FULL_DROPPED["train"][t] + FULL_DROPPED["test"][t] for t in FULL_DROPPED["train"]}
    assert report.dropped_action_types == want
    assert report.skipped == {"action_type_not_modelled": sum(want.values())}
    assert report.sessions_without_terminate == report.sessions_written == 4
    assert any("no terminate rows" in n for n in report.notes)
    for split in ("train", "test"):
        store = open_store(tmp_path / "o", split=split)
        assert store.num_steps == RELEASE_STEPS[split] - RELEASE_SESSIONS[split]  # the terminates
        assert all(a.type != "terminate" for s in store for a in s.actions)
        assert "navigation_type" in store[0].steps[0].metadata  # the full columns are kept


def test_persona_and_page_fit_the_budget_and_target_kept_is_honest(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    import_opera(release, out, persona_fields=["interview_transcript"])
    env = gym.make("ShopR1-v0", data_path=out, split="test", max_chars=20_000)
    session = next(s for s in open_store(out, split="test") if s.user_id == USER_1)
    assert len(session.steps[2].page_html) > 20_000  # the long product page
    obs, info = env.reset(options={"session_id": session.session_id})
    assert info["persona"] == {**PERSONA_1, "interview_transcript": TRANSCRIPT.strip()}
    for k in range(3):
        assert len(obs) <= 20_000 and "Demographic Information:\n  Age: 25-34" in obs  # key: value lines
        assert "persona cut to fit" in obs and '\\"' not in obs  # 11k transcript cut, no escaped JSON
        assert info["target_kept"] is True
        gold = session.steps[k].action
        assert f'name="{gold.name}"' in obs
        obs, _, _, _, info = env.step(json.dumps({"rationale": "", "action": gold.to_dict()}))
    # the session whose click target is not on its page: target_kept is False
    other = next(s for s in open_store(out, split="test") if s.user_id == USER_3)
    obs, info = env.reset(options={"session_id": other.session_id})
    obs, _, _, _, info = env.step(json.dumps({"rationale": "", "action": other.steps[0].action.to_dict()}))
    assert other.steps[1].action.name == "search_results.gone_product.product_title"
    assert info["target_kept"] is False and info["step_index"] == 1
    env.close()


def test_named_divs_without_a_role_are_offered_as_elements(release: Path, tmp_path: Path) -> None:
    import_opera(release, tmp_path / "o")
    env = gym.make("ShopR1-v0", data_path=tmp_path / "o", split="train")
    _, info = env.reset(options={"session_index": 0, "step": 1})
    gold = open_store(tmp_path / "o", split="train")[0].steps[1].action.name
    names = {e.name: e.kind for e in info["elements"]}
    assert gold.endswith((".product_title", ".customer_reviews")) and names.get(gold) == "click"
    assert f'<div name="{gold}">' in open_store(tmp_path / "o", split="train")[0].steps[1].page_html  # no role
    env.close()


@pytest.mark.parametrize("variant", ["filtered", "full"])
def test_end_to_end_eval_replay_and_rule_on_opera_test(tmp_path: Path, variant: str, capsys) -> None:
    base = write_opera_release(tmp_path / "dl", variant)
    out = tmp_path / "opera"
    assert cli_main(["data", "import-opera", str(base), str(out)]) == 0
    assert cli_main(["data", "validate", str(out / "train")]) == 0
    assert cli_main(["data", "validate", str(out / "test")]) == 1  # the target missing from its page
    assert "gone_product.product_title" in capsys.readouterr().out
    for policy in ("replay", "rule"):
        ev = tmp_path / f"eval_{policy}"
        assert cli_main(["eval", "--policy", policy, "--data", str(out), "--split", "test", "--out", str(ev),
                         "--no-progress"]) == 0
        rep = json.loads((ev / "report.json").read_text())
        outcome = rep["session"]["outcome"]
        assert outcome["sessions"] == RELEASE_SESSIONS["test"]
        # outcome read over the whole session: the buy-now session counts, whatever its last step
        assert outcome["gold_purchase_rate"] == PURCHASE_SESSIONS["test"] / RELEASE_SESSIONS["test"]
        if policy == "replay":
            assert outcome["accuracy"] == 1.0 and outcome["pred_purchase_rate"] == outcome["gold_purchase_rate"]


def test_older_revision_layout_action_train_train_parquet(release: Path, tmp_path: Path) -> None:
    for split in ("train", "test"):
        src = release / "action" / f"{split}-00000-of-00001.parquet"
        (release / "action" / split).mkdir()
        src.rename(release / "action" / split / f"{split}.parquet")
    report = import_opera(release, tmp_path / "o")
    assert report.splits == RELEASE_SESSIONS and report.balanced


def test_one_big_row_group_imports_the_same(tmp_path: Path) -> None:
    small = write_opera_release(tmp_path / "a", row_group_size=2)
    big = write_opera_release(tmp_path / "b", row_group_size=10_000)
    import_opera(small, tmp_path / "o1", batch_size=3)
    import_opera(big, tmp_path / "o2", batch_size=3)
    for split in ("train", "test"):
        one, two = open_store(tmp_path / "o1", split=split), open_store(tmp_path / "o2", split=split)
        assert [s.to_record()["steps"] for s in one] == [s.to_record()["steps"] for s in two]
        assert [s.persona for s in one] == [s.persona for s in two]


def test_structural_split_problems_are_located_errors(release: Path, tmp_path: Path) -> None:
    train = release / "action" / "train-00000-of-00001.parquet"
    test = release / "action" / "test-00000-of-00001.parquet"
    rows = [row for _, _, row in iter_file_rows(train)]
    write_table(rows[:1], release / "action" / "test-00001-of-00002.parquet")  # a train session in test
    with pytest.raises(DataError, match="both train and test") as e:
        import_opera(release, tmp_path / "o")
    # the first row of the other split is named, and where the session was first seen
    assert (e.value.path, e.value.row, e.value.field) == (str(train), 1, "session_id")
    assert "test-00001-of-00002.parquet:1" in str(e.value)
    (release / "action" / "test-00001-of-00002.parquet").unlink()
    write_table(rows[:1], release / "action" / "extra.parquet")  # neither train nor test
    with pytest.raises(DataError, match="train or test") as e:
        import_opera(release, tmp_path / "o")
    assert e.value.path.endswith("extra.parquet")
    assert not (tmp_path / "o").exists() and test.exists()
