"""Is a number on WhatsApp, asked by Baileys (@whiskeysockets/baileys `onWhatsApp`) and by our engine on the
same fake edge: the edge takes the real client's usync contact query and answers it as WhatsApp does
(Baileys lists only the registered numbers, by their account JID), and both clients agree."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from tests.connector.web.harness import Harness, with_edge
from tests.interop.test_baileys_messaging import OURS, THEIRS, start_baileys

pytestmark = pytest.mark.interop
NOBODY = "15559990000"


def test_baileys_and_our_engine_get_the_same_answer(interop_dir: Path) -> None:
    async def body(h: Harness) -> None:
        ours = await h.linked(OURS, "ses_ours")
        baileys = await start_baileys(h, interop_dir)
        try:
            theirs = await baileys.command({"onWhatsApp": [f"+{OURS}", NOBODY]}, "onWhatsApp")
            assert theirs == [{"jid": f"{OURS}@s.whatsapp.net", "exists": True}]
            mine = await ours.engine.check_numbers([f"+{THEIRS}", f"+{NOBODY}", f"+{OURS}"])
            assert [(r.phone, r.status, r.jid) for r in mine] == [
                (f"+{THEIRS}", "on_whatsapp", f"{THEIRS}@s.whatsapp.net"),
                (f"+{NOBODY}", "not_on_whatsapp", None),
                (f"+{OURS}", "on_whatsapp", f"{OURS}@s.whatsapp.net"),
            ]
            assert len([e for e in h.edge.events if e.kind == "usync"]) >= 2
        finally:
            await baileys.node.close({"end": True})
            await ours.running.stop()

    with_edge(body)
