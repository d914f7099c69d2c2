"""The sans-I/O pieces of messaging on their own: message content in and out, usync and group answers,
prekey bundles (also from a retry receipt), and message envelopes."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.events import MediaKind
from connector.engines.web.binary.jid import Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.bundles import parse_bundle
from connector.engines.web.content import (
    device_sent,
    media_type,
    read_content,
    stanza_type,
    text_message,
    with_distribution,
)
from connector.engines.web.creds import Me
from connector.engines.web.errors import ProtocolError
from connector.engines.web.groups import parse_group
from connector.engines.web.protos import parse, serialize, wa
from connector.engines.web.receiving import envelope
from connector.engines.web.usync import parse_usync

ALICE = Jid("15550001111", "s.whatsapp.net")
ALICE_LID = Jid("21212121212121", "lid")
GROUP = Jid("120363000000000001", "g.us")
ME = Me(jid=Jid("15550009999", "s.whatsapp.net", 3), lid=Jid("98989898989898", "lid", 3))


def test_text_quotes_wrappers_and_sender_keys_round_trip() -> None:
    assert read_content(text_message("hola")).text == "hola"
    quoted = read_content(
        parse(wa.Message, serialize(text_message("sí", quoted_id="3EB0AA", quoted_sender=ALICE)), "m")
    )
    assert (quoted.text, quoted.quoted_id) == ("sí", "3EB0AA")
    wrapped = read_content(device_sent(ALICE, text_message("copy")))
    assert (wrapped.text, wrapped.destination) == ("copy", str(ALICE))
    distribution = read_content(with_distribution(GROUP, b"\x33key", text_message("first")))
    assert distribution.text == "first" and distribution.distribution is not None
    assert (distribution.distribution.group, distribution.distribution.key) == (str(GROUP), b"\x33key")
    assert not read_content(with_distribution(GROUP, b"\x33key")).visible  # a key alone is not a message
    assert stanza_type(text_message("x")) == "text" and media_type(text_message("x")) is None


def test_incoming_media_becomes_a_reference_with_what_a_download_needs() -> None:
    image = wa.Message.ImageMessage(
        url="https://mmg.example/v/t62/abc",
        mimetype="image/jpeg",
        caption="la receta",
        fileSha256=b"\x01" * 32,
        fileLength=2048,
        mediaKey=b"\x02" * 32,
        fileEncSha256=b"\x03" * 32,
        directPath="/v/t62/abc",
    )
    image.contextInfo.stanzaId = "3EB0QUOTED"
    message = wa.Message(imageMessage=image)
    content = read_content(message)
    assert content.visible and content.text is None and content.quoted_id == "3EB0QUOTED"
    media = content.media
    assert media is not None and (media.kind, media.mime_type, media.size) == (
        MediaKind.IMAGE,
        "image/jpeg",
        2048,
    )
    assert media.caption == "la receta" and media.sha256 == "01" * 32
    # What a download needs stays in the engine-private `fetch`; nothing published carries the key.
    assert media.url is None
    assert media.fetch is not None and media.fetch.ref.media_key == b"\x02" * 32
    assert media.fetch.ref.direct_path == "/v/t62/abc" and media.fetch.kind.value == "image"
    assert "fetch" not in repr(media) and b"\x02" * 32 not in repr(media).encode()
    assert stanza_type(message) == "media" and media_type(message) == "image"
    voice = wa.Message(audioMessage=wa.Message.AudioMessage(mimetype="audio/ogg", ptt=True))
    assert media_type(voice) == "ptt"


def test_a_history_sync_notification_is_protocol_traffic() -> None:
    protocol = wa.Message.ProtocolMessage(type=wa.Message.ProtocolMessage.HISTORY_SYNC_NOTIFICATION)
    protocol.historySyncNotification.fileLength = 1
    content = read_content(wa.Message(protocolMessage=protocol))
    assert content.history_sync and not content.visible


def test_usync_answers_keep_only_devices_a_message_can_go_to() -> None:
    devices = Node(
        "devices",
        {},
        [
            Node(
                "device-list",
                {},
                [
                    Node("device", {"id": "0"}),
                    Node("device", {"id": "2", "key-index": "1"}),
                    Node("device", {"id": "5"}),  # no key index: WhatsApp refuses envelopes for it
                    Node("device", {"id": "99", "key-index": "3", "is_hosted": "true"}),
                ],
            )
        ],
    )
    user = Node("user", {"jid": ALICE}, [devices, Node("lid", {"val": ALICE_LID})])
    unknown = Node(
        "user",
        {"jid": Jid("15550000000", "s.whatsapp.net")},
        [Node("devices", {}, [Node("device-list", {}, [])])],
    )
    answer = Node("iq", {"type": "result"}, [Node("usync", {}, [Node("list", {}, [user, unknown])])])
    parsed = parse_usync(answer)
    assert parsed[ALICE] == ([0, 2], ALICE_LID)
    assert parsed[Jid("15550000000", "s.whatsapp.net")] == ([], None)
    with pytest.raises(ProtocolError):
        parse_usync(Node("iq", {"type": "result"}))


def test_group_metadata_in_lid_mode_reveals_each_members_number() -> None:
    participants = [
        Node("participant", {"jid": ALICE_LID, "type": "superadmin", "phone_number": ALICE}),
        Node(
            "participant",
            {"jid": Jid("31313131313131", "lid"), "phone_number": Jid("15550002222", "s.whatsapp.net")},
        ),
    ]
    description = Node("description", {"id": "1"}, [Node("body", {}, b"Equipo")])
    node = Node(
        "group",
        {
            "id": GROUP.user,
            "subject": "Team",
            "creation": "1700000000",
            "creator": ALICE_LID,
            "addressing_mode": "lid",
        },
        [*participants, description],
    )
    meta, pairs = parse_group(node)
    assert (meta.jid, meta.subject, meta.addressing_mode, meta.description) == (
        GROUP,
        "Team",
        "lid",
        "Equipo",
    )
    assert meta.members == (ALICE_LID, Jid("31313131313131", "lid")) and meta.created == 1700000000.0
    assert pairs[0] == (ALICE, ALICE_LID)
    info = meta.info()
    assert (info.participants, info.owner_jid) == (2, str(ALICE_LID))
    with pytest.raises(ProtocolError):
        parse_group(Node("group", {"subject": "no id"}))


def test_a_bundle_from_a_fetch_or_from_a_retry_receipts_keys() -> None:
    skey = Node(
        "skey",
        {},
        [
            Node("id", {}, b"\x00\x00\x07"),
            Node("value", {}, b"\x05" * 32),
            Node("signature", {}, b"\x06" * 64),
        ],
    )
    key = Node("key", {}, [Node("id", {}, b"\x00\x01\x00"), Node("value", {}, b"\x08" * 32)])
    keys = Node("keys", {}, [Node("type", {}, b"\x05"), Node("identity", {}, b"\x09" * 32), key, skey])
    bundle = parse_bundle(keys, registration=(4242).to_bytes(4, "big"))
    assert (bundle.registration_id, bundle.signed_pre_key_id, bundle.pre_key_id) == (4242, 7, 256)
    assert bundle.identity_key == b"\x09" * 32 and bundle.pre_key == b"\x08" * 32
    user = Node("user", {}, [Node("registration", {}, b"\x00\x00\x00\x01"), *keys.children[:2], skey])
    assert parse_bundle(user).pre_key_id is None  # the edge ran out of one-time prekeys
    with pytest.raises(ProtocolError):
        parse_bundle(Node("user", {}, [Node("registration", {}, b"\x00\x00\x00\x01")]))


def test_envelopes_say_who_wrote_what_where() -> None:
    direct = envelope(
        Node("message", {"id": "A1", "from": ALICE.with_device(2), "t": "1700000001", "notify": "Ana"}), ME, 0
    )
    assert direct is not None and (direct.author, direct.chat, direct.group) == (
        ALICE.with_device(2),
        ALICE,
        None,
    )
    assert (direct.timestamp, direct.push_name, direct.from_me) == (1700000001.0, "Ana", False)
    ours = envelope(Node("message", {"id": "A2", "from": ME.jid.with_device(0), "recipient": ALICE}), ME, 5)
    assert ours is not None and ours.from_me and ours.chat == ALICE and ours.timestamp == 5
    in_group = envelope(
        Node("message", {"id": "A3", "from": GROUP, "participant": ALICE_LID.with_device(1)}), ME, 0
    )
    assert in_group is not None and (in_group.group, in_group.chat, in_group.author) == (
        GROUP,
        GROUP,
        ALICE_LID.with_device(1),
    )
    assert (
        envelope(
            Node("message", {"id": "A4", "from": Jid("status", "broadcast"), "participant": ALICE}), ME, 0
        )
        is None
    )
    with pytest.raises(ProtocolError):
        envelope(Node("message", {"id": "A5", "from": GROUP}), ME, 0)
    with pytest.raises(ProtocolError):
        envelope(Node("message", {"from": ALICE}), ME, 0)
