"""The WABinary codec: hand-checked bytes, size boundaries, strict decoding, and fuzzing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.engines.web.binary.codec import MAX_DEPTH, BinaryDecodeError, BinaryEncodeError, decode, encode
from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.binary.tokens import DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS
from tests.unit.web.binary_strategies import canonical, nodes


def tok(text: str) -> bytes:
    """The token bytes for `text`, looked up by hand in the tables."""
    if text in SINGLE_BYTE_TOKENS:
        return bytes([SINGLE_BYTE_TOKENS.index(text)])
    for number, table in enumerate(DOUBLE_BYTE_TOKENS):
        if text in table:
            return bytes([236 + number, table.index(text)])
    raise KeyError(text)


IQ, TO, TYPE, GET, MESSAGE = tok("iq"), tok("to"), tok("type"), tok("get"), tok("message")
N12345 = b"\xff\x83\x12\x34\x5f"  # "12345" nibble-packed: 3 bytes, odd (high bit), 0xF filler

TO_MSG = b"\xf8\x03" + MESSAGE + TO  # <message to=...>, the value follows
ZZ = b"\xf8\x02\xfc\x02zz"  # <zz>, the content follows ("zz" is no token: raw, 2 bytes)

HAND_VECTORS = [
    (Node("iq"), b"\xf8\x01" + IQ),
    (Node("iq", {"to": SERVER_JID, "type": "get"}), b"\xf8\x05" + IQ + TO + b"\xfa\x00\x03" + TYPE + GET),
    # AD JID: domain 0, device 2, user "123" nibble-packed (odd length: high bit set, 0xF filler)
    (Node("message", {"to": Jid.parse("123:2@s.whatsapp.net")}), TO_MSG + b"\xf7\x00\x02\xff\x82\x12\x3f"),
    (Node("message", {"to": Jid.parse("12345:1@lid")}), TO_MSG + b"\xf7\x01\x01" + N12345),
    (Node("message", {"to": Jid.parse("12345:1@hosted.lid")}), TO_MSG + b"\xf7\x81\x01" + N12345),
    (Node("message", {"to": Jid.parse("12345@g.us")}), TO_MSG + b"\xfa" + N12345 + tok("g.us")),
    (Node("message", {"to": Jid.parse("9:1@lid")}), TO_MSG + b"\xf7\x01\x01" + tok("9")),
    (Node("iq", {"id": "ABC"}), b"\xf8\x03" + IQ + tok("id") + b"\xfb\x82\xab\xcf"),
    (Node("iq", {"id": "1-."}), b"\xf8\x03" + IQ + tok("id") + b"\xff\x82\x1a\xbf"),
    (Node("iq", {"id": "abc"}), b"\xf8\x03" + IQ + tok("id") + b"\xfc\x03abc"),  # lowercase hex is raw
    (Node("iq", {"id": ""}), b"\xf8\x03" + IQ + tok("id") + b"\xfc\x00"),
    (Node("read-self"), b"\xf8\x01\xec\x00"),
    (Node("zz", content=[]), ZZ + b"\x00"),
    (Node("zz", content=b"\x01\x02"), ZZ + b"\xfc\x02\x01\x02"),
    (Node("zz", content="0"), ZZ + tok("0")),
    (Node("zz", content="12345"), ZZ + N12345),
    # Only we send these forms: Messenger's 16-bit device and the interop integrator
    (Node("zz", content=Jid.parse("12345:300@msgr")), ZZ + b"\xf6" + N12345 + b"\x01\x2c" + tok("msgr")),
    (
        Node("zz", content=Jid.parse("2-12345:3@interop")),
        ZZ + b"\xf5" + N12345 + b"\x00\x03\x00\x02\xfc\x07interop",
    ),
]


@pytest.mark.parametrize(("node", "wire"), HAND_VECTORS, ids=[str(n)[:40] for n, _ in HAND_VECTORS])
def test_hand_checked_bytes(node: Node, wire: bytes) -> None:
    assert encode(node) == wire
    assert decode(wire) == node


@pytest.mark.parametrize(
    ("length", "header"),
    [(0, b"\xfc\x00"), (255, b"\xfc\xff"), (256, b"\xfd\x00\x01\x00"), ((1 << 20) - 1, b"\xfd\x0f\xff\xff"),
     (1 << 20, b"\xfe\x00\x10\x00\x00")],
)  # fmt: skip
def test_byte_lengths_switch_at_8_20_and_32_bits(length: int, header: bytes) -> None:
    node = Node("iq", content=bytes(length))
    wire = encode(node)
    assert wire[3 : 3 + len(header)] == header
    assert decode(wire) == node


def test_list_sizes_switch_to_16_bits_past_255() -> None:
    assert encode(Node("iq", content=[Node("i")] * 255))[3:5] == b"\xf8\xff"
    assert encode(Node("iq", content=[Node("i")] * 256))[3:6] == b"\xf9\x01\x00"
    # the node's own list counts 2 per attribute: 127 attributes + tag = 255, 128 = 257
    assert encode(Node("zz", {f"k{i}": "v" for i in range(127)}))[:2] == b"\xf8\xff"
    wide = Node("zz", {f"k{i}": "v" for i in range(128)})
    assert encode(wide)[:3] == b"\xf9\x01\x01"
    assert decode(encode(wide)) == wide


def test_packing_stops_at_127_characters() -> None:
    packed, raw = encode(Node("iq", {"id": "1" * 127})), encode(Node("iq", {"id": "1" * 128}))
    assert packed[4:6] == b"\xff\xc0" and raw[4:6] == b"\xfc\x80"


def test_a_str_with_an_at_sign_stays_a_string() -> None:
    node = Node("iq", {"to": "123@s.whatsapp.net"})
    assert encode(node)[4] == 0xFC  # BINARY_8, not JID_PAIR: pass a Jid to get a JID
    assert decode(encode(node)) == node


UNENCODABLE: dict[str, tuple[Any, ...]] = {
    "empty-tag": ("",),
    "int-value": ("zz", {"k": 5}),
    "int-key": ("zz", {7: "v"}),
    "bytes-child": ("zz", {}, [b"x"]),
    "int-content": ("zz", {}, 3),
    "65536-children": ("zz", {}, [Node("i")] * 65536),
    "surrogate": ("zz", {"k": "\ud800"}),
}


@pytest.mark.parametrize("fields", UNENCODABLE.values(), ids=UNENCODABLE.keys())
def test_unencodable_nodes_raise_one_error(fields: tuple[Any, ...]) -> None:
    with pytest.raises(BinaryEncodeError):
        encode(Node(*fields))


def _nested(levels: int) -> bytes:
    # each level: a node of 2 items (tag "n" + content), the content a list of 1 node
    return b"\xf8\x02\xfc\x01n\xf8\x01" * levels + b"\xf8\x01\xfc\x01n"


MALFORMED = {
    "empty": b"",
    "empty-list-node": b"\x00",
    "zero-size-node": b"\xf8\x00",
    "truncated-size": b"\xf8",
    "truncated-tag": b"\xf8\x01",
    "unassigned-tag-byte": b"\xf8\x01\xf0",
    "list-as-string": b"\xf8\x01\xf8\x01",
    "empty-tag": b"\xf8\x01\x00",
    "jid-as-tag": b"\xf8\x01\xfa\x00\x03",
    "jid-as-key": b"\xf8\x03" + IQ + b"\xfa\x00\x03" + GET,
    "length-past-end": b"\xf8\x02" + IQ + b"\xfc\x05ab",
    "32-bit-length-past-end": b"\xf8\x02" + IQ + b"\xfe\xff\xff\xff\xff",
    "invalid-nibble": b"\xf8\x01\xff\x01\xc1",
    "invalid-utf8": b"\xf8\x01\xfc\x02\xff\xfe",
    "trailing-bytes": b"\xf8\x01" + IQ + b"\x00",
    "jid-without-server": b"\xf8\x03" + IQ + TO + b"\xfa\x00\x00",
    "jid-inside-jid": b"\xf8\x03" + IQ + TO + b"\xfa\xfa\x00\x03\x03",
    "fb-device-too-big-for-ad-server": b"\xf8\x03" + IQ + TO + b"\xf6\xfc\x011\x01\x2c\x03",
    "interop-on-other-server": b"\xf8\x03" + IQ + TO + b"\xf5\xfc\x011\x00\x01\x00\x01\x03",
    "list16-truncated": b"\xf8\x02" + IQ + b"\xf9\xff\xff\xf8\x01" + IQ,
    "too-deep": _nested(MAX_DEPTH + 1),
    "depth-bomb": _nested(200_000),
}


@pytest.mark.parametrize("wire", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bytes_raise_one_error(wire: bytes) -> None:
    with pytest.raises(BinaryDecodeError):
        decode(wire)


def test_nesting_up_to_the_bound_decodes() -> None:
    assert decode(_nested(MAX_DEPTH)).tag == "n"
    with pytest.raises(BinaryDecodeError):
        decode(_nested(5), max_depth=4)
    with pytest.raises(BinaryDecodeError):  # a careless bound still cannot blow the Python stack
        decode(_nested(100_000), max_depth=10**9)


def test_every_truncation_of_a_stanza_is_rejected() -> None:
    stanza = Node(
        "message",
        {"to": Jid.parse("123:4@lid"), "id": "3EB0ABCDEF", "t": "1700000000"},
        [Node("enc", {"v": "2", "type": "pkmsg"}, b"\x33" * 300), Node("device-identity", content=b"k")],
    )
    wire = encode(stanza)
    for end in range(len(wire)):
        with pytest.raises(BinaryDecodeError):
            decode(wire[:end])


def test_decode_is_lenient_where_baileys_is() -> None:
    # A BINARY_20 length ignores its top nibble, and a packed string may hold the filler (as '\0').
    assert decode(ZZ + b"\xfd\xf0\x00\x01x") == Node("zz", content=b"x")
    assert decode(b"\xf8\x01\xff\x02\x1f\x23") == Node("1\x0023")
    assert decode(b"\xf8\x03\xfc\x02zz\x00\xfc\x01v") == Node("zz", {"": "v"})


def test_unknown_ad_domain_is_kept_as_the_agent() -> None:
    jid = decode(ZZ + b"\xf7\x05\x03\xff\x81\x7f").content
    assert jid == Jid("7", "s.whatsapp.net", 3, agent=5)
    assert str(jid) == "7_5:3@s.whatsapp.net"


@given(nodes)
@settings(max_examples=150, database=None, suppress_health_check=[HealthCheck.too_slow])
def test_encode_then_decode_gives_the_node_back(node: Node) -> None:
    assert decode(encode(node)) == canonical(node)


@given(st.binary(max_size=400))
@settings(max_examples=500, database=None)
def test_arbitrary_bytes_decode_or_raise_one_error(wire: bytes) -> None:
    try:
        node = decode(wire)
    except BinaryDecodeError:
        return
    assert decode(encode(node)) == canonical(node)


@given(nodes, st.data())
@settings(max_examples=200, database=None, suppress_health_check=[HealthCheck.too_slow])
def test_corrupted_stanzas_decode_or_raise_one_error(node: Node, data: st.DataObject) -> None:
    wire = bytearray(encode(node))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(wire) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            wire[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del wire[at : at + data.draw(st.integers(1, 8))]
        else:
            wire[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        if not wire:
            return
    try:
        decoded = decode(bytes(wire))
    except BinaryDecodeError:
        return
    assert decode(encode(decoded)) == canonical(decoded)
