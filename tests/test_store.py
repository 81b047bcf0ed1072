"""Session store: round trip, O(1) random access, splits, codecs, step look-ups, atomic writes."""
from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from shop_env.actions import Action
from shop_env.data import Session, Step, StoreWriter, open_store, write_store
from shop_env.data.store import DATA_FILE, INDEX_FILE, MANIFEST, SessionStore
from shop_env.errors import DataError

REPO = Path(__file__).resolve().parent.parent


def make_sessions(n: int, *, users: bool = True, empty_at: tuple[int, ...] = ()) -> list[Session]:
    """n sessions with 1..4 steps; users u0..u(n/3); sessions in ``empty_at`` have no steps."""
    out = []
    for i in range(n):
        k = 0 if i in empty_at else 1 + i % 4
        steps = [Step(page_html=f"<html><body><a name='p{i}.s{j}'>item {i}/{j}</a>" + "x" * (i % 7) + "</body></html>",
                      action=Action("click", f"p{i}.s{j}") if j < k - 1 else Action("terminate"),
                      url=f"https://shop.example/{i}/{j}", rationale=f"step {j}", timestamp=float(j),
                      metadata={"click_type": "link"}) for j in range(k)]
        out.append(Session(session_id=f"sess-{i:05d}", steps=steps, user_id=f"u{i // 3}" if users else None,
                           persona={"age": i % 50} if users else None, source="test"))
    return out


@pytest.fixture
def sessions() -> list[Session]:
    return make_sessions(60)


@pytest.fixture
def store_path(tmp_path: Path, sessions: list[Session]) -> Path:
    return write_store(tmp_path / "store", sessions, source="test")


def test_round_trip_every_field(store_path: Path, sessions: list[Session]) -> None:
    store = open_store(store_path)
    assert len(store) == len(sessions)
    assert store.num_steps == sum(len(s.steps) for s in sessions)
    for i, s in enumerate(sessions):
        assert store[i].to_record() == s.to_record()
    assert [s.session_id for s in store] == [s.session_id for s in sessions]
    assert store[-1].session_id == sessions[-1].session_id
    assert [s.session_id for s in store[2:5]] == [s.session_id for s in sessions[2:5]]
    with pytest.raises(IndexError):
        store[len(sessions)]
    manifest = json.loads((store_path / MANIFEST).read_text())
    assert manifest["n_sessions"] == 60 and manifest["synthetic"] is False


def test_random_access_reads_only_its_own_line(store_path: Path, sessions: list[Session], monkeypatch) -> None:
    read = []
    real_pread = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, off: read.append(n) or real_pread(fd, n, off))
    store = open_store(store_path)
    line_lengths = [len(l) for l in (store_path / DATA_FILE).read_bytes().splitlines(keepends=True)]
    for i in (45, 3, 59, 0, 17):
        read.clear()
        assert store[i].session_id == sessions[i].session_id
        assert sum(read) == line_lengths[i]  # one line, nothing else


def test_concurrent_readers_in_threads(store_path: Path, sessions: list[Session]) -> None:
    store = open_store(store_path)
    errors: list[str] = []

    def work(seed: int) -> None:
        order = np.random.default_rng(seed).integers(0, len(store), size=300)
        for i in order:
            try:
                if store[int(i)].session_id != sessions[int(i)].session_id:
                    errors.append("wrong session")
            except Exception as e:  # noqa: BLE001 - any failure is the bug
                errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_random_access_does_not_touch_other_lines(store_path: Path, sessions: list[Session]) -> None:
    # Corrupt every line except #10 (same length, so the index stays valid): #10 still reads.
    data = bytearray((store_path / DATA_FILE).read_bytes())
    lines = bytes(data).splitlines(keepends=True)
    garbled = b"".join(l if k == 10 else b"#" * (len(l) - 1) + b"\n" for k, l in enumerate(lines))
    (store_path / DATA_FILE).write_bytes(garbled)
    store = open_store(store_path)
    assert store[10].to_record() == sessions[10].to_record()


def test_corrupted_line_names_file_and_line(store_path: Path) -> None:
    path = store_path / DATA_FILE
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b"{not json" + b" " * (len(lines[2]) - 10) + b"\n"
    path.write_bytes(b"".join(lines))
    store = open_store(store_path)
    with pytest.raises(DataError) as e:
        store[2]
    assert e.value.path == str(path) and e.value.row == 3
    assert str(path) in str(e.value) and "row 3" in str(e.value)
    assert store[3].session_id == "sess-00003"  # the damage stays local


