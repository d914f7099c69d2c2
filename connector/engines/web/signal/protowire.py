"""The protobuf wire format, just enough for the four small Signal messages (varints and byte strings).

Hand-written because the messages have four to six scalar fields each and sit on the hot path of every
message: a generated class costs more than the whole encoding. Readers are strict about structure
(truncation, overlong varints, group wire types) and lenient about content the way protobuf is (unknown
fields skipped, the last occurrence of a field wins, absent scalars read as their default).
"""

from __future__ import annotations

VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
FIXED32 = 5

_MAX_VARINT_BYTES = 10
_UINT64_MASK = (1 << 64) - 1


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf message (internal: callers map it to their own error)."""


def varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("protobuf varints here are unsigned")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def uint_field(number: int, value: int) -> bytes:
    return varint(number << 3 | VARINT) + varint(value)


def bytes_field(number: int, value: bytes) -> bytes:
    return varint(number << 3 | LENGTH_DELIMITED) + varint(len(value)) + value


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    result = 0
    for index in range(_MAX_VARINT_BYTES):
        if offset >= len(data):
            raise WireError("truncated varint")
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return result & _UINT64_MASK, offset
    raise WireError("varint longer than 10 bytes")


def parse(data: bytes) -> dict[int, int | bytes]:
    """Field number -> value (int for varints and fixed fields, bytes for length-delimited ones).

    Raises WireError for anything that is not a well-formed message.
    """
    fields: dict[int, int | bytes] = {}
    offset = 0
    end = len(data)
    while offset < end:
        key, offset = _read_varint(data, offset)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == VARINT:
            fields[number], offset = _read_varint(data, offset)
        elif wire_type == LENGTH_DELIMITED:
            length, offset = _read_varint(data, offset)
            if length > end - offset:
                raise WireError("truncated length-delimited field")
            fields[number] = data[offset : offset + length]
            offset += length
        elif wire_type in (FIXED64, FIXED32):
            size = 8 if wire_type == FIXED64 else 4
            if size > end - offset:
                raise WireError("truncated fixed-size field")
            fields[number] = int.from_bytes(data[offset : offset + size], "little")
            offset += size
        else:  # 3/4 are deprecated groups, 6/7 do not exist; none appear in Signal messages
            raise WireError(f"unsupported wire type {wire_type}")
    return fields


def get_uint(fields: dict[int, int | bytes], number: int, *, limit: int = 0xFFFFFFFF) -> int | None:
    """A uint32-like field, or None when absent. Raises WireError for the wrong type or a value > limit."""
    value = fields.get(number)
    if value is None:
        return None
    if not isinstance(value, int) or value > limit:
        raise WireError(f"field {number} is not a uint32")
    return value


def get_bytes(fields: dict[int, int | bytes], number: int) -> bytes | None:
    """A bytes field, or None when absent. Raises WireError for the wrong type."""
    value = fields.get(number)
    if value is None:
        return None
    if not isinstance(value, bytes):
        raise WireError(f"field {number} is not a byte string")
    return value
