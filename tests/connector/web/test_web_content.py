"""Every real message shape reaches the service as its typed kind: two of our engines on the strict fake edge,
one writing each shape as WhatsApp clients do (wrappers included), the other receiving it; and the typed
kinds we send (location, contacts, reaction, edit, delete, poll, quotes) arrive as what they are, with a
vote on our poll decrypted with the poll's secret."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.base import MessageRef, provider_message_id
from connector.engines.events import IncomingMessage
from connector.engines.keys import KeyNamespace
from connector.engines.web.binary.jid import Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.polls import encrypt_vote
from connector.engines.web.protos import wa
from tests.connector.web.harness import Harness, Linked, with_edge

ALICE, BOB = "15550001111", "15550002222"
VCARD = (
    "BEGIN:VCARD\nVERSION:3.0\nFN:Ana Pérez\nORG:Taller;\n"
    "TEL;type=CELL;waid=34600123456:+34 600 12 34 56\nEND:VCARD"
)


def _wrapped(name: str, inner: wa.Message) -> wa.Message:
    outer = wa.Message()
    getattr(outer, name).message.CopyFrom(inner)
    return outer


def _shapes(target: str) -> list[tuple[str, wa.Message, dict[str, Any]]]:
    """(name, message as a client writes it, the typed content expected) — the issue's real shapes."""
    document = wa.Message(
        documentMessage=wa.Message.DocumentMessage(
            caption="la factura", fileName="factura.pdf", mimetype="application/pdf"
        )
    )
    edit = wa.Message.ProtocolMessage(key=wa.MessageKey(remoteJid="x", fromMe=False, id=target), type=14)
    edit.editedMessage.conversation = "texto corregido"
    list_reply = wa.Message.ListResponseMessage(title="Martes 10:00", description="con Ana")
    list_reply.singleSelectReply.selectedRowId = "slot_2"
    poll = wa.Message(
        pollCreationMessageV3=wa.Message.PollCreationMessage(
            name="¿Qué día?",
            options=[wa.Message.PollCreationMessage.Option(optionName=o) for o in ("lunes", "martes")],
            selectableOptionsCount=1,
        )
    )
    poll.messageContextInfo.messageSecret = bytes(range(32))
    return [
        (
            "location",
            wa.Message(
                locationMessage=wa.Message.LocationMessage(
                    degreesLatitude=40.4168, degreesLongitude=-3.7038, name="Taller", address="Calle Mayor 1"
                )
            ),
            {"type": "location", "latitude": 40.4168, "longitude": -3.7038, "name": "Taller"},
        ),
        (
            "live location",
            wa.Message(
                liveLocationMessage=wa.Message.LiveLocationMessage(degreesLatitude=1.5, degreesLongitude=2.5)
            ),
            {"type": "location", "live": True},
        ),
        (
            "contact card",
            wa.Message(contactMessage=wa.Message.ContactMessage(displayName="Ana Pérez", vcard=VCARD)),
            {"type": "contacts"},
        ),
        (
            "contact cards",
            wa.Message(
                contactsArrayMessage=wa.Message.ContactsArrayMessage(
                    displayName="2 contacts",
                    contacts=[
                        wa.Message.ContactMessage(displayName="Ana Pérez", vcard=VCARD),
                        wa.Message.ContactMessage(
                            displayName="Luis", vcard="BEGIN:VCARD\nTEL:+1 555\nEND:VCARD"
                        ),
                    ],
                )
            ),
            {"type": "contacts"},
        ),
        (
            "document with caption",
            _wrapped("documentWithCaptionMessage", document),
            {"type": "document", "caption": "la factura", "filename": "factura.pdf"},
        ),
        (
            "view once",
            _wrapped(
                "viewOnceMessageV2",
                wa.Message(imageMessage=wa.Message.ImageMessage(caption="once", mimetype="image/jpeg")),
            ),
            {"type": "image", "caption": "once", "view_once": True},
        ),
        (
            "view once extension (voice)",
            _wrapped(
                "viewOnceMessageV2Extension",
                wa.Message(audioMessage=wa.Message.AudioMessage(ptt=True, mimetype="audio/ogg")),
            ),
            {"type": "audio", "voice": True, "view_once": True},
        ),
        (
            "ephemeral",
            _wrapped("ephemeralMessage", wa.Message(conversation="se autodestruye")),
            {"type": "text", "body": "se autodestruye"},
        ),
        (
            "edit",
            _wrapped("editedMessage", wa.Message(protocolMessage=edit)),
            {"type": "edit", "target_provider_id": target, "body": "texto corregido"},
        ),
        (
            "revoke",
            wa.Message(
                protocolMessage=wa.Message.ProtocolMessage(
                    key=wa.MessageKey(remoteJid="x", fromMe=False, id=target), type=0
                )
            ),
            {"type": "delete", "target_provider_id": target},
        ),
        (
            "reaction",
            wa.Message(
                reactionMessage=wa.Message.ReactionMessage(
                    key=wa.MessageKey(remoteJid="x", fromMe=True, id=target), text="👍", senderTimestampMs=1
                )
            ),
            {"type": "reaction", "target_provider_id": target, "emoji": "👍"},
        ),
        (
            "button reply",
            wa.Message(
                buttonsResponseMessage=wa.Message.ButtonsResponseMessage(
                    selectedButtonId="yes", selectedDisplayText="Sí, voy"
                )
            ),
            {"type": "interactive_reply", "reply_type": "button_reply", "id": "yes", "title": "Sí, voy"},
        ),
        (
            "list reply",
            wa.Message(listResponseMessage=list_reply),
            {
                "type": "interactive_reply",
                "reply_type": "list_reply",
                "id": "slot_2",
                "title": "Martes 10:00",
            },
        ),
        (
            "template button reply",
            wa.Message(
                templateButtonReplyMessage=wa.Message.TemplateButtonReplyMessage(
                    selectedId="confirm", selectedDisplayText="Confirmar", selectedIndex=0
                )
            ),
            {"type": "interactive_reply", "reply_type": "template_button", "id": "confirm"},
        ),
        ("poll", poll, {"type": "poll", "name": "¿Qué día?", "options": ["lunes", "martes"]}),
        (
            "vote on an unknown poll",
            wa.Message(
                pollUpdateMessage=wa.Message.PollUpdateMessage(
                    pollCreationMessageKey=wa.MessageKey(remoteJid="x", fromMe=False, id="3EB0UNKNOWNPOLL"),
                    vote=wa.Message.PollEncValue(encPayload=b"\x00" * 20, encIv=b"\x01" * 12),
                )
            ),
            {"type": "poll_vote", "target_provider_id": "3EB0UNKNOWNPOLL", "readable": False},
        ),
        (
            "a kind nobody reads yet",
            wa.Message(pinInChatMessage=wa.Message.PinInChatMessage(type=1)),
            {"type": "unsupported", "raw_type": "pinInChatMessage"},
        ),
    ]


