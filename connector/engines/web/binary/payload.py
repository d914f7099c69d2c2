"""Frame payloads: the flag byte (bit 2 = zlib) that precedes the encoded node inside each Noise frame."""

from __future__ import annotations

import zlib

from connector.engines.web.binary.codec import MAX_DEPTH, BinaryDecodeError, decode, encode
from connector.engines.web.binary.node import Node

COMPRESSED = 0x02
"""Flag bit: the rest of the payload is a zlib stream (only the server compresses; we never do)."""

MAX_INFLATED = 16 * 1024 * 1024
"""Largest decompressed stanza we accept: bounds a zlib bomb. Media never travels inline."""


def encode_payload(node: Node) -> bytes:
    """The plaintext of a Noise frame carrying `node`: flag 0 (uncompressed), then the node.

    Raises:
        BinaryEncodeError: the node has no wire form.
    """
    return b"\x00" + encode(node)


def decode_payload(
    payload: bytes | bytearray | memoryview, *, max_inflated: int = MAX_INFLATED, max_depth: int = MAX_DEPTH
) -> Node:
    """The node in a decrypted Noise frame, inflating it first when the flag says so.

    Raises:
        BinaryDecodeError: empty payload, broken or oversized zlib stream, or a malformed node.
    """
    view = memoryview(payload)
    if not view:
        raise BinaryDecodeError("empty frame payload")
    body = view[1:]
    if view[0] & COMPRESSED:
        return decode(_inflate(body, max_inflated), max_depth=max_depth)
    return decode(body, max_depth=max_depth)


def _inflate(data: memoryview, limit: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise BinaryDecodeError(f"bad zlib stream: {exc}") from exc
    if inflater.unconsumed_tail:
        raise BinaryDecodeError(f"compressed stanza inflates past {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise BinaryDecodeError("compressed stanza is truncated or followed by garbage")
    return out
