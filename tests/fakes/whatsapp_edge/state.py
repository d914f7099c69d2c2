"""What the fake edge remembers: accounts (a phone with its identity key) and their linked devices.

Also the provisioning record: a device written straight into the edge's state without a QR scan, for the
benchmarks (hundreds of pre-linked sessions), as JSON so the edge can run in another process.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from connector.engines.web.binary.jid import LID_SERVER, USER_SERVER, Jid
from connector.engines.web.crypto import curve


@dataclass(frozen=True, slots=True)
class SignedKey:
    key_id: int
    public: bytes
    signature: bytes


@dataclass
class Device:
    jid: Jid  # phone:device@s.whatsapp.net
    lid: Jid  # lid:device@lid
    noise_public: bytes
    identity_public: bytes
    registration_id: int
    signed_pre_key: SignedKey
    key_index: int
    paired_at: int
    platform: str = "web"
    pre_keys: dict[int, bytes] = field(default_factory=dict)
    removed: bool = False


@dataclass
class Account:
    """The phone: its number, its LID, its identity (account signature) key and its device list."""

    phone: str  # digits only
    lid_user: str
    identity: curve.KeyPair
    raw_id: int = field(default_factory=lambda: secrets.randbits(32))
    devices: dict[int, Device] = field(default_factory=dict)
    next_device: int = 1

    def allocate_device(self) -> int:
        device = self.next_device
        self.next_device += 1
        return device

    def device_jid(self, device: int) -> Jid:
        return Jid(self.phone, USER_SERVER, device)

    def device_lid(self, device: int) -> Jid:
        return Jid(self.lid_user, LID_SERVER, device)


class EdgeState:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}

    def account(self, phone: str) -> Account:
        """The account of `phone` (digits), created on first use with a fresh identity key and LID."""
        account = self.accounts.get(phone)
        if account is None:
            lid_user = str(10**13 + secrets.randbelow(9 * 10**13))
            account = self.accounts[phone] = Account(phone, lid_user, curve.KeyPair.generate())
        return account

    def device(self, jid: Jid) -> Device | None:
        if jid.device is None:
            return None
        account = self.accounts.get(jid.user)
        return None if account is None else account.devices.get(jid.device)

    def add_device(self, account: Account, device: Device) -> None:
        if device.jid.device is None:
            raise ValueError("a device jid names its device")
        account.devices[device.jid.device] = device
        account.next_device = max(account.next_device, device.jid.device + 1)

    def provision(self, record: dict[str, Any]) -> Device:
        """Write a pre-linked device (see `provision_record`) straight into the state."""
        jid = Jid.parse(record["jid"])
        account = self.account(jid.user)
        if "lid_user" in record:
            account.lid_user = record["lid_user"]
        assert jid.device is not None
        signed = record["signed_pre_key"]
        device = Device(
            jid=jid,
            lid=account.device_lid(jid.device),
            noise_public=bytes.fromhex(record["noise_public"]),
            identity_public=bytes.fromhex(record["identity_public"]),
            registration_id=int(record["registration_id"]),
            signed_pre_key=SignedKey(
                int(signed["id"]), bytes.fromhex(signed["public"]), bytes.fromhex(signed["signature"])
            ),
            key_index=jid.device,
            paired_at=int(time.time()),
            pre_keys={1_000_000 + n: b"" for n in range(int(record.get("pre_key_count", 0)))},
        )
        self.add_device(account, device)
        return device


def provision_record(
    *,
    jid: Jid,
    noise_public: bytes,
    identity_public: bytes,
    registration_id: int,
    signed_pre_key: SignedKey,
    pre_key_count: int = 100,
    lid_user: str | None = None,
) -> dict[str, Any]:
    """A JSON-ready record for `EdgeState.provision` (and `--provision` of the edge's command line)."""
    record: dict[str, Any] = {
        "jid": str(jid),
        "noise_public": noise_public.hex(),
        "identity_public": identity_public.hex(),
        "registration_id": registration_id,
        "signed_pre_key": {
            "id": signed_pre_key.key_id,
            "public": signed_pre_key.public.hex(),
            "signature": signed_pre_key.signature.hex(),
        },
        "pre_key_count": pre_key_count,
    }
    if lid_user is not None:
        record["lid_user"] = lid_user
    return record
