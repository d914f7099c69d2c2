"""End to end with the real `web` engine: `wagate serve` pointed at the fake WhatsApp edge.

A web session is created over the API; its QR (from `GET /qr`) is scanned by the edge's fake phone; the
session reaches `connected`; a WhatsApp Web release (405 to the cached version) costs it one quick
reconnect with the fetched version; after a restart it logs in again from its stored, encrypted keys with no
new QR; a logout from the API unlinks it. Skipped when the WhatsApp protobufs are not generated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.serve import Server, wait_for

pytestmark = pytest.mark.e2e
T = TypeVar("T")

try:
    from connector.engines.web import protos  # noqa: F401  (the generated protobufs load here)
    from tests.fakes.whatsapp_edge.phone import FakePhone
    from tests.support.edge_thread import EdgeThread
except ImportError as exc:  # pragma: no cover - depends on `make node`
    pytest.skip(f"the web engine needs the generated protobufs (make node): {exc}", allow_module_level=True)


@pytest.fixture
def edge() -> Iterator[EdgeThread]:
    running = EdgeThread()
    yield running
    running.close()


def test_web_session_pairs_through_the_fake_edge_and_resumes(tmp_path: Path, edge: EdgeThread) -> None:
    env = edge.env
    data = tmp_path / "data"
    with Server(data, env=env) as server:
        key = server.create_tenant()
        http = server.client(key)
        session = http.post("/v1/sessions", json={"name": "Real engine", "provider": "web"}).json()
        qr: dict[str, Any] = wait_for(
            lambda: (r := http.get(f"/v1/sessions/{session['id']}/qr")).status_code == 200 and r.json()
        )
        jid = edge.run(FakePhone(edge.edge, "34600111222").scan(qr["qr"]))
        connected = wait_for(
            lambda: (s := http.get(f"/v1/sessions/{session['id']}").json())["status"] == "connected" and s
        )
        assert connected["phone"] == "+34600111222" and str(jid).startswith("34600111222")
        # WhatsApp Web releases while we are connected; the next connect is refused (405) with the cached
        # version, and the session comes back with the new one instead of ending `failed`.
        edge.edge.release((2, 3000, 1040000005))
        edge.run(edge.edge.stream_error(jid, "503"))
        login = edge.run(edge.edge.wait_for("login", jid=jid, count=2, timeout=30), timeout=40)
        assert login.session is not None and login.session.client_version == (2, 3000, 1040000005)
        assert any("405" in refusal for refusal in edge.edge.refusals)
        assert wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "connected")
        assert edge.edge.unhandled == []
        http.close()

    with Server(data, env=env) as server:
        http = server.client(key)
        assert wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "connected")
        assert http.get(f"/v1/sessions/{session['id']}/qr").status_code == 404  # no new QR
        assert http.post(f"/v1/sessions/{session['id']}/logout").status_code == 202
        assert wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "logged_out")
        http.close()


def test_web_session_links_by_phone_number_with_a_pairing_code(tmp_path: Path, edge: EdgeThread) -> None:
    """POST /connect with a phone: the QR codes give way to an 8-character code in the session, which the
    (fake) phone types; the session connects. A number with letters is a 422 naming the field."""
    with Server(tmp_path / "data", env=edge.env) as server:
        http = server.client(server.create_tenant())
        session = http.post("/v1/sessions", json={"name": "By code", "provider": "web"}).json()
        url = f"/v1/sessions/{session['id']}"
        assert http.post(f"{url}/connect", json={"phone": "+34 600 11l 333"}).status_code == 422
        accepted = http.post(f"{url}/connect", json={"phone": "+34 600 111 333"})
        assert accepted.status_code == 202 and accepted.json()["link_by_code"] is True
        code = wait_for(lambda: http.get(url).json()["pairing_code"])
        assert len(code) == 8 and http.get(f"{url}/qr").status_code == 404  # no QR code to scan
        jid = edge.run(FakePhone(edge.edge, "34600111333").enter_code(code))
        connected = wait_for(lambda: (s := http.get(url).json())["status"] == "connected" and s)
        assert connected["phone"] == "+34600111333" and str(jid).startswith("34600111333")
        assert connected["pairing_code"] is None
        assert edge.edge.unhandled == [] and edge.edge.violations == []
        http.close()


def test_an_edge_the_trust_store_does_not_know_shows_why_on_the_session(
    tmp_path: Path, edge: EdgeThread
) -> None:
    """Without the test CA, `wagate serve` trusts only the system store: the TLS handshake fails, and the
    session says so (disconnected, retrying, status_detail naming TLS) instead of looping silently."""
    env = {key: value for key, value in edge.env.items() if key != "WAGATE_WA_CA_FILE"}
    with Server(tmp_path / "data", env=env) as server:
        http = server.client(server.create_tenant())
        session = http.post("/v1/sessions", json={"name": "Untrusted", "provider": "web"}).json()
        url = f"/v1/sessions/{session['id']}"
        down = wait_for(lambda: (s := http.get(url).json())["status"] == "disconnected" and s)
        assert down["status_reason"] == "connection_lost"
        assert "TLS: the edge's certificate is not trusted" in down["status_detail"]
        assert edge.edge.sessions == []  # no Noise byte reached the edge
        http.close()
