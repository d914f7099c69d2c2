"""The Noise transport: framing, keys, handshake, certificate chain, transport, the handshake protobufs and
their build step, and the WebSocket shell against a localhost edge; fuzzed wherever bytes come from the peer.
"""

from __future__ import annotations

import asyncio
import socket as stdlib_socket
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve

from connector.engines.web.crypto.curve import KeyPair, sign
from connector.engines.web.errors import (
    CertificateError,
    ConnectionLost,
    FrameError,
    HandshakeError,
    WebEngineError,
)
from connector.engines.web.noise import messages as msg
from connector.engines.web.noise.certificates import ServerTrust
from connector.engines.web.noise.framing import (
    MAX_FRAME_SIZE,
    WA_HEADER,
    FrameDecoder,
    encode_frame,
    intro_header,
)
from connector.engines.web.noise.handshake import ClientState, HandshakeComplete, NoiseClient, PayloadReceived
from connector.engines.web.noise.responder import (
    ClientAuthenticated,
    ClientPayloadReceived,
    NoiseResponder,
    issue_chain,
)
from connector.engines.web.noise.socket import NoiseSocket, SocketConfig
from connector.engines.web.noise.symmetric import MAX_NONCE, PROTOCOL_NAME, SymmetricState, hkdf2, nonce
from connector.engines.web.noise.tls import client_context
from connector.engines.web.proto import build as proto_build
from tests.fakes.tls import local_ca

NOW = 1_750_000_000
ROOT, INTERMEDIATE, SERVER, STRANGER = (KeyPair.generate() for _ in range(4))
TRUST = ServerTrust(root_public_key=ROOT.public, clock=lambda: NOW)
PAYLOAD = b"a ClientPayload, opaque to the transport"


def make_chain(**overrides: Any) -> bytes:
    options: dict[str, Any] = {
        "root": ROOT,
        "intermediate": INTERMEDIATE,
        "leaf_key": SERVER.public,
        "not_before": NOW - 60,
        "not_after": NOW + 60,
    }
    return issue_chain(**(options | overrides))


CHAIN = make_chain()


def make_pair(
    chain: bytes = CHAIN, trust: ServerTrust = TRUST, routing_info: bytes | None = None
) -> tuple[NoiseClient, NoiseResponder]:
    client = NoiseClient(
        noise_key=KeyPair.generate(), client_payload=PAYLOAD, trust=trust, routing_info=routing_info
    )
    return client, NoiseResponder(static=SERVER, certificate_chain=chain)


def server_hello_for(client: NoiseClient, responder: NoiseResponder) -> bytes:
    assert responder.receive_data(client.initiate()) == []
    return responder.data_to_send()


def connected(routing_info: bytes | None = None) -> tuple[NoiseClient, NoiseResponder]:
    client, responder = make_pair(routing_info=routing_info)
    [complete] = client.receive_data(server_hello_for(client, responder))
    assert isinstance(complete, HandshakeComplete)
    [authenticated] = responder.receive_data(client.data_to_send())
    assert isinstance(authenticated, ClientAuthenticated)
    return client, responder


# --- framing ---------------------------------------------------------------------------------------------


def test_intro_headers() -> None:
    assert intro_header() == b"WA\x06\x03" == WA_HEADER
    assert intro_header(b"abc") == b"ED\x00\x01" + b"\x00\x00\x03" + b"abc" + b"WA\x06\x03"


