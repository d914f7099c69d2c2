"""Baileys as the counterparty: our engine and a real Baileys client, both linked through the fake edge,
exchange encrypted 1:1 and group messages both ways, with delivery and read receipts seen on both sides.

Baileys (makeWASocket, `peer` mode of baileys_edge_client.mjs) pairs by QR with its own phone, uploads its
prekeys, fetches ours, and speaks libsignal; what it prints is what its app would show. The group runs
in both addressing modes (members by phone number, and by LID). The strict edge must have had nothing to
refuse from either client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.events import IncomingMessage, Receipt, ReceiptStatus
from connector.engines.keys import KeyNamespace
from connector.engines.web.binary.jid import Jid
from connector.engines.web.signal import SignalAddress
from connector.engines.web.version import DEFAULT_WA_VERSION
from tests.connector.web.harness import Harness, Linked, with_edge
from tests.fakes.whatsapp_edge import FakePhone
from tests.interop.node_process import JsonLinesProcess, node_trust

pytestmark = pytest.mark.interop

OURS, THEIRS = "15550001111", "15557770001"
DELIVERED, READ = 3, 4  # Baileys' WebMessageInfo.Status


class BaileysPeer:
    def __init__(self, node: JsonLinesProcess, jid: Jid) -> None:
        self.node = node
        self.jid = jid
        self.seen: list[dict[str, Any]] = []

    async def until(
        self, key: str, check: Any = lambda value: True, timeout: float = 20, since: int = 0
    ) -> Any:
        """The first printed `{key: value}` (from the `since`-th line on) whose value passes `check`."""
        for message in self.seen[since:]:
            if key in message and check(message[key]):
                return message[key]
        async with asyncio.timeout(timeout):
            while True:
                message = await self.node.read(timeout)
                self.seen.append(message)
                assert "error" not in message, message["error"]
                if key in message and check(message[key]):
                    return message[key]

    async def command(self, command: dict[str, Any], answer: str) -> Any:
        since = len(self.seen)
        await self.node.send(command)
        return await self.until(answer, timeout=20, since=since)


async def online(ours: Linked) -> Linked:
    """Announce presence, so our delivery receipts are active: an `inactive` one (what we send while not
    online, as WhatsApp Web in the background) is shown by neither WhatsApp's apps nor Baileys."""
    store = ours.engine._store_ready
    me = store.current.me
    assert me is not None
    await store.update(
        me=dataclasses.replace(me, name="wagate")
    )  # app state would tell it: presence needs it
    await ours.engine.send_presence(None, "available")
    return ours


async def start_baileys(h: Harness, interop_dir: Path) -> BaileysPeer:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BAILEYS_LOG": os.environ.get("BAILEYS_LOG", "silent"),
        **node_trust(h.edge.ca_file),
    }
    env |= {"BAILEYS_LOG_FILE": os.environ["BAILEYS_LOG_FILE"]} if "BAILEYS_LOG_FILE" in os.environ else {}
    node = await JsonLinesProcess.start(
        ["node", str(interop_dir / "baileys_edge_client.mjs")], cwd=interop_dir, env=env
    )
    config = {
        "url": h.edge.url,
        "root": h.edge.root_public.hex(),
        "version": list(DEFAULT_WA_VERSION),
        "mode": "peer",
    }
    await node.send(config)
    qr, _ = await node.read_until("qr")
    jid = await FakePhone(h.edge, THEIRS).scan(qr["qr"])
    await node.read_until("open", timeout=30)
    await h.edge.wait_for("prekeys", jid=jid)
    await h.edge.wait_for("passive", jid=jid)
    return BaileysPeer(node, jid)


def test_one_to_one_both_ways_with_receipts(interop_dir: Path) -> None:
    async def body(h: Harness) -> None:
        ours = await online(await h.linked(OURS, "ses_ours"))
        baileys = await start_baileys(h, interop_dir)
        try:
            await _one_to_one(ours, baileys)
        finally:
            await baileys.node.close({"end": True})
            await ours.running.stop()
        assert h.edge.phone(THEIRS).errors == [] and h.edge.phone(OURS).errors == []

    with_edge(body)


