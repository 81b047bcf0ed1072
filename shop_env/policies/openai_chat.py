"""A policy served behind an OpenAI-compatible chat-completions API (OpenAI, vLLM, SGLang, Ollama...).

:class:`OpenAIChatPolicy` sends each observation's chat turns (the environment's
``info["messages"]``, nothing else) to ``POST {base_url}/chat/completions`` with the
official ``openai`` client (``pip install 'shop-r1[api]'``), up to ``concurrency``
requests in flight. Failed requests (429, 5xx, 408/409, connection errors, timeouts, a
malformed body) are retried with exponential backoff and jitter, honouring
``Retry-After``; a request that still fails raises :class:`APICallError` with a one-line
message. A well-formed answer is returned as is, however wrong (the environment scores it).

The API key is read from an environment variable and never written anywhere: not in the
policy's name, its stats, or any error message (it is masked if a server echoes it).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
import urllib.parse
from collections import deque
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from typing import Any, Callable, Sequence

from shop_env.evaluation.call_stats import summarize_calls
from shop_env.policy import Completion
from shop_env.policies.retry import Backoff, is_retryable_status, retry_after_seconds

OFFICIAL_BASE_URL = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
NO_KEY = "no-key"  # sent to servers that need none (a local vLLM without --api-key)
WORKER_IDLE_S = 1.0  # an idle worker thread waits this long for more work before it ends


class APICallError(OSError):
    """An API call that failed for good (after its retries, or with a non-retryable status)."""


class _Cancelled(Exception):
    """Raised inside a call that sees its run aborted (never leaves this module)."""


class _Abort:
    """Shared by the calls of one run: the first failure stops the others, which then report it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.error: BaseException | None = None

    def is_set(self) -> bool:
        return self.event.is_set()

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.event.set()


class MalformedResponse(Exception):
    """A 200 answer without a usable chat completion in it (retried like a server error).
    ``usage`` holds the token counts it reported anyway (the server bills them)."""

    def __init__(self, message: str, usage: dict[str, int | None] | None = None) -> None:
        super().__init__(message)
        self.usage = usage or {}


def resolve_base_url(base_url: str | None) -> str:
    """``base_url``, else ``$OPENAI_BASE_URL``, else the official endpoint."""
    return (base_url or os.environ.get("OPENAI_BASE_URL") or OFFICIAL_BASE_URL).rstrip("/")