def test_frames_are_length_prefixed_and_bounded() -> None:
    assert encode_frame(b"xyz") == b"\x00\x00\x03xyz"
    assert encode_frame(b"") == b"\x00\x00\x00"
    with pytest.raises(FrameError):
        encode_frame(bytes(MAX_FRAME_SIZE + 1))
    with pytest.raises(FrameError, match="limit"):
        FrameDecoder(max_frame_size=10).feed(b"\x00\x00\x0b")


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=300), max_size=8), cuts=st.lists(st.integers(0, 3000), max_size=12)
)
def test_decoder_reassembles_any_chunking(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    bounds = [0, *sorted(c for c in cuts if c < len(stream)), len(stream)]
    decoder = FrameDecoder()
    frames = [
        f for start, end in zip(bounds, bounds[1:], strict=False) for f in decoder.feed(stream[start:end])
    ]
    assert frames == payloads
    assert decoder.buffered == 0


@pytest.mark.parametrize("routing_info", [None, b"", b"\x08\x01\x12\x02ab"])
def test_responder_side_reads_the_intro_byte_by_byte(routing_info: bytes | None) -> None:
    stream = intro_header(routing_info) + encode_frame(b"one") + encode_frame(b"two")
    decoder = FrameDecoder(expect_intro=True)
    frames = [f for i in range(len(stream)) for f in decoder.feed(stream[i : i + 1])]
    assert frames == [b"one", b"two"]
    assert decoder.routing_info == (routing_info or None)


@pytest.mark.parametrize(
    "stream", [b"XX\x06\x03", b"WA\x05\x03", b"ED\x00\x01\x00\x00\x01zWB\x06\x03", b"W\x00"]
)
def test_a_foreign_intro_is_a_frame_error(stream: bytes) -> None:
    with pytest.raises(FrameError):
        FrameDecoder(expect_intro=True).feed(stream)


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=64), max_size=6), expect_intro=st.booleans())
def test_decoder_fuzz_raises_only_frame_errors(chunks: list[bytes], expect_intro: bool) -> None:
    decoder = FrameDecoder(max_frame_size=1000, expect_intro=expect_intro)
    try:
        for chunk in chunks:
            decoder.feed(chunk)
    except FrameError:
        pass


# --- keys --------------------------------------------------------------------------------------------------


@given(chaining_key=st.binary(min_size=32, max_size=32), material=st.binary(max_size=64))
def test_hkdf_is_rfc5869_with_the_chaining_key_as_salt(chaining_key: bytes, material: bytes) -> None:
    expected = HKDF(algorithm=hashes.SHA256(), length=64, salt=chaining_key, info=b"").derive(material)
    assert b"".join(hkdf2(chaining_key, material)) == expected


def test_nonce_is_eight_zero_bytes_and_a_big_endian_counter() -> None:
    assert nonce(0) == bytes(12)
    assert nonce(0x01020304) == bytes(8) + b"\x01\x02\x03\x04"
    assert len(PROTOCOL_NAME) == 32 and PROTOCOL_NAME.startswith(b"Noise_XX_25519_AESGCM_SHA256")
    assert SymmetricState(b"").chaining_key == PROTOCOL_NAME


# --- handshake and transport ---------------------------------------------------------------------------


def test_handshake_then_transport_in_both_directions() -> None:
    client, responder = make_pair()
    [complete] = client.receive_data(server_hello_for(client, responder))
    assert isinstance(complete, HandshakeComplete)
    assert complete.server_static == SERVER.public
    assert complete.chain.leaf.key == SERVER.public and complete.chain.intermediate.serial == 1
    assert client.state is ClientState.TRANSPORT
    [authenticated] = responder.receive_data(client.data_to_send())
    assert authenticated == ClientAuthenticated(
        client_static=client._noise_key.public, client_payload=PAYLOAD
    )
    assert client.handshake_hash == responder.handshake_hash
    assert client.data_to_send() == b""

    out = client.send(b"\x00one") + client.send(b"\x00two")
    assert responder.receive_data(out) == [
        ClientPayloadReceived(b"\x00one"),
        ClientPayloadReceived(b"\x00two"),
    ]
    assert client.receive_data(responder.send(b"\x00back")) == [PayloadReceived(b"\x00back")]
    assert client.transport is not None
    assert (client.transport.sent, client.transport.received) == (2, 1)  # one counter per direction