async def _one_to_one(ours: Linked, baileys: BaileysPeer) -> None:
    # ours → Baileys: it decrypts and shows the text, its delivery receipt and its read reach us
    sent = await ours.engine.send_text(f"+{THEIRS}", "hola desde wagate", "msg_1")
    shown = await baileys.until("message", lambda m: m["id"] == sent.provider_message_id)
    assert shown["text"] == "hola desde wagate" and shown["remoteJid"] == f"{OURS}@s.whatsapp.net"
    delivered = await ours.running.wait_where(
        Receipt, lambda r: sent.provider_message_id in r.provider_message_ids
    )
    assert delivered.status is ReceiptStatus.DELIVERED and delivered.chat_jid == f"{THEIRS}@s.whatsapp.net"
    await baileys.command({"read": [shown["key"]]}, "read")
    read = await ours.running.wait_where(Receipt, lambda r: r.status is ReceiptStatus.READ)
    assert read.provider_message_ids == (sent.provider_message_id,)

    # Baileys → ours, quoting our message: we decrypt, receipt it, and read it
    quoted = {"key": shown["key"], "message": shown["raw"]}
    reply = await baileys.command(
        {"send": {"to": f"{OURS}@s.whatsapp.net", "text": "¡recibido!", "quoted": quoted}}, "sent"
    )
    got = await ours.running.wait_where(IncomingMessage, lambda m: m.provider_message_id == reply["id"])
    assert (got.text, got.sender_phone, got.chat_jid) == (
        "¡recibido!",
        f"+{THEIRS}",
        f"{THEIRS}@s.whatsapp.net",
    )
    assert got.quoted_id == sent.provider_message_id and not got.from_me
    await baileys.until("update", lambda u: u["id"] == reply["id"] and u["status"] == DELIVERED)
    await ours.engine.mark_read(got.chat_jid, [got.provider_message_id])
    await baileys.until("update", lambda u: u["id"] == reply["id"] and u["status"] == READ)

    # a second message each way rides the established sessions (msg, not pkmsg)
    again = await ours.engine.send_text(f"+{THEIRS}", "¿y ahora?", "msg_2")
    assert (await baileys.until("message", lambda m: m["id"] == again.provider_message_id))[
        "text"
    ] == "¿y ahora?"
    second = await baileys.command(
        {"send": {"to": f"{OURS}@s.whatsapp.net", "text": "ahora también"}}, "sent"
    )
    got = await ours.running.wait_where(IncomingMessage, lambda m: m.provider_message_id == second["id"])
    assert got.text == "ahora también"


@pytest.mark.parametrize("mode", ["pn", "lid"])
def test_group_both_ways_with_receipts(interop_dir: Path, mode: str) -> None:
    async def body(h: Harness) -> None:
        ours = await online(await h.linked(OURS, "ses_ours"))
        baileys = await start_baileys(h, interop_dir)
        group = h.edge.create_group("Interop", OURS, [THEIRS, "15550009999"], addressing_mode=mode)
        try:
            listed = await baileys.command({"groups": True}, "groups")
            assert listed[0]["subject"] == "Interop" and listed[0]["addressingMode"] == mode
            assert [g.subject for g in await ours.engine.list_groups()] == ["Interop"]
            await _group(ours, baileys, str(group.jid))
        finally:
            await baileys.node.close({"end": True})
            await ours.running.stop()
        ours_only = [e for e in h.edge.events if e.kind == "self-envelope" and e.jid == ours.jid]
        assert ours_only == []  # (Baileys encrypts for itself in LID groups; the edge only logs it)
        for phone in (OURS, THEIRS, "15550009999"):  # every member's phone read every message
            endpoint = h.edge.phone(phone)
            assert endpoint.errors == [] and len(endpoint.received) == 3, (phone, endpoint.errors)

    with_edge(body)


