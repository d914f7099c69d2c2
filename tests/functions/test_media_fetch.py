"""Downloading a URL's file (HttpMediaProbe.fetch via MediaCheck.download): the same rules as a send by URL.

The probe runs on an `httpx.MockTransport` with a fake DNS answer, as in test_media_validation.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.functions.test_media_validation import Web, fake_dns
from wagate.adapters.http_media import HttpMediaProbe
from wagate.domain.errors import InvalidInput, ItemTooLarge
from wagate.domain.outbound_urls import MEDIA, UrlPolicy
from wagate.services.media import MediaCheck, MediaRules


@pytest.fixture
def web() -> Web:
    return Web()


@pytest.fixture
def check(web: Web) -> MediaCheck:
    client = httpx.Client(transport=httpx.MockTransport(web), follow_redirects=False)
    probe = HttpMediaProbe(client, timeout=2.0, resolve=fake_dns)
    return MediaCheck(lambda: probe, MediaRules(UrlPolicy(MEDIA)))


def body(chunks: Iterator[bytes]) -> bytes:
    return b"".join(chunks)


def test_a_file_is_streamed_from_the_checked_address(check: MediaCheck, web: Web) -> None:
    web.routes["/a.pdf"] = lambda request: httpx.Response(200, content=b"%PDF-1.4 hello")
    assert body(check.download("https://cdn.example.com/a.pdf", 100)) == b"%PDF-1.4 hello"
    [get] = web.seen
    assert (
        get.method == "GET" and get.url.host == "93.184.215.14" and get.headers["host"] == "cdn.example.com"
    )


def test_every_redirect_is_checked_before_it_is_followed(check: MediaCheck, web: Web) -> None:
    web.routes["/hop"] = lambda request: httpx.Response(
        302, headers={"Location": "https://other.example.com/b"}
    )
    web.routes["/b"] = lambda request: httpx.Response(200, content=b"ok")
    assert body(check.download("https://cdn.example.com/hop", 100)) == b"ok"
    web.routes["/inside"] = lambda request: httpx.Response(
        302, headers={"Location": "https://intranet.corp/x"}
    )
    with pytest.raises(InvalidInput):
        body(check.download("https://cdn.example.com/inside", 100))
    assert all(r.url.host != "10.1.2.3" for r in web.seen)
    web.routes["/loop"] = lambda request: httpx.Response(302, headers={"Location": "/loop"})
    with pytest.raises(InvalidInput, match="redirects"):
        body(check.download("https://cdn.example.com/loop", 100))


def test_too_large_files_stop_at_the_limit(check: MediaCheck, web: Web) -> None:
    web.routes["/big"] = lambda request: httpx.Response(200, content=b"x" * 101)
    with pytest.raises(ItemTooLarge) as said:
        body(check.download("https://cdn.example.com/big", 100))
    assert said.value.code == "media_too_large"

    def unsized(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([b"x" * 60, b"x" * 60]))

    web.routes["/unsized"] = unsized
    with pytest.raises(ItemTooLarge):
        body(check.download("https://cdn.example.com/unsized", 100))


def test_refusals_and_bad_urls_are_invalid_input(check: MediaCheck, web: Web) -> None:
    web.routes["/gone"] = lambda request: httpx.Response(410)
    with pytest.raises(InvalidInput, match="410"):
        body(check.download("https://cdn.example.com/gone", 100))
    for url in ("http://cdn.example.com/a", "https://nowhere.invalid/a", "https://10.0.0.1/a", "ftp://x/y"):
        with pytest.raises(InvalidInput):
            body(check.download(url, 100))