def test_routing_info_travels_in_an_ed_intro() -> None:
    _, responder = connected(routing_info=b"\x08\x02")
    assert responder.routing_info == b"\x08\x02"


def test_the_payload_flag_byte_is_carried_untouched_for_the_codec() -> None:
    from connector.engines.web.binary.node import Node
    from connector.engines.web.binary.payload import decode_payload, encode_payload

    client, responder = connected()
    node = Node("iq", {"id": "1", "type": "result"})
    compressed = b"\x02" + zlib.compress(encode_payload(node)[1:])
    [plain, packed] = client.receive_data(responder.send(encode_payload(node)) + responder.send(compressed))
    assert isinstance(plain, PayloadReceived) and isinstance(packed, PayloadReceived)
    assert packed.payload == compressed
    assert decode_payload(plain.payload) == decode_payload(packed.payload) == node
    # A zlib bomb passes the transport as is; the codec's bounded inflate refuses it with a FrameError.
    [bomb] = client.receive_data(responder.send(b"\x02" + zlib.compress(bytes(64 * 1024 * 1024), 9)))
    assert isinstance(bomb, PayloadReceived) and len(bomb.payload) < 200_000
    with pytest.raises(FrameError):
        decode_payload(bomb.payload)


def _manual_chain(leaf_signer: KeyPair = INTERMEDIATE, **leaf: Any) -> bytes:
    details = msg.CertificateDetails(
        serial=1, issuer_serial=0, key=INTERMEDIATE.public, not_before=0, not_after=NOW * 2
    )
    fields: dict[str, Any] = {"serial": 2, "issuer_serial": 1, "key": SERVER.public, "not_before": 0}
    leaf_details = msg.CertificateDetails(**(fields | {"not_after": NOW * 2} | leaf))
    raw, leaf_raw = msg.encode_details(details), msg.encode_details(leaf_details)
    return msg.encode_cert_chain(
        msg.CertChain(
            leaf=msg.NoiseCertificate(leaf_raw, sign(leaf_signer.private, leaf_raw)),
            intermediate=msg.NoiseCertificate(raw, sign(ROOT.private, raw)),
        )
    )


BAD_CHAINS: dict[str, tuple[bytes, ServerTrust, str]] = {
    "wrong root": (CHAIN, ServerTrust(root_public_key=STRANGER.public, clock=lambda: NOW), "trusted root"),
    "expired": (CHAIN, ServerTrust(root_public_key=ROOT.public, clock=lambda: NOW + 61), "expired"),
    "not yet valid": (
        CHAIN,
        ServerTrust(root_public_key=ROOT.public, clock=lambda: NOW - 61),
        "not valid before",
    ),
    "intermediate issuer serial": (make_chain(root_serial=7), TRUST, "issuer serial 7"),
    "leaf issuer serial": (make_chain(leaf_issuer_serial=9), TRUST, "leaf certificate issuer serial 9"),
    "leaf key is not the static": (make_chain(leaf_key=STRANGER.public), TRUST, "static key"),
    "leaf signed by another key": (
        _manual_chain(leaf_signer=STRANGER),
        TRUST,
        "not signed by the intermediate",
    ),
    "no validity window": (_manual_chain(not_after=None), TRUST, "no validity window"),
    "no leaf": (
        msg.encode_cert_chain(msg.CertChain(intermediate=msg.NoiseCertificate(b"x", b"y"))),
        TRUST,
        "no leaf",
    ),
    "not a CertChain": (b"\xff\xff\xff", TRUST, "not a valid CertChain"),
}


@pytest.mark.parametrize("case", BAD_CHAINS)
def test_bad_certificate_chains_are_refused(case: str) -> None:
    chain, trust, reason = BAD_CHAINS[case]
    client, responder = make_pair(chain=chain, trust=trust)
    with pytest.raises(CertificateError, match=reason):
        client.receive_data(server_hello_for(client, responder))
    assert client.state is ClientState.FAILED and client.data_to_send() == b""
    with pytest.raises(HandshakeError, match="already failed"):
        client.receive_data(b"")


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]


