"""Bytes on the socket: the intro header, 3-byte big-endian length framing, and a decoder for any chunking.

A WebSocket message may carry several frames or part of one, so frames are reassembled from a byte stream.
The client's first bytes carry the intro: `WA 06 03` (magic 6, binary dictionary version 3), or, when the
edge gave us routing info, `ED 00 01` + 3-byte length + routing info before it. The Noise prologue is always
the `WA` header alone.
"""

from __future__ import annotations

from connector.engines.web.errors import FrameError

WA_HEADER = b"WA\x06\x03"
EDGE_ROUTING_MAGIC = b"ED\x00\x01"
LENGTH_SIZE = 3
MAX_FRAME_SIZE = (1 << 24) - 1  # what 3 length bytes can say


def intro_header(routing_info: bytes | None = None) -> bytes:
    """The bytes sent once before the first frame. Raises FrameError for oversized routing info."""
    if not routing_info:
        return WA_HEADER
    return EDGE_ROUTING_MAGIC + _length_prefix(len(routing_info)) + routing_info + WA_HEADER


def encode_frame(payload: bytes) -> bytes:
    """Length-prefix one frame. Raises FrameError if it is over 16 MiB - 1."""
    return _length_prefix(len(payload)) + payload


def _length_prefix(length: int) -> bytes:
    if length > MAX_FRAME_SIZE:
        raise FrameError(f"frame of {length} bytes is over the {MAX_FRAME_SIZE}-byte limit")
    return length.to_bytes(LENGTH_SIZE, "big")


class FrameDecoder:
    """Reassembles length-prefixed frames from arbitrarily chunked bytes.

    `max_frame_size` bounds what one peer can make us buffer; a larger announced length is a FrameError.
    With `expect_intro` (the responder's side) the client's intro header is consumed first and kept in
    `routing_info` / `intro_seen`.
    """

    __slots__ = ("_buffer", "_max_frame_size", "intro_seen", "routing_info")

    def __init__(self, *, max_frame_size: int = MAX_FRAME_SIZE, expect_intro: bool = False) -> None:
        self._buffer = bytearray()
        self._max_frame_size = max_frame_size
        self.intro_seen = not expect_intro
        self.routing_info: bytes | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame (a truncated tail when the socket closes)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every frame now complete, in order. Raises FrameError."""
        self._buffer += data
        if not self.intro_seen and not self._consume_intro():
            return []
        frames: list[bytes] = []
        start = 0
        buffer = self._buffer
        while len(buffer) - start >= LENGTH_SIZE:
            length = int.from_bytes(buffer[start : start + LENGTH_SIZE], "big")
            if length > self._max_frame_size:
                raise FrameError(f"peer announced a {length}-byte frame (limit {self._max_frame_size})")
            end = start + LENGTH_SIZE + length
            if end > len(buffer):
                break
            frames.append(bytes(buffer[start + LENGTH_SIZE : end]))
            start = end
        if start:
            del buffer[:start]  # one compaction per feed, not per frame
        return frames

    def _consume_intro(self) -> bool:
        buffer = self._buffer
        if len(buffer) < len(WA_HEADER):
            if not (WA_HEADER.startswith(buffer) or EDGE_ROUTING_MAGIC.startswith(buffer)):
                raise FrameError("the stream does not start with a WA or ED intro header")
            return False
        offset = 0
        if buffer.startswith(EDGE_ROUTING_MAGIC):
            header_end = len(EDGE_ROUTING_MAGIC) + LENGTH_SIZE
            if len(buffer) < header_end:
                return False
            length = int.from_bytes(buffer[len(EDGE_ROUTING_MAGIC) : header_end], "big")
            if length > self._max_frame_size:
                raise FrameError(f"routing info of {length} bytes is over the limit")
            if len(buffer) < header_end + length + len(WA_HEADER):
                return False
            self.routing_info = bytes(buffer[header_end : header_end + length])
            offset = header_end + length
        if buffer[offset : offset + len(WA_HEADER)] != WA_HEADER:
            found = bytes(buffer[offset : offset + len(WA_HEADER)])
            raise FrameError(f"unexpected intro header {found.hex()}, expected {WA_HEADER.hex()}")
        del buffer[: offset + len(WA_HEADER)]
        self.intro_seen = True
        return True