async def _raw(sender: Linked, to: Linked, message: wa.Message, message_id: str) -> str:
    """Send a protobuf as another client would write it (our Outbox encrypts and fans it out)."""
    pid = provider_message_id(message_id)
    await sender.engine._ready().outbox.send(Jid.parse(f"{to.phone}@s.whatsapp.net"), message, pid)
    return pid


def _contains(found: dict[str, Any] | None, expected: dict[str, Any]) -> bool:
    return found is not None and all(found.get(k) == v for k, v in expected.items())


def test_each_real_shape_arrives_as_its_kind() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        first = await alice.engine.send_text(bob.e164, "original", "msg_orig")
        await bob.running.wait(IncomingMessage)
        for n, (name, message, expected) in enumerate(_shapes(first.provider_message_id)):
            pid = await _raw(alice, bob, message, f"msg_shape_{n}")
            got = await bob.running.wait_where(
                IncomingMessage, lambda m, pid=pid: m.provider_message_id == pid
            )
            assert _contains(got.content, expected), (name, got.content)
        contacts = [m for m in bob.running.of(IncomingMessage) if (m.content or {}).get("type") == "contacts"]
        ana = contacts[0].content["contacts"][0]  # type: ignore[index]
        assert (ana["name"], ana["organization"], ana["phones"][0]) == (
            "Ana Pérez",
            "Taller",
            {"phone": "+34 600 12 34 56", "type": "CELL", "wa_id": "34600123456"},
        )
        assert len(contacts[1].content["contacts"]) == 2  # type: ignore[index]
        document = next(
            m for m in bob.running.of(IncomingMessage) if (m.content or {}).get("type") == "document"
        )
        assert (
            document.media is not None and document.media.filename == "factura.pdf"
        )  # unwrapped for media too
        # Protocol traffic alone (a history sync notification) is still not a message.
        history = wa.Message(
            protocolMessage=wa.Message.ProtocolMessage(
                type=5, historySyncNotification=wa.Message.HistorySyncNotification(syncType=0)
            )
        )
        pid = await _raw(alice, bob, history, "msg_hist")
        await _raw(alice, bob, wa.Message(conversation="after"), "msg_after")
        await bob.running.wait_where(IncomingMessage, lambda m: m.text == "after")
        assert not [m for m in bob.running.of(IncomingMessage) if m.provider_message_id == pid]

    with_edge(body)


