"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

``ChatServer(reply)`` serves ``POST /v1/chat/completions`` with a real HTTP server
(:class:`http.server.ThreadingHTTPServer`, HTTP/1.1 keep-alive) in a background thread.
``reply(request_json, call_number)`` returns a :class:`Reply`: a status, a body (a dict is
sent as JSON, a str as is, so a malformed body is easy), headers and a delay before
answering. The server counts calls, keeps each request, and records the largest number of
requests it was handling at once (``max_in_flight``).
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

MAX_DELAY_S = 30.0  # no scripted delay may hold a handler longer than this


@dataclass
class Reply:
    """One scripted answer."""

    body: dict[str, Any] | str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def completion(content: str | None, prompt_tokens: int = 10, completion_tokens: int = 5,
               model: str = "scripted") -> dict[str, Any]:
    """A well-formed chat-completions response body answering ``content``."""
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def last_user_text(request: dict[str, Any]) -> str:
    """The content of the last user turn of a chat request."""
    users = [m.get("content", "") for m in request.get("messages", []) if m.get("role") == "user"]
    return str(users[-1]) if users else ""


@dataclass
class Call:
    """A request the server received."""

    number: int
    body: dict[str, Any]
    headers: dict[str, str]


class ChatServer:
    """Serve scripted chat completions on ``127.0.0.1`` (``port=0``: an ephemeral one) until :meth:`stop`."""

    def __init__(self, reply: Callable[[dict[str, Any], int], Reply] | None = None, port: int = 0) -> None:
        self.reply = reply or (lambda request, n: Reply(completion("ok")))
        self.calls: list[Call] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.released = threading.Event()  # set by stop(): scripted delays end at once
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give a client (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def n_calls(self) -> int:
        with self._lock:
            return len(self.calls)

    def start(self) -> "ChatServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ChatServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _begin(self, body: dict[str, Any], headers: dict[str, str]) -> int:
        with self._lock:
            number = len(self.calls)
            self.calls.append(Call(number, body, headers))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return number

    def _end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = {"unparsed": raw.decode("utf-8", "replace")}
                number = server._begin(body, {k.lower(): v for k, v in self.headers.items()})
                try:
                    if self.path.rstrip("/") != "/v1/chat/completions":
                        reply = Reply({"error": {"message": f"no route {self.path}"}}, status=404)
                    else:
                        reply = server.reply(body, number)
                    if reply.delay_s > 0:
                        server.released.wait(min(reply.delay_s, MAX_DELAY_S))
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): nothing to answer
                finally:
                    server._end()

            def _send(self, reply: Reply) -> None:
                data = (json.dumps(reply.body) if isinstance(reply.body, dict) else reply.body).encode("utf-8")
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

        return Handler


def main() -> None:
    """``python -m tests.chat_server --port 8011``: answer every request with one fixed action
    (try ``shop-r1 eval --policy openai:...`` offline; the answer ignores the page)."""
    import argparse
    import time

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--port", type=int, default=8011)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--seconds", type=float, default=3600.0, help="stop after this long")
    args = ap.parse_args()
    answer = '{"rationale": "I have seen enough.", "action": {"type": "terminate"}}'
    server = ChatServer(lambda request, n: Reply(completion(answer), delay_s=args.latency_ms / 1000.0),
                        port=args.port)
    with server:
        print(f"serving {server.url} for {args.seconds:g} s", flush=True)
        time.sleep(args.seconds)


if __name__ == "__main__":
    main()