def test_bad_step_record_is_a_located_data_error(store_path: Path) -> None:
    path = store_path / DATA_FILE
    lines = path.read_bytes().splitlines(keepends=True)
    rec = json.loads(lines[4])
    rec["steps"][0]["action"] = {"type": "fly"}
    new = json.dumps(rec, separators=(",", ":")).encode()
    lines[4] = new + b" " * (len(lines[4]) - len(new) - 1) + b"\n"  # pad to keep the index valid
    assert len(lines[4]) == len(path.read_bytes().splitlines(keepends=True)[4])
    path.write_bytes(b"".join(lines))
    with pytest.raises(DataError, match="row 5"):
        open_store(store_path)[4]


@pytest.mark.parametrize("edit, field", [
    (lambda rec: rec["steps"][0].update(page=None), "steps[0].page"),
    (lambda rec: rec["steps"][0].update(metadata=12), "steps[0].metadata"),
    (lambda rec: rec.update(metadata=12), "metadata"),
    (lambda rec: rec.update(persona=3.5), "persona"),
])
def test_a_field_of_the_wrong_type_is_named_by_readers_and_by_validate(store_path: Path, edit, field) -> None:
    from shop_env.data.validate import validate_store
    path = store_path / DATA_FILE
    lines = path.read_bytes().splitlines(keepends=True)
    rec = json.loads(lines[4])
    edit(rec)
    new = json.dumps(rec, separators=(",", ":")).encode()
    assert len(new) < len(lines[4])
    lines[4] = new + b" " * (len(lines[4]) - len(new) - 1) + b"\n"  # pad to keep the index valid
    path.write_bytes(b"".join(lines))
    with pytest.raises(DataError) as e:
        open_store(store_path)[4]
    assert (e.value.row, e.value.field) == (5, field)
    report = validate_store(store_path, check_targets=False)
    assert [(p.line, p.field) for p in report.problems if p.severity == "error"] == [(5, field)]


def test_an_open_store_never_mixes_its_index_with_a_replacement_file(tmp_path: Path) -> None:
    def sessions(*ids: str) -> list[Session]:
        return [Session(i, [Step(f"<a name='x'>{i * 30}</a>", Action("click", "x"))]) for i in ids]
    path = tmp_path / "s"
    write_store(path, sessions("A", "B"))
    unread, read = open_store(path), open_store(path)
    assert [s.session_id for s in read] == ["A", "B"]
    read.close()
    write_store(path, sessions("B", "A", "C"))  # an atomic rewrite of the folder
    assert [s.session_id for s in unread] == ["A", "B"]  # the file it opened with its index
    with pytest.raises(DataError, match="replaced since it was opened"):
        read[0]  # reopening after close() finds another file: refused, not misread
    assert [s.session_id for s in open_store(path)] == ["B", "A", "C"]


def test_a_numeric_user_id_reads_as_text_and_round_trips(tmp_path: Path) -> None:
    session = Session.from_record({"session_id": "s1", "user_id": 7,
                                   "steps": [{"page": "<p>x</p>", "action": {"type": "terminate"}}]})
    assert session.user_id == "7"
    assert open_store(write_store(tmp_path / "s", [session]))[0].user_id == "7"


def test_truncated_files_are_detected_at_open(store_path: Path) -> None:
    data = store_path / DATA_FILE
    data.write_bytes(data.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated"):
        open_store(store_path)


def test_truncated_index_is_detected(store_path: Path) -> None:
    index = store_path / INDEX_FILE
    index.write_bytes(index.read_bytes()[:-5])
    with pytest.raises(DataError, match="index"):
        open_store(store_path)


def test_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="manifest"):
        open_store(tmp_path)


@pytest.mark.parametrize("by", ["session", "user"])
def test_splits_deterministic_disjoint_complete(store_path: Path, by: str) -> None:
    store = open_store(store_path)

    def ids(split, seed):
        return [s.session_id for s in store.split(split, by=by, seed=seed, test_fraction=0.3)]

    train, test = ids("train", 1), ids("test", 1)
    assert train == ids("train", 1) and test == ids("test", 1)  # deterministic from the seed
    assert not set(train) & set(test)
    assert sorted(train + test) == sorted(s.session_id for s in store)
    assert 0 < len(test) < len(store)
    # open_store on a single store applies the same hash split.
    assert [s.session_id for s in open_store(store_path, split="test", by=by, seed=1, test_fraction=0.3)] == test
    if by == "user":
        train_users = {s.user_id for s in store.split("train", by="user", seed=1, test_fraction=0.3)}
        test_users = {s.user_id for s in store.split("test", by="user", seed=1, test_fraction=0.3)}
        assert not train_users & test_users