def safe_url(url: str) -> str:
    """``url`` without user info, query or fragment (where credentials could hide)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def read_api_key(env_name: str, base_url: str) -> str:
    """The key in ``$env_name``. Unset is an error for the official endpoint only; other
    servers (a local vLLM, Ollama) get a placeholder."""
    key = os.environ.get(env_name)
    if key:
        return key
    if safe_url(base_url).startswith(OFFICIAL_BASE_URL):
        raise APICallError(f"no API key: set the environment variable {env_name} "
                           "(or name another one with --api-key-env)")
    return NO_KEY


class OpenAIChatPolicy:
    """Batched policy over a chat-completions endpoint, ``concurrency`` requests in flight.

    ``temperature``, ``max_tokens`` (the completion limit) and ``seed`` are sent only when
    set (``seed`` works where the server supports it). ``timeout_s`` bounds connecting and
    each wait for data (the HTTP client's timeout), not a whole answer: a server that keeps
    sending can take longer; ``backoff`` sets retries and waits. ``api_key`` overrides the key read from
    ``$api_key_env``. ``sleep`` replaces the wait between retries (tests).

    It is a :class:`~shop_env.policy.StreamingPolicy`: besides the batched :meth:`act`,
    :meth:`submit` sends one observation as soon as a worker is free, which is how the
    evaluation runner keeps ``concurrency`` requests in flight. It reports cost and speed:
    each :class:`~shop_env.policy.Completion` carries its call's stats (logged with the
    step), :meth:`last_call_stats` those of the latest ``act`` and :meth:`stats` the totals
    since creation.
    """

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 api_key_env: str = DEFAULT_KEY_ENV, temperature: float | None = None,
                 max_tokens: int | None = None, seed: int | None = None, concurrency: int = 4,
                 timeout_s: float = 60.0, backoff: Backoff | None = None, name: str | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        if not model:
            raise ValueError("model name is empty: use openai:MODEL")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        try:
            import openai
        except ImportError:
            raise ImportError("OpenAIChatPolicy needs the openai client: pip install 'shop-r1[api]'") from None
        self.model = model
        self.name = name or f"openai:{model}"
        self.base_url = resolve_base_url(base_url)
        self.endpoint = safe_url(self.base_url)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.concurrency = int(concurrency)
        self.timeout_s = float(timeout_s)
        self.backoff = backoff or Backoff()
        key = api_key or read_api_key(api_key_env, self.base_url)
        self._mask = _masker(key)
        self._openai = openai
        self._client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout_s,
                                     max_retries=0)  # retries are ours: counted and logged
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._calls_lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []
        self._start_queue()

    def _start_queue(self) -> None:
        """An empty request queue with no workers (each policy object serves its own queue)."""
        self._lock = threading.Lock()
        self._last: list[dict[str, Any]] = []
        self._todo: deque[tuple[list[dict[str, str]], Future[Completion], _Abort]] = deque()
        self._ready = threading.Condition(self._lock)
        self._workers = 0
        self._idle = 0
        self._abort = _Abort()

    def __copy__(self) -> "OpenAIChatPolicy":
        """A copy (e.g. with another ``temperature``) with its own request queue and workers, so
        its requests are sent with its own settings; the HTTP client and the call totals of
        :meth:`stats` are shared."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._start_queue()
        return new

    # -- the Policy and StreamingPolicy protocols ------------------------------------------
    def act(self, observations: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        """One completion per observation, in order; raises :class:`APICallError` when a
        call fails for good (requests not yet sent are dropped)."""
        if len(infos) != len(observations):
            raise ValueError(f"got {len(observations)} observations but {len(infos)} infos")
        futures = [self.submit(o, i) for o, i in zip(observations, infos)]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # Ctrl-C: nothing more is sent
            self.cancel()
            raise
        failed = [f.exception() for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
        if failed:  # the first failure ends the batch; calls still in flight are not awaited
            self.cancel()
            raise failed[0]
        answers = [f.result() for f in futures]
        self._last = [dict(a.stats or {}) for a in answers]
        return [a.text for a in answers]

    def submit(self, observation: str, info: dict[str, Any]) -> Future[Completion]:
        """Queue one request (the observation's chat turns); its future holds the
        :class:`~shop_env.policy.Completion` (text and call stats) or the
        :class:`APICallError`. Up to ``concurrency`` are in flight, on worker threads that
        end after ``WORKER_IDLE_S`` without work (daemon threads: none delays the exit)."""
        future: Future[Completion] = Future()
        with self._ready:
            if self._abort.is_set() and not self._todo and self._idle == self._workers:
                self._abort = _Abort()  # the failed run has drained: start afresh
            self._todo.append((chat_messages(observation, info), future, self._abort))
            if len(self._todo) <= self._idle:
                self._ready.notify()
            elif self._workers < self.concurrency:
                self._workers += 1
                threading.Thread(target=self._work, name=f"openai-policy-{self._workers}", daemon=True).start()
        return future

    def cancel(self) -> None:
        """Stop what is not answered yet: queued requests are never sent, and calls in
        flight are not retried (they fail with the run's first error, or "cancelled").
        Later submissions start a new run."""
        with self._ready:
            self._abort.fail(APICallError(f"{self.name}: cancelled"))
            self._abort = _Abort()
            todo, self._todo = self._todo, deque()
        for _, future, _ in todo:
            future.cancel()
            future.set_running_or_notify_cancel()  # wakes wait()/as_completed() on it: no worker will

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._todo:  # idle: wait a little for more work (starting threads costs)
                    self._idle += 1
                    woken = self._ready.wait(timeout=WORKER_IDLE_S)
                    self._idle -= 1
                    if not woken and not self._todo:
                        self._workers -= 1
                        return
                messages, future, abort = self._todo.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                answer = self._call(messages, abort)
            except _Cancelled:  # another call failed first: every future of the run carries its error
                future.set_exception(abort.error)
                continue
            except BaseException as e:  # noqa: BLE001 - handed to whoever waits on the future
                abort.fail(e)  # the run stops: the others are neither sent nor retried
                future.set_exception(abort.error)
                continue
            with self._calls_lock:
                self._calls.append(answer.stats)
            future.set_result(answer)

    def last_call_stats(self) -> list[dict[str, Any]]:
        """Per output of the latest :meth:`act`: ``attempts``, ``prompt_tokens``,
        ``completion_tokens`` (``None`` when the server sent no ``usage``) and ``latency_s``."""
        return [dict(s) for s in self._last]

    def stats(self) -> dict[str, Any]:
        """Totals over every answered call so far (see
        :func:`shop_env.evaluation.call_stats.summarize_calls`), with model and endpoint."""
        with self._calls_lock:
            calls = list(self._calls)
        return {"model": self.model, "endpoint": self.endpoint, "concurrency": self.concurrency,
                **summarize_calls(calls)}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OpenAIChatPolicy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAIChatPolicy(model={self.model!r}, endpoint={self.endpoint!r}, concurrency={self.concurrency})"

    # -- one call, with retries --------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.temperature is not None:
            params["temperature"] = float(self.temperature)
        if self.max_tokens is not None:
            params["max_tokens"] = int(self.max_tokens)
        if self.seed is not None:
            params["seed"] = int(self.seed)
        return params

    def _call(self, messages: list[dict[str, str]], abort: _Abort) -> Completion:
        start = time.perf_counter()
        attempt = 0
        billed: list[dict[str, int | None]] = []  # usage of malformed answers that were retried
        while True:
            attempt += 1
            if abort.is_set():
                raise _Cancelled
            try:
                # the client's plain POST: its auth, timeout and errors, without building typed
                # request/response models (about half the client CPU per call)
                response = self._client.post("/chat/completions", cast_to=object,
                                             body={"model": self.model, "messages": messages, **self._params()})
                text, usage = read_completion(response)
                return Completion(text, {"attempts": attempt, **_add_usage([*billed, usage]),
                                      "latency_s": round(time.perf_counter() - start, 6)})
            except Exception as e:  # noqa: BLE001 - classified below; anything else re-raised
                retryable, retry_after, why = self._classify(e)
                if retryable is None:
                    raise
                if isinstance(e, MalformedResponse):
                    billed.append(e.usage)
                if not retryable or attempt > self.backoff.max_retries or abort.is_set():
                    tries = f"after {attempt} attempts" if attempt > 1 else "(not retried)"
                    raise APICallError(self._mask(f"{self.name} at {self.endpoint}: request failed "
                                                  f"{tries}: {why}")) from None
                delay = self.backoff.delay(attempt, retry_after, self._rng)
                if self._sleep is not None:
                    self._sleep(delay)
                else:
                    abort.event.wait(delay)

    def _classify(self, e: Exception) -> tuple[bool | None, float | None, str]:
        """``(retryable, retry_after_s, one-line reason)``; ``retryable`` is ``None`` for an
        exception that is not about the API (a bug: re-raised as is)."""
        o = self._openai
        if isinstance(e, o.APITimeoutError):
            return True, None, f"timed out after {self.timeout_s:g} s"
        if isinstance(e, o.APIConnectionError):
            return True, None, f"connection error: {_one_line(self._mask(str(e.__cause__ or e)))}"
        if isinstance(e, o.APIStatusError):
            headers = getattr(e.response, "headers", None)
            return (is_retryable_status(e.status_code), retry_after_seconds(headers),
                    f"HTTP {e.status_code}: {_one_line(self._mask(str(e.message)))}")
        if isinstance(e, (MalformedResponse, json.JSONDecodeError, o.APIResponseValidationError)):
            return True, None, f"malformed response: {_one_line(self._mask(str(e)))}"
        return None, None, ""


def chat_messages(observation: str, info: dict[str, Any] | None) -> list[dict[str, str]]:
    """The request's turns: the environment's ``info["messages"]`` (role and content only),
    or the observation as one user turn when there are none."""
    turns = (info or {}).get("messages") or []
    if turns:
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in turns]
    return [{"role": "user", "content": str(observation)}]


def read_completion(response: Any) -> tuple[str, dict[str, int | None]]:
    """``(text, usage)`` of a chat-completions JSON body; a missing ``content`` is ``""``
    (scored as junk); a body without a message is :class:`MalformedResponse`."""
    raw_usage = response.get("usage") if isinstance(response, dict) else None
    raw_usage = raw_usage if isinstance(raw_usage, dict) else {}
    usage = {key: _count(raw_usage.get(key)) for key in ("prompt_tokens", "completion_tokens")}
    choices = response.get("choices") if isinstance(response, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse(f"no choices in the response body ({type(response).__name__})", usage)
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise MalformedResponse("no message in the first choice", usage)
    content = message.get("content")
    return ("" if content is None else str(content)), usage


def _add_usage(usages: list[dict[str, int | None]]) -> dict[str, int | None]:
    """Token counts summed over attempts; ``None`` where no attempt reported one."""
    out: dict[str, int | None] = {}
    for key in ("prompt_tokens", "completion_tokens"):
        counts = [u[key] for u in usages if u.get(key) is not None]
        out[key] = sum(counts) if counts else None
    return out


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _masker(key: str) -> Callable[[str], str]:
    """A function that hides ``key`` in a text (servers may echo it in errors)."""
    def mask(text: str) -> str:
        return text.replace(key, "***") if key and key != NO_KEY else text
    return mask


# -- command line -------------------------------------------------------------------------------
def default_batch_size(concurrency: int) -> int:
    """Observations per ``act`` for ``concurrency`` requests in flight: twice as many (at least
    8), so the pool stays busy while a batch's slowest requests finish."""
    return max(8, 2 * int(concurrency))


def add_api_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``shop-r1 eval`` options of ``openai:MODEL`` policies."""
    g = parser.add_argument_group("openai:MODEL policies (any OpenAI-compatible chat-completions server)")
    g.add_argument("--base-url", default=None,
                   help=f"API base URL (default: $OPENAI_BASE_URL, else {OFFICIAL_BASE_URL})")
    g.add_argument("--api-key-env", default=DEFAULT_KEY_ENV, metavar="NAME",
                   help="environment variable holding the API key (default: OPENAI_API_KEY); "
                        "keys are never accepted on the command line")
    g.add_argument("--concurrency", type=int, default=4,
                   help="requests in flight (default: 4); --batch-size defaults to twice this")
    g.add_argument("--request-timeout", type=float, default=60.0,
                   help="seconds allowed to connect and for each wait for data (default: 60)")
    g.add_argument("--max-retries", type=int, default=5,
                   help="retries per request on 429/5xx/timeouts/connection errors (default: 5)")


def openai_policy_from_args(model: str, args: argparse.Namespace) -> OpenAIChatPolicy:
    """The :class:`OpenAIChatPolicy` that ``shop-r1 eval --policy openai:MODEL ...`` asks for
    (``--max-new-tokens`` is the completion limit, sent as ``max_tokens``)."""
    return OpenAIChatPolicy(
        model, base_url=getattr(args, "base_url", None),
        api_key_env=getattr(args, "api_key_env", None) or DEFAULT_KEY_ENV,
        temperature=getattr(args, "temperature", None), max_tokens=getattr(args, "max_new_tokens", None),
        seed=getattr(args, "seed", None), concurrency=getattr(args, "concurrency", 4),
        timeout_s=getattr(args, "request_timeout", 60.0),
        backoff=Backoff(max_retries=getattr(args, "max_retries", 5)), name=f"openai:{model}")
