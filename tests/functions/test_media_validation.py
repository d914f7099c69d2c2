"""Media by URL, checked when a message is accepted: https, public addresses, reachable, at most 16 MB.

The probe runs on an `httpx.MockTransport` with a fake DNS answer (no socket is opened), except the last
test, which serves a file from 127.0.0.1 to prove the real client path.
"""

from __future__ import annotations

import dataclasses
import http.server
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest

from tests.functions.test_messages_api import drain
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.adapters.http_media import HttpMediaProbe
from wagate.domain.messages import MAX_MEDIA_BYTES
from wagate.domain.outbound_urls import is_public

MB = 1024 * 1024
DNS = {
    "cdn.example.com": ["93.184.215.14"],
    "other.example.com": ["93.184.215.15"],
    "intranet.corp": ["10.1.2.3"],
    "dual.example.com": ["2606:4700::6810:1", "93.184.215.16"],
}
Handler = Callable[[httpx.Request], httpx.Response]


class Web:
    """The fake web behind the probe: a handler per URL path, and the requests it saw."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        handler = self.routes.get(request.url.path)
        return handler(request) if handler else httpx.Response(404)


def fake_dns(host: str, port: int) -> Sequence[str]:
    if host in DNS:
        return DNS[host]
    if host.replace(".", "").isdigit() or ":" in host:
        return [host]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
def web() -> Web:
    return Web()


def use(local_deps: wiring.Deps, probe: HttpMediaProbe, **settings: Any) -> None:
    changed = local_deps.settings.model_copy(update=settings)
    wiring.install(dataclasses.replace(local_deps, settings=changed, media_probe=probe))


@pytest.fixture
def call(functions: dict[str, Any], local_deps: wiring.Deps, web: Web) -> ApiCaller:
    client = httpx.Client(transport=httpx.MockTransport(web), follow_redirects=False)
    use(local_deps, HttpMediaProbe(client, timeout=2.0, resolve=fake_dns))
    return ApiCaller(functions["api"], functions["authorizer"])


@pytest.fixture
def session(call: ApiCaller, key: str) -> dict[str, Any]:
    body = call("POST", "/v1/sessions", key, body={"name": "Front desk", "provider": "sandbox"})[1]
    drain(body["id"])
    return dict(body)


def send(call: ApiCaller, key: str, session: dict[str, Any], **media: Any) -> tuple[int, Any]:
    body = {"session_id": session["id"], "to": "+34600123456", "media": {"mime": "application/pdf", **media}}
    status, answer, _ = call("POST", "/v1/messages", key, body=body)
    return status, answer


def refused(call: ApiCaller, key: str, session: dict[str, Any], status: int, code: str, **media: Any) -> Any:
    """Sends, expects `status`/`code` in the one error shape, and checks that nothing was stored or sent."""
    got, body = send(call, key, session, **media)
    assert got == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert call("GET", "/v1/messages", key)[1]["items"] == []
    assert drain(session["id"]) == []
    return body["error"]


def sized(n: int) -> Handler:
    return lambda request: httpx.Response(200, headers={"Content-Length": str(n)})


def test_a_reachable_file_is_accepted_from_head(
    call: ApiCaller, key: str, session: dict[str, Any], web: Web
) -> None:
    web.routes["/folleto.pdf"] = sized(2 * MB)
    status, message = send(call, key, session, url="https://cdn.example.com/folleto.pdf", caption="Precios")
    assert status == 202 and message["media"]["url"] == "https://cdn.example.com/folleto.pdf"
    [head] = web.seen
    # Connected to the address that was checked; the name travels in Host (and TLS SNI).
    assert head.method == "HEAD" and head.url.host == "93.184.215.14"
    assert head.headers["host"] == "cdn.example.com" and head.extensions["sni_hostname"] == "cdn.example.com"
    assert [c.data["media"]["url"] for c in drain(session["id"])] == ["https://cdn.example.com/folleto.pdf"]


def test_head_refused_falls_back_to_a_ranged_get(
    call: ApiCaller, key: str, session: dict[str, Any], web: Web
) -> None:
    def ranged(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(403)  # signed for GET only
        assert request.headers["range"] == "bytes=0-0"
        return httpx.Response(206, headers={"Content-Range": "bytes 0-0/3000"}, content=b"%")

    web.routes["/signed.pdf"] = ranged
    assert send(call, key, session, url="https://cdn.example.com/signed.pdf")[0] == 202
    assert [r.method for r in web.seen] == ["HEAD", "GET"]


@pytest.mark.parametrize(
    "handler",
    [
        sized(MAX_MEDIA_BYTES + 1),
        lambda r: httpx.Response(
            405 if r.method == "HEAD" else 206, headers={"Content-Range": "bytes 0-0/99999999"}
        ),
        # No size anywhere: counted while streaming, stopping one chunk past the limit.
        lambda r: (
            httpx.Response(405) if r.method == "HEAD" else httpx.Response(200, content=iter([b"x" * MB] * 17))
        ),
    ],
    ids=["head", "content-range", "counted"],
)
def test_more_than_16_mb_is_413(
    call: ApiCaller, key: str, session: dict[str, Any], web: Web, handler: Handler
) -> None:
    web.routes["/video.mp4"] = handler
    error = refused(call, key, session, 413, "media_too_large", url="https://cdn.example.com/video.mp4")
    assert "https://cdn.example.com/video.mp4" in error["message"]
    assert error["details"]["limit"] == MAX_MEDIA_BYTES and error["details"]["bytes"] > MAX_MEDIA_BYTES


def raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("url", "handler", "needle"),
    [
        ("https://cdn.example.com/gone.pdf", None, "404 Not Found"),
        (
            "https://cdn.example.com/slow.pdf",
            raising(httpx.ConnectTimeout("timed out")),
            "no answer within 2 s",
        ),
        ("https://cdn.example.com/down.pdf", raising(httpx.ConnectError("refused")), "could not connect"),
        ("https://nowhere.invalid/x.pdf", None, "does not resolve"),
        (
            "https://cdn.example.com/empty.pdf",
            lambda r: httpx.Response(200 if r.method == "HEAD" else 416),
            "empty",
        ),
        (
            "https://cdn.example.com/loop",
            lambda r: httpx.Response(302, headers={"Location": "/loop"}),
            "redirects",
        ),
    ],
    ids=["404", "timeout", "connect", "dns", "empty", "redirect-loop"],
)
def test_unreachable_media_is_422_naming_the_url_and_why(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    web: Web,
    url: str,
    handler: Handler | None,
    needle: str,
) -> None:
    if handler is not None:
        web.routes[httpx.URL(url).path] = handler
    error = refused(call, key, session, 422, "media_unreachable", url=url)
    assert url in error["message"] and needle in error["message"], error
    assert error["details"]["field"] == "media.url" and error["details"]["url"] == url


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x.pdf",
        "https://10.0.0.5/x.pdf",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/x.pdf",
        "https://[::ffff:127.0.0.1]/x.pdf",
        "https://100.64.0.1/x.pdf",
        "https://intranet.corp/x.pdf",
    ],
)
def test_private_addresses_are_refused_before_any_request(
    call: ApiCaller, key: str, session: dict[str, Any], web: Web, url: str
) -> None:
    error = refused(call, key, session, 422, "media_address_not_allowed", url=url)
    assert "public addresses" in error["message"] and error["details"]["url"] == url
    assert web.seen == []


def test_redirects_are_checked_hop_by_hop(
    call: ApiCaller, key: str, session: dict[str, Any], web: Web
) -> None:
    web.routes["/to-metadata"] = lambda r: httpx.Response(
        302, headers={"Location": "https://169.254.169.254/"}
    )
    error = refused(
        call, key, session, 422, "media_address_not_allowed", url="https://cdn.example.com/to-metadata"
    )
    assert "169.254.169.254" in error["message"]
    web.routes["/moved"] = lambda r: httpx.Response(
        301, headers={"Location": "https://other.example.com/new"}
    )
    web.routes["/new"] = sized(1000)
    assert send(call, key, session, url="https://cdn.example.com/moved")[0] == 202
    assert web.seen[-1].headers["host"] == "other.example.com" and web.seen[-1].url.host == "93.184.215.15"


def test_the_next_checked_address_is_tried_when_one_refuses(
    call: ApiCaller, key: str, session: dict[str, Any], web: Web
) -> None:
    def v4_only(request: httpx.Request) -> httpx.Response:
        if ":" in request.url.host:
            raise httpx.ConnectError("network unreachable")
        return httpx.Response(200, headers={"Content-Length": "10"})

    web.routes["/x.pdf"] = v4_only
    assert send(call, key, session, url="https://dual.example.com/x.pdf")[0] == 202
    assert [r.url.host for r in web.seen] == ["2606:4700::6810:1", "93.184.215.16"]


def test_operator_settings_allow_http_and_private_addresses(
    call: ApiCaller, key: str, session: dict[str, Any], web: Web, local_deps: wiring.Deps
) -> None:
    web.routes["/local.pdf"] = sized(10)
    error = refused(call, key, session, 422, "invalid_media_url", url="http://127.0.0.1/local.pdf")
    assert "https://" in error["message"]
    assert send(call, key, session, url="ftp://cdn.example.com/x.pdf")[0] == 422
    probe = wiring.deps().media_probe
    assert isinstance(probe, HttpMediaProbe)
    use(local_deps, probe, media_allow_http=True, media_allow_private=True)
    assert send(call, key, session, url="http://127.0.0.1/local.pdf")[0] == 202


def test_uploads_and_malformed_urls(call: ApiCaller, key: str, session: dict[str, Any], web: Web) -> None:
    # an upload id names a stored file of this tenant (POST /v1/media): an unknown one is a 404
    error = refused(call, key, session, 404, "media_not_found", upload_id="med_01JD3Q8K2M4N6P8R0T2V4X6Z8B")
    assert error["details"]["media_id"] == "med_01JD3Q8K2M4N6P8R0T2V4X6Z8B"
    for url in ("cdn.example.com/x.pdf", "https://", "https://cdn.example.com:port/x"):
        refused(call, key, session, 422, "invalid_media_url", url=url)
    assert web.seen == []


def test_public_address_rule() -> None:
    assert is_public("93.184.215.14") and is_public("2606:4700:4700::1111")
    for address in ("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1"):
        assert not is_public(address), address
    for address in ("0.0.0.0", "224.0.0.1", "::1", "fe80::1%eth0", "fc00::1", "::ffff:10.0.0.1", "nonsense"):
        assert not is_public(address), address


@pytest.fixture
def file_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 with one 1234-byte file."""

    class Files(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's naming
            found = self.path == "/menu.pdf"
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", "1234" if found else "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            self.do_HEAD()
            if self.path == "/menu.pdf":
                self.wfile.write(b"%" * 1234)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_real_client_against_a_local_server(
    call: ApiCaller, key: str, session: dict[str, Any], local_deps: wiring.Deps, file_server: str
) -> None:
    probe = HttpMediaProbe.create(timeout=2.0)
    use(local_deps, probe, media_allow_http=True, media_allow_private=True)
    try:
        assert send(call, key, session, url=f"{file_server}/menu.pdf")[0] == 202
        error = refused_after_one(call, key, session, f"{file_server}/missing.pdf")
        assert "404" in error["message"]
    finally:
        probe.client.close()


def refused_after_one(call: ApiCaller, key: str, session: dict[str, Any], url: str) -> Any:
    before = call("GET", "/v1/messages", key)[1]["items"]
    drain(session["id"])
    status, body = send(call, key, session, url=url)
    assert status == 422 and body["error"]["code"] == "media_unreachable", body
    assert call("GET", "/v1/messages", key)[1]["items"] == before
    return body["error"]
