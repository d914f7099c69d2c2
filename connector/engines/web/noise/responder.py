"""The edge's side of the handshake (Noise XX responder) and certificate issuing, for a TEST root only.

Never used to connect anywhere: it is the counterpart the unit tests, the interop tests (against Baileys'
initiator), the benchmark and the fake edge run. Sans-I/O like the client, built from the same primitives.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from connector.engines.web.crypto import curve
from connector.engines.web.errors import HandshakeError, InvalidKey, WebEngineError
from connector.engines.web.noise import messages
from connector.engines.web.noise.framing import WA_HEADER, FrameDecoder, encode_frame
from connector.engines.web.noise.symmetric import DecryptError, SymmetricState
from connector.engines.web.noise.transport import TransportCipher


@enum.unique
class ResponderState(enum.Enum):
    AWAITING_CLIENT_HELLO = "awaiting_client_hello"
    AWAITING_CLIENT_FINISH = "awaiting_client_finish"
    TRANSPORT = "transport"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ClientAuthenticated:
    """ClientFinish decrypted: the client's static (noise) key and its ClientPayload bytes."""

    client_static: bytes
    client_payload: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ClientPayloadReceived:
    payload: bytes = field(repr=False)


ResponderEvent = ClientAuthenticated | ClientPayloadReceived


class NoiseResponder:
    """Answers one client: ServerHello with `certificate_chain` (serialized CertChain), then transport."""

    def __init__(
        self,
        *,
        static: curve.KeyPair,
        certificate_chain: bytes,
        ephemeral: curve.KeyPair | None = None,
    ) -> None:
        self._static = static
        self._chain = certificate_chain
        self._ephemeral = ephemeral or curve.KeyPair.generate()
        self._symmetric = SymmetricState(prologue=WA_HEADER)
        self._decoder = FrameDecoder(expect_intro=True)
        self._outgoing = bytearray()
        self._transport: TransportCipher | None = None
        self._state = ResponderState.AWAITING_CLIENT_HELLO

    @property
    def state(self) -> ResponderState:
        return self._state

    @property
    def routing_info(self) -> bytes | None:
        """Routing info the client sent in an `ED` intro, if any."""
        return self._decoder.routing_info

    @property
    def handshake_hash(self) -> bytes:
        return self._symmetric.handshake_hash

    @property
    def transport(self) -> TransportCipher | None:
        return self._transport

    def receive_data(self, data: bytes) -> list[ResponderEvent]:
        """Raises HandshakeError or FrameError; any error leaves the responder FAILED."""
        if self._state is ResponderState.FAILED:
            raise HandshakeError("the responder already failed")
        events: list[ResponderEvent] = []
        try:
            for frame in self._decoder.feed(data):
                if self._state is ResponderState.AWAITING_CLIENT_HELLO:
                    self._on_client_hello(frame)
                elif self._state is ResponderState.AWAITING_CLIENT_FINISH:
                    events.append(self._on_client_finish(frame))
                elif self._transport is not None:
                    events.append(ClientPayloadReceived(self._transport.decrypt(frame)))
        except WebEngineError:
            self._state = ResponderState.FAILED
            raise
        return events

    def data_to_send(self) -> bytes:
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def send(self, payload: bytes) -> bytes:
        """Encrypt and frame one payload (flag byte included). Raises HandshakeError before transport."""
        if self._transport is None:
            raise HandshakeError(f"send() in state {self._state.value}")
        return encode_frame(self._transport.encrypt(payload))

    def _on_client_hello(self, frame: bytes) -> None:
        hello = _decode(frame).client_hello
        if hello is None or hello.ephemeral is None or len(hello.ephemeral) != curve.KEY_SIZE:
            raise HandshakeError("expected a ClientHello with a 32-byte ephemeral key")
        symmetric = self._symmetric
        symmetric.mix_hash(hello.ephemeral)
        symmetric.mix_hash(self._ephemeral.public)
        symmetric.mix_key(_agree(self._ephemeral.private, hello.ephemeral))
        encrypted_static = symmetric.encrypt_and_hash(self._static.public)
        symmetric.mix_key(_agree(self._static.private, hello.ephemeral))
        encrypted_chain = symmetric.encrypt_and_hash(self._chain)
        server_hello = messages.Hello(
            ephemeral=self._ephemeral.public, static=encrypted_static, payload=encrypted_chain
        )
        message = messages.HandshakeMessage(server_hello=server_hello)
        self._outgoing += encode_frame(messages.encode_handshake(message))
        self._state = ResponderState.AWAITING_CLIENT_FINISH

    def _on_client_finish(self, frame: bytes) -> ClientAuthenticated:
        finish = _decode(frame).client_finish
        if finish is None or not finish.static or finish.payload is None:
            raise HandshakeError("expected a ClientFinish with static and payload")
        symmetric = self._symmetric
        try:
            client_static = symmetric.decrypt_and_hash(finish.static)
            symmetric.mix_key(_agree(self._ephemeral.private, client_static))
            client_payload = symmetric.decrypt_and_hash(finish.payload)
        except DecryptError as exc:
            raise HandshakeError(f"client finish does not decrypt: {exc}") from exc
        initiator_to_responder, responder_to_initiator = symmetric.split()
        self._transport = TransportCipher(responder_to_initiator, initiator_to_responder)
        self._state = ResponderState.TRANSPORT
        return ClientAuthenticated(client_static=client_static, client_payload=client_payload)


def issue_chain(
    *,
    root: curve.KeyPair,
    intermediate: curve.KeyPair,
    leaf_key: bytes,
    not_before: int,
    not_after: int,
    intermediate_serial: int = 1,
    leaf_serial: int = 2,
    root_serial: int = 0,
    leaf_issuer_serial: int | None = None,
) -> bytes:
    """A serialized CertChain: intermediate signed by `root`, leaf (certifying `leaf_key`) signed by the
    intermediate. The keyword overrides let tests build chains that are wrong in exactly one way."""
    intermediate_details = messages.encode_details(
        messages.CertificateDetails(
            serial=intermediate_serial,
            issuer_serial=root_serial,
            key=intermediate.public,
            not_before=not_before,
            not_after=not_after,
        )
    )
    leaf_details = messages.encode_details(
        messages.CertificateDetails(
            serial=leaf_serial,
            issuer_serial=intermediate_serial if leaf_issuer_serial is None else leaf_issuer_serial,
            key=curve.unprefixed(leaf_key),
            not_before=not_before,
            not_after=not_after,
        )
    )
    return messages.encode_cert_chain(
        messages.CertChain(
            leaf=messages.NoiseCertificate(leaf_details, curve.sign(intermediate.private, leaf_details)),
            intermediate=messages.NoiseCertificate(
                intermediate_details, curve.sign(root.private, intermediate_details)
            ),
        )
    )


def _decode(frame: bytes) -> messages.HandshakeMessage:
    try:
        return messages.decode_handshake(frame)
    except messages.ProtobufError as exc:
        raise HandshakeError(f"not a HandshakeMessage: {exc}") from exc


def _agree(private: bytes, public: bytes) -> bytes:
    try:
        return curve.shared_secret(private, public)
    except InvalidKey as exc:
        raise HandshakeError(f"Noise agreement failed: {exc}") from exc
