"""JIDs: every text form WhatsApp uses parses to the right fields and prints back the same."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from connector.engines.web.binary.jid import SERVER_JID, STATUS_BROADCAST_JID, Jid
from tests.unit.web.binary_strategies import jids

FORMS = [
    ("123456789@s.whatsapp.net", Jid("123456789", "s.whatsapp.net")),
    ("123456789:3@s.whatsapp.net", Jid("123456789", "s.whatsapp.net", 3)),
    ("123456789:0@s.whatsapp.net", Jid("123456789", "s.whatsapp.net", 0)),
    ("98765432109876@lid", Jid("98765432109876", "lid")),
    ("98765432109876:12@lid", Jid("98765432109876", "lid", 12)),
    ("123:255@hosted", Jid("123", "hosted", 255)),
    ("987:2@hosted.lid", Jid("987", "hosted.lid", 2)),
    ("120363012345678901@g.us", Jid("120363012345678901", "g.us")),
    ("4915112345678-1600000000@g.us", Jid("4915112345678-1600000000", "g.us")),
    ("status@broadcast", STATUS_BROADCAST_JID),
    ("120363999@newsletter", Jid("120363999", "newsletter")),
    ("13135550002@bot", Jid("13135550002", "bot")),
    ("0@c.us", Jid("0", "c.us")),
    ("@s.whatsapp.net", SERVER_JID),
    ("@g.us", Jid("", "g.us")),
    ("123_5:3@s.whatsapp.net", Jid("123", "s.whatsapp.net", 3, agent=5)),
    ("123:4000@msgr", Jid("123", "msgr", 4000)),
    ("7-123:3@interop", Jid("123", "interop", 3, integrator=7)),
    (":3@s.whatsapp.net", Jid("", "s.whatsapp.net", 3)),
]


@pytest.mark.parametrize(("text", "jid"), FORMS, ids=[text for text, _ in FORMS])
def test_text_forms_parse_and_print_back(text: str, jid: Jid) -> None:
    assert Jid.parse(text) == jid
    assert str(jid) == text


def test_a_server_is_a_jid_with_an_empty_user() -> None:
    assert SERVER_JID == Jid("", "s.whatsapp.net")
    assert SERVER_JID.is_server and not Jid.parse("1@g.us").is_server


@pytest.mark.parametrize(
    "text",
    ["", "@", "s.whatsapp.net", "result", "a@b@c", "a:b@s.whatsapp.net", "1:256@s.whatsapp.net",
     "1:2:3@lid", "1:-2@lid", "a_b:1@s.whatsapp.net", "1_1:2@s.whatsapp.net", "1_0:2@s.whatsapp.net",
     "1_300:2@s.whatsapp.net", "x-1:2@interop", "1:70000@msgr", "1:٣@lid"],
)  # fmt: skip
def test_malformed_text_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        Jid.parse(text)


@pytest.mark.parametrize(
    "fields",
    [("1", ""), ("1", "lid", 256), ("1", "msgr", -1), ("1", "g.us", None, 5), ("1", "lid", 1, 5),
     ("1", "s.whatsapp.net", 1, 1), ("1", "g.us", 1, None, 3), ("1", "interop", None, None, 3)],
)  # fmt: skip
def test_fields_without_a_wire_form_are_rejected(fields: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        Jid(*fields)


def test_kinds() -> None:
    device = Jid.parse("123:3@s.whatsapp.net")
    assert device.is_pn_user and not device.is_lid_user
    assert Jid.parse("9:3@lid").is_lid_user and Jid.parse("9@hosted.lid").is_hosted
    assert Jid.parse("1-2@g.us").is_group and not Jid("", "g.us").is_group
    assert STATUS_BROADCAST_JID.is_broadcast and STATUS_BROADCAST_JID.is_status_broadcast
    assert Jid.parse("5@broadcast").is_broadcast and not Jid.parse("5@broadcast").is_status_broadcast
    assert Jid.parse("5@newsletter").is_newsletter


def test_account_and_device() -> None:
    device = Jid.parse("123_5:3@s.whatsapp.net")
    assert device.to_account() == Jid("123", "s.whatsapp.net")
    assert Jid.parse("9@lid").with_device(7) == Jid.parse("9:7@lid")
    assert {Jid.parse("1@lid"): "hashable"}[Jid("1", "lid")] == "hashable"
    assert repr(device) == "Jid('123_5:3@s.whatsapp.net')"


@given(jids)
@settings(max_examples=300, database=None)
def test_any_jid_prints_to_text_that_parses_back(jid: Jid) -> None:
    assert Jid.parse(str(jid)) == jid
