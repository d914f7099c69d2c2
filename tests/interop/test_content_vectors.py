"""The typed kinds we send, byte for byte against Baileys' generateWAMessageContent for the same message:
location, one contact card and several, reaction (and taking it back), edit, delete, poll (single and
multiple choice, with the same secret). Baileys also puts a random messageContextInfo.messageSecret on
every message but reactions (for reporting tokens): that field is dropped from its side before comparing,
except on polls, where it is the poll's secret and both sides use the same one."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.base import MessageRef
from connector.engines.web.binary.jid import Jid
from connector.engines.web.outgoing import build, vcard
from connector.engines.web.protos import parse, serialize, wa
from tests.interop.conftest import RunNode

pytestmark = pytest.mark.interop

CHAT = Jid.parse("34600123456@s.whatsapp.net")
GROUP = Jid.parse("120363012345678901@g.us")
STAMP = 1_765_000_000_123
SECRET = bytes(range(32))
ANA = {
    "name": "Ana Pérez",
    "phones": [{"phone": "+34 600 12 34 56", "type": "CELL"}],
    "organization": "Taller",
}
LUIS = {"name": "Luis", "phones": [{"phone": "+1 555 0100"}], "emails": ["luis@example.com"]}
MINE = MessageRef("3EB0AABBCCDDEEFF001122", from_me=True)
THEIRS = MessageRef("3A1B2C3D4E5F60718293", from_me=False, participant="34600999888@s.whatsapp.net")


def _key(chat: Jid, ref: MessageRef) -> dict[str, Any]:
    key: dict[str, Any] = {"remoteJid": str(chat), "fromMe": ref.from_me, "id": ref.provider_id}
    if chat.is_group and not ref.from_me:
        key["participant"] = ref.participant
    return key


# (name, our content, chat, target, Baileys' AnyMessageContent)
CASES: list[tuple[str, dict[str, Any], Jid, MessageRef | None, dict[str, Any]]] = [
    (
        "location",
        {
            "type": "location",
            "latitude": 40.4168,
            "longitude": -3.7038,
            "name": "Taller",
            "address": "Mayor 1",
        },
        CHAT,
        None,
        {
            "location": {
                "degreesLatitude": 40.4168,
                "degreesLongitude": -3.7038,
                "name": "Taller",
                "address": "Mayor 1",
            }
        },
    ),
    (
        "one contact",
        {"type": "contacts", "contacts": [ANA]},
        CHAT,
        None,
        {"contacts": {"contacts": [{"displayName": "Ana Pérez", "vcard": vcard(ANA)}]}},
    ),
    (
        "two contacts",
        {"type": "contacts", "contacts": [ANA, LUIS]},
        CHAT,
        None,
        {
            "contacts": {
                "displayName": "2 contacts",
                "contacts": [
                    {"displayName": "Ana Pérez", "vcard": vcard(ANA)},
                    {"displayName": "Luis", "vcard": vcard(LUIS)},
                ],
            }
        },
    ),
    (
        "reaction",
        {"type": "reaction", "emoji": "👍"},
        CHAT,
        MINE,
        {"react": {"key": _key(CHAT, MINE), "text": "👍", "senderTimestampMs": STAMP}},
    ),
    (
        "reaction taken back, in a group, on another's message",
        {"type": "reaction", "emoji": ""},
        GROUP,
        THEIRS,
        {"react": {"key": _key(GROUP, THEIRS), "text": "", "senderTimestampMs": STAMP}},
    ),
    (
        "edit",
        {"type": "edit", "body": "el martes"},
        CHAT,
        MINE,
        {"text": "el martes", "edit": _key(CHAT, MINE)},
    ),
    ("delete", {"type": "delete"}, CHAT, MINE, {"delete": _key(CHAT, MINE)}),
    ("admin delete", {"type": "delete"}, GROUP, THEIRS, {"delete": _key(GROUP, THEIRS)}),
    (
        "single-choice poll",
        {"type": "poll", "name": "¿Qué día?", "options": ["lunes", "martes"], "selectable_count": 1},
        CHAT,
        None,
        {
            "poll": {
                "name": "¿Qué día?",
                "values": ["lunes", "martes"],
                "selectableCount": 1,
                "messageSecret": {"$hex": SECRET.hex()},
            }
        },
    ),
    (
        "multiple-choice poll",
        {"type": "poll", "name": "¿Qué traes?", "options": ["pan", "vino", "queso"], "selectable_count": 0},
        GROUP,
        None,
        {
            "poll": {
                "name": "¿Qué traes?",
                "values": ["pan", "vino", "queso"],
                "selectableCount": 0,
                "messageSecret": {"$hex": SECRET.hex()},
            }
        },
    ),
]


def _ours(content: dict[str, Any], chat: Jid, target: MessageRef | None) -> wa.Message:
    built = build(content, chat, target=target, now_ms=STAMP)
    if built.poll_secret is not None:  # random by design; Baileys was given the same fixed one
        built.message.messageContextInfo.messageSecret = SECRET
    return built.message


def _theirs(raw: bytes, ours: wa.Message) -> wa.Message:
    message = parse(wa.Message, raw, "Baileys' message")
    poll = any(message.HasField(f) for f in ("pollCreationMessage", "pollCreationMessageV3"))
    if not poll and message.HasField("messageContextInfo"):
        message.messageContextInfo.ClearField("messageSecret")  # a random reporting-token secret
        if not message.messageContextInfo.ListFields():
            message.ClearField("messageContextInfo")
    if message.HasField("protocolMessage") and message.protocolMessage.HasField("timestampMs"):
        message.protocolMessage.timestampMs = ours.protocolMessage.timestampMs  # Date.now() there
    return message


def test_our_typed_kinds_are_baileys_bytes(run_node: RunNode) -> None:
    answer = run_node(
        "content_vectors.mjs",
        {"cases": [{"name": name, "content": theirs} for name, _, _, _, theirs in CASES]},
    )
    built = {item["name"]: bytes.fromhex(item["message"]) for item in answer["built"]}
    assert len(built) == len(CASES)
    for name, content, chat, target, _ in CASES:
        ours = _ours(content, chat, target)
        theirs = _theirs(built[name], ours)
        assert serialize(ours) == serialize(theirs), (name, ours, theirs)
