"""The client side of the connection, sans-I/O: Noise XX initiator, then the encrypted transport.

Bytes in (`receive_data`), events and bytes out (`initiate`, `data_to_send`, `send`); no sockets, no clock
except the certificate check's injectable one. The message flow (Noise XX, WhatsApp flavour):

    -> intro, ClientHello{e}
    <- ServerHello{e, enc(s), enc(CertChain)}    ee, es; the chain must check out against ServerTrust
    -> ClientFinish{enc(s), enc(ClientPayload)}  se; then split() into the two transport ciphers

The ClientPayload bytes (login or registration) come from the caller; this module does not read them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from connector.engines.web.crypto import curve
from connector.engines.web.errors import FrameError, HandshakeError, InvalidKey, WebEngineError
from connector.engines.web.noise import messages
from connector.engines.web.noise.certificates import ServerTrust, VerifiedChain, verify_chain
from connector.engines.web.noise.framing import (
    MAX_FRAME_SIZE,
    WA_HEADER,
    FrameDecoder,
    encode_frame,
    intro_header,
)
from connector.engines.web.noise.symmetric import DecryptError, SymmetricState
from connector.engines.web.noise.transport import TransportCipher


@enum.unique
class ClientState(enum.Enum):
    IDLE = "idle"
    AWAITING_SERVER_HELLO = "awaiting_server_hello"
    TRANSPORT = "transport"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """The server proved its certificate chain; ClientFinish is queued in `data_to_send()`."""

    server_static: bytes
    chain: VerifiedChain


@dataclass(frozen=True, slots=True)
class PayloadReceived:
    """One transport frame, decrypted: flag byte + node bytes, for `binary.payload.decode_payload`."""

    payload: bytes = field(repr=False)


NoiseEvent = HandshakeComplete | PayloadReceived


class NoiseClient:
    """One connection's Noise session, from the intro bytes to the transport phase.

    `noise_key` is the device's long-term static key; `ephemeral` is fresh per connection (injectable only
    for reproducible tests). Any engine error moves the client to FAILED for good: open a new connection.
    """

    def __init__(
        self,
        *,
        noise_key: curve.KeyPair,
        client_payload: bytes,
        trust: ServerTrust | None = None,
        routing_info: bytes | None = None,
        ephemeral: curve.KeyPair | None = None,
        max_frame_size: int = MAX_FRAME_SIZE,
    ) -> None:
        self._noise_key = noise_key
        self._client_payload = client_payload
        self._trust = trust or ServerTrust()
        self._routing_info = routing_info
        self._ephemeral = ephemeral or curve.KeyPair.generate()
        self._symmetric = SymmetricState(prologue=WA_HEADER)
        self._decoder = FrameDecoder(max_frame_size=max_frame_size)
        self._outgoing = bytearray()
        self._transport: TransportCipher | None = None
        self._state = ClientState.IDLE

    @property
    def state(self) -> ClientState:
        return self._state

    @property
    def handshake_hash(self) -> bytes:
        """The transcript hash h (channel binding; equal on both sides after a good handshake)."""
        return self._symmetric.handshake_hash

    @property
    def transport(self) -> TransportCipher | None:
        """The transport ciphers once the handshake is done (counters are useful in diagnostics)."""
        return self._transport

    def initiate(self) -> bytes:
        """The first bytes to send: intro + ClientHello frame.

        Raises HandshakeError if called twice, FrameError if the routing info is over 16 MiB.
        """
        self._expect(ClientState.IDLE, "initiate()")
        self._symmetric.mix_hash(self._ephemeral.public)
        hello = messages.HandshakeMessage(client_hello=messages.Hello(ephemeral=self._ephemeral.public))
        self._state = ClientState.AWAITING_SERVER_HELLO
        return intro_header(self._routing_info) + encode_frame(messages.encode_handshake(hello))

    def receive_data(self, data: bytes) -> list[NoiseEvent]:
        """Feed bytes from the socket; return what they completed, in order.

        Raises HandshakeError / CertificateError for a bad ServerHello, FrameError for bad framing or a
        transport frame that does not decrypt.
        """
        if self._state is ClientState.IDLE:
            raise HandshakeError("receive_data() before initiate()")
        self._expect_alive()
        events: list[NoiseEvent] = []
        try:
            for frame in self._decoder.feed(data):
                if self._transport is None:
                    events.append(self._on_server_hello(frame))
                else:
                    events.append(PayloadReceived(self._transport.decrypt(frame)))
        except WebEngineError:
            self._state = ClientState.FAILED
            raise
        return events

    def data_to_send(self) -> bytes:
        """Bytes queued by receive_data() (the ClientFinish frame); empty when there are none."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def send(self, payload: bytes) -> bytes:
        """Encrypt and frame one payload (`binary.payload.encode_payload(node)`: flag byte + node).

        Raises HandshakeError before the handshake is complete, FrameError if the frame is too large or
        the counter is exhausted.
        """
        self._expect(ClientState.TRANSPORT, "send()")
        transport = self._transport
        if transport is None:  # TRANSPORT implies a transport; this keeps the type checker honest
            raise HandshakeError("send() before the handshake completed")
        try:
            return encode_frame(transport.encrypt(payload))
        except WebEngineError:
            self._state = ClientState.FAILED
            raise

    def _on_server_hello(self, frame: bytes) -> HandshakeComplete:
        hello = _server_hello(frame)
        symmetric = self._symmetric
        symmetric.mix_hash(hello.ephemeral)
        symmetric.mix_key(_agree(self._ephemeral.private, hello.ephemeral, "ee"))
        server_static = _open(symmetric, hello.static, "server static key")
        if len(server_static) != curve.KEY_SIZE:
            raise HandshakeError(f"server static key is {len(server_static)} bytes, not {curve.KEY_SIZE}")
        symmetric.mix_key(_agree(self._ephemeral.private, server_static, "es"))
        chain = verify_chain(_open(symmetric, hello.payload, "certificate chain"), server_static, self._trust)

        encrypted_static = symmetric.encrypt_and_hash(self._noise_key.public)
        symmetric.mix_key(_agree(self._noise_key.private, hello.ephemeral, "se"))
        encrypted_payload = symmetric.encrypt_and_hash(self._client_payload)
        finish = messages.ClientFinish(static=encrypted_static, payload=encrypted_payload)
        message = messages.HandshakeMessage(client_finish=finish)
        self._outgoing += encode_frame(messages.encode_handshake(message))

        send, receive = symmetric.split()
        self._transport = TransportCipher(send, receive)
        self._client_payload = b""  # it may hold credentials; no need to keep it
        self._state = ClientState.TRANSPORT
        return HandshakeComplete(server_static=server_static, chain=chain)

    def _expect(self, state: ClientState, action: str) -> None:
        self._expect_alive()
        if self._state is not state:
            raise HandshakeError(f"{action} in state {self._state.value}")

    def _expect_alive(self) -> None:
        if self._state is ClientState.FAILED:
            error = FrameError if self._transport is not None else HandshakeError
            raise error("the Noise session already failed; open a new connection")


