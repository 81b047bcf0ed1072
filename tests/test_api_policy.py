"""OpenAIChatPolicy against a real chat-completions server on 127.0.0.1 (tests/chat_server.py).

Faults are injected by scripting the server: 429 with Retry-After, 500, a reply slower
than the client's timeout, malformed bodies. The evaluation tests use an "oracle" server
that answers each prompt with its recorded action, looked up by the exact chat turns the
environment builds, so any mix-up of outputs between steps shows as a missed exact match.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("openai")

from shop_env.actions import format_model_output
from shop_env.data.store import open_store
from shop_env.env import ShopSessionEnv
from shop_env.evaluation.runner import evaluate
from shop_env.policies import APICallError, Backoff, OpenAIChatPolicy
from shop_env.policies.openai_chat import OFFICIAL_BASE_URL, resolve_base_url
from shop_env.policies.retry import retry_after_seconds
from tests._env_sessions import make_store
from tests.chat_server import ChatServer, Reply, completion

KEY = "sk-test-h19-0123456789"


@pytest.fixture
def store_dir(tmp_path):
    return make_store(tmp_path / "store", n_sessions=10, seed=3)


def oracle_answers(store_dir) -> dict[str, str]:
    """``json(messages) -> recorded output`` for every step, built with the environment itself."""
    store = open_store(store_dir)
    env = ShopSessionEnv(store, context="whole_session")
    answers = {}
    for i in range(len(store)):
        session = store[i]
        for k, step in enumerate(session.steps):
            _, info = env.reset(options={"session_index": i, "step": k})
            answers[json.dumps(info["messages"])] = format_model_output(step.rationale or "", step.action)
    return answers


def oracle_server(store_dir, delay=lambda n: 0.0) -> ChatServer:
    answers = oracle_answers(store_dir)

    def reply(request, n):
        content = answers.get(json.dumps(request["messages"]), "unknown prompt")
        return Reply(completion(content, prompt_tokens=100 + n, completion_tokens=7), delay_s=delay(n))
    return ChatServer(reply)


def make_policy(server: ChatServer, **kwargs) -> OpenAIChatPolicy:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("timeout_s", 5.0)
    return OpenAIChatPolicy("scripted-model", base_url=server.url, **kwargs)


def one_request(policy: OpenAIChatPolicy, text: str = "hello") -> str:
    return policy.act([text], [{"messages": [{"role": "user", "content": text}]}])[0]


def test_outputs_land_in_their_steps_under_concurrency(store_dir):
    rng = random.Random(0)
    delays = [rng.uniform(0.0, 0.03) for _ in range(1000)]  # answers come back out of order
    with oracle_server(store_dir, delay=lambda n: delays[n % len(delays)]) as server:
        policy = make_policy(server, concurrency=4, temperature=0.0)
        report = evaluate(policy, store_dir, split="all", batch_size=8)
    n_steps = sum(len(s.steps) for s in open_store(store_dir))
    assert report.n_steps == n_steps == server.n_calls
    assert report.table2["exact"]["value"] == 1.0
    assert 2 <= server.max_in_flight <= 4
    api = report.extra["api"]
    assert (api["calls"], api["requests"], api["retries"]) == (n_steps, n_steps, 0)
    assert api["prompt_tokens"] == sum(100 + n for n in range(n_steps))
    assert api["completion_tokens"] == 7 * n_steps
    assert 0 < api["latency_p50_s"] <= api["latency_p95_s"]
    md = report.to_markdown()
    assert "## Cost and speed (API calls)" in md
    assert f"| {n_steps} | {n_steps} | 0 | {api['prompt_tokens']:,} | {7 * n_steps:,} |" in md
    # each request carries the environment's chat turns and sampling settings, nothing else
    for call in server.calls:
        assert set(call.body) == {"model", "messages", "temperature"}
        assert [m["role"] for m in call.body["messages"]] == ["system", "user"]
        assert call.headers["authorization"] == f"Bearer {KEY}"


def test_concurrency_is_bounded():
    with ChatServer(lambda r, n: Reply(completion("ok"), delay_s=0.05)) as server:
        policy = make_policy(server, concurrency=3)
        texts = [f"q{i}" for i in range(12)]
        out = policy.act(texts, [{"messages": [{"role": "user", "content": t}]} for t in texts])
    assert out == ["ok"] * 12
    assert server.max_in_flight == 3


def test_request_settings_are_sent_only_when_set():
    with ChatServer() as server:
        one_request(make_policy(server, temperature=0.7, max_tokens=64, seed=5))
        one_request(make_policy(server))
    first, second = (c.body for c in server.calls)
    assert (first["temperature"], first["max_tokens"], first["seed"]) == (0.7, 64, 5)
    assert set(second) == {"model", "messages"}


def test_faults_are_retried_with_backoff_and_retry_after():
    script = [
        Reply({"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "7"}),
        Reply({"error": {"message": "boom"}}, status=500),
        Reply(completion("too late"), delay_s=2.0),  # past the 0.3 s timeout
        Reply("this is not json {"),
        Reply({"object": "chat.completion"}),  # valid JSON, no choices
        Reply("[1, 2]"),  # valid JSON, not an object
        Reply(completion("finally", prompt_tokens=11, completion_tokens=3)),
    ]
    waits: list[float] = []
    with ChatServer(lambda r, n: script[n]) as server:
        policy = make_policy(server, timeout_s=0.3, sleep=waits.append,
                             backoff=Backoff(max_retries=6, base_s=0.5, max_s=20.0))
        assert one_request(policy) == "finally"
        assert server.n_calls == 7
    assert policy.last_call_stats()[0]["attempts"] == 7
    stats = policy.stats()
    assert (stats["requests"], stats["retries"], stats["prompt_tokens"], stats["completion_tokens"]) == (7, 6, 11, 3)
    assert len(waits) == 6
    assert 7.0 <= waits[0] <= 7.7  # the server's Retry-After, plus at most 10% jitter
    for retry, w in enumerate(waits[1:], start=2):  # equal jitter over [d/2, d], d = 0.5 * 2**(retry-1)
        d = 0.5 * 2 ** (retry - 1)
        assert d / 2 <= w <= d


def test_failure_after_retries_is_one_line_error():
    with ChatServer(lambda r, n: Reply({"error": {"message": "down\nfor maintenance"}}, status=503)) as server:
        policy = make_policy(server, sleep=lambda s: None, backoff=Backoff(max_retries=2))
        with pytest.raises(APICallError) as err:
            one_request(policy)
        assert server.n_calls == 3
    msg = str(err.value)
    assert "\n" not in msg and "HTTP 503" in msg and "after 3 attempts" in msg and server.url in msg


def test_client_errors_are_not_retried():
    with ChatServer(lambda r, n: Reply({"error": {"message": "no such model"}}, status=404)) as server:
        with pytest.raises(APICallError, match="HTTP 404.*no such model"):
            one_request(make_policy(server, sleep=lambda s: None))
        assert server.n_calls == 1


def test_a_failed_call_stops_the_batch_without_sending_the_rest():
    def reply(request, n):
        if request["messages"][-1]["content"] == "bad":
            return Reply({"error": {"message": "bad request"}}, status=400)
        return Reply(completion("ok"), delay_s=0.02)
    with ChatServer(reply) as server:
        policy = make_policy(server, concurrency=2)
        texts = ["bad"] + [f"q{i}" for i in range(20)]
        with pytest.raises(APICallError, match="HTTP 400"):
            policy.act(texts, [{"messages": [{"role": "user", "content": t}]} for t in texts])
        assert server.n_calls < len(texts)


def test_junk_answers_are_scored_not_errors(store_dir):
    answers = ["", "I would click something", None, '{"rationale": "x", "action": {"type": "fly"}}']
    with ChatServer(lambda r, n: Reply(completion(answers[n % len(answers)]))) as server:
        report = evaluate(make_policy(server, concurrency=2), store_dir, split="all", batch_size=4)
    assert report.extra["parse_failure_rate"] == 1.0
    assert report.extra["mean_reward"] == 0.0
    assert report.extra["api"]["retries"] == 0


def test_key_never_in_errors_even_when_the_server_echoes_it():
    def echo(request, n):
        return Reply({"error": {"message": "invalid api key: " + KEY}}, status=401)
    with ChatServer(echo) as server:
        with pytest.raises(APICallError) as err:
            one_request(make_policy(server))
        assert server.calls[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in str(err.value) and "invalid api key: ***" in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_key_not_in_policy_repr_or_stats():
    with ChatServer() as server:
        policy = make_policy(server)
        one_request(policy)
        assert KEY not in repr(policy) and KEY not in json.dumps(policy.stats())
        assert KEY not in policy.name


def test_base_url_and_key_resolution(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert resolve_base_url(None) == OFFICIAL_BASE_URL
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    assert resolve_base_url(None) == "http://127.0.0.1:9/v1"
    assert resolve_base_url("http://127.0.0.1:8/v1") == "http://127.0.0.1:8/v1"
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("MY_MISSING_KEY", raising=False)
    with pytest.raises(APICallError, match="MY_MISSING_KEY"):
        OpenAIChatPolicy("gpt-4.1", api_key_env="MY_MISSING_KEY")
    monkeypatch.setenv("MY_KEY", KEY)
    with ChatServer() as server:
        policy = OpenAIChatPolicy("m", base_url=server.url, api_key_env="MY_KEY")
        one_request(policy)
        assert server.calls[0].headers["authorization"] == f"Bearer {KEY}"
        # a local server needs no key: a placeholder is sent
        one_request(OpenAIChatPolicy("m", base_url=server.url, api_key_env="MY_MISSING_KEY"))


def test_retry_after_header_forms():
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"},
                               now=1445412480.0) == pytest.approx(10.0)
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_retry_after_asctime_date_is_gmt_whatever_the_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert retry_after_seconds({"Retry-After": "Wed Oct 21 07:28:10 2015"},
                                   now=1445412480.0) == pytest.approx(10.0)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_retry_after_wait_never_exceeds_its_cap():
    backoff, rng = Backoff(max_retry_after_s=120.0), random.Random(0)
    waits = [backoff.delay(1, 500.0, rng) for _ in range(50)] + [backoff.delay(1, 10.0, rng) for _ in range(50)]
    assert max(waits) <= 120.0 and all(10.0 <= w <= 11.0 for w in waits[50:])


def test_the_key_is_masked_before_an_error_message_is_shortened():
    for pad in (200, 235, 260, 290):  # the key near the 300-character cut
        message = "x" * pad + " Incorrect API key provided: " + KEY
        with ChatServer(lambda r, n: Reply({"error": {"message": message}}, status=401)) as server:
            with pytest.raises(APICallError) as e:
                one_request(make_policy(server))
        assert KEY[:8] not in str(e.value), pad


def test_tokens_of_retried_malformed_answers_are_counted():
    def reply(request, n):
        if n == 0:  # billed, but no usable choice: retried
            return Reply({"choices": [], "usage": {"prompt_tokens": 1000, "completion_tokens": 500}})
        return Reply(completion("ok", prompt_tokens=1000, completion_tokens=20))
    with ChatServer(reply) as server:
        policy = make_policy(server, sleep=lambda s: None)
        assert one_request(policy) == "ok"
    stats = policy.last_call_stats()[0]
    assert (stats["attempts"], stats["prompt_tokens"], stats["completion_tokens"]) == (2, 2000, 520)
    assert policy.stats()["prompt_tokens"] == 2000


def test_waiting_on_cancelled_requests_returns():
    """concurrent.futures.wait must see cancelled requests as done (else a caller hangs)."""
    from concurrent.futures import wait
    gate = threading.Event()
    with ChatServer(lambda r, n: Reply(completion("ok"), delay_s=0.0 if gate.wait(10) else 0.0)) as server:
        policy = make_policy(server, concurrency=1)
        futures = [policy.submit(f"q{i}", {}) for i in range(4)]
        policy.cancel()
        gate.set()
        done, not_done = wait(futures, timeout=10)
    assert not not_done and all(f.cancelled() for f in futures[1:])


def test_import_shop_env_loads_neither_policies_nor_openai():
    code = ("import sys, shop_env; bad = [m for m in sys.modules if m.startswith(('shop_env.policies', 'openai'))];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def workers_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("openai-policy")]


def test_worker_threads_end_when_the_work_does():
    with ChatServer(lambda r, n: Reply(completion("ok"), delay_s=0.01)) as server:
        policy = make_policy(server, concurrency=8)
        assert policy.act(["a"] * 8, [{}] * 8) == ["ok"] * 8
        for t in workers_alive():
            t.join(timeout=5)  # each ends as soon as it finds the queue empty
        assert not workers_alive()


def test_runner_keeps_requests_in_flight_past_a_slow_one(store_dir):
    """A streaming policy is not held by a batch's slowest request: while session 0's first
    call hangs, the other sessions' later steps are requested and answered."""
    answers = oracle_answers(store_dir)
    released = threading.Event()
    state = {"by_count": False}

    def reply(request, n):
        if n == 0:  # hangs until 20 more calls have come in (it would wait forever in batches of 8)
            state["by_count"] = released.wait(timeout=20)
        elif n >= 20:
            released.set()
        return Reply(completion(answers[json.dumps(request["messages"])]))
    with ChatServer(reply) as server:
        report = evaluate(make_policy(server, concurrency=4), store_dir, split="all", batch_size=8)
    assert state["by_count"]
    assert report.n_steps == server.n_calls and report.table2["exact"]["value"] == 1.0