async def _group(ours: Linked, baileys: BaileysPeer, group: str) -> None:
    sent = await ours.engine.send_text(group, "hola grupo", "grp_1")
    shown = await baileys.until("message", lambda m: m["id"] == sent.provider_message_id)
    assert shown["text"] == "hola grupo" and shown["remoteJid"] == group
    delivered = await ours.running.wait_where(
        Receipt, lambda r: sent.provider_message_id in r.provider_message_ids
    )
    assert delivered.chat_jid == group and delivered.by_jid == f"{THEIRS}@s.whatsapp.net"
    await baileys.command({"read": [shown["key"]]}, "read")
    read = await ours.running.wait_where(Receipt, lambda r: r.status is ReceiptStatus.READ)
    assert read.by_jid == f"{THEIRS}@s.whatsapp.net"

    reply = await baileys.command({"send": {"to": group, "text": "hola desde baileys"}}, "sent")
    got = await ours.running.wait_where(IncomingMessage, lambda m: m.provider_message_id == reply["id"])
    assert (got.text, got.group_jid, got.sender_phone) == ("hola desde baileys", group, f"+{THEIRS}")
    await baileys.until("receipt", lambda r: r["id"] == reply["id"] and r["kind"] == "delivered")
    await ours.engine.mark_read(group, [got.provider_message_id])
    await baileys.until("receipt", lambda r: r["id"] == reply["id"] and r["kind"] == "read")

    again = await ours.engine.send_text(group, "segundo", "grp_2")  # our sender key is known by now
    assert (await baileys.until("message", lambda m: m["id"] == again.provider_message_id))[
        "text"
    ] == "segundo"


def test_retry_receipts_both_ways_restore_lost_sessions(interop_dir: Path) -> None:
    """Each side loses its session with the other in turn; the retry receipt of the one that cannot
    decrypt makes the other re-send in a new session, and the message arrives."""

    async def body(h: Harness) -> None:
        ours = await online(await h.linked(OURS, "ses_ours"))
        baileys = await start_baileys(h, interop_dir)
        try:
            first = await ours.engine.send_text(f"+{THEIRS}", "hola", "msg_1")
            await baileys.until("message", lambda m: m["id"] == first.provider_message_id)
            hello = await baileys.command({"send": {"to": f"{OURS}@s.whatsapp.net", "text": "hola"}}, "sent")
            await ours.running.wait_where(IncomingMessage, lambda m: m.provider_message_id == hello["id"])

            # Baileys forgets us: our next message (a plain msg) fails there, it asks, we re-send
            our_lid = h.edge.state.accounts[OURS].device_lid(ours.jid.device or 0)
            await baileys.command({"forgetSession": str(our_lid)}, "forgotten")
            lost = await ours.engine.send_text(f"+{THEIRS}", "¿me lees?", "msg_2")
            shown = await baileys.until(
                "message", lambda m: m["id"] == lost.provider_message_id and m["text"]
            )
            assert shown["text"] == "¿me lees?"
            assert [
                e
                for e in h.edge.events
                if e.kind == "receipt" and e.detail == f"retry {lost.provider_message_id}"
            ]

            # we forget Baileys: its next message fails here, we ask, Baileys re-sends
            their_lid = h.edge.state.accounts[THEIRS].device_lid(baileys.jid.device or 0)
            await h.keys("ses_ours").put(KeyNamespace.SESSION, {str(SignalAddress.from_jid(their_lid)): None})
            again = await baileys.command(
                {"send": {"to": f"{OURS}@s.whatsapp.net", "text": "sí, te leo"}}, "sent"
            )
            got = await ours.running.wait_where(
                IncomingMessage, lambda m: m.provider_message_id == again["id"]
            )
            assert got.text == "sí, te leo"
            assert [e for e in h.edge.events if e.kind == "receipt" and e.detail == f"retry {again['id']}"]
        finally:
            await baileys.node.close({"end": True})
            await ours.running.stop()

    with_edge(body)
