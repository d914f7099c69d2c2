"""The Node value's helpers and the frame-payload layer (flag byte, zlib) around the codec."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.engines.web.binary.codec import BinaryDecodeError, encode
from connector.engines.web.binary.jid import Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.binary.payload import decode_payload, encode_payload
from connector.engines.web.errors import FrameError

STANZA = Node(
    "iq",
    {"id": "42", "from": Jid.parse("123:2@s.whatsapp.net"), "t": "1700000000", "type": "result"},
    [Node("ref", content=b"a"), Node("ref", content=b"b"), Node("count", {"value": "-3"}, "77")],
)


def test_children_are_found_by_tag() -> None:
    assert STANZA.find("ref") == Node("ref", content=b"a")
    assert [ref.content_bytes() for ref in STANZA.findall("ref")] == [b"a", b"b"]
    assert STANZA.find("missing") is None and STANZA.findall("missing") == []
    assert Node("leaf", content=b"x").children == [] and Node("leaf").find("x") is None


def test_attributes_are_read_by_type() -> None:
    assert STANZA.str_attr("from") == "123:2@s.whatsapp.net"
    assert STANZA.jid_attr("from") == Jid("123", "s.whatsapp.net", 2)
    assert Node("x", {"to": "1@g.us"}).jid_attr("to") == Jid("1", "g.us")
    assert STANZA.int_attr("t") == 1_700_000_000
    count = STANZA.find("count")
    assert count is not None and count.int_attr("value") == -3 and count.content_bytes() == b"77"
    assert (
        STANZA.str_attr("nope") is None
        and STANZA.jid_attr("nope") is None
        and STANZA.int_attr("nope") is None
    )
    with pytest.raises(ValueError):
        STANZA.int_attr("type")
    with pytest.raises(ValueError):
        STANZA.jid_attr("type")


def test_renders_as_xml_for_logs() -> None:
    text = str(Node("iq", {"to": Jid("", "s.whatsapp.net")}, [Node("enc", content=bytes(20)), Node("ping")]))
    assert (
        text == '<iq to="@s.whatsapp.net"><enc>[20 bytes 00000000000000000000000000000000…]</enc><ping/></iq>'
    )


def test_payloads_carry_a_flag_byte() -> None:
    assert encode_payload(STANZA) == b"\x00" + encode(STANZA)
    assert decode_payload(encode_payload(STANZA)) == STANZA
    assert decode_payload(bytearray(b"\x02" + zlib.compress(encode(STANZA)))) == STANZA


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x02", b"\x02not zlib", b"\x02" + zlib.compress(encode(STANZA))[:-3],
     b"\x02" + zlib.compress(encode(STANZA)) + b"junk", b"\x00" + encode(STANZA)[:-1]],
    ids=["empty", "no-stream", "not-zlib", "truncated-zlib", "junk-after-zlib", "truncated-node"],
)  # fmt: skip
def test_bad_payloads_raise_one_error(payload: bytes) -> None:
    with pytest.raises(BinaryDecodeError):
        decode_payload(payload)


def test_inflating_is_bounded() -> None:
    bomb = b"\x02" + zlib.compress(encode(Node("iq", content=bytes(10_000))))
    assert decode_payload(bomb, max_inflated=10_010).content == bytes(10_000)
    with pytest.raises(BinaryDecodeError, match="inflates past"):
        decode_payload(bomb, max_inflated=9_000)


def test_decode_errors_are_frame_errors_and_value_errors() -> None:
    with pytest.raises(FrameError):
        decode_payload(b"\x00")
    with pytest.raises(ValueError):
        decode_payload(b"\x00")


@given(st.binary(max_size=200))
@settings(max_examples=300, database=None)
def test_arbitrary_payloads_decode_or_raise_one_error(tail: bytes) -> None:
    for payload in (b"\x00" + tail, b"\x02" + tail, b"\x02" + zlib.compress(tail)):
        try:
            decode_payload(payload)
        except BinaryDecodeError:
            pass
