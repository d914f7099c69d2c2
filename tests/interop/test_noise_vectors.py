"""Our Noise initiator against Baileys' (makeNoiseHandler) from the same injected keys, byte for byte; and a
live Baileys initiator against a responder built in the test from our primitives."""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib
import json
import os
import select
import shutil
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import json_format

from connector.engines.web.crypto import curve
from connector.engines.web.noise.certificates import ServerTrust
from connector.engines.web.noise.handshake import HandshakeComplete, NoiseClient
from connector.engines.web.noise.responder import (
    ClientAuthenticated,
    ClientPayloadReceived,
    NoiseResponder,
    issue_chain,
)
from connector.engines.web.proto import build as proto_build
from tests.interop.conftest import RunNode

pytestmark = pytest.mark.interop

NOW = 1_750_000_000


def _key(label: str) -> curve.KeyPair:
    return curve.KeyPair.from_private(hashlib.sha256(f"wagate noise vectors/{label}".encode()).digest())


ROOT, INTERMEDIATE = _key("test root"), _key("intermediate")
SERVER_STATIC, SERVER_EPHEMERAL = _key("server static"), _key("server ephemeral")
CLIENT_STATIC, CLIENT_EPHEMERAL = _key("client static (noise key)"), _key("client ephemeral")
CHAIN = issue_chain(
    root=ROOT,
    intermediate=INTERMEDIATE,
    leaf_key=SERVER_STATIC.public,
    not_before=NOW - 3600,
    not_after=NOW + 3600,
)
TRUST = ServerTrust(root_public_key=ROOT.public, clock=lambda: NOW)
# Stands in for a ClientPayload: the transport never looks inside it.
CLIENT_PAYLOAD = bytes(range(256)) * 3
CLIENT_FRAMES = [b"\x00", b"\x00" + b"ping" * 10, b"\x02" + zlib.compress(b"x" * 5000), os.urandom(70_000)]
SERVER_FRAMES = [b"\x00pong", b"\x02" + zlib.compress(b"<success/>" * 100), b"\x00" + os.urandom(3000)]


def _pair(pair: curve.KeyPair) -> dict[str, str]:
    return {"private": pair.private.hex(), "public": pair.public.hex()}


def _our_transcript(routing_info: bytes | None) -> dict[str, Any]:
    client = NoiseClient(
        noise_key=CLIENT_STATIC,
        client_payload=CLIENT_PAYLOAD,
        trust=TRUST,
        routing_info=routing_info,
        ephemeral=CLIENT_EPHEMERAL,
    )
    responder = NoiseResponder(static=SERVER_STATIC, certificate_chain=CHAIN, ephemeral=SERVER_EPHEMERAL)
    hello = client.initiate()
    assert responder.receive_data(hello) == []
    server_hello = responder.data_to_send()
    [complete] = client.receive_data(server_hello)
    assert isinstance(complete, HandshakeComplete)
    finish = client.data_to_send()
    [authenticated] = responder.receive_data(finish)
    assert authenticated == ClientAuthenticated(CLIENT_STATIC.public, CLIENT_PAYLOAD)
    return {
        "client_hello": hello,
        "server_hello": server_hello,
        "client_finish": finish,
        "client_frames": [client.send(frame) for frame in CLIENT_FRAMES],
        "server_stream": b"".join(responder.send(frame) for frame in SERVER_FRAMES),
    }


@pytest.mark.parametrize("routing_info", [None, bytes.fromhex("0805080d1207")], ids=["WA intro", "ED intro"])
def test_same_keys_same_bytes_as_baileys(run_node: RunNode, routing_info: bytes | None) -> None:
    ours = _our_transcript(routing_info)
    theirs = run_node(
        "noise_vectors.mjs",
        {
            "root": ROOT.public.hex(),
            "ephemeral": _pair(CLIENT_EPHEMERAL),
            "noiseKey": _pair(CLIENT_STATIC),
            "routingInfo": routing_info.hex() if routing_info else None,
            "serverHello": ours["server_hello"].hex(),
            "clientPayload": CLIENT_PAYLOAD.hex(),
            "clientFrames": [frame.hex() for frame in CLIENT_FRAMES],
            "serverStream": ours["server_stream"].hex(),
        },
    )
    assert theirs["clientHello"] == ours["client_hello"].hex()
    assert theirs["clientFinish"] == ours["client_finish"].hex()
    # Same transport keys and counters: both directions.
    assert theirs["clientFrames"] == [frame.hex() for frame in ours["client_frames"]]
    assert theirs["serverPlaintexts"] == [frame.hex() for frame in SERVER_FRAMES]


