"""Click-to-chat links over the API: the number normalised, the text URL-encoded, clear 422s."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.domain.tenants import Scope
from wagate.services import tenants


def link(call: ApiCaller, key: str | None, **query: str) -> tuple[int, Any]:
    status, body, _ = call("GET", "/v1/links/wa-me", key, query=urllib.parse.urlencode(query))
    return status, body


def test_a_link_with_text(call: ApiCaller, key: str) -> None:
    text = "Hola, quiero una cita ¿mañana? 50% & más + ="
    status, body = link(call, key, phone="+34 600 12 34 56", text=text)
    assert status == 200
    assert body["phone"] == "+34600123456"
    url = urllib.parse.urlsplit(body["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "wa.me", "/34600123456")
    assert (
        url.query
        == "text=Hola%2C%20quiero%20una%20cita%20%C2%BFma%C3%B1ana%3F%2050%25%20%26%20m%C3%A1s%20%2B%20%3D"
    )
    assert urllib.parse.parse_qs(url.query)["text"] == [text]


def test_a_link_without_text_and_an_international_prefix(call: ApiCaller, key: str) -> None:
    status, body = link(call, key, phone="0044 20 7946 0958")
    assert status == 200 and body["url"] == "https://wa.me/442079460958"


@pytest.mark.parametrize("phone", ["600123456", "+34 abc", "+1 555"])
def test_a_bad_phone_is_422_naming_it(call: ApiCaller, key: str, phone: str) -> None:
    status, error = link(call, key, phone=phone, text="Hola")
    assert status == 422 and error["error"]["details"]["field"] == "phone"
    assert error["error"]["message"].startswith("phone")


def test_phone_is_required_and_text_is_bounded(call: ApiCaller, key: str) -> None:
    status, error = link(call, key, text="Hola")
    assert status == 422 and error["error"]["details"]["fields"][0]["field"] == "query.phone"
    status, error = link(call, key, phone="+34600123456", text="x" * 2001)
    assert status == 422 and "text" in error["error"]["message"]


def test_keys_that_read_or_send_may_build_links(call: ApiCaller, key: str, local_deps: wiring.Deps) -> None:
    tenant_id = tenants.authenticate(local_deps.table, key).tenant_id
    for scope in (Scope.READ, Scope.SEND):
        scoped = tenants.create_key(local_deps.table, local_deps.clock, tenant_id, "web", [scope])[1]
        assert link(call, scoped, phone="+34600123456")[0] == 200
    admin = tenants.create_key(local_deps.table, local_deps.clock, tenant_id, "ops", [Scope.ADMIN])[1]
    assert link(call, admin, phone="+34600123456")[0] == 403
    assert link(call, None, phone="+34600123456")[0] == 401