def test_split_seed_changes_assignment(store_path: Path) -> None:
    store = open_store(store_path)
    a = {s.session_id for s in store.split("test", by="session", seed=1)}
    b = {s.session_id for s in store.split("test", by="session", seed=2)}
    assert a != b


def test_split_stable_when_sessions_are_added(tmp_path: Path) -> None:
    small = write_store(tmp_path / "a", make_sessions(30))
    big = write_store(tmp_path / "b", make_sessions(60))
    t_small = {s.session_id for s in open_store(small).split("test", seed=3, by="session")}
    t_big = {s.session_id for s in open_store(big).split("test", seed=3, by="session")}
    assert t_small == {i for i in t_big if int(i.split("-")[1]) < 30}


def test_user_split_is_stable_when_sessions_without_a_user_are_added(tmp_path: Path) -> None:
    sessions = make_sessions(60)
    with_users = open_store(write_store(tmp_path / "u", sessions))
    before = {s.session_id for s in with_users.split("test", seed=5)}
    assert before == {s.session_id for s in with_users.split("test", seed=5, by="user")}
    extra = [Session(f"anon-{i}", [Step("<a name='x'>x</a>", Action("click", "x"))]) for i in range(40)]
    mixed = open_store(write_store(tmp_path / "m", sessions + extra))
    test, train = mixed.split("test", seed=5), mixed.split("train", seed=5)
    assert {s.session_id for s in test} - {e.session_id for e in extra} == before  # nobody moved
    users = lambda view: {s.user_id for s in view if s.user_id}  # noqa: E731
    assert not users(test) & users(train)  # no user on both sides
    anon_test = {s.session_id for s in test if s.user_id is None}
    assert 0 < len(anon_test) < len(extra)  # user-less sessions are spread by their own ids
    # the importer's split_by="user" places sessions the same way (shop_env.data.importers.opera)
    from shop_env.data.importers.opera import _user_split
    assert {s.session_id for s in sessions + extra if _user_split(s, 0.2, 5) == "test"} == \
        {s.session_id for s in test}


def test_pickle_round_trip_of_a_split_view(store_path: Path) -> None:
    view = open_store(store_path).split("train", seed=4)
    view[0]  # opens the file handle, which must not be pickled
    clone = pickle.loads(pickle.dumps(view))
    assert len(clone) == len(view)
    assert [s.to_record() for s in clone] == [s.to_record() for s in view]


def test_zlib_codec_round_trip(tmp_path: Path) -> None:
    sessions = make_sessions(10)
    for s in sessions:
        for st in s.steps:
            st.page_html = st.page_html + "<p>repeated text é</p>" * 200
    plain = write_store(tmp_path / "plain", sessions)
    packed = write_store(tmp_path / "zlib", sessions, page_codec="zlib")
    store = open_store(packed)
    assert [s.to_record() for s in store] == [s.to_record() for s in sessions]
    assert b"repeated text" not in (packed / DATA_FILE).read_bytes()
    assert (packed / DATA_FILE).stat().st_size < (plain / DATA_FILE).stat().st_size / 5


def test_step_location_matches_brute_force(tmp_path: Path) -> None:
    sessions = make_sessions(25, empty_at=(0, 7, 24))
    store = open_store(write_store(tmp_path / "s", sessions))
    for view in (store, store.split("train", seed=2, by="session")):
        expected = [(i, k) for i, s in enumerate(view) for k in range(len(s.steps))]
        assert view.num_steps == len(expected)
        assert [view.step_location(g) for g in range(len(expected))] == expected
        session, k = view.step(len(expected) - 1)
        assert session.session_id == view[expected[-1][0]].session_id and k == expected[-1][1]
        for bad in (-1, len(expected)):
            with pytest.raises(IndexError):
                view.step_location(bad)


def test_session_without_steps_is_stored_and_holds_no_steps(tmp_path: Path) -> None:
    store = open_store(write_store(tmp_path / "s", make_sessions(3, empty_at=(1,))))
    assert store.n_steps(1) == 0 and store[1].steps == []
    assert store.step_location(0) == (0, 0)
    assert store.step_location(1) == (2, 0)  # session 1 holds no step: skipped


