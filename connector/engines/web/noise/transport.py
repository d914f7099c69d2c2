"""The transport phase: one AES-GCM cipher per direction, each with its own 32-bit counter from 0.

Frame payloads are opaque here. Each starts with a flag byte (`flag & 2`: the rest is zlib) that the binary
codec owns (`connector.engines.web.binary.payload`: `encode_payload` / bounded `decode_payload`), as in
Baileys and whatsmeow; the transport neither adds nor strips it.
"""

from __future__ import annotations

from connector.engines.web.errors import FrameError
from connector.engines.web.noise.symmetric import CipherState, DecryptError, NonceExhausted


class TransportCipher:
    """Both directions after the handshake."""

    __slots__ = ("_receive", "_send")

    def __init__(self, send: CipherState, receive: CipherState) -> None:
        self._send = send
        self._receive = receive

    @property
    def sent(self) -> int:
        """Frames encrypted so far (the next send counter)."""
        return self._send.counter

    @property
    def received(self) -> int:
        """Frames decrypted so far (the next receive counter)."""
        return self._receive.counter

    def encrypt(self, payload: bytes) -> bytes:
        """Raises FrameError once the 32-bit counter is used up (after 2**32 frames: reconnect)."""
        try:
            return self._send.encrypt(payload)
        except NonceExhausted as exc:
            raise FrameError("send counter exhausted: reconnect") from exc

    def decrypt(self, frame: bytes) -> bytes:
        """The frame's payload. Raises FrameError if it does not authenticate (garbled, truncated, replayed,
        reordered) or the counter is used up."""
        try:
            return self._receive.decrypt(frame)
        except DecryptError as exc:
            raise FrameError(f"frame {self._receive.counter - 1} does not decrypt: {exc}") from exc
        except NonceExhausted as exc:
            raise FrameError("receive counter exhausted: reconnect") from exc
