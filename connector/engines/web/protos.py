"""The one door to the generated WhatsApp protobufs (`WAProto_pb2`): import, parse and serialise, typed.

`google.protobuf` ships no type stubs; the generated `.pyi` types the messages themselves, and these two
helpers keep the untyped base-class methods (ParseFromString, SerializeToString) out of engine code.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from connector.engines.web.errors import ProtocolError

try:
    from connector.engines.web.proto import WAProto_pb2 as wa
except ImportError as exc:  # a build output: say how to make it rather than fail obscurely
    raise ImportError(
        "the WhatsApp protobufs are not generated: run `python -m connector.engines.web.proto.build` "
        "(`make node` does it after installing Baileys' schema)"
    ) from exc

__all__ = ["parse", "serialize", "wa"]

M = TypeVar("M")


def parse(message_type: type[M], data: bytes, what: str) -> M:
    """Decode `data` as `message_type`. Raises ProtocolError naming `what` when the bytes are not one."""
    message: Any = message_type()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise ProtocolError(f"{what} is not a valid {message_type.__name__}: {exc}") from exc
    return cast("M", message)


def serialize(message: Any) -> bytes:
    """The message's wire bytes (fields in number order, as protobufjs writes them)."""
    return bytes(message.SerializeToString())