def test_index_of(store_path: Path, sessions: list[Session]) -> None:
    store = open_store(store_path)
    assert all(store.index_of(s.session_id) == i for i, s in enumerate(sessions))
    with pytest.raises(KeyError):
        store.index_of("nope")
    view = store.split("test", seed=0, by="session")
    for pos, s in enumerate(view):
        assert view.index_of(s.session_id) == pos
    outside = next(s.session_id for s in store.split("train", seed=0, by="session"))
    with pytest.raises(KeyError):
        view.index_of(outside)


def test_split_folder(tmp_path: Path) -> None:
    write_store(tmp_path / "train", make_sessions(6))
    write_store(tmp_path / "test", make_sessions(2))
    assert len(open_store(tmp_path, split="train")) == 6
    assert len(open_store(tmp_path, split="test")) == 2
    with pytest.raises(DataError, match="split"):
        open_store(tmp_path)


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_exception_inside_writer_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with StoreWriter(tmp_path / "s") as w:
            w.write(make_sessions(1)[0])
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_overwrite_false_refuses(store_path: Path) -> None:
    with pytest.raises(FileExistsError):
        StoreWriter(store_path, overwrite=False)


@pytest.mark.parametrize("layout", ["flat", "split"])
def test_writers_never_replace_a_folder_that_is_not_a_store(tmp_path: Path, sessions, layout) -> None:
    """A mistyped output path must not delete the user's files; an older store is replaced."""
    from shop_env.data.split_store import SplitStoreWriter
    folder = tmp_path / "mine"
    (folder / "train").mkdir(parents=True)
    (folder / "train" / "notes.txt").write_text("keep me")
    target = folder if layout == "split" else folder / "train"

    def write(path: Path) -> None:
        if layout == "split":
            with SplitStoreWriter(path) as w:
                w.write(sessions[0], "train")
        else:
            write_store(path, sessions[:1])
    with pytest.raises(FileExistsError, match="does not hold a .*store.*left as it is"):
        write(target)
    assert (folder / "train" / "notes.txt").read_text() == "keep me"
    assert [p.name for p in folder.iterdir()] == ["train"]  # no temporary folder left behind
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    write(fresh)  # an empty folder is fine
    write(fresh)  # and so is an earlier store
    other = tmp_path / "other"  # ... of the other layout too (e.g. an import re-run with another --split-by)
    if layout == "split":
        write_store(other, sessions[:1])
    else:
        with SplitStoreWriter(other) as w:
            w.write(sessions[0], "train")
    write(other)
    assert len(open_store(fresh / "train" if layout == "split" else fresh)) == 1


_WRITER = textwrap.dedent("""
    import sys, time
    from shop_env.actions import Action
    from shop_env.data import Session, Step, StoreWriter
    with StoreWriter(sys.argv[1], source="killed") as w:
        for i in range(10**9):
            w.write(Session(f"new-{i}", [Step("<p>" + "y" * 5000 + "</p>", Action("terminate"))]))
            if i == 200:
                w._data.flush()
                print("WRITING", flush=True)
            if i > 200:
                time.sleep(0.001)
""")


