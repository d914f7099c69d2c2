"""The handshake's protobufs on the wire: HandshakeMessage, CertChain and its certificate details.

Hand-encoded on purpose: these few bytes/uint fields are all the transport needs, so connecting does not
depend on the generated WAProto module (a build output); tests check byte equality against it and Baileys.
Encoding follows protobufjs (fields in number order, absent fields omitted), so our bytes match Baileys'.

    HandshakeMessage  2: ClientHello {1 ephemeral, 2 static, 3 payload}
                      3: ServerHello {1 ephemeral, 2 static, 3 payload}
                      4: ClientFinish {1 static, 2 payload}
    CertChain         1: leaf, 2: intermediate -> NoiseCertificate {1 details (bytes), 2 signature}
    Details           1 serial, 2 issuerSerial (uint32), 3 key (bytes), 4 notBefore, 5 notAfter (uint64)
"""

from __future__ import annotations

from dataclasses import dataclass

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class ProtobufError(ValueError):
    """Malformed protobuf bytes (internal: callers turn it into HandshakeError or CertificateError)."""


@dataclass(frozen=True, slots=True)
class Hello:
    """ClientHello or ServerHello (same fields)."""

    ephemeral: bytes | None = None
    static: bytes | None = None
    payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class ClientFinish:
    static: bytes | None = None
    payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class HandshakeMessage:
    client_hello: Hello | None = None
    server_hello: Hello | None = None
    client_finish: ClientFinish | None = None


@dataclass(frozen=True, slots=True)
class NoiseCertificate:
    details: bytes | None = None
    signature: bytes | None = None


@dataclass(frozen=True, slots=True)
class CertChain:
    leaf: NoiseCertificate | None = None
    intermediate: NoiseCertificate | None = None


@dataclass(frozen=True, slots=True)
class CertificateDetails:
    serial: int | None = None
    issuer_serial: int | None = None
    key: bytes | None = None
    not_before: int | None = None
    not_after: int | None = None


# --- encoding ------------------------------------------------------------------------------------------


def encode_handshake(message: HandshakeMessage) -> bytes:
    out = bytearray()
    if message.client_hello is not None:
        _put_bytes(out, 2, _encode_hello(message.client_hello))
    if message.server_hello is not None:
        _put_bytes(out, 3, _encode_hello(message.server_hello))
    if message.client_finish is not None:
        finish = bytearray()
        _put_optional_bytes(finish, 1, message.client_finish.static)
        _put_optional_bytes(finish, 2, message.client_finish.payload)
        _put_bytes(out, 4, bytes(finish))
    return bytes(out)


def _encode_hello(hello: Hello) -> bytes:
    out = bytearray()
    _put_optional_bytes(out, 1, hello.ephemeral)
    _put_optional_bytes(out, 2, hello.static)
    _put_optional_bytes(out, 3, hello.payload)
    return bytes(out)


def encode_cert_chain(chain: CertChain) -> bytes:
    out = bytearray()
    for number, certificate in ((1, chain.leaf), (2, chain.intermediate)):
        if certificate is not None:
            inner = bytearray()
            _put_optional_bytes(inner, 1, certificate.details)
            _put_optional_bytes(inner, 2, certificate.signature)
            _put_bytes(out, number, bytes(inner))
    return bytes(out)


def encode_details(details: CertificateDetails) -> bytes:
    out = bytearray()
    _put_optional_varint(out, 1, details.serial)
    _put_optional_varint(out, 2, details.issuer_serial)
    _put_optional_bytes(out, 3, details.key)
    _put_optional_varint(out, 4, details.not_before)
    _put_optional_varint(out, 5, details.not_after)
    return bytes(out)


def _put_optional_bytes(out: bytearray, number: int, value: bytes | None) -> None:
    if value is not None:
        _put_bytes(out, number, value)


def _put_bytes(out: bytearray, number: int, value: bytes) -> None:
    _put_varint(out, number << 3 | _BYTES)
    _put_varint(out, len(value))
    out += value