def test_cancel_drops_queued_requests_unsent():
    gate = threading.Event()
    with ChatServer(lambda r, n: Reply(completion("ok"), delay_s=0.0 if gate.wait(10) else 0.0)) as server:
        policy = make_policy(server, concurrency=1)
        futures = [policy.submit(f"q{i}", {}) for i in range(5)]
        deadline = time.monotonic() + 10
        while server.n_calls < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        policy.cancel()
        gate.set()
        assert all(f.cancelled() for f in futures[1:])
        assert futures[0].result(timeout=10).text == "ok"  # already sent: its answer is kept
        assert server.n_calls == 1
        assert policy.submit("again", {}).result(timeout=10).text == "ok"  # a new run after cancel


def test_a_temperature_override_is_sent_even_while_the_policy_has_idle_workers(store_dir):
    """evaluate(policy, temperature=T) runs a copy of the policy; right after the caller used the
    policy itself its worker threads are idle and waiting, and they must not serve the copy's
    requests with the original temperature."""
    with oracle_server(store_dir) as server:
        policy = make_policy(server, concurrency=4, temperature=0.0)
        policy.act(["a", "b", "c", "d"], [{"messages": [{"role": "user", "content": t}]} for t in "abcd"])
        before = server.n_calls
        evaluate(policy, store_dir, split="all", batch_size=8, temperature=0.7, limit=3)
        sent = [call.body.get("temperature") for call in server.calls[before:]]
        total = server.n_calls
    assert sent and all(t == 0.7 for t in sent), sent
    assert policy.temperature == 0.0
    assert policy.stats()["calls"] == total  # the copy's calls count in the policy's totals