def test_broken_server_hellos_are_handshake_errors() -> None:
    client, responder = make_pair()
    hello = server_hello_for(client, responder)
    with pytest.raises(HandshakeError, match="does not decrypt"):
        client.receive_data(_flip(hello, 3 + 2 + 2 + 32 + 2 + 5))  # inside the encrypted static key
    for frame in (
        b"\x12\x02\x0a\x00",
        b"\xff\x01",
        msg.encode_handshake(msg.HandshakeMessage(server_hello=msg.Hello(b"e" * 31, b"s", b"p"))),
    ):
        client, _ = make_pair()
        client.initiate()
        with pytest.raises(HandshakeError):
            client.receive_data(encode_frame(frame))


def test_calls_out_of_order_are_handshake_errors() -> None:
    client, _ = make_pair()
    assert client.state is ClientState.IDLE
    with pytest.raises(HandshakeError):
        client.receive_data(b"")
    with pytest.raises(HandshakeError):
        client.send(b"\x00early")
    client.initiate()
    with pytest.raises(HandshakeError):
        client.initiate()


@pytest.mark.parametrize("damage", ["truncated", "garbled", "replayed", "reordered", "empty"])
def test_damaged_transport_frames_are_frame_errors(damage: str) -> None:
    client, responder = connected()
    first, second = responder.send(b"\x00first"), responder.send(b"\x00second")
    stream = {
        "truncated": encode_frame(first[3:10]),
        "garbled": _flip(first, 8),
        "replayed": first + first,
        "reordered": second + first,
        "empty": encode_frame(b""),
    }[damage]
    with pytest.raises(FrameError):
        client.receive_data(stream)
    assert client.state is ClientState.FAILED
    with pytest.raises(FrameError, match="already failed"):
        client.send(b"\x00after")


def test_an_exhausted_send_counter_ends_the_session() -> None:
    client, _ = connected()
    assert client.transport is not None
    client.transport._send._counter = MAX_NONCE + 1  # 2**32 frames later
    with pytest.raises(FrameError, match="exhausted"):
        client.send(b"\x00one too many")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(st.binary(max_size=80), min_size=1, max_size=4), transport=st.booleans())
def test_fuzzed_bytes_from_the_edge_raise_only_engine_errors(chunks: list[bytes], transport: bool) -> None:
    if transport:
        client, _ = connected()
    else:
        client, _ = make_pair()
        client.initiate()
    try:
        for chunk in chunks:
            client.receive_data(encode_frame(chunk) if len(chunk) % 2 else chunk)
    except WebEngineError:
        pass


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_mutated_server_hellos_and_frames_raise_only_engine_errors(data: st.DataObject) -> None:
    client, responder = make_pair()
    hello = server_hello_for(client, responder)
    position = data.draw(st.integers(0, len(hello) - 1))
    mutated = hello[:position] + bytes([data.draw(st.integers(0, 255))]) + hello[position + 1 :]
    try:
        client.receive_data(mutated)
        client.receive_data(encode_frame(data.draw(st.binary(max_size=40))))
    except WebEngineError:
        pass


# --- handshake protobufs, against the generated WAProto and its build step ------------------------------


@pytest.fixture(scope="session")
def waproto() -> ModuleType:
    """WAProto_pb2, built from Baileys' schema by the build step; skipped without the npm package."""
    if not proto_build.DEFAULT_SOURCE.is_file():
        pytest.skip(f"{proto_build.DEFAULT_SOURCE} missing: run `npm ci` in tests/interop")
    proto_build.build()
    from connector.engines.web.proto import WAProto_pb2

    return WAProto_pb2


