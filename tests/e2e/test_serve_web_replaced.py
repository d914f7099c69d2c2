"""440 through `wagate serve`: another client takes the device over (`<stream:error><conflict
type=replaced/>`) and the API shows the session down, with the reason, instead of `connected` while its
socket is dead; it does not fight the other client by reconnecting."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.serve import Server, wait_for

pytestmark = pytest.mark.e2e

try:
    from tests.fakes.whatsapp_edge.phone import FakePhone
    from tests.support.edge_thread import EdgeThread
except ImportError as exc:  # pragma: no cover - depends on `make node`
    pytest.skip(f"the web engine needs the generated protobufs (make node): {exc}", allow_module_level=True)

PHONE = "34600111333"


@pytest.fixture
def edge() -> Iterator[EdgeThread]:
    running = EdgeThread()
    yield running
    running.close()


def test_a_replaced_web_session_is_reported_down_and_stays_down(tmp_path: Path, edge: EdgeThread) -> None:
    with Server(tmp_path / "data", env=edge.env) as server, server.client(server.create_tenant()) as http:
        session = http.post("/v1/sessions", json={"name": "Recepción", "provider": "web"}).json()
        sid = session["id"]
        qr: dict[str, Any] = wait_for(
            lambda: (r := http.get(f"/v1/sessions/{sid}/qr")).status_code == 200 and r.json()
        )
        device = edge.run(FakePhone(edge.edge, PHONE).scan(qr["qr"]))
        wait_for(lambda: http.get(f"/v1/sessions/{sid}").json()["status"] == "connected")
        logins = len([e for e in edge.edge.events_of("login") if e.jid == device])

        edge.run(edge.edge.replace(device))
        down = wait_for(lambda: (s := http.get(f"/v1/sessions/{sid}").json())["status"] != "connected" and s)
        assert (down["status"], down["status_reason"]) == ("disconnected", "replaced"), down
        time.sleep(2)  # a runner that reconnected would show up as another login by now
        assert http.get(f"/v1/sessions/{sid}").json()["status"] == "disconnected"
        assert len([e for e in edge.edge.events_of("login") if e.jid == device]) == logins
    assert edge.edge.violations == []
