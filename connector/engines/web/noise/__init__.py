"""Noise transport to the WhatsApp edge: sans-I/O handshake and transport, plus a thin WebSocket shell.

    handshake.NoiseClient        the client session: initiate(), receive_data() -> events, send()
    certificates.ServerTrust     the root key/serial and clock the edge's certificate chain must satisfy
    socket.NoiseSocket           websockets shell: connect + handshake, send()/receive() payloads, keepalive
    tls.client_context           the verifying TLS context (system store / CA bundle), one per process
    responder.NoiseResponder     the edge's side, for tests, the benchmark and the fake edge (test roots)

Payloads are opaque: flag byte + binary node, made and read by `connector.engines.web.binary.payload`.
"""

from connector.engines.web.noise.certificates import WHATSAPP_ROOT_PUBLIC_KEY, ServerTrust, VerifiedChain
from connector.engines.web.noise.handshake import (
    ClientState,
    HandshakeComplete,
    NoiseClient,
    NoiseEvent,
    PayloadReceived,
)
from connector.engines.web.noise.socket import NoiseSocket, SocketConfig

__all__ = [
    "WHATSAPP_ROOT_PUBLIC_KEY",
    "ClientState",
    "HandshakeComplete",
    "NoiseClient",
    "NoiseEvent",
    "NoiseSocket",
    "PayloadReceived",
    "ServerTrust",
    "SocketConfig",
    "VerifiedChain",
]
