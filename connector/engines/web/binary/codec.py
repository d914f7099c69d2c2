"""WABinary, WhatsApp's binary XML: sans-I/O `encode(node) -> bytes` and `decode(data) -> Node`.

Every value starts with a tag byte (tokens.py names them):

    node    = list-start(2 * len(attrs) + 1 + has_content)  tag  (key value)*  [content]
    content = list-start(n) node*  |  BINARY_8/20/32 raw bytes  |  string
    string  = token  |  DICTIONARY_n index  |  NIBBLE_8/HEX_8 packed  |  BINARY_8/20/32 UTF-8  |  jid
    jid     = JID_PAIR user server  |  AD_JID domain device user  |  FB_JID user u16 server
            | INTEROP_JID user u16-device u16-integrator server

The encoder picks what Baileys picks, byte for byte: token, else nibble-packed (digits, '-', '.'), else
hex-packed (digits, 'A'-'F'), each at most 127 characters, else raw UTF-8 with an 8/20/32-bit length.
Two deliberate differences:

- A `str` is always written as a string and a `Jid` as a JID. Baileys sniffs '@' and turns any such
  string into a JID; use `Jid.parse()` where an address is meant and the bytes are the same.
- Decoding is strict and bounded: trailing bytes, invalid UTF-8, a JID where a tag, key or JID part
  belongs, and nesting deeper than `max_depth` are errors. Every failure is a `BinaryDecodeError`.
"""

from __future__ import annotations

import re

from connector.engines.web.binary.jid import DOMAIN_BY_SERVER, SERVER_BY_DOMAIN, USER_SERVER, Jid
from connector.engines.web.binary.node import AttrValue, Content, Node
from connector.engines.web.binary.tokens import (
    AD_JID,
    BINARY_8,
    BINARY_20,
    BINARY_32,
    DICTIONARY_0,
    DICTIONARY_3,
    DOUBLE_BYTE_TOKENS,
    FB_JID,
    HEX_8,
    INTEROP_JID,
    JID_PAIR,
    LIST_8,
    LIST_16,
    LIST_EMPTY,
    NIBBLE_8,
    PACKED_MAX,
    SINGLE_BYTE_TOKENS,
)
from connector.engines.web.errors import FrameError, WebEngineError

MAX_DEPTH = 64
"""How deeply nodes may nest. Real stanzas stay under ten levels; the bound stops depth bombs."""


class BinaryDecodeError(FrameError, ValueError):
    """The bytes are not a well-formed binary node (truncated, bad tag, bad length, too deep...)."""

    code = "web_binary_malformed"


class BinaryEncodeError(WebEngineError, ValueError):
    """The node cannot be put on the wire (empty tag, wrong value type, list or string too long)."""

    code = "web_binary_unencodable"


# --- encoding ---------------------------------------------------------------------------------------

_TOKEN_BYTES: dict[str, bytes] = {
    token: bytes((index,)) for index, token in enumerate(SINGLE_BYTE_TOKENS) if index
}
_TOKEN_BYTES.update(
    (token, bytes((DICTIONARY_0 + number, index)))
    for number, table in enumerate(DOUBLE_BYTE_TOKENS)
    for index, token in enumerate(table)
)
_NIBBLE_TEXT = re.compile(rf"[0-9.\-]{{1,{PACKED_MAX}}}")
_HEX_TEXT = re.compile(rf"[0-9A-F]{{1,{PACKED_MAX}}}")
# Nibble packing is hex packing with '-' as 0xA and '.' as 0xB; the filler nibble is 0xF in both.
_NIBBLE_AS_HEX = str.maketrans("-.", "AB")


def encode(node: Node) -> bytes:
    """The wire bytes of `node` (without the frame's flag byte: see payload.py).

    Raises:
        BinaryEncodeError: the node has no wire form.
    """
    out = bytearray()
    _write_node(out, node, 0)
    return bytes(out)