@dataclass(frozen=True, slots=True)
class _ServerHello:
    ephemeral: bytes
    static: bytes
    payload: bytes


def _server_hello(frame: bytes) -> _ServerHello:
    try:
        hello = messages.decode_handshake(frame).server_hello
    except messages.ProtobufError as exc:
        raise HandshakeError(f"server hello is not a valid HandshakeMessage: {exc}") from exc
    if hello is None or not hello.ephemeral or not hello.static or not hello.payload:
        raise HandshakeError("expected a ServerHello with ephemeral, static and payload")
    if len(hello.ephemeral) != curve.KEY_SIZE:
        raise HandshakeError(f"server ephemeral key is {len(hello.ephemeral)} bytes, not {curve.KEY_SIZE}")
    return _ServerHello(hello.ephemeral, hello.static, hello.payload)


def _agree(private: bytes, public: bytes, label: str) -> bytes:
    try:
        return curve.shared_secret(private, public)
    except InvalidKey as exc:
        raise HandshakeError(f"Noise {label} agreement failed: {exc}") from exc


def _open(symmetric: SymmetricState, ciphertext: bytes, what: str) -> bytes:
    try:
        return symmetric.decrypt_and_hash(ciphertext)
    except DecryptError as exc:
        raise HandshakeError(f"{what} does not decrypt ({exc}): not the peer we handshook with") from exc
