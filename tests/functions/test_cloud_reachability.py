"""Cloud sessions when Graph cannot be reached, or the token cannot be: said on the session, retried with
backoff, re-triggered by POST /connect; every failed Graph call logged with its kind. Real sockets on
127.0.0.1 stand in for Graph's failures (refused, TLS, timeout, HTTP status); DNS failure is the
resolver's own error, raised where httpx asks for it.
"""

from __future__ import annotations

import dataclasses
import http.server
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.graph import VALID_TOKEN, FakeGraph
from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    PNID,
    call_fixture,
    create_cloud,
    functions_fixture,
    key_fixture,
    run_cloud_queue,
)
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.cloud.errors import GraphUnavailable, OutcomeUnknown, TokenInvalid
from wagate.cloud.graph import GraphApi
from wagate.compose import services


@pytest.fixture
def logs() -> Iterator[list[logging.LogRecord]]:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    logging.getLogger("wagate").addHandler(handler)
    yield seen
    logging.getLogger("wagate").removeHandler(handler)


def kinds(logs: list[logging.LogRecord]) -> list[str]:
    return [str(getattr(r, "kind", "")) for r in logs if r.getMessage() == "graph call failed"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture
def http_server() -> Iterator[int]:
    """Plain HTTP answering 503 to everything (a proxy in front of Graph having a bad day)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


# ---- the Graph client: each failure with its kind ------------------------------------------------------


def test_connection_refused(logs: list[logging.LogRecord]) -> None:
    api = GraphApi(base_url=f"http://127.0.0.1:{closed_port()}", timeout=2)
    with pytest.raises(GraphUnavailable) as caught:
        api.phone_number(PNID, VALID_TOKEN)
    assert caught.value.details["kind"] == "refused" and "(refused)" in caught.value.message
    assert kinds(logs) == ["refused"]


def test_tls_failure(logs: list[logging.LogRecord], http_server: int) -> None:
    api = GraphApi(base_url=f"https://127.0.0.1:{http_server}", timeout=2)  # TLS to a plain HTTP server
    with pytest.raises(GraphUnavailable) as caught:
        api.phone_number(PNID, VALID_TOKEN)
    assert caught.value.details["kind"] == "tls" and kinds(logs) == ["tls"]


def test_timeout(logs: list[logging.LogRecord], silent_server: int) -> None:
    api = GraphApi(base_url=f"http://127.0.0.1:{silent_server}", timeout=0.3)
    with pytest.raises(OutcomeUnknown) as caught:  # connected, asked, no answer: it may have been done
        api.phone_number(PNID, VALID_TOKEN)
    assert caught.value.details["kind"] == "timeout" and kinds(logs) == ["timeout"]


def test_http_status(logs: list[logging.LogRecord], http_server: int) -> None:
    api = GraphApi(base_url=f"http://127.0.0.1:{http_server}", timeout=2)
    with pytest.raises(GraphUnavailable):
        api.phone_number(PNID, VALID_TOKEN)
    assert kinds(logs) == ["http_503"]


def test_dns_failure(logs: list[logging.LogRecord], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    api = GraphApi(base_url="https://graph.example.invalid", timeout=2)
    with pytest.raises(GraphUnavailable) as caught:
        api.phone_number(PNID, VALID_TOKEN)
    assert caught.value.details["kind"] == "dns" and kinds(logs) == ["dns"]


def test_a_token_that_cannot_be_a_header_never_leaves() -> None:
    graph = FakeGraph()
    graph.number(PNID)
    for token in (VALID_TOKEN[:30] + "…", VALID_TOKEN + " ", "EAAB\nHost: evil", "EAAB\x00x"):
        with pytest.raises(TokenInvalid):
            graph.api().phone_number(PNID, token)
    assert graph.requests == []


# ---- the API refuses such tokens ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("access_token", VALID_TOKEN[:40] + "…"),
        ("access_token", VALID_TOKEN + " x"),
        ("access_token", VALID_TOKEN + "\n"),
        ("app_secret", "0123456789abcdef…"),
        ("verify_token", "a verify token"),
    ],
)
def test_tokens_that_are_not_visible_ascii_are_422_naming_the_field(
    call: ApiCaller, key: str, field: str, value: str
) -> None:
    status, body = create_cloud(call, key, **{field: value})
    assert status == 422, body
    assert field in str(body["error"]["details"]) and field in body["error"]["message"]
    assert call("GET", "/v1/sessions", key)[1]["items"] == []


def test_new_secrets_are_checked_the_same_way(
    call: ApiCaller, key: str, functions: dict[str, Any], local_deps: wiring.Deps
) -> None:
    graph = FakeGraph()
    graph.number(PNID)
    local_deps.graph_api = graph.api()
    session = create_cloud(call, key)[1]
    status, body, _ = call(
        "PUT", f"/v1/sessions/{session['id']}/cloud-secrets", key, body={"access_token": VALID_TOKEN + "…"}
    )
    assert status == 422 and "access_token" in body["error"]["message"]


# ---- the session says so, retries, and can be re-triggered -------------------------------------------------


def settings(local_deps: wiring.Deps, **changes: Any) -> wiring.Deps:
    deps = dataclasses.replace(local_deps, settings=local_deps.settings.model_copy(update=changes))
    wiring.install(deps)
    return deps


def session_of(call: ApiCaller, key: str, session_id: str) -> dict[str, Any]:
    return dict(call("GET", f"/v1/sessions/{session_id}", key)[1])


def test_an_unreachable_graph_is_said_on_the_session_and_retried(
    call: ApiCaller, key: str, functions: dict[str, Any], local_deps: wiring.Deps
) -> None:
    deps = settings(local_deps, connector=local_deps.settings.connector.model_copy(update={"send_tries": 2}))
    deps.graph_api = GraphApi(base_url=f"http://127.0.0.1:{closed_port()}", timeout=2)
    session = create_cloud(call, key)[1]
    run_cloud_queue(functions)
    seen = session_of(call, key, session["id"])
    assert seen["status"] == "connecting" and seen["status_reason"] == "graph_unreachable"
    assert "refused" in seen["status_detail"] and "try 2 of 2" in seen["status_detail"]
    queue = deps.queues.get("CloudSendQueue")
    assert queue.receive(max_messages=10) == []  # the next try waits for its backoff
    retry = queue.receive(max_messages=10, wait_seconds=7)  # delayed 5–6.25 s (backoff with jitter)
    assert len(retry) == 1 and '"try":2' in retry[0].body.replace(" ", "")
    queue.delete(retry[0].receipt)
    services(deps).cloud_commands.handle(retry[0].body)
    seen = session_of(call, key, session["id"])
    assert seen["status"] == "failed" and seen["status_reason"] == "graph_unreachable"
    assert "connect" in seen["status_detail"]
    # Graph is back: POST /connect starts the checks again
    graph = FakeGraph()
    graph.number(PNID)
    deps.graph_api = graph.api()
    status, body, _ = call("POST", f"/v1/sessions/{session['id']}/connect", key)
    assert status in (200, 202), body
    run_cloud_queue(functions)
    seen = session_of(call, key, session["id"])
    assert seen["status"] == "connected" and seen["status_reason"] is None
