"""An OpenAI-compatible chat endpoint on 127.0.0.1 that plays a script of replies.

`POST /v1/chat/completions` answers with the next scripted `Reply`: a completion, or an error
status with OpenAI's error body and optional headers such as `Retry-After`; with the script
empty, a `responder` (if given) computes the reply from the request. Every request body
and its arrival time are recorded, so tests see what the client sent and how long it waited.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class Reply:
    """One scripted answer: HTTP 200 with a completion, or `status` with an error body."""

    status: int = 200
    content: str = ""
    prompt_tokens: int | None = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    model: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    code: str | None = None  # OpenAI's error code, e.g. insufficient_quota


def ok(content: str, prompt_tokens: int | None = 10, completion_tokens: int = 5, **kwargs) -> Reply:
    """A completion; `prompt_tokens=None` sends no usage at all."""
    return Reply(
        content=content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, **kwargs
    )


def error(status: int, retry_after: str | None = None, **kwargs) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(status=status, headers=headers, **kwargs)


@dataclass(frozen=True)
class Received:
    path: str
    body: dict
    at: float  # time.monotonic() on arrival


class ScriptedLLMServer:
    """The server, started on a free port; `base_url` is what an OpenAI client is given."""

    def __init__(self, responder: Callable[[dict], Reply] | None = None) -> None:
        self.responder = responder  # answers every request the script does not
        self.received: list[Received] = []
        self.unscripted = 0
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def bodies(self) -> list[dict]:
        return [r.body for r in self.received]

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    @property
    def pending(self) -> int:
        return len(self._script)

    def start(self) -> ScriptedLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _next(self, received: Received) -> Reply | None:
        with self._lock:
            self.received.append(received)
            if self._script:
                return self._script.popleft()
            if self.responder is not None:
                return self.responder(received.body)
            self.unscripted += 1
            return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args) -> None:
                pass

            def do_POST(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path != PATH:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                body = json.loads(raw or b"{}")
                reply = server._next(Received(self.path, body, arrived))
                if reply is None:
                    self._send(418, {"error": {"message": "the test scripted no more replies"}})
                    return
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.status != 200:
                    message = {
                        "message": f"scripted HTTP {reply.status}",
                        "type": "test",
                        "code": reply.code,
                    }
                    self._send(reply.status, {"error": message}, reply.headers)
                    return
                payload = {
                    "id": f"chatcmpl-{len(server.received)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": reply.model or body.get("model", "unknown"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.content},
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                }
                if reply.prompt_tokens is not None:
                    payload["usage"] = {
                        "prompt_tokens": reply.prompt_tokens,
                        "completion_tokens": reply.completion_tokens,
                        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                    }
                self._send(200, payload, reply.headers)

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first, as a timeout test intends

        return Handler