def test_handshake_messages_encode_like_the_generated_protobufs(waproto: Any) -> None:
    hm = waproto.HandshakeMessage
    pairs = [
        (
            msg.HandshakeMessage(client_hello=msg.Hello(ephemeral=b"e" * 32)),
            hm(clientHello=hm.ClientHello(ephemeral=b"e" * 32)),
        ),
        (
            msg.HandshakeMessage(server_hello=msg.Hello(b"e" * 32, b"s" * 48, b"p" * 300)),
            hm(serverHello=hm.ServerHello(ephemeral=b"e" * 32, static=b"s" * 48, payload=b"p" * 300)),
        ),
        (
            msg.HandshakeMessage(client_finish=msg.ClientFinish(b"s" * 48, b"")),
            hm(clientFinish=hm.ClientFinish(static=b"s" * 48, payload=b"")),
        ),
    ]
    for ours, theirs in pairs:
        assert msg.encode_handshake(ours) == theirs.SerializeToString()
        assert msg.decode_handshake(theirs.SerializeToString()) == ours


def test_cert_chains_encode_like_the_generated_protobufs(waproto: Any) -> None:
    generated = waproto.CertChain()
    generated.ParseFromString(CHAIN)
    assert generated.SerializeToString() == CHAIN
    details = waproto.CertChain.NoiseCertificate.Details()
    details.ParseFromString(generated.leaf.details)
    assert (details.serial, details.issuerSerial, details.key) == (2, 1, SERVER.public)
    big = msg.CertificateDetails(
        serial=2**32 - 1, issuer_serial=0, key=b"k", not_before=0, not_after=2**64 - 1
    )
    assert (
        msg.encode_details(big)
        == waproto.CertChain.NoiseCertificate.Details(
            serial=2**32 - 1, issuerSerial=0, key=b"k", notBefore=0, notAfter=2**64 - 1
        ).SerializeToString()
    )
    assert msg.decode_details(msg.encode_details(big)) == big


@pytest.mark.parametrize(
    "data",
    [
        b"\x0a",
        b"\x0a\x05ab",
        b"\x08\xff",
        b"\x0b",
        b"\x00\x01",
        b"\x08" + b"\xff" * 10 + b"\x01",
        b"\x0d\x01",
    ],
)
def test_malformed_protobufs_are_refused(data: bytes) -> None:
    with pytest.raises(msg.ProtobufError):
        msg.decode_handshake(data)


def test_unknown_fields_are_skipped_and_types_checked() -> None:
    assert msg.decode_handshake(b"\x28\x01\x12\x00") == msg.HandshakeMessage(client_hello=msg.Hello())
    with pytest.raises(msg.ProtobufError):
        msg.decode_handshake(b"\x10\x01")  # clientHello as a varint


def test_proto_conversion_rules() -> None:
    source = """syntax = "proto3";
package proto;
message A {
    Kind kind = 1;
    repeated Kind kinds = 2;
    repeated uint32 counts = 3;
    repeated uint32 packed = 4 [packed=true];
    repeated B.Inner inners = 5;
    repeated string names = 6;
    map<string, string> labels = 7;
    oneof choice {
        B first = 8;
    }
    enum Kind {
        ZERO_IS_NOT_FIRST = 1;
    }
}
message B {
    message Inner {}
}
"""
    converted = proto_build.convert(source)
    assert converted.startswith('syntax = "proto2";')
    assert "optional Kind kind = 1;" in converted
    assert "repeated Kind kinds = 2 [packed=true];" in converted
    assert "repeated uint32 counts = 3 [packed=true];" in converted
    assert "repeated uint32 packed = 4 [packed=true];" in converted
    assert "repeated B.Inner inners = 5;" in converted and "repeated string names = 6;" in converted
    assert "    map<string, string> labels = 7;" in converted and "        B first = 8;" in converted


def test_proto_build_without_the_schema_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(proto_build.ProtoBuildError, match="npm ci"):
        proto_build.build(tmp_path / "missing.proto", tmp_path)
    assert proto_build.main(["--source", str(tmp_path / "missing.proto"), "--out", str(tmp_path)]) == 1


