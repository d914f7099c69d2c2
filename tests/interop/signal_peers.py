"""Both sides of the Signal interop tests and the benchmark: signal_peer.mjs (Baileys + libsignal, kept alive
between steps) and our SignalRepository over an in-memory KeyStore, each able to hand out prekey bundles."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.engines.keys import KeyNamespace
from connector.engines.memory_keys import InMemoryKeyStore
from connector.engines.web.creds import Credentials
from connector.engines.web.crypto import curve
from connector.engines.web.signal import PreKeyBundle, SignalRepository
from tests.interop.node_process import JsonLinesProcess

INTEROP_DIR = Path(__file__).resolve().parent


class PeerError(Exception):
    """signal_peer.mjs answered a command with an error (libsignal refused)."""


class NodeSignalPeer:
    """One Baileys device in a long-running node process; `call` sends a command and returns its answer."""

    def __init__(self, process: JsonLinesProcess) -> None:
        self._process = process

    @classmethod
    async def start(cls, me: str | None = None, *, directory: Path = INTEROP_DIR) -> NodeSignalPeer:
        """The peer, installed as device `me` when given (else send `install` first)."""
        node = shutil.which("node")
        assert node is not None
        script = str(directory / "signal_peer.mjs")
        peer = cls(await JsonLinesProcess.start([node, script], cwd=directory))
        if me is not None:
            await peer.call("install", me=me)
        return peer

    async def call(self, cmd: str, timeout: float = 30, **arguments: Any) -> dict[str, Any]:
        await self._process.send({"cmd": cmd, **arguments})
        answer = await self._process.read(timeout)
        if "error" in answer:
            raise PeerError(answer["error"])
        return answer

    async def bundle(self, *, pre_key: bool = True) -> PreKeyBundle:
        return bundle_from_json((await self.call("bundle", preKey=pre_key))["bundle"])

    async def encrypt(self, jid: str, plaintext: bytes) -> tuple[str, bytes]:
        answer = await self.call("encrypt", jid=jid, plaintext=plaintext.hex())
        return answer["type"], bytes.fromhex(answer["ciphertext"])

    async def decrypt(self, jid: str, message_type: str, ciphertext: bytes) -> bytes:
        answer = await self.call("decrypt", jid=jid, type=message_type, ciphertext=ciphertext.hex())
        return bytes.fromhex(answer["plaintext"])

    async def close(self) -> None:
        await self._process.close({"cmd": "end"})


def bundle_from_json(bundle: dict[str, Any]) -> PreKeyBundle:
    pre_key = bundle.get("preKey")
    return PreKeyBundle(
        registration_id=bundle["registrationId"],
        identity_key=bytes.fromhex(bundle["identityKey"]),
        signed_pre_key_id=bundle["signedPreKey"]["keyId"],
        signed_pre_key=bytes.fromhex(bundle["signedPreKey"]["publicKey"]),
        signed_pre_key_signature=bytes.fromhex(bundle["signedPreKey"]["signature"]),
        pre_key_id=pre_key["keyId"] if pre_key else None,
        pre_key=bytes.fromhex(pre_key["publicKey"]) if pre_key else None,
    )


def bundle_to_json(bundle: PreKeyBundle) -> dict[str, Any]:
    value: dict[str, Any] = {
        "registrationId": bundle.registration_id,
        "identityKey": bundle.identity_key.hex(),
        "signedPreKey": {
            "keyId": bundle.signed_pre_key_id,
            "publicKey": bundle.signed_pre_key.hex(),
            "signature": bundle.signed_pre_key_signature.hex(),
        },
    }
    if bundle.pre_key is not None:
        value["preKey"] = {"keyId": bundle.pre_key_id, "publicKey": bundle.pre_key.hex()}
    return value


@dataclass
class OurDevice:
    """Our side: credentials, a KeyStore and the repository; one-time prekeys stored as the engine does."""

    creds: Credentials
    keys: InMemoryKeyStore = field(default_factory=lambda: InMemoryKeyStore(session_id=os.urandom(4).hex()))
    next_pre_key_id: int = 1

    @classmethod
    def install(cls) -> OurDevice:
        return cls(Credentials.generate(time.time()))

    @property
    def repository(self) -> SignalRepository:
        return SignalRepository(self.keys, self.creds)

    async def bundle(self, *, pre_key: bool = True) -> PreKeyBundle:
        signed = self.creds.signed_pre_key
        pre_key_id: int | None = None
        pair: curve.KeyPair | None = None
        if pre_key:
            pre_key_id, self.next_pre_key_id = self.next_pre_key_id, self.next_pre_key_id + 1
            pair = curve.KeyPair.generate()
            await self.keys.put(KeyNamespace.PRE_KEY, {str(pre_key_id): pair.private + pair.public})
        return PreKeyBundle(
            registration_id=self.creds.registration_id,
            identity_key=self.creds.identity_key.public,
            signed_pre_key_id=signed.key_id,
            signed_pre_key=signed.key_pair.public,
            signed_pre_key_signature=signed.signature,
            pre_key_id=pre_key_id,
            pre_key=None if pair is None else pair.public,
        )

    async def has_pre_key(self, key_id: int) -> bool:
        return bool(await self.keys.get(KeyNamespace.PRE_KEY, [str(key_id)]))
