"""A local stand-in for the Slack Web API, for tests that use the real ``slack_sdk`` client.

Listens on 127.0.0.1 (an ephemeral port) in a background thread. Every request is recorded; a
``chat.postMessage`` that is answered ``ok`` is also recorded as a delivered message (its JSON or
form payload, parsed). The next N requests can be scripted to fail::

    server = start_slack_server()
    client = WebClient(token="xoxb-test", base_url=server.base_url)   # http://127.0.0.1:PORT/api/
    server.fail_next(2, status=500)          # two HTTP 500s, then normal answers
    server.rate_limit_next(1, retry_after=1)  # one HTTP 429 with Retry-After: 1
    server.error_next(1, "channel_not_found") # one HTTP 200 {"ok": false, "error": ...}
    server.succeed_next(1)                    # queue a normal answer (script "ok, then fail")
    ...
    server.messages    # delivered chat.postMessage payloads (dicts)
    server.requests    # every request: method, status answered, time, payload
    server.stop()

From pytest, use the ``slack_server`` fixture of ``grading_pipeline_tests/alerts/conftest.py``.
:func:`unused_port` gives a loopback port nobody listens on (for "connection refused").
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

__all__ = ["RecordedRequest", "SlackServer", "start_slack_server", "unused_port"]


@dataclass
class RecordedRequest:
    method: str  # Slack API method, e.g. "chat.postMessage"
    status: int  # HTTP status answered
    at: float  # time.monotonic() when received
    payload: dict[str, Any]
    authorization: str | None
    ok: bool  # answered {"ok": true}


@dataclass
class _Scripted:
    status: int
    retry_after: int | None = None
    error: str | None = None  # HTTP 200 with {"ok": false, "error": ...}


@dataclass
class SlackServer:
    host: str
    port: int
    _httpd: ThreadingHTTPServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _script: list[_Scripted] = field(default_factory=list, repr=False)
    _requests: list[RecordedRequest] = field(default_factory=list, repr=False)
    _ts: int = 0

    @property
    def base_url(self) -> str:
        """What ``WebClient(base_url=...)`` expects: ends with ``/api/``."""
        return f"http://{self.host}:{self.port}/api/"

    # -- scripting ---------------------------------------------------------------------------
    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` requests with HTTP ``status`` (5xx: a server error)."""
        with self._lock:
            self._script.extend(_Scripted(status) for _ in range(n))

    def rate_limit_next(self, n: int, retry_after: int = 1) -> None:
        """Answer the next ``n`` requests with HTTP 429 and ``Retry-After: retry_after``."""
        with self._lock:
            self._script.extend(_Scripted(429, retry_after=retry_after) for _ in range(n))

    def succeed_next(self, n: int) -> None:
        """Queue ``n`` normal answers (to script "ok, then fail")."""
        with self._lock:
            self._script.extend(_Scripted(200) for _ in range(n))

    def error_next(self, n: int, error: str = "channel_not_found") -> None:
        """Answer the next ``n`` requests with HTTP 200 ``{"ok": false, "error": error}``."""
        with self._lock:
            self._script.extend(_Scripted(200, error=error) for _ in range(n))

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._requests.clear()

    # -- what was received ---------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Payloads of the chat.postMessage requests that were answered ok (delivered)."""
        with self._lock:
            return [r.payload for r in self._requests if r.method == "chat.postMessage" and r.ok]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "SlackServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- called by the handler -----------------------------------------------------------------
    def _answer(self, method: str, payload: dict[str, Any], authorization: str | None) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            scripted = self._script.pop(0) if self._script else None
            now = time.monotonic()
            if scripted is None or (scripted.status == 200 and scripted.error is None):
                self._ts += 1
                body = {"ok": True}
                if method == "chat.postMessage":
                    body.update(channel=payload.get("channel"), ts=f"{int(time.time())}.{self._ts:06d}",
                                message={"text": payload.get("text")})
                self._requests.append(RecordedRequest(method, 200, now, payload, authorization, True))
                return 200, {}, body
            headers: dict[str, str] = {}
            if scripted.error is not None:
                body = {"ok": False, "error": scripted.error}
            elif scripted.status == 429:
                headers["Retry-After"] = str(scripted.retry_after or 1)
                body = {"ok": False, "error": "ratelimited"}
            else:
                body = {"ok": False, "error": "internal_error"}
            self._requests.append(RecordedRequest(method, scripted.status, now, payload, authorization, False))
            return scripted.status, headers, body


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeSlack/1.0"
    slack: SlackServer  # set on the subclass made per server

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        payload: dict[str, Any]
        if ctype == "application/json":
            payload = json.loads(raw or b"{}")
        else:
            payload = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(raw.decode("utf-8")).items()}
            if isinstance(payload.get("blocks"), str):
                payload["blocks"] = json.loads(payload["blocks"])
        method = self.path.rsplit("/", 1)[-1].split("?")[0]
        status, headers, body = self.slack._answer(method, payload, self.headers.get("Authorization"))
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


def start_slack_server(host: str = "127.0.0.1", port: int = 0) -> SlackServer:
    """Start a fake Slack API on ``host:port`` (0: any free port) and return it, running."""
    handler = type("_BoundHandler", (_Handler,), {})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True)
    server = SlackServer(host=host, port=httpd.server_address[1], _httpd=httpd, _thread=thread)
    handler.slack = server
    thread.start()
    return server


def unused_port(host: str = "127.0.0.1") -> int:
    """A loopback port with nothing listening on it (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