# --- the WebSocket shell against a localhost edge ------------------------------------------------------


@dataclass
class Edge:
    """A localhost WebSocket edge running our responder. `mode`: echo payloads back, stay silent after the
    handshake, close with 4001 after it, answer with a garbage frame, or never answer at all (mute)."""

    mode: str = "echo"
    chain: bytes = CHAIN
    origins: list[str | None] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)
    got_payload: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, connection: ServerConnection) -> None:
        self.origins.append(connection.request.headers.get("Origin") if connection.request else None)
        responder = NoiseResponder(static=SERVER, certificate_chain=self.chain)
        async for message in connection:
            if self.mode == "mute":
                continue
            assert isinstance(message, bytes)
            for event in responder.receive_data(message):
                if isinstance(event, ClientPayloadReceived):
                    self.received.append(event.payload)
                    self.got_payload.set()
                    if self.mode == "echo":
                        await connection.send(responder.send(event.payload))
            if outgoing := responder.data_to_send():
                await connection.send(outgoing)
            if responder.transport is not None and self.mode == "close":
                await connection.close(4001, "bye")
            if responder.transport is not None and self.mode == "garbage":
                await connection.send(encode_frame(b"not a ciphertext at all"))


def with_edge(edge: Edge, body: Callable[[SocketConfig], Awaitable[None]]) -> None:
    async def main() -> None:
        async with serve(edge.handle, "127.0.0.1", 0, ssl=local_ca().server_context()) as server:
            port = server.sockets[0].getsockname()[1]
            config = SocketConfig(
                url=f"wss://localhost:{port}/ws/chat",
                proxy=None,
                handshake_timeout=5,
                keepalive_interval=0.02,
                ca_file=local_ca().ca_file,
            )
            await asyncio.wait_for(body(config), timeout=20)  # a hang guard, not a timing assertion

    asyncio.run(main())


def new_client(trust: ServerTrust = TRUST) -> NoiseClient:
    return NoiseClient(noise_key=KeyPair.generate(), client_payload=PAYLOAD, trust=trust)


def test_socket_handshakes_sends_receives_and_closes() -> None:
    edge = Edge()

    async def body(config: SocketConfig) -> None:
        async with await NoiseSocket.connect(new_client(), config) as sock:
            assert sock.handshake.server_static == SERVER.public
            await sock.send(b"\x00hello")
            await sock.send(b"\x00again")
            assert [await sock.receive(), await sock.receive()] == [b"\x00hello", b"\x00again"]
        assert sock.closed
        assert [payload async for payload in sock] == []  # our own close ends iteration quietly

    with_edge(edge, body)
    assert edge.origins == ["https://web.whatsapp.com"]
    assert edge.received == [b"\x00hello", b"\x00again"]


def test_socket_reports_the_edge_closing_as_connection_lost() -> None:
    async def body(config: SocketConfig) -> None:
        sock = await NoiseSocket.connect(new_client(), config)
        with pytest.raises(ConnectionLost, match="4001") as caught:
            await sock.receive()
        assert caught.value.is_transient and caught.value.details["code"] == 4001
        await sock.close()

    with_edge(Edge(mode="close"), body)


def test_socket_refuses_an_untrusted_edge() -> None:
    async def body(config: SocketConfig) -> None:
        with pytest.raises(CertificateError):
            await NoiseSocket.connect(new_client(ServerTrust(root_public_key=STRANGER.public)), config)

    with_edge(Edge(), body)


def test_socket_gives_up_on_a_mute_edge() -> None:
    async def body(config: SocketConfig) -> None:
        config = SocketConfig(url=config.url, proxy=None, handshake_timeout=0.2, ca_file=config.ca_file)
        with pytest.raises(ConnectionLost, match="handshake"):
            await NoiseSocket.connect(new_client(), config)

    with_edge(Edge(mode="mute"), body)