def _put_optional_varint(out: bytearray, number: int, value: int | None) -> None:
    if value is not None:
        _put_varint(out, number << 3 | _VARINT)
        _put_varint(out, value)


def _put_varint(out: bytearray, value: int) -> None:
    if value < 0 or value >= 1 << 64:
        raise ProtobufError(f"varint out of range: {value}")
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


# --- decoding ------------------------------------------------------------------------------------------


def decode_handshake(data: bytes) -> HandshakeMessage:
    """Raises ProtobufError."""
    fields = _fields(data)
    finish = _message(fields, 4)
    return HandshakeMessage(
        client_hello=_decode_hello(_message(fields, 2)),
        server_hello=_decode_hello(_message(fields, 3)),
        client_finish=None if finish is None else ClientFinish(_bytes(finish, 1), _bytes(finish, 2)),
    )


def _decode_hello(fields: dict[int, int | bytes] | None) -> Hello | None:
    if fields is None:
        return None
    return Hello(_bytes(fields, 1), _bytes(fields, 2), _bytes(fields, 3))


def decode_cert_chain(data: bytes) -> CertChain:
    """Raises ProtobufError."""
    fields = _fields(data)
    return CertChain(leaf=_certificate(_message(fields, 1)), intermediate=_certificate(_message(fields, 2)))


def _certificate(fields: dict[int, int | bytes] | None) -> NoiseCertificate | None:
    return None if fields is None else NoiseCertificate(_bytes(fields, 1), _bytes(fields, 2))


def decode_details(data: bytes) -> CertificateDetails:
    """Raises ProtobufError."""
    fields = _fields(data)
    serial, issuer_serial = _varint(fields, 1), _varint(fields, 2)
    if (serial or 0) >= 1 << 32 or (issuer_serial or 0) >= 1 << 32:
        raise ProtobufError("certificate serial over 32 bits")
    key, not_before, not_after = _bytes(fields, 3), _varint(fields, 4), _varint(fields, 5)
    return CertificateDetails(serial, issuer_serial, key, not_before, not_after)


def _message(fields: dict[int, int | bytes], number: int) -> dict[int, int | bytes] | None:
    raw = _bytes(fields, number)
    return None if raw is None else _fields(raw)


def _bytes(fields: dict[int, int | bytes], number: int) -> bytes | None:
    value = fields.get(number)
    if value is not None and not isinstance(value, bytes):
        raise ProtobufError(f"field {number}: expected bytes, got a varint")
    return value


def _varint(fields: dict[int, int | bytes], number: int) -> int | None:
    value = fields.get(number)
    if value is not None and not isinstance(value, int):
        raise ProtobufError(f"field {number}: expected a varint, got bytes")
    return value


def _fields(data: bytes) -> dict[int, int | bytes]:
    """Field number -> last value (protobuf's "last one wins"); unknown fields are kept but unused."""
    fields: dict[int, int | bytes] = {}
    view = memoryview(data)
    position = 0
    while position < len(view):
        key, position = _read_varint(view, position)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        if wire_type == _VARINT:
            fields[number], position = _read_varint(view, position)
        elif wire_type == _BYTES:
            length, position = _read_varint(view, position)
            end = position + length
            if end > len(view):
                raise ProtobufError("length-delimited field runs past the end")
            fields[number] = bytes(view[position:end])
            position = end
        elif wire_type in (_FIXED64, _FIXED32):
            size = 8 if wire_type == _FIXED64 else 4
            if position + size > len(view):
                raise ProtobufError("fixed-size field runs past the end")
            fields[number] = int.from_bytes(view[position : position + size], "little")
            position += size
        else:
            raise ProtobufError(f"unsupported wire type {wire_type}")
    return fields


def _read_varint(view: memoryview, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(view):
            raise ProtobufError("truncated varint")
        if shift >= 64:
            raise ProtobufError("varint longer than 10 bytes")
        byte = view[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & ((1 << 64) - 1), position
        shift += 7
