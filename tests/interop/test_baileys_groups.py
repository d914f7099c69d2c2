"""Groups changed by our engine and by Baileys (@whiskeysockets/baileys) as two members, on the fake edge.

Baileys sees what we do as WhatsApp's `w:gp2` notifications (its `groups.upsert`, `groups.update` and
`group-participants.update` events), and what Baileys does with its own stanzas (groupUpdateDescription,
groupParticipantsUpdate, groupCreate) reaches our engine as GroupChanged: the fake edge accepts the real
client's stanzas and refuses it as WhatsApp would (401 for a non-admin). Once we remove Baileys, our next
group message is under a new sender key and Baileys does not get it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.base import GroupOp
from connector.engines.events import GroupChanged, IncomingMessage
from tests.connector.web.harness import Harness, Linked, with_edge
from tests.interop.test_baileys_messaging import OURS, THEIRS, BaileysPeer, online, start_baileys

pytestmark = pytest.mark.interop
CAROL = "15550003333"


async def _change(ours: Linked, action: str, group: str) -> GroupChanged:
    async with asyncio.timeout(15):
        while True:
            for event in ours.running.events:
                if isinstance(event, GroupChanged) and event.action == action and event.group_jid == group:
                    return event
            await asyncio.sleep(0.05)


async def _baileys_op(baileys: BaileysPeer, **op: object) -> dict[str, object]:
    done = await baileys.command({"groupOp": op}, "groupDone")
    assert isinstance(done, dict)
    return done


def test_group_changes_seen_by_the_other_member_both_ways(interop_dir: Path) -> None:
    async def body(h: Harness) -> None:
        ours = await online(await h.linked(OURS, "ses_ours"))
        baileys = await start_baileys(h, interop_dir)
        h.edge.state.account(CAROL)
        theirs = f"{THEIRS}@s.whatsapp.net"
        try:
            created = await ours.engine.manage_group(
                GroupOp("create", subject="Taller", participants=(f"+{THEIRS}",)), "op_create"
            )
            assert created.group is not None
            chat = created.group.jid
            upsert = await baileys.until("groupsUpsert", lambda g: g and g[0]["id"] == chat)
            assert upsert[0]["subject"] == "Taller"

            await ours.engine.manage_group(GroupOp("subject", chat, subject="Taller 2"), "op_s")
            await baileys.until(
                "groupsUpdate", lambda u: u[0]["id"] == chat and u[0].get("subject") == "Taller 2"
            )

            # Baileys is no admin yet: the edge answers its own stanza with 401, as WhatsApp does
            refused = await _baileys_op(baileys, op="subject", jid=chat, subject="mine")
            assert refused["error"] == 401
            await ours.engine.manage_group(GroupOp("promote", chat, participants=(f"+{THEIRS}",)), "op_p")
            promoted = await baileys.until("groupParticipants", lambda p: p["action"] == "promote")
            assert promoted["id"] == chat and promoted["participants"] == [theirs]

            done = await _baileys_op(baileys, op="description", jid=chat, description="Sala 4")
            assert done["error"] is None
            assert (await _change(ours, "description", chat)).description == "Sala 4"
            added = await _baileys_op(
                baileys, op="participants", jid=chat, participants=[f"{CAROL}@s.whatsapp.net"], action="add"
            )
            assert added["result"] == [{"jid": f"{CAROL}@s.whatsapp.net", "status": "200"}]
            add = await _change(ours, "add", chat)
            assert [m.phone for m in add.members] == [f"+{CAROL}"] and add.by_phone == f"+{THEIRS}"
            assert add.group is not None and add.group.participants == 3

            await ours.engine.send_text(chat, "antes", "grp_1")
            await baileys.until("message", lambda m: m["text"] == "antes")
            await ours.engine.manage_group(GroupOp("remove", chat, participants=(f"+{THEIRS}",)), "op_rm")
            removed = await baileys.until("groupParticipants", lambda p: p["action"] == "remove")
            assert removed["participants"] == [theirs]
            since = len(baileys.seen)
            await ours.engine.send_text(chat, "después", "grp_2")
            await asyncio.sleep(1.0)
            await baileys.command({"groups": True}, "groups")  # a round trip: what was sent has arrived
            later = [m.get("message", {}).get("text") for m in baileys.seen[since:] if "message" in m]
            assert "después" not in later
            assert [r.message.conversation for r in h.edge.phone(CAROL).received][-1] == "después"

            # a group Baileys creates with us in it reaches our engine as `created`
            made = await _baileys_op(
                baileys, op="create", subject="De Baileys", participants=[f"{OURS}@s.whatsapp.net"]
            )
            joined = await _change(ours, "created", str(made["result"]))
            assert joined.group is not None and joined.group.subject == "De Baileys"
            assert joined.by_phone == f"+{THEIRS}"
        finally:
            await baileys.node.close({"end": True})
            await ours.running.stop()
        assert not [e for e in h.edge.events if e.kind == "stale-sender-key"]
        got = [e for e in ours.running.events if isinstance(e, IncomingMessage)]
        assert got == []  # nothing but group changes came our way

    with_edge(body)
