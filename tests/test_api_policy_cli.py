"""``shop-r1 eval --policy openai:MODEL`` end to end against a local server: a run killed
with SIGKILL resumes without repeating calls, a failing API stops the run with one line
and keeps its progress, flags reach the request, and the key is never written anywhere."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("openai")

from shop_env.cli import main
from shop_env.data.store import open_store
from shop_env.evaluation.results import read_step_log
from tests._env_sessions import make_store
from tests.chat_server import ChatServer, Reply, completion
from tests.test_api_policy import oracle_answers

KEY_ENV = "SHOP_R1_TEST_KEY"
KEY = "sk-do-not-write-me-7f3a9c"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store_dir(tmp_path):
    return make_store(tmp_path / "store", n_sessions=10, seed=3)


def n_steps(store_dir) -> int:
    return sum(len(s.steps) for s in open_store(store_dir))


def eval_args(server: ChatServer, store_dir, out, *extra: str) -> list[str]:
    return ["eval", "--policy", "openai:scripted", "--base-url", server.url, "--api-key-env", KEY_ENV,
            "--data", str(store_dir), "--split", "all", "--out", str(out), "--no-progress", *extra]


class Oracle:
    """Answers each prompt with its recorded action; ``hold_after`` calls on, holds answers back
    (the server is then "hung" until stopped); ``fail_after`` calls on, answers 500."""

    def __init__(self, store_dir, hold_after: int | None = None, fail_after: int | None = None) -> None:
        self.answers = oracle_answers(store_dir)
        self.hold_after, self.fail_after = hold_after, fail_after

    def __call__(self, request, n):
        if self.fail_after is not None and n >= self.fail_after:
            return Reply({"error": {"message": "overloaded"}}, status=500)
        content = self.answers.get(json.dumps(request["messages"]), "unknown prompt")
        return Reply(completion(content), delay_s=30.0 if self.hold_after is not None and n >= self.hold_after else 0.0)


def asked(server: ChatServer) -> list[str]:
    return [json.dumps(c.body["messages"]) for c in server.calls]


def all_files_text(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*")
                   if p.is_file() and p.suffix in (".json", ".jsonl", ".md", ".txt", ".log"))


def test_killed_run_resumes_without_repeating_calls(store_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"
    env = {**os.environ, KEY_ENV: KEY, "PYTHONPATH": str(ROOT)}
    # concurrency 4, 4 sessions side by side: calls 0-7 are answered, calls 8-11 hang. A session's
    # next call is sent only once its answered step is logged, so with all 12 sent, 8 are logged
    with ChatServer(Oracle(store_dir, hold_after=8)) as first:
        cmd = [sys.executable, "-m", "shop_env.cli", *eval_args(first, store_dir, out, "--concurrency", "4",
                                                                   "--batch-size", "4")]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while first.n_calls < 12 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert first.n_calls == 12
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
        answered_before = asked(first)[:8]
    assert len(read_step_log(out / "steps.jsonl")) == 8

    monkeypatch.setenv(KEY_ENV, KEY)
    with ChatServer(Oracle(store_dir)) as second:
        assert main(eval_args(second, store_dir, out, "--concurrency", "4", "--batch-size", "4")) == 0
        again = asked(second)
    total = n_steps(store_dir)
    assert len(again) == total - 8
    assert not set(again) & set(answered_before)
    report = json.loads((out / "report.json").read_text())
    assert report["n_steps"] == total and report["table2"]["exact"]["value"] == 1.0
    assert report["extra"]["api"]["calls"] == total  # both runs' calls, each once


def test_failing_api_stops_with_one_line_and_rerun_resumes(store_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    out = tmp_path / "run"
    with ChatServer(Oracle(store_dir, fail_after=6)) as server:
        rc = main(eval_args(server, store_dir, out, "--concurrency", "1", "--batch-size", "3",
                            "--max-retries", "1"))
        first_calls = asked(server)
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert err.count("\n") == 0 and err.startswith("error: openai:scripted at http://127.0.0.1:")
    assert "HTTP 500" in err and "after 2 attempts" in err and "resume" in err
    assert len(read_step_log(out / "steps.jsonl")) == 6
    with ChatServer(Oracle(store_dir)) as server:
        assert main(eval_args(server, store_dir, out, "--concurrency", "1", "--batch-size", "3")) == 0
        second_calls = asked(server)
    assert len(second_calls) == n_steps(store_dir) - 6
    assert not set(second_calls) & set(first_calls[:6])


def test_flags_reach_the_request(store_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with ChatServer(lambda r, n: Reply(completion("junk"), delay_s=0.02)) as server:
        assert main(eval_args(server, store_dir, tmp_path / "run", "--temperature", "0.2", "--max-new-tokens", "32",
                              "--seed", "4", "--concurrency", "2", "--limit", "3")) == 0
    assert server.max_in_flight <= 2
    for call in server.calls:
        body = call.body
        assert (body["model"], body["temperature"], body["max_tokens"], body["seed"]) == ("scripted", 0.2, 32, 4)


def test_unset_flags_are_not_sent(store_dir, tmp_path, monkeypatch):
    """The README's promise: temperature, max_tokens and seed reach the server only when given."""
    monkeypatch.setenv(KEY_ENV, KEY)
    with ChatServer(lambda r, n: Reply(completion("junk"))) as server:
        assert main(eval_args(server, store_dir, tmp_path / "run", "--limit", "2")) == 0
    assert server.calls
    for call in server.calls:
        assert not {"temperature", "max_tokens", "seed"} & set(call.body), call.body


def test_key_never_written_or_printed(store_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    out = tmp_path / "run"
    with ChatServer(Oracle(store_dir)) as server:
        assert main(eval_args(server, store_dir, out, "--limit", "4")) == 0
        assert all(c.headers["authorization"] == f"Bearer {KEY}" for c in server.calls)
    # a server that echoes the key in its error: the printed error masks it
    with ChatServer(lambda r, n: Reply({"error": {"message": f"key {KEY} revoked"}}, status=401)) as server:
        assert main(eval_args(server, store_dir, tmp_path / "failed")) == 1
    printed = capsys.readouterr()
    assert "key *** revoked" in printed.err
    for text in (printed.out, printed.err, all_files_text(out), all_files_text(tmp_path / "failed")):
        assert KEY not in text
    assert {"run.json", "report.json", "steps.jsonl", "report.md"} <= {p.name for p in out.iterdir()}


def test_failed_run_exits_without_waiting_for_hung_requests(store_dir, tmp_path):
    """One request fails for good while three others hang: the command exits at once (exit 1)
    instead of waiting for the hung ones (the server holds them for 30 s)."""
    def reply(request, n):
        if n == 0:
            return Reply({"error": {"message": "bad request"}}, status=400, delay_s=0.2)
        return Reply(completion("late"), delay_s=30.0)
    env = {**os.environ, KEY_ENV: KEY, "PYTHONPATH": str(ROOT)}
    with ChatServer(reply) as server:
        cmd = [sys.executable, "-m", "shop_env.cli", *eval_args(server, store_dir, tmp_path / "run",
                                                                   "--concurrency", "4")]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=25)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "HTTP 400" in proc.stderr