def _start_and_kill_writer(path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert proc.stdout.readline().strip() == b"WRITING"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_sigkilled_writer_leaves_previous_store_intact(store_path: Path, sessions: list[Session]) -> None:
    before = (store_path / DATA_FILE).read_bytes()
    _start_and_kill_writer(store_path)
    assert (store_path / DATA_FILE).read_bytes() == before
    store = open_store(store_path)
    assert [s.to_record() for s in store] == [s.to_record() for s in sessions]
    leftovers = [n for n in _siblings(store_path) if n != "store"]
    assert leftovers and all(n.startswith(".store.tmp-") for n in leftovers)  # hidden, never at the path
    # The next writer removes the dead writer's temp folder.
    write_store(store_path, make_sessions(2))
    assert _siblings(store_path) == ["store"]
    assert len(open_store(store_path)) == 2


def test_sigkilled_writer_of_a_new_store_leaves_no_store(tmp_path: Path) -> None:
    path = tmp_path / "fresh"
    _start_and_kill_writer(path)
    assert not path.exists()
    with pytest.raises(DataError):
        open_store(path)


def test_kill_between_the_two_renames_falls_back_to_previous_store(store_path: Path, sessions) -> None:
    # State a writer killed after moving the old store aside, before moving the new one in.
    aside = store_path.with_name(".store.old-999999999")
    os.replace(store_path, aside)
    store = open_store(store_path)
    assert [s.session_id for s in store] == [s.session_id for s in sessions]
    assert pickle.loads(pickle.dumps(store))[0].session_id == sessions[0].session_id
    write_store(store_path, make_sessions(3))
    assert _siblings(store_path) == ["store"] and len(open_store(store_path)) == 3


def test_a_split_folder_left_aside_by_a_killed_writer_is_read(tmp_path: Path, sessions) -> None:
    from shop_env.data.split_store import SplitStoreWriter
    with SplitStoreWriter(tmp_path / "split") as w:
        w.write(sessions[0], "train")
        w.write(sessions[1], "test")
    os.replace(tmp_path / "split", tmp_path / ".split.old-999999")  # killed between the two renames
    assert [s.session_id for s in open_store(tmp_path / "split", split="test")] == [sessions[1].session_id]


def test_store_is_readable_by_others(store_path: Path) -> None:
    assert (store_path.stat().st_mode & 0o755) == 0o755


def test_session_store_repr_and_synthetic_flag(tmp_path: Path) -> None:
    store = SessionStore(write_store(tmp_path / "s", make_sessions(2), synthetic=True))
    assert store.synthetic and "sessions=2" in repr(store)


def test_atomic_outputs_are_world_readable_and_dead_writers_temp_dirs_are_cleared(tmp_path):
    import stat
    import subprocess
    import sys

    from shop_env.data.atomic import atomic_directory, write_text_atomic
    # a writer killed inside atomic_directory leaves .<name>.tmp-<pid>-*; the next one clears it
    code = ("import os, sys; from pathlib import Path; from shop_env.data.atomic import atomic_directory\n"
            "with atomic_directory(Path(sys.argv[1])) as tmp:\n"
            "    (tmp / 'half').write_text('x'); os._exit(9)\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "model")], check=False)
    assert len(list(tmp_path.glob(".model.tmp-*"))) == 1 and not (tmp_path / "model").exists()
    with atomic_directory(tmp_path / "model") as tmp:
        (tmp / "weights").write_text("w")
    assert not list(tmp_path.glob(".model.tmp-*"))
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o755
    report = write_text_atomic(tmp_path / "report.json", "{}")
    assert stat.S_IMODE(report.stat().st_mode) == 0o644 and report.read_text() == "{}"


# -- strict JSON and the split-folder writer ---------------------------------------------------
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_writer_refuses_non_finite_numbers_naming_session_and_field(tmp_path: Path, bad: float) -> None:
    good = Session("ok", [Step("<a name='x'>x</a>", Action("click", "x"))])
    bad_session = Session("bad", [Step("<a name='x'>x</a>", Action("click", "x"))], persona={"age": {"n": bad}})
    with pytest.raises(DataError) as e:
        write_store(tmp_path / "s", [good, bad_session])
    assert e.value.field == "persona.age.n" and e.value.row == 2 and "'bad'" in str(e.value)
    assert not (tmp_path / "s").exists() and list(tmp_path.iterdir()) == []  # nothing half-written


def test_split_store_writer_writes_the_sample_layout_atomically(tmp_path: Path) -> None:
    from shop_env.data.split_store import SplitStoreWriter
    sessions = {sp: [Session(f"{sp}{i}", [Step("<a name='x'>x</a>", Action("click", "x"))], user_id=f"u{i}")
                     for i in range(n)] for sp, n in (("train", 3), ("test", 2))}
    out = tmp_path / "out"
    with SplitStoreWriter(out, source="t") as w:
        w.write(sessions["train"][0], "train")
    (out / "old").mkdir()  # a previous split store is replaced as a whole
    with SplitStoreWriter(out, source="t") as w:
        for sp, ss in sessions.items():
            for s in ss:
                w.write(s, sp)
        with pytest.raises(ValueError):
            w.write(sessions["test"][0], "dev")
    assert sorted(p.name for p in out.iterdir()) == ["test", "train"]
    for sp, ss in sessions.items():
        assert [s.session_id for s in open_store(out, split=sp)] == [s.session_id for s in ss]
    with pytest.raises(RuntimeError):
        with SplitStoreWriter(out, source="t") as w:
            w.write(sessions["train"][0], "train")
            raise RuntimeError("killed")
    assert len(open_store(out, split="train")) == 3  # the failed writer left the old folder as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # and no temporary folder