def test_typed_sends_arrive_typed_and_a_vote_on_our_poll_is_read() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")

        async def send(content: dict[str, Any], message_id: str, **refs: Any) -> IncomingMessage:
            sent = await alice.engine.send_content(bob.e164, content, message_id, **refs)
            pid = sent.provider_message_id
            return await bob.running.wait_where(IncomingMessage, lambda m: m.provider_message_id == pid)

        first = await send({"type": "text", "body": "¿Vienes mañana?"}, "msg_q")
        where = await send(
            {"type": "location", "latitude": 41.38, "longitude": 2.17, "name": "Taller"},
            "msg_loc",
            quoted=MessageRef(
                first.provider_message_id, from_me=True, content={"type": "text", "body": "¿Vienes mañana?"}
            ),
        )
        assert _contains(where.content, {"type": "location", "latitude": 41.38, "name": "Taller"})
        assert where.quoted_id == first.provider_message_id
        card = {"name": "Ana", "phones": [{"phone": "+34600123456"}]}
        got = await send({"type": "contacts", "contacts": [card]}, "msg_card")
        assert got.content["contacts"][0]["phones"][0]["wa_id"] == "34600123456"  # type: ignore[index]
        mine = MessageRef(first.provider_message_id, from_me=True)
        react = await send({"type": "reaction", "emoji": "❤"}, "msg_react", target=mine)
        assert _contains(
            react.content, {"type": "reaction", "emoji": "❤", "target_provider_id": mine.provider_id}
        )
        edit = await send({"type": "edit", "body": "¿Vienes el jueves?"}, "msg_edit", target=mine)
        assert _contains(edit.content, {"type": "edit", "body": "¿Vienes el jueves?"})
        gone = await send({"type": "delete"}, "msg_del", target=mine)
        assert _contains(gone.content, {"type": "delete", "target_provider_id": mine.provider_id})
        edits = [e.detail for e in h.edge.events if e.kind == "message"]
        assert edits  # the edge routed them all
        poll = await send(
            {
                "type": "poll",
                "name": "¿Qué día?",
                "options": ["lunes", "martes", "jueves"],
                "selectable_count": 1,
            },
            "msg_poll",
        )
        assert _contains(poll.content, {"type": "poll", "options": ["lunes", "martes", "jueves"]})
        # Bob votes as his phone would: encrypted with the poll's secret (his copy, from the poll message).
        stored = await h.keys("ses_b").get(KeyNamespace.POLL, [poll.provider_message_id])
        record = json.loads(stored[poll.provider_message_id])
        secret = base64.b64decode(record["secret"])
        vote = encrypt_vote(
            secret,
            poll.provider_message_id,
            f"{ALICE}@s.whatsapp.net",
            f"{BOB}@s.whatsapp.net",
            ["jueves"],
            b"\x07" * 12,
        )
        update = wa.Message(
            pollUpdateMessage=wa.Message.PollUpdateMessage(
                pollCreationMessageKey=wa.MessageKey(
                    remoteJid=f"{ALICE}@s.whatsapp.net", fromMe=False, id=poll.provider_message_id
                ),
                vote=vote,
                senderTimestampMs=1,
            )
        )
        pid = await _raw(bob, alice, update, "msg_vote")
        got_vote = await alice.running.wait_where(IncomingMessage, lambda m: m.provider_message_id == pid)
        assert _contains(
            got_vote.content,
            {
                "type": "poll_vote",
                "readable": True,
                "options": ["jueves"],
                "target_provider_id": poll.provider_message_id,
            },
        )

    with_edge(body)


def test_presence_and_chat_states_reach_the_edge() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        await alice.engine.send_typing(f"+{BOB}", True)
        await alice.engine.send_presence(f"+{BOB}", "recording")
        await alice.engine.send_typing(f"+{BOB}", False)
        with pytest.raises(ValueError):
            await alice.engine.send_presence(f"+{BOB}", "dancing")
        await h.edge.wait_for("chatstate", count=3)
        states = [e.detail for e in h.edge.events if e.kind == "chatstate"]
        assert "composing" in states[0] and "audio" not in states[0]
        assert "composing" in states[1] and "audio" in states[1]
        assert "paused" in states[2] and f"{BOB}@s.whatsapp.net" in states[2]
        # The edge is as strict as the server: a chat state without a chat is refused.
        await alice.engine._ready()._conn.send(Node("chatstate", {}, [Node("composing", {})]))
        await alice.engine.send_typing(f"+{BOB}", False)
        await h.edge.wait_for("chatstate", count=4)
        assert [v for v in h.edge.violations if "chatstate" in v]
        h.edge.violations.clear()

    with_edge(body)
