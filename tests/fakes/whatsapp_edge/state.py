"""What the fake edge remembers: accounts (a phone with its identity key), their devices, groups, queues.

Every account has a primary device 0 (the phone) with real Signal keys: its identity key is the account
key (as on WhatsApp, the phone's identity key signs the companions' ADV identities), so senders fan out
to it like to any device and the edge's `PhoneEndpoint` can decrypt what they send it.

Also the provisioning record: a device written straight into the edge's state without a QR scan, for the
benchmarks (hundreds of pre-linked sessions), as JSON so the edge can run in another process.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from connector.engines.web.binary.jid import GROUP_SERVER, LID_SERVER, USER_SERVER, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.creds import Credentials, SignedPreKey
from connector.engines.web.crypto import curve

PHONE_PRE_KEYS = 40  # one-time prekeys the phone publishes (bundles go on without one when exhausted)


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
    pre_keys: dict[int, bytes] = field(default_factory=dict)  # id -> public key, until a bundle hands it out
    removed: bool = False
    primary: bool = False  # device 0, the phone: never logs in over the socket

    def take_pre_key(self) -> tuple[int, bytes] | None:
        """The lowest one-time prekey, removed: each is handed out in one bundle only."""
        if not self.pre_keys:
            return None
        key_id = min(self.pre_keys)
        return key_id, self.pre_keys.pop(key_id)


@dataclass
class PhoneKeys:
    """The primary device's private Signal state, for the edge's PhoneEndpoint."""

    creds: Credentials
    pre_keys: dict[int, bytes]  # id -> private ‖ public


@dataclass
class Account:
    """The phone: its number, its LID, its identity (account signature) key and its device list."""

    phone: str  # digits only
    lid_user: str
    identity: curve.KeyPair
    raw_id: int = field(default_factory=lambda: secrets.randbits(32))
    devices: dict[int, Device] = field(default_factory=dict)
    next_device: int = 1
    push_name: str = ""
    phone_keys: PhoneKeys | None = None
    passkey: bool = False  # linking a device needs the account's passkey (passkey_prologue_request)
    restricted: bool = False  # may write 1:1 only to contacts whose privacy token it carries (else 463)
    nct_salt: bytes = field(default_factory=lambda: secrets.token_bytes(32))  # cstoken salt (history sync)
    group_add: str = "all"  # privacy: "all" may add it to groups; "nobody" (403 + an invitation instead)

    def allocate_device(self) -> int:
        device = self.next_device
        self.next_device += 1
        return device

    def device_jid(self, device: int) -> Jid:
        """Device 0 (the phone) is the plain account JID on the wire, as WhatsApp writes it."""
        return Jid(self.phone, USER_SERVER, device or None)

    def device_lid(self, device: int) -> Jid:
        return Jid(self.lid_user, LID_SERVER, device or None)

    @property
    def pn(self) -> Jid:
        return Jid(self.phone, USER_SERVER)

    @property
    def lid(self) -> Jid:
        return Jid(self.lid_user, LID_SERVER)

    def active_devices(self) -> list[Device]:
        return [device for _, device in sorted(self.devices.items()) if not device.removed]

    def device_in_form(self, device: int, form: Jid) -> Jid:
        """Device `device` addressed like `form` (its LID when `form` is a LID, else its phone number)."""
        return self.device_lid(device) if form.server == LID_SERVER else self.device_jid(device)


@dataclass
class Group:
    jid: Jid
    subject: str
    creator: str  # phone
    created: int
    addressing_mode: str  # "pn" | "lid"
    members: list[str]  # phones, creator first
    description: str | None = None
    admins: set[str] = field(default_factory=set)  # phones; the creator is superadmin on top
    description_id: str | None = None
    invite_code: str = field(default_factory=lambda: secrets.token_urlsafe(16)[:22])
    left_at: dict[str, float] = field(default_factory=dict)  # phone -> when it left (408 for a while)
    # The sender keys each member device used (key ids from its skmsg), and those that became stale when a
    # member left: a stale one used again means the one who left could read the new message.
    key_ids: dict[str, set[int]] = field(default_factory=dict)
    stale_keys: dict[str, set[int]] = field(default_factory=dict)

    def member_jid(self, account: Account) -> Jid:
        return account.lid if self.addressing_mode == "lid" else account.pn

    def role(self, phone: str) -> str | None:
        if phone == self.creator and phone in self.members:
            return "superadmin"
        return "admin" if phone in self.admins else None


class EdgeState:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.by_lid: dict[str, Account] = {}
        self.groups: dict[str, Group] = {}
        self.queues: dict[Jid, list[Node]] = {}  # device pn jid -> stanzas waiting for its next login
        # (holder phone, issuer phone) -> (token, issued at): the issuer trusts the holder to write to it
        self.privacy_tokens: dict[tuple[str, str], tuple[bytes, int]] = {}
        self._group_ids = itertools.count(1)

    def account(self, phone: str, identity: curve.KeyPair | None = None) -> Account:
        """The account of `phone` (digits), created on first use with a fresh identity key (or `identity`),
        LID and phone."""
        account = self.accounts.get(phone)
        if account is None:
            lid_user = str(10**13 + secrets.randbelow(9 * 10**13))
            key = identity or curve.KeyPair.generate()
            account = Account(phone, lid_user, key, push_name=f"User {phone[-4:]}")
            self.accounts[phone] = account
            self.by_lid[lid_user] = account
            _add_primary(account)
        elif identity is not None and identity != account.identity:
            raise ValueError(f"account {phone} exists with another identity key")
        return account

    def set_lid(self, account: Account, lid_user: str) -> None:
        self.by_lid.pop(account.lid_user, None)
        account.lid_user = lid_user
        self.by_lid[lid_user] = account
        for number, device in account.devices.items():
            device.lid = account.device_lid(number)

    def account_of(self, jid: Jid) -> Account | None:
        """The account a user or device JID (by phone number or LID) belongs to, if it exists."""
        if jid.server == LID_SERVER:
            return self.by_lid.get(jid.user)
        if jid.server == USER_SERVER:
            return self.accounts.get(jid.user)
        return None

    def device(self, jid: Jid) -> Device | None:
        """A device by its JID in either form; a JID without a device names device 0 (the phone)."""
        account = self.account_of(jid)
        if account is None:
            return None
        return account.devices.get(jid.device or 0)

    def add_device(self, account: Account, device: Device) -> None:
        if not device.jid.device:
            raise ValueError("a companion device jid names its device (1 or more)")
        account.devices[device.jid.device] = device
        account.next_device = max(account.next_device, device.jid.device + 1)

    def create_group(self, subject: str, creator: str, members: list[str], addressing_mode: str) -> Group:
        if addressing_mode not in ("pn", "lid"):
            raise ValueError("addressing mode is 'pn' or 'lid'")
        number = 120363000000000000 + next(self._group_ids)
        phones = [creator] + [phone for phone in members if phone != creator]
        for phone in phones:
            self.account(phone)
        group = Group(
            Jid(str(number), GROUP_SERVER), subject, creator, int(time.time()), addressing_mode, phones
        )
        self.groups[group.jid.user] = group
        return group

    def provision(self, record: dict[str, Any]) -> Device:
        """Write a pre-linked device (see `provision_record`) straight into the state."""
        jid = Jid.parse(record["jid"])
        account_key = record.get("account_private")
        account = self.account(
            jid.user, curve.KeyPair.from_private(bytes.fromhex(account_key)) if account_key else None
        )
        if "lid_user" in record:
            self.set_lid(account, record["lid_user"])
        assert jid.device is not None
        signed = record["signed_pre_key"]
        pre_keys = {
            int(key_id): bytes.fromhex(public) for key_id, public in record.get("pre_keys", {}).items()
        }
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
            pre_keys=pre_keys,
        )
        self.add_device(account, device)
        return device


def _add_primary(account: Account) -> None:
    now = time.time()
    creds = Credentials.generate(now)
    creds = creds.replace(
        identity_key=account.identity,
        signed_pre_key=SignedPreKey.generate(account.identity, 1, now, published=True),
    )
    pairs = {key_id: curve.KeyPair.generate() for key_id in range(1, PHONE_PRE_KEYS + 1)}
    account.phone_keys = PhoneKeys(
        creds, {key_id: pair.private + pair.public for key_id, pair in pairs.items()}
    )
    signed = creds.signed_pre_key
    account.devices[0] = Device(
        jid=account.device_jid(0),
        lid=account.device_lid(0),
        noise_public=b"",
        identity_public=account.identity.public,
        registration_id=creds.registration_id,
        signed_pre_key=SignedKey(signed.key_id, signed.key_pair.public, signed.signature),
        key_index=0,
        paired_at=int(now),
        platform="android",
        pre_keys={key_id: pair.public for key_id, pair in pairs.items()},
        primary=True,
    )


def provision_record(
    *,
    jid: Jid,
    noise_public: bytes,
    identity_public: bytes,
    registration_id: int,
    signed_pre_key: SignedKey,
    pre_keys: dict[int, bytes] | None = None,
    lid_user: str | None = None,
    account_private: bytes | None = None,
) -> dict[str, Any]:
    """A JSON-ready record for `EdgeState.provision` (and `--provision` of the edge's command line);
    `pre_keys` are the device's published one-time prekeys (id -> public key), `account_private` the
    account (phone) key that signed the device's ADV identity."""
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
        "pre_keys": {str(key_id): public.hex() for key_id, public in (pre_keys or {}).items()},
    }
    if lid_user is not None:
        record["lid_user"] = lid_user
    if account_private is not None:
        record["account_private"] = account_private.hex()
    return record