# --- a live Baileys initiator against our responder ----------------------------------------------------


class NodePeer:
    """noise_peer.mjs as a subprocess speaking JSON lines; reads are bounded so a hang fails, not stalls."""

    def __init__(self, interop_dir: Path, config: dict[str, Any]) -> None:
        node = shutil.which("node")
        assert node is not None
        self._process = subprocess.Popen(
            [node, str(interop_dir / "noise_peer.mjs")],
            cwd=interop_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._buffer = b""
        self.send(config)

    def send(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message).encode() + b"\n")
        self._process.stdin.flush()

    def read(self, timeout: float = 20) -> dict[str, Any]:
        assert self._process.stdout is not None
        descriptor = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([descriptor], [], [], timeout)
            chunk = os.read(descriptor, 1 << 16) if ready else b""
            if not chunk:
                self.close()
                stderr = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                pytest.fail(f"noise_peer.mjs stopped answering:\n{stderr}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Deliver bytes to Baileys' decodeFrame; return its answers up to `done`."""
        self.send({"recv": data.hex()})
        answers = []
        while "done" not in (answer := self.read()):
            answers.append(answer)
        return answers

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self.send({"end": True})
                self._process.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("routing_info", [None, b"\x08\x02\x08\x05"], ids=["WA intro", "ED intro"])
def test_baileys_initiator_against_our_responder(interop_dir: Path, routing_info: bytes | None) -> None:
    now = int(time.time())
    chain = issue_chain(
        root=ROOT,
        intermediate=INTERMEDIATE,
        leaf_key=SERVER_STATIC.public,
        not_before=now - 60,
        not_after=now + 60,
    )
    peer = NodePeer(
        interop_dir,
        {
            "root": ROOT.public.hex(),
            "routingInfo": routing_info.hex() if routing_info else None,
            "clientPayload": CLIENT_PAYLOAD.hex(),
            "chain": chain.hex(),
        },
    )
    try:
        responder = NoiseResponder(static=SERVER_STATIC, certificate_chain=chain)
        hello = bytes.fromhex(peer.read()["send"])
        checked = peer.read()["chain"]
        # Our certificate chain, decoded by Baileys' protobufs and verified by libsignal.
        assert checked == {
            "intermediateByRoot": True,
            "leafByIntermediate": True,
            "issuerSerial": 0,
            "leafIssuerSerial": 1,
            "intermediateSerial": 1,
            "leafKey": SERVER_STATIC.public.hex(),
        }
        for piece in _chunks(hello, 5):  # the intro and frame arrive in pieces
            assert responder.receive_data(piece) == []
        assert responder.routing_info == routing_info

        server_hello = responder.data_to_send()
        assert peer.feed(server_hello[:10]) == []
        [answer] = peer.feed(server_hello[10:])
        [authenticated] = responder.receive_data(bytes.fromhex(answer["send"]))
        assert authenticated == ClientAuthenticated(bytes.fromhex(answer["noiseKey"]), CLIENT_PAYLOAD)

        # Baileys -> us: binary nodes it encodes, through its transport cipher.
        ping = {"tag": "ping", "attrs": {}}
        stanza = {"tag": "iq", "attrs": {"id": "1", "type": "get", "xmlns": "w:p"}, "content": [ping]}
        for _ in range(3):
            peer.send({"sendNode": stanza})
            frame = peer.read()
            [received] = responder.receive_data(bytes.fromhex(frame["send"]))
            assert received == ClientPayloadReceived(bytes.fromhex(frame["plain"]))

        # us -> Baileys: its own encoding of a stanza, plain and zlib-flagged, split at odd places.
        peer.send({"encode": {"tag": "success", "attrs": {"t": "1750000000", "location": "frc"}}})
        encoded = bytes.fromhex(peer.read()["encoded"])
        assert encoded[0] == 0
        stream = (
            responder.send(encoded)
            + responder.send(b"\x02" + zlib.compress(encoded[1:]))
            + responder.send(encoded)
        )
        answers = [answer for piece in _chunks(stream, 7) for answer in peer.feed(piece)]
        assert answers == [{"node": {"tag": "success", "attrs": {"t": "1750000000", "location": "frc"}}}] * 3
    finally:
        peer.close()


# --- the generated protobufs (our build step) against Baileys' protobufjs ------------------------------

B64 = base64.b64encode
PROTOBUF_CASES: list[tuple[str, dict[str, Any]]] = [
    (
        "ClientPayload",  # a login payload's shape
        {
            "username": 491234567890,
            "passive": True,
            "userAgent": {
                "platform": "WEB",
                "appVersion": {"primary": 2, "secondary": 3000, "tertiary": 1035194821},
                "mcc": "000",
                "mnc": "000",
                "osVersion": "0.1",
                "device": "Desktop",
                "osBuildNumber": "0.1",
                "releaseChannel": "RELEASE",
                "localeLanguageIso6391": "en",
                "localeCountryIso31661Alpha2": "US",
            },
            "webInfo": {"webSubPlatform": "WEB_BROWSER"},
            "connectType": "WIFI_UNKNOWN",
            "connectReason": "USER_ACTIVATED",
            "device": 3,
            "shards": [1, 0, 300, 70000],  # repeated int32: packed by protobufjs, so by the conversion too
            "pull": True,
            "lidDbMigrated": False,
        },
    ),
    (
        "ClientPayload",  # a registration payload's shape
        {
            "passive": False,
            "devicePairingData": {
                "eRegid": B64(b"\x00\x00\x30\x39").decode(),
                "eKeytype": B64(b"\x05").decode(),
                "eIdent": B64(bytes(range(32))).decode(),
                "eSkeyId": B64(b"\x00\x00\x01").decode(),
                "eSkeyVal": B64(bytes(32)).decode(),
                "eSkeySig": B64(bytes(64)).decode(),
                "buildHash": B64(bytes(16)).decode(),
                "deviceProps": B64(b"\x0a\x04wagate").decode(),
            },
        },
    ),
    ("ADVKeyIndexList", {"rawId": 7, "timestamp": 1750000000, "currentIndex": 2, "validIndexes": [0, 1, 5]}),
    (
        "BotCapabilityMetadata",
        {"capabilities": ["PROGRESS_INDICATOR", "AI_MEMORY", "UNKNOWN"]},
    ),  # packed enum
    ("CertChain.NoiseCertificate.Details", {"serial": 1, "issuerSerial": 0, "key": B64(bytes(32)).decode()}),
    (
        "HandshakeMessage",
        {"clientFinish": {"static": B64(b"s" * 48).decode(), "payload": B64(b"p").decode()}},
    ),
]


@pytest.fixture(scope="module")
def waproto(interop_dir: Path) -> ModuleType:
    proto_build.build()
    return importlib.import_module("connector.engines.web.proto.WAProto_pb2")


def test_generated_protobufs_encode_like_baileys(run_node: RunNode, waproto: ModuleType) -> None:
    theirs = run_node(
        "noise_protobufs.mjs", {"messages": [{"type": t, "json": j} for t, j in PROTOBUF_CASES]}
    )
    for (type_name, as_json), their_hex in zip(PROTOBUF_CASES, theirs, strict=True):
        message_class: Any = functools.reduce(getattr, type_name.split("."), waproto)
        ours = json_format.ParseDict(as_json, message_class()).SerializeToString()
        assert ours.hex() == their_hex, type_name