def _write_node(out: bytearray, node: Node, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise BinaryEncodeError(f"nodes nested deeper than {MAX_DEPTH}")
    tag, attrs, content = node.tag, node.attrs, node.content
    if not tag or not isinstance(tag, str):
        raise BinaryEncodeError(f"invalid node tag {tag!r}")
    _write_list_start(out, 2 * len(attrs) + (1 if content is None else 2))
    _write_string(out, tag)
    for key, value in attrs.items():
        if not isinstance(key, str):
            raise BinaryEncodeError(f"<{tag}> attribute key {key!r} is not a str")
        _write_string(out, key)
        _write_value(out, value, tag)
    if content is None:
        return
    if isinstance(content, list):
        _write_list_start(out, len(content))
        for child in content:
            if not isinstance(child, Node):
                raise BinaryEncodeError(f"<{tag}> has a child that is not a Node: {type(child).__name__}")
            _write_node(out, child, depth + 1)
    elif isinstance(content, bytes | bytearray):
        _write_length(out, len(content))
        out += content
    else:
        _write_value(out, content, tag)


def _write_value(out: bytearray, value: AttrValue | Content, tag: str) -> None:
    if isinstance(value, str):
        _write_string(out, value)
    elif isinstance(value, Jid):
        _write_jid(out, value)
    else:
        raise BinaryEncodeError(f"<{tag}> holds a {type(value).__name__}; expected str or Jid")


def _write_list_start(out: bytearray, size: int) -> None:
    if size == 0:
        out.append(LIST_EMPTY)
    elif size < 0x100:
        out += bytes((LIST_8, size))
    elif size <= 0xFFFF:
        out += bytes((LIST_16, size >> 8, size & 0xFF))
    else:
        raise BinaryEncodeError(f"list of {size} items is longer than 65535")


def _write_length(out: bytearray, length: int) -> None:
    if length < 0x100:
        out += bytes((BINARY_8, length))
    elif length < 0x100000:
        out += bytes((BINARY_20, length >> 16, (length >> 8) & 0xFF, length & 0xFF))
    elif length < 0x100000000:
        out.append(BINARY_32)
        out += length.to_bytes(4, "big")
    else:
        raise BinaryEncodeError(f"{length} bytes do not fit a 32-bit length")


def _write_string(out: bytearray, text: str) -> None:
    token = _TOKEN_BYTES.get(text)
    if token is not None:
        out += token
        return
    if len(text) <= PACKED_MAX:
        if _NIBBLE_TEXT.fullmatch(text):
            _write_packed(out, NIBBLE_8, text.translate(_NIBBLE_AS_HEX))
            return
        if _HEX_TEXT.fullmatch(text):
            _write_packed(out, HEX_8, text)
            return
    try:
        raw = text.encode()
    except UnicodeEncodeError as exc:
        raise BinaryEncodeError(f"string is not encodable as UTF-8: {exc}") from exc
    _write_length(out, len(raw))
    out += raw


def _write_packed(out: bytearray, tag: int, hex_text: str) -> None:
    count = len(hex_text)
    if count & 1:
        # The high bit of the length byte says "drop the last (filler) character".
        out += bytes((tag, (count + 1) >> 1 | 0x80))
        out += bytes.fromhex(hex_text + "F")
    else:
        out += bytes((tag, count >> 1))
        out += bytes.fromhex(hex_text)


def _write_jid(out: bytearray, jid: Jid) -> None:
    device = jid.device
    if jid.integrator is not None and device is not None:
        out.append(INTEROP_JID)
        _write_string(out, jid.user)
        out += device.to_bytes(2, "big") + jid.integrator.to_bytes(2, "big")
        _write_string(out, jid.server)
    elif device is None:
        out.append(JID_PAIR)
        if jid.user:
            _write_string(out, jid.user)
        else:
            out.append(LIST_EMPTY)
        _write_string(out, jid.server)
    elif (domain := DOMAIN_BY_SERVER.get(jid.server)) is not None:
        out += bytes((AD_JID, jid.agent or domain, device))
        _write_string(out, jid.user)
    else:
        # A device on a server with no domain byte (Messenger's `msgr`): the 16-bit-device form.
        out.append(FB_JID)
        _write_string(out, jid.user)
        out += device.to_bytes(2, "big")
        _write_string(out, jid.server)


# --- decoding ---------------------------------------------------------------------------------------

_SINGLE_COUNT = len(SINGLE_BYTE_TOKENS)
_BAD_NIBBLE = re.compile("[cde]")
_HEX_AS_NIBBLE = str.maketrans("abf", "-.\0")


def decode(data: bytes | bytearray | memoryview, *, max_depth: int = MAX_DEPTH) -> Node:
    """The node encoded in `data`, which must hold exactly one node (no frame flag byte).

    Raises:
        BinaryDecodeError: the bytes are malformed, truncated, followed by garbage or nested too deep.
    """
    reader = _Reader(bytes(data), max_depth)
    try:
        node = reader.node(0)
    except IndexError:
        # Single bytes are read by indexing (the hot path); running off the end lands here.
        raise BinaryDecodeError(
            f"truncated: the data ends inside a value ({len(reader.data)} bytes)"
        ) from None
    except RecursionError:  # only when a caller raises max_depth past what the interpreter allows
        raise BinaryDecodeError(f"nodes nested too deeply for max_depth={max_depth}") from None
    if reader.pos != len(reader.data):
        raise BinaryDecodeError(f"{len(reader.data) - reader.pos} bytes left after the node")
    return node


class _Reader:
    """A cursor over one stanza. Methods named after what they read advance `pos` past it."""

    __slots__ = ("data", "pos", "max_depth")

    def __init__(self, data: bytes, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth

    def byte(self) -> int:
        pos = self.pos
        self.pos = pos + 1
        return self.data[pos]

    def take(self, count: int) -> bytes:
        start = self.pos
        stop = start + count
        if stop > len(self.data):
            raise BinaryDecodeError(f"truncated: {count} bytes at offset {start} run past {len(self.data)}")
        self.pos = stop
        return self.data[start:stop]

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def length(self, tag: int) -> int | None:
        """The byte count after a BINARY_* tag; None when `tag` is not one."""
        if tag == BINARY_8:
            return self.byte()
        if tag == BINARY_20:
            return self.uint(3) & 0xFFFFF  # 20 bits: the top nibble of the first byte is ignored
        if tag == BINARY_32:
            return self.uint(4)
        return None

    def list_size(self, tag: int) -> int:
        if tag == LIST_8:
            return self.byte()
        if tag == LIST_16:
            return self.uint(2)
        if tag == LIST_EMPTY:
            return 0
        raise BinaryDecodeError(f"expected a list at offset {self.pos - 1}, got tag {tag}")

    def node(self, depth: int) -> Node:
        if depth > self.max_depth:
            raise BinaryDecodeError(f"nodes nested deeper than {self.max_depth}")
        size = self.list_size(self.byte())
        if not size:
            raise BinaryDecodeError(f"empty node at offset {self.pos - 1}")
        tag = self.string()
        if not tag or not isinstance(tag, str):
            raise BinaryDecodeError(f"invalid node tag {tag!r}")
        attrs: dict[str, AttrValue] = {}
        string = self.string
        for _ in range((size - 1) >> 1):
            key = string()
            if not isinstance(key, str):
                raise BinaryDecodeError(f"<{tag}> has a JID as an attribute key")
            attrs[key] = string()
        if size & 1:
            return Node(tag, attrs)
        return Node(tag, attrs, self.content(depth))

    def content(self, depth: int) -> Content:
        tag = self.byte()
        if tag == LIST_8 or tag == LIST_16 or tag == LIST_EMPTY:
            return [self.node(depth + 1) for _ in range(self.list_size(tag))]
        length = self.length(tag)
        if length is not None:
            return self.take(length)
        return self.value(tag)

    def string(self) -> str | Jid:
        """A string-like value, tag byte included; single-byte tokens take the short way."""
        pos = self.pos
        tag = self.data[pos]
        self.pos = pos + 1
        if 0 < tag < _SINGLE_COUNT:
            return SINGLE_BYTE_TOKENS[tag]
        return self.value(tag)

    def value(self, tag: int) -> str | Jid:
        """A string-like value after its tag byte: token, packed or raw text, or a JID."""
        if 0 < tag < _SINGLE_COUNT:
            return SINGLE_BYTE_TOKENS[tag]
        if tag == NIBBLE_8 or tag == HEX_8:
            return self.packed(tag)
        length = self.length(tag)
        if length is not None:
            try:
                return self.take(length).decode()
            except UnicodeDecodeError as exc:
                raise BinaryDecodeError(f"string is not UTF-8: {exc}") from exc
        if DICTIONARY_0 <= tag <= DICTIONARY_3:
            table = DOUBLE_BYTE_TOKENS[tag - DICTIONARY_0]
            index = self.byte()
            if index >= len(table):
                raise BinaryDecodeError(f"no token {index} in dictionary {tag - DICTIONARY_0}")
            return table[index]
        if tag == LIST_EMPTY:
            return ""
        if tag == JID_PAIR:
            user = self.jid_part()
            return self.jid(user, self.jid_part())
        if tag == AD_JID:
            domain, device = self.byte(), self.byte()
            server = SERVER_BY_DOMAIN.get(domain)
            if server is None:  # an agent byte that names no server: keep it, like whatsmeow
                return self.jid(self.jid_part(), USER_SERVER, device, agent=domain)
            return self.jid(self.jid_part(), server, device)
        if tag == FB_JID:
            user = self.jid_part()
            device = self.uint(2)
            return self.jid(user, self.jid_part(), device)
        if tag == INTEROP_JID:
            user = self.jid_part()
            device, integrator = self.uint(2), self.uint(2)
            return self.jid(user, self.jid_part(), device, integrator=integrator)
        raise BinaryDecodeError(f"invalid string tag {tag} at offset {self.pos - 1}")

    def packed(self, tag: int) -> str:
        head = self.byte()
        text = self.take(head & 0x7F).hex()
        if tag == NIBBLE_8:
            if _BAD_NIBBLE.search(text):
                raise BinaryDecodeError(f"invalid nibble in packed string {text!r}")
            text = text.translate(_HEX_AS_NIBBLE)
        else:
            text = text.upper()
        return text[:-1] if head & 0x80 else text

    def jid_part(self) -> str:
        value = self.string()
        if not isinstance(value, str):
            raise BinaryDecodeError(f"a JID inside a JID: {value}")
        return value

    def jid(
        self,
        user: str,
        server: str,
        device: int | None = None,
        *,
        agent: int | None = None,
        integrator: int | None = None,
    ) -> Jid:
        try:
            return Jid(user, server, device, agent, integrator)
        except ValueError as exc:
            raise BinaryDecodeError(f"invalid JID on the wire: {exc}") from exc
