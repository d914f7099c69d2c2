"""A CRM's webhook endpoint for tests and benchmarks: a real HTTP server on 127.0.0.1.

Each path answers from a script (200 by default): a status code, `HANG` (no answer until the client has
given up), or a callable. Every request is recorded and its Standard Webhooks signature verified with
the `standardwebhooks` package against the secret registered for its path.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

HANG = "hang"
Behaviour = int | str | Callable[["Received"], int]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool = False
    problem: str | None = None
    answered: int | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """`with crm_receiver() as crm:` then `crm.url("/hooks/a")`, `crm.secret("/hooks/a", secret)`."""

    base: str = ""
    hang_seconds: float = 2.0
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, deque[Behaviour]] = field(default_factory=lambda: defaultdict(deque))
    secrets: dict[str, str] = field(default_factory=dict)
    # The wall clock a signature is checked against; None: now (what a real CRM does).
    verify_at: Callable[[], float] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def url(self, path: str) -> str:
        return self.base + path

    def secret(self, path: str, secret: str) -> None:
        self.secrets[path] = secret

    def script(self, path: str, *behaviours: Behaviour) -> None:
        """What the next requests to `path` get, in order; afterwards 200."""
        self.scripts[path].extend(behaviours)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def delivered(self, path: str) -> list[Received]:
        """Requests that were answered 2xx."""
        return [r for r in self.at(path) if r.answered is not None and 200 <= r.answered < 300]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(predicate, timeout)

    def handle(self, request: Received) -> int | None:
        self._verify(request)
        with self.lock:
            self.received.append(request)
            script = self.scripts[request.path]
            behaviour: Behaviour = script.popleft() if script else 200
        if behaviour == HANG:
            threading.Event().wait(self.hang_seconds)
            return None
        status = behaviour(request) if callable(behaviour) else int(behaviour)
        request.answered = status
        return status

    def _verify(self, request: Received) -> None:
        secret = self.secrets.get(request.path)
        if secret is None:
            request.problem = "no secret registered for this path"
            return
        webhook = Webhook(secret)
        try:
            if self.verify_at is None:
                webhook.verify(request.body, request.headers)
            else:  # a test clock far from now: check the signature itself, not its freshness
                stamp = dt.datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), dt.UTC)
                expected = webhook.sign(request.headers["webhook-id"], stamp, request.body.decode())
                if expected not in request.headers["webhook-signature"].split(" "):
                    raise WebhookVerificationError("No matching signature found")
            request.verified = True
        except (WebhookVerificationError, KeyError, ValueError) as exc:
            request.problem = f"{type(exc).__name__}: {exc}"

    def problems(self) -> list[str]:
        with self.lock:
            return [f"{r.path}: {r.problem}" for r in self.received if not r.verified]


@contextmanager
def crm_receiver(hang_seconds: float = 2.0) -> Iterator[Receiver]:
    receiver = Receiver(hang_seconds=hang_seconds)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's naming
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.handle(Received(self.path, headers, body))
            if status is not None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass
            self.close_connection = True
            with receiver.arrived:
                receiver.arrived.notify_all()

        def log_message(self, *args: Any) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 256  # the default 5 drops connections when many deliveries arrive at once

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
