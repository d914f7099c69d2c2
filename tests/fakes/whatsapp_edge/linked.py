"""Pre-linked devices for benchmarks: many sessions that log in at once, without a QR scan each.

Each device is linked through the real code paths minus the sockets: fresh `Credentials`, the fake
phone's ADV identity, our `complete_pairing` on the resulting pair-success, and a provisioning record
for the edge. The same keys can be handed to Baileys (`baileys_record`) so both clients log in as
equivalent, already-linked devices.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from connector.engines.keys import KeyNamespace
from connector.engines.memory_keys import InMemoryKeyStore
from connector.engines.web.binary.jid import LID_SERVER, SERVER_JID, USER_SERVER, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.creds import CREDS_ID, Credentials
from connector.engines.web.crypto import curve
from connector.engines.web.pairing import complete_pairing
from tests.fakes.whatsapp_edge.phone import adv_identity
from tests.fakes.whatsapp_edge.state import SignedKey, provision_record

DEVICE = 2  # every pre-linked device is the account's second device


@dataclass(frozen=True)
class LinkedDevice:
    creds: Credentials
    edge_record: dict[str, Any]
    pre_keys: dict[int, bytes]  # id -> private ‖ public, as published on the edge

    @property
    def jid(self) -> Jid:
        assert self.creds.me is not None
        return self.creds.me.jid

    async def keys(self, session_id: str) -> InMemoryKeyStore:
        keys = InMemoryKeyStore("ten_bench", session_id)
        await keys.put(KeyNamespace.CREDS, {CREDS_ID: self.creds.to_bytes()})
        await keys.put(KeyNamespace.PRE_KEY, {str(key_id): pair for key_id, pair in self.pre_keys.items()})
        return keys

    def baileys_record(self) -> dict[str, Any]:
        """What tests/interop/baileys_edge_client.mjs needs to build Baileys credentials for this device."""
        creds, me = self.creds, self.creds.me
        assert me is not None and me.lid is not None and creds.account is not None
        return {
            "noise": creds.noise_key.private.hex(),
            "identity": creds.identity_key.private.hex(),
            "signedPreKey": {
                "id": creds.signed_pre_key.key_id,
                "private": creds.signed_pre_key.key_pair.private.hex(),
                "signature": creds.signed_pre_key.signature.hex(),
            },
            "registrationId": creds.registration_id,
            "advSecret": creds.adv_secret.hex(),
            "jid": str(me.jid),
            "lid": str(me.lid),
            "account": creds.account.hex(),
            "preKeys": {str(key_id): pair.hex() for key_id, pair in self.pre_keys.items()},
        }


def link_device(phone: str, *, pre_key_count: int = 100) -> LinkedDevice:
    """A device of `phone` (digits) as it is right after pairing and a first prekey upload."""
    creds = Credentials.generate(time.time())
    account = curve.KeyPair.generate()
    identity = adv_identity(
        account=account,
        raw_id=int(phone[-9:]),
        key_index=DEVICE,
        companion_identity=creds.identity_key.public,
        adv_secret=creds.adv_secret,
    )
    lid_user = str(10**13 + int(phone[-9:]))
    device = Node(
        "device", {"jid": Jid(phone, USER_SERVER, DEVICE), "lid": Jid(lid_user, LID_SERVER, DEVICE)}
    )
    success = Node("pair-success", {}, [Node("device-identity", {}, identity.container), device])
    paired = complete_pairing(
        Node("iq", {"from": SERVER_JID, "id": "1", "type": "set"}, [success]), creds
    ).creds
    paired = paired.replace(next_pre_key_id=pre_key_count + 1, first_unuploaded_pre_key_id=pre_key_count + 1)
    pairs = {key_id: curve.KeyPair.generate() for key_id in range(1, pre_key_count + 1)}
    signed = paired.signed_pre_key
    record = provision_record(
        jid=Jid(phone, USER_SERVER, DEVICE),
        noise_public=paired.noise_key.public,
        identity_public=paired.identity_key.public,
        registration_id=paired.registration_id,
        signed_pre_key=SignedKey(signed.key_id, signed.key_pair.public, signed.signature),
        pre_keys={key_id: pair.public for key_id, pair in pairs.items()},
        lid_user=lid_user,
        account_private=account.private,
    )
    return LinkedDevice(
        paired, record, {key_id: pair.private + pair.public for key_id, pair in pairs.items()}
    )