def test_socket_closes_on_a_garbage_frame() -> None:
    async def body(config: SocketConfig) -> None:
        sock = await NoiseSocket.connect(new_client(), config)
        with pytest.raises(FrameError):
            await sock.receive()
        assert sock.closed

    with_edge(Edge(mode="garbage"), body)


def test_socket_keepalive_hook_runs_while_the_edge_answers() -> None:
    edge = Edge()

    async def body(config: SocketConfig) -> None:
        sock = await NoiseSocket.connect(new_client(), config, keepalive=lambda: sock.send(b"\x00ping"))
        reader = asyncio.create_task(sock.receive())
        await edge.got_payload.wait()
        assert await reader == b"\x00ping"
        await sock.close()

    with_edge(edge, body)
    assert edge.received[0] == b"\x00ping"


def test_socket_keepalive_detects_a_dead_edge() -> None:
    async def quiet() -> None:
        pass

    async def body(config: SocketConfig) -> None:
        config = SocketConfig(
            url=config.url, proxy=None, keepalive_interval=0.02, keepalive_grace=0.02, ca_file=config.ca_file
        )
        sock = await NoiseSocket.connect(new_client(), config, keepalive=quiet)
        with pytest.raises(ConnectionLost, match="keepalive"):
            await sock.receive()

    with_edge(Edge(mode="silent"), body)


def test_socket_connection_failures_are_engine_errors() -> None:
    with stdlib_socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def main() -> None:
        with pytest.raises(ConnectionLost):
            await NoiseSocket.connect(new_client(), SocketConfig(url=f"wss://127.0.0.1:{port}/", proxy=None))
        for url in ("not a url", f"ws://127.0.0.1:{port}/ws/chat"):  # clear text is refused before any I/O
            with pytest.raises(WebEngineError) as caught:
                await NoiseSocket.connect(new_client(), SocketConfig(url=url, proxy=None))
            assert not isinstance(caught.value, ConnectionLost) and not caught.value.is_transient
        with pytest.raises(WebEngineError, match="CA bundle") as bad_bundle:
            await NoiseSocket.connect(
                new_client(),
                SocketConfig(url=f"wss://127.0.0.1:{port}/", proxy=None, ca_file="/nonexistent.pem"),
            )
        assert not bad_bundle.value.is_transient
        with pytest.raises(ConnectionLost, match="resolve") as unresolvable:
            await NoiseSocket.connect(
                new_client(), SocketConfig(url="wss://edge.invalid/ws/chat", proxy=None)
            )
        assert unresolvable.value.details == {"stage": "dns"}

    asyncio.run(main())


def test_socket_verifies_the_edge_certificate_against_the_trust_store() -> None:
    """The system store does not know the test CA: the TLS handshake fails as a transient, explained
    loss (a captive proxy may go away) and no Noise byte is sent."""
    edge = Edge()

    async def body(config: SocketConfig) -> None:
        untrusted = SocketConfig(url=config.url, proxy=None, handshake_timeout=5)
        with pytest.raises(ConnectionLost, match="certificate is not trusted") as caught:
            await NoiseSocket.connect(new_client(), untrusted)
        assert caught.value.is_transient and caught.value.details == {"stage": "tls"}

    with_edge(edge, body)
    assert edge.received == []


def test_socket_finds_a_private_ca_through_ssl_cert_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no CA bundle configured, the system store is OpenSSL's: SSL_CERT_FILE points it at ours."""
    monkeypatch.setenv("SSL_CERT_FILE", local_ca().ca_file)
    client_context.cache_clear()
    edge = Edge()

    async def body(config: SocketConfig) -> None:
        system = SocketConfig(url=config.url, proxy=None, handshake_timeout=5)
        async with await NoiseSocket.connect(new_client(), system) as sock:
            await sock.send(b"\x00hello")
            assert await sock.receive() == b"\x00hello"

    try:
        with_edge(edge, body)
    finally:
        client_context.cache_clear()
