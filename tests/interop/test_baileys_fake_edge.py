"""The full Baileys client against our fake edge: proof that the fake speaks the real protocol.

Baileys (makeWASocket) is pointed at ws://127.0.0.1 with `waWebSocketUrl`, and at the edge's TEST root by
overwriting its exported `WA_CERT_DETAILS.PUBLIC_KEY` in the node process (baileys_edge_client.mjs). It
registers, shows a QR code our fake phone scans, answers pair-success (the edge verifies its libsignal
device signature), restarts on 515, logs in with its new credentials, uploads its prekeys and goes
active; then the edge replaces its socket (440). The strict edge must have had nothing to refuse.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.web.version import DEFAULT_WA_VERSION
from tests.fakes.whatsapp_edge import FakeEdge, FakePhone
from tests.interop.node_process import JsonLinesProcess, node_trust

pytestmark = pytest.mark.interop


def test_baileys_pairs_restarts_logs_in_and_is_replaced(interop_dir: Path) -> None:
    asyncio.run(_baileys_session(interop_dir))


async def _baileys_session(interop_dir: Path) -> None:
    async with FakeEdge() as edge:
        node = await JsonLinesProcess.start(
            ["node", str(interop_dir / "baileys_edge_client.mjs")],
            cwd=interop_dir,
            env=_node_env(edge.ca_file),
        )
        try:
            await node.send(
                {
                    "url": edge.url,
                    "root": edge.root_public.hex(),
                    "version": list(DEFAULT_WA_VERSION),
                    "mode": "pair",
                }
            )
            first_qr, _ = await node.read_until("qr")
            assert first_qr["qr"].startswith("https://wa.me/settings/linked_devices#")
            jid = await FakePhone(edge, "15557770001").scan(first_qr["qr"])

            paired, _ = await node.read_until("creds")
            assert paired["creds"]["me"]["id"] == str(jid)
            assert paired["creds"]["me"]["lid"].endswith(f":{jid.device}@lid")
            assert paired["creds"]["platform"] == "android"
            restart, _ = await node.read_until("close")
            assert restart["close"] == 515

            await node.read_until("open")
            login = await edge.wait_for("login", jid=jid)
            device = edge.state.device(jid)
            assert device is not None and login.session is not None
            assert device.noise_public.hex() == paired["creds"]["noise"]
            assert device.identity_public.hex() == paired["creds"]["identity"]
            uploaded = await edge.wait_for("prekeys", jid=jid)
            assert int(uploaded.detail) >= 800  # a new device uploads its initial batch
            assert (await edge.wait_for("passive", jid=jid)).detail == "active"

            await edge.replace(jid)
            replaced, _ = await node.read_until("close")
            assert replaced["close"] == 440  # Baileys' "connectionReplaced"
        finally:
            await node.close({"end": True})
        assert edge.violations == []
        assert edge.refusals == []
        assert edge.unhandled == [], edge.unhandled


def _node_env(ca_file: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BAILEYS_LOG": os.environ.get("BAILEYS_LOG", "silent"),
        **node_trust(ca_file),
    }
