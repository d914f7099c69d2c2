"""Evolution's message record of wagate messages (evolution/shapes.py) and its send bodies read into wagate's
send requests (evolution/send_dtos.py): the fields Evolution v2 and Baileys write, for every kind."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wagate.domain.content import Kind
from wagate.domain.errors import InvalidInput
from wagate.domain.messages import Message, whatsapp_message_id
from wagate.evolution import send_dtos, shapes

SHA = "ab" * 32


def message(content: dict[str, Any] | None, **fields: Any) -> Message:
    kind = (content or {}).get("type", "text")
    base: dict[str, Any] = {
        "id": "msg_01JD3Q8K2M4N6P8R0T2V4X6Z8B",
        "tenant_id": "ten_1",
        "session_id": "ses_1",
        "direction": "inbound",
        "from": "+34600111222",
        "chat": "+34600111222",
        "kind": kind,
        "content": content,
        "status": "received",
        "provider_message_id": "3A5F00112233445566",
        "metadata": {"push_name": "Ana"},
        "created_at": 1765000000.4,
        "updated_at": 1765000000.4,
    }
    base.update(fields)
    return Message.model_validate(base)


def media(kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "med_01JD3Q8K2M4N6P8R0T2V4X6Z8B",
        "kind": kind,
        "mime": extra.pop("mime", "image/jpeg"),
        "size": 1234,
        "sha256": SHA,
        "url": "http://127.0.0.1:8000/media-files/abc?sig=x",
        "url_expires_at": 1765000900.0,
        **extra,
    }


def test_an_inbound_text_is_a_conversation_with_its_key_and_delivered_status() -> None:
    record = shapes.message_record(message({"type": "text", "body": "Hola"}), instance_id="ses_1")
    assert record == {
        "key": {"remoteJid": "34600111222@s.whatsapp.net", "fromMe": False, "id": "3A5F00112233445566"},
        "pushName": "Ana",
        "status": "DELIVERY_ACK",
        "message": {"conversation": "Hola"},
        "messageType": "conversation",
        "messageTimestamp": 1765000000,
        "instanceId": "ses_1",
        "source": "ios",
    }


def test_a_queued_outbound_message_has_the_id_wagate_will_send_it_with() -> None:
    queued = message(
        {"type": "text", "body": "Hi"},
        direction="outbound",
        status="queued",
        provider_message_id=None,
        to="+34600111222",
    )
    record = shapes.message_record(queued, instance_id="i")
    assert record["key"] == {
        "remoteJid": "34600111222@s.whatsapp.net",
        "fromMe": True,
        "id": whatsapp_message_id(queued.id),
    }
    assert record["status"] == "PENDING"
    assert record["source"] == "web"


@pytest.mark.parametrize(
    ("status", "evolution"),
    [
        ("sending", "PENDING"),
        ("sent", "SERVER_ACK"),
        ("delivered", "DELIVERY_ACK"),
        ("read", "READ"),
        ("failed", "ERROR"),
    ],
)
def test_statuses_use_baileys_names(status: str, evolution: str) -> None:
    sent = message({"type": "text", "body": "x"}, direction="outbound", status=status)
    assert shapes.message_record(sent, instance_id="i")["status"] == evolution


def test_a_group_message_names_its_participant() -> None:
    group = message(
        {"type": "text", "body": "x"},
        chat="120363012345678901@g.us",
        metadata={"sender_jid": "34600111222@s.whatsapp.net"},
    )
    key = shapes.message_record(group, instance_id="i")["key"]
    assert key["remoteJid"] == "120363012345678901@g.us"
    assert key["participant"] == "34600111222@s.whatsapp.net"


def test_an_image_carries_wagates_link_and_hash_never_a_media_key() -> None:
    content = {"type": "image", "caption": "look", "mime_type": "image/jpeg", "media": media("image")}
    record = shapes.message_record(message(content), instance_id="i")
    assert record["messageType"] == "imageMessage"
    image = record["message"]["imageMessage"]
    assert image["url"] == record["message"]["mediaUrl"] == "http://127.0.0.1:8000/media-files/abc?sig=x"
    assert image["caption"] == "look"
    assert image["mimetype"] == "image/jpeg"
    assert image["fileLength"] == "1234"
    assert image["fileSha256"] == "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="
    text = json.dumps(record).lower()
    assert "mediakey" not in text and "directpath" not in text


def test_a_voice_note_is_a_ptt_audio_and_a_document_has_its_name() -> None:
    voice = {
        "type": "audio",
        "voice": True,
        "media": media("audio", mime="audio/ogg", voice=True, duration=7),
    }
    record = shapes.message_record(message(voice), instance_id="i")
    assert record["message"]["audioMessage"]["ptt"] is True
    assert record["message"]["audioMessage"]["seconds"] == 7
    doc = {"type": "document", "filename": "cita.pdf", "media": media("document", mime="application/pdf")}
    body = shapes.message_record(message(doc), instance_id="i")["message"]["documentMessage"]
    assert body["fileName"] == body["title"] == "cita.pdf"


def test_base64_is_added_only_when_asked() -> None:
    content = {"type": "image", "media": media("image")}
    assert "base64" not in shapes.message_record(message(content), instance_id="i")["message"]
    with_bytes = shapes.message_record(message(content), instance_id="i", base64_media="AAEC")
    assert with_bytes["message"]["base64"] == "AAEC"


def test_location_contacts_and_polls() -> None:
    loc = shapes.message_record(
        message({"type": "location", "latitude": 40.4, "longitude": -3.7, "name": "Taller"}), instance_id="i"
    )
    assert loc["message"] == {
        "locationMessage": {"degreesLatitude": 40.4, "degreesLongitude": -3.7, "name": "Taller"}
    }
    one = {"type": "contacts", "contacts": [{"name": "Ana", "phones": [{"phone": "+34 600 111 222"}]}]}
    card = shapes.message_record(message(one), instance_id="i")["message"]["contactMessage"]
    assert card["displayName"] == "Ana"
    assert "item1.TEL;waid=34600111222:+34 600 111 222" in card["vcard"]
    two = {"type": "contacts", "contacts": [{"name": "Ana"}, {"name": "Luis"}]}
    many = shapes.message_record(message(two), instance_id="i")
    assert many["messageType"] == "contactsArrayMessage"
    assert [c["displayName"] for c in many["message"]["contactsArrayMessage"]["contacts"]] == ["Ana", "Luis"]
    poll = shapes.message_record(
        message({"type": "poll", "name": "¿Día?", "options": ["lunes", "martes"]}), instance_id="i"
    )
    assert poll["message"]["pollCreationMessageV3"]["options"] == [
        {"optionName": "lunes"},
        {"optionName": "martes"},
    ]


def test_a_reaction_names_its_target_by_key() -> None:
    target = message(
        {"type": "text", "body": "x"}, id="msg_target", direction="outbound", provider_message_id="3EB0AA"
    )
    reaction = message(
        {"type": "reaction", "target_id": "msg_target", "target_provider_id": "3EB0AA", "emoji": "👍"}
    )
    record = shapes.message_record(reaction, instance_id="i", lookup={"msg_target": target}.get)
    assert record["messageType"] == "reactionMessage"
    assert record["message"]["reactionMessage"]["key"] == {
        "remoteJid": "34600111222@s.whatsapp.net",
        "fromMe": True,
        "id": "3EB0AA",
    }
    assert record["message"]["reactionMessage"]["text"] == "👍"


def test_a_quote_is_the_top_level_context_info() -> None:
    quoted = message({"type": "text", "body": "original"}, provider_message_id="3A01")
    reply = message({"type": "text", "body": "reply"}, quoted_id="3A01", provider_message_id="3A02")
    record = shapes.message_record(reply, instance_id="i", lookup={"3A01": quoted}.get)
    assert record["contextInfo"] == {
        "stanzaId": "3A01",
        "quotedMessage": {"conversation": "original"},
        "participant": "34600111222@s.whatsapp.net",
    }


def test_every_kind_has_a_record() -> None:
    """No kind of the content model falls through to an empty `unknown`."""
    samples: dict[str, dict[str, Any]] = {
        "video": {"type": "video", "gif": True},
        "sticker": {"type": "sticker", "animated": True},
        "edit": {"type": "edit", "target_provider_id": "3A1", "body": "new"},
        "delete": {"type": "delete", "target_provider_id": "3A1"},
        "poll_vote": {"type": "poll_vote", "target_provider_id": "3A1", "option_hashes": [SHA]},
        "interactive": {
            "type": "interactive",
            "style": "buttons",
            "body": "b",
            "buttons": [{"id": "y", "title": "Sí"}],
        },
        "interactive_reply": {
            "type": "interactive_reply",
            "reply_type": "button_reply",
            "id": "y",
            "title": "Sí",
        },
        "template": {"type": "template", "name": "cita", "body": "Hola Ana"},
        "order": {"type": "order", "items": [{"quantity": 2}]},
        "system": {"type": "system", "system_type": "user_changed_number"},
        "unsupported": {"type": "unsupported", "raw_type": "pinInChatMessage"},
    }
    expected = {
        "video": "videoMessage",
        "sticker": "stickerMessage",
        "edit": "protocolMessage",
        "delete": "protocolMessage",
        "poll_vote": "pollUpdateMessage",
        "interactive": "buttonsMessage",
        "interactive_reply": "buttonsResponseMessage",
        "template": "conversation",
        "order": "orderMessage",
        "system": "protocolMessage",
        "unsupported": "pinInChatMessage",
    }
    for kind, content in samples.items():
        record = shapes.message_record(message(content), instance_id="i")
        assert record["messageType"] == expected[kind], kind
        text = json.dumps(record)  # plain JSON, as webhooks and answers carry it
        assert "mediaKey" not in text and "directPath" not in text, kind
    covered = set(samples) | {
        "text",
        "image",
        "audio",
        "document",
        "location",
        "contacts",
        "reaction",
        "poll",
    }
    assert covered == {k.value for k in Kind} - {"media"}


def test_jids_and_phones() -> None:
    assert shapes.jid_of("+34600111222") == "34600111222@s.whatsapp.net"
    assert shapes.jid_of("120363012345678901@g.us") == "120363012345678901@g.us"
    assert shapes.phone_of_jid("34600111222:12@s.whatsapp.net") == "+34600111222"
    assert shapes.phone_of_jid("120363012345678901@g.us") is None


# ---- send bodies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "to"),
    [
        ("5511999999999", "+5511999999999"),
        ("+55 (11) 99999-9999", "+5511999999999"),
        ("5511999999999@s.whatsapp.net", "+5511999999999"),
        ("5511999999999:3@s.whatsapp.net", "+5511999999999"),
        ("120363012345678901@g.us", "120363012345678901@g.us"),
        ("120363012345678901", "120363012345678901@g.us"),
        ("5511999999999-1612345678@g.us", "5511999999999-1612345678@g.us"),
        ("5511999999999-1612345678", "5511999999999-1612345678@g.us"),
    ],
)
def test_numbers_are_read_as_evolution_reads_them(number: str, to: str) -> None:
    assert send_dtos.recipient(number) == to


@pytest.mark.parametrize(
    "number", ["12345@lid", "status@broadcast", "abc", "", "34600@example.com", "+1555abc0001"]
)
def test_numbers_wagate_cannot_send_to_are_refused_by_name(number: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        send_dtos.recipient(number)
    assert "number" in str(caught.value)


def test_send_text_reads_evolutions_body_and_schedules_a_delay() -> None:
    dto = send_dtos.read(send_dtos.SendText, {"number": "5511999999999", "text": "Oi", "delay": 1500, "x": 1})
    request = send_dtos.send_request("ses_1", dto, now=1000.0, text=dto.text)
    assert request.to == "+5511999999999"
    assert request.text == "Oi"
    assert request.scheduled_at == 1001.5


def test_missing_and_mistyped_fields_are_named_in_evolutions_words() -> None:
    with pytest.raises(InvalidInput) as caught:
        send_dtos.read(send_dtos.SendText, {"number": 5511999999999})
    messages = caught.value.details["messages"]
    assert 'requires property "text"' in messages
    assert any(m.startswith("number ") for m in messages)
    with pytest.raises(InvalidInput):
        send_dtos.read(send_dtos.SendText, ["not", "an", "object"])
    with pytest.raises(InvalidInput):
        send_dtos.read(send_dtos.SendText, {"number": "5511999999999", "text": "x", "delay": -1})


def test_wagates_own_limits_are_a_clear_invalid_input() -> None:
    dto = send_dtos.read(send_dtos.SendText, {"number": "5511999999999", "text": "x" * 5000})
    with pytest.raises(InvalidInput) as caught:
        send_dtos.send_request("ses_1", dto, now=0.0, text=dto.text)
    assert "text" in caught.value.details["fields"]


def test_contacts_lists_and_buttons() -> None:
    contact = send_dtos.read(
        send_dtos.SendContact,
        {"number": "5511999999999", "contact": [{"fullName": "Ana", "phoneNumber": "+34 600 111 222"}]},
    )
    (card,) = send_dtos.contact_cards(contact)
    assert card.phones[0].wa_id == "34600111222"
    listing = send_dtos.read(
        send_dtos.SendList,
        {
            "number": "5511999999999",
            "title": "Menu",
            "footerText": "f",
            "buttonText": "Ver",
            "sections": [{"title": "S", "rows": [{"title": "A", "rowId": "a"}]}],
        },
    )
    assert send_dtos.list_content(listing).sections[0].rows[0].id == "a"  # type: ignore[index]
    buttons = send_dtos.read(
        send_dtos.SendButtons,
        {
            "number": "5511999999999",
            "title": "¿Confirmas?",
            "buttons": [{"type": "reply", "displayText": "Sí", "id": "y"}],
        },
    )
    assert send_dtos.buttons_content(buttons).buttons[0].title == "Sí"  # type: ignore[index]
    url = send_dtos.read(
        send_dtos.SendButtons,
        {"number": "5511999999999", "title": "t", "buttons": [{"type": "url", "url": "https://x"}]},
    )
    with pytest.raises(InvalidInput, match="reply buttons"):
        send_dtos.buttons_content(url)


@pytest.mark.parametrize(
    ("model", "good", "bad"),
    [
        (
            send_dtos.SendMedia,
            {"number": "1", "mediatype": "image", "media": "https://x/a.jpg"},
            {"number": "1", "mediatype": "gif"},
        ),
        (send_dtos.SendAudio, {"number": "1", "audio": "T2dnUw=="}, {"audio": "T2dnUw=="}),
        (
            send_dtos.SendLocation,
            {"number": "1", "latitude": 1.5, "longitude": 2, "name": "n", "address": "a"},
            {"number": "1", "latitude": 1.5, "longitude": 2},
        ),
        (
            send_dtos.SendReaction,
            {"key": {"id": "3A1", "remoteJid": "1@s.whatsapp.net", "fromMe": True}, "reaction": "👍"},
            {"key": {"id": ""}, "reaction": "x"},
        ),
        (
            send_dtos.SendPoll,
            {"number": "1", "name": "q", "selectableCount": 1, "values": ["a", "b"]},
            {"number": "1", "name": "q", "selectableCount": 11, "values": ["a", "b"]},
        ),
    ],
)
def test_each_send_body_is_read_and_refused_as_evolutions_schema_says(
    model: type[send_dtos.Dto], good: dict[str, Any], bad: dict[str, Any]
) -> None:
    assert send_dtos.read(model, good).model_dump(exclude_none=True).keys() <= {*good, "number"}
    with pytest.raises(InvalidInput):
        send_dtos.read(model, bad)


def test_poll_and_audio_fields_keep_evolutions_names() -> None:
    poll = send_dtos.read(
        send_dtos.SendPoll, {"number": "1", "name": "q", "selectableCount": 0, "values": ["a", "b"]}
    )
    assert poll.selectableCount == 0
    assert send_dtos.read(send_dtos.SendAudio, {"number": "1", "audio": "T2dnUw=="}).audio == "T2dnUw=="
