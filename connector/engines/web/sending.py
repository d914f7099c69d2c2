"""Sending: fan a message out to every device that must get it, encrypted, and wait for the edge's ack.

1:1    the recipient's devices and our own other devices (usync, cached) ─► sessions (bundles for new
       ones) ─► per device: pad, encrypt (pkmsg until the peer answers, then msg); our own devices get a
       DeviceSentMessage ─► <message id to type t><participants><to jid><enc v=2 type/></to>…
       </participants>[<device-identity/> with any pkmsg]</message> ─► <ack class=message id t [error]>
group  metadata (members, addressing mode) ─► member devices ─► one skmsg under our sender key for
       everyone, plus the key itself in 1:1 envelopes to the devices that lack it (groups.SenderKeyMemory,
       updated once the edge acked) ─► <message id to=group type t addressing_mode>[<participants/>]
       <enc v=2 type=skmsg/>[<device-identity/>]</message> ─► ack
phash  the ack carries WhatsApp's hash of the devices it expected (participant_hash); ours differs
       when our device list was stale: the lists are asked again and the devices we missed get the
       message on their own (as a retry answer does), so a new device does not silently miss it.
       Group messages carry our hash as `phash` too (whatsmeow send.go).
retry  a device that could not decrypt sends a retry receipt: the message (kept in the KeyStore a day)
       is encrypted again for that device only (with our sender key again for a group) in a new session,
       from the keys the receipt carried or a bundle from the edge; `count` says which attempt.

The message id is the caller's (provider_message_id): a send repeated after a lost connection or a
missing ack carries the same id, and the recipient shows it once. A device whose session cannot be had
is left out; no device at all means the number is not on WhatsApp (SendRejected). A session record that
turns out corrupt is reset by the Signal layer; that one device gets a fresh session and the send goes on.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from connector.engines.base import SendResult
from connector.engines.errors import SendRejected
from connector.engines.web.binary.jid import LID_SERVER, Jid
from connector.engines.web.binary.node import AttrValue, Node
from connector.engines.web.bundles import Sessions
from connector.engines.web.connection import Connection
from connector.engines.web.content import (
    device_sent,
    edit_attribute,
    is_poll_creation,
    media_type,
    stanza_type,
    with_distribution,
)
from connector.engines.web.creds import CredentialStore, Me
from connector.engines.web.errors import ProtocolError, SendFailed
from connector.engines.web.groups import Groups, SenderKeyMemory
from connector.engines.web.lid import LidMap
from connector.engines.web.privacy_tokens import PrivacyTokens
from connector.engines.web.protos import parse, serialize, wa
from connector.engines.web.recent import RecentRecords
from connector.engines.web.settings import WebSettings
from connector.engines.web.signal import NoSession, PreKeyBundle, SignalAddress, SignalRepository, pad
from connector.engines.web.usync import DeviceLists

log = logging.getLogger(__name__)

ACCOUNT_RESTRICTED = 463  # a 1:1 message without the contact's privacy token (privacy_tokens.py)


SENT_TTL = 24 * 3600.0  # a retry receipt comes within seconds or after the recipient's next login


@dataclass(frozen=True, slots=True)
class Sent:
    chat: Jid
    message: bytes  # the serialized Message, before any wrapper
    group: bool

    def to_bytes(self) -> bytes:
        data = {"chat": str(self.chat), "group": self.group, "m": base64.b64encode(self.message).decode()}
        return json.dumps(data).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Sent | None:
        try:
            data = json.loads(raw)
            return cls(Jid.parse(data["chat"]), base64.b64decode(data["m"]), bool(data["group"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True, slots=True)
class RetryRequest:
    message_id: str
    device: Jid  # the device asking, as it names itself
    count: int
    registration: int | None
    bundle: PreKeyBundle | None


class Outbox:
    def __init__(
        self,
        conn: Connection,
        signal: SignalRepository,
        lids: LidMap,
        devices: DeviceLists,
        sessions: Sessions,
        groups: Groups,
        memory: SenderKeyMemory,
        creds: CredentialStore,
        clock: Callable[[], float],
        settings: WebSettings,
        tokens: PrivacyTokens,
        recent: RecentRecords,
    ) -> None:
        self._conn = conn
        self._recent = recent  # what we sent, by message id (KeyStore: survives reconnects)
        self._signal = signal
        self._lids = lids
        self._devices = devices
        self._sessions = sessions
        self._groups = groups
        self._memory = memory
        self._creds = creds
        self._clock = clock
        self._settings = settings
        self._tokens = tokens
        self._fanout: dict[str, tuple[str, frozenset[Jid]]] = {}  # message id -> (phash, devices) in flight
        self._resent: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._lock = asyncio.Lock()  # one fan-out at a time: sessions are started once per device
        self.in_flight: set[str] = set()  # message ids whose send() has not returned yet
        self.finished: Callable[[str], None] = lambda message_id: None  # told when send() returns

    async def send(self, chat: Jid, message: wa.Message, message_id: str) -> SendResult:
        """Raises SendRejected, SendFailed, AckTimeout, ConnectionLost, IqError, IqTimeout."""
        message = with_secret(message)
        await self._recent.remember(message_id, Sent(chat, serialize(message), chat.is_group).to_bytes())
        self.in_flight.add(message_id)
        try:
            async with self._lock:
                if chat.is_group:
                    stanza, distributed = await self._group(chat, message, message_id)
                else:
                    stanza, distributed = await self._direct(chat, message, message_id), []
            ack = await self._conn.send_message(stanza, timeout=self._settings.ack_timeout_seconds)
            _check_ack(ack, message_id)
            if distributed:
                await self._memory.add(chat, distributed)
            await self._check_fanout(chat, message_id, ack)
            return SendResult(message_id, _server_time(ack) or self._clock(), str(chat))
        finally:
            self._fanout.pop(message_id, None)
            self.in_flight.discard(message_id)
            self.finished(message_id)

    # ---- 1:1 ----------------------------------------------------------------------------------------

    async def _direct(self, chat: Jid, message: wa.Message, message_id: str) -> Node:
        me = self._me()
        own = (me.lid if chat.server == LID_SERVER and me.lid is not None else me.jid).to_account()
        account = chat.to_account()
        listed = await self._devices.devices([account, own])
        theirs = listed.get(account, [])
        if not theirs:
            raise SendRejected(f"{account} is not on WhatsApp (no devices)", code="not_on_whatsapp")
        ours = [device for device in listed.get(own, []) if not self._is_this_device(device)]
        targets = list(
            dict.fromkeys(device for device in [*theirs, *ours] if not self._is_this_device(device))
        )
        self._fanout[message_id] = (participant_hash([*theirs, *listed.get(own, [])]), frozenset(targets))
        reachable = await self._sessions.ensure(targets)
        if not any(device in reachable for device in theirs):
            raise SendRejected(f"no device of {account} could be reached (no prekeys)", code="no_session")
        plain, wrapped = serialize(message), serialize(device_sent(chat, message))
        envelopes: list[Node] = []
        for device in reachable:
            enc = await self._envelope(
                device, wrapped if device in ours and device not in theirs else plain, message
            )
            if enc is not None:
                envelopes.append(Node("to", {"jid": device}, [enc]))
        content = [Node("participants", {}, envelopes), *self._identity(envelopes), *_meta(message)]
        token = await self._tokens.attach(account)
        if token is not None:  # without it, a restricted account's message is refused with 463
            content.append(token)
        return Node("message", self._attrs(message_id, chat, message), content)

    # ---- groups -------------------------------------------------------------------------------------

    async def _group(self, group: Jid, message: wa.Message, message_id: str) -> tuple[Node, list[str]]:
        meta = await self._groups.metadata(group)
        our_address = await self._our_address()
        listed = await self._devices.devices(meta.members)
        devices = [d for found in listed.values() for d in found if not self._is_this_device(d)]
        phash = participant_hash(d for found in listed.values() for d in found)
        self._fanout[message_id] = (phash, frozenset(devices))
        addresses = {device: str(await self._lids.address(device)) for device in devices}
        known = await self._memory.distributed(group)
        if known - set(addresses.values()):  # someone left: they must not read what follows
            await self._signal.forget_sender_key(group, our_address)
            await self._memory.reset(group)
            known = set()
            log.info("a device left %s: a new sender key", group)
        encrypted = await self._signal.group_encrypt(group, our_address, pad(serialize(message)))
        missing = [device for device in devices if addresses[device] not in known]
        envelopes: list[Node] = []
        distributed: list[str] = []
        if missing:
            distribution = serialize(with_distribution(group, encrypted.distribution))
            for device in await self._sessions.ensure(missing):
                enc = await self._envelope(device, distribution, message)
                if enc is not None:
                    envelopes.append(Node("to", {"jid": device}, [enc]))
                    distributed.append(addresses[device])
        skmsg = Node("enc", self._enc_attrs("skmsg", message), encrypted.ciphertext)
        content = ([Node("participants", {}, envelopes)] if envelopes else []) + [skmsg]
        attrs = {**self._attrs(message_id, group, message), "addressing_mode": meta.addressing_mode}
        attrs["phash"] = phash
        return Node("message", attrs, content + self._identity(envelopes) + _meta(message)), distributed

    # ---- participant hash ---------------------------------------------------------------------------

    async def _check_fanout(self, chat: Jid, message_id: str, ack: Node) -> None:
        """The edge's phash differs from ours: our device lists were stale. Ask again, and send the
        message on its own to each device we left out (it is still ours to deliver)."""
        expected, (ours, sent_to) = ack.str_attr("phash"), self._fanout.get(message_id, ("", frozenset()))
        if not expected or not ours or expected == ours:
            return
        log.warning(
            "%s: the edge expected other devices (phash %s, ours %s): lists refreshed", chat, expected, ours
        )
        me = self._me()
        accounts: list[Jid]
        if chat.is_group:
            self._groups.forget(chat)
            accounts = list((await self._groups.metadata(chat)).members)
        else:
            own = (me.lid if chat.server == LID_SERVER and me.lid is not None else me.jid).to_account()
            accounts = [chat.to_account(), own]
        listed = await self._devices.devices(accounts, refresh=True)
        now = [d for found in listed.values() for d in found if not self._is_this_device(d)]
        missed = [device for device in now if device not in sent_to]
        sent = await self._kept(message_id)
        if sent is None:
            return
        for device in missed:
            try:
                async with self._lock:
                    stanza = await self._resend_stanza(sent, RetryRequest(message_id, device, 0, None, None))
                if stanza is not None:
                    _check_ack(
                        await self._conn.send_message(stanza, timeout=self._settings.ack_timeout_seconds),
                        message_id,
                    )
                    log.info("%s sent to %s, which the stale device list missed", message_id, device)
            except (SendRejected, SendFailed, ValueError) as exc:
                log.warning("%s not sent to the missed device %s: %s", message_id, device, exc)

    # ---- retries ------------------------------------------------------------------------------------

    async def resend(self, retry: RetryRequest) -> None:
        """Answer a retry receipt. Raises what a send raises (the caller logs it)."""
        sent = await self._kept(retry.message_id)
        if sent is None:
            log.info("retry receipt for %s, which is no longer kept: not re-sent", retry.message_id)
            return
        key = (retry.message_id, str(retry.device))
        tries = self._resent.get(key, 0)
        if tries >= self._settings.max_retries:
            log.info(
                "%s asked for %s again: not re-sent after %d tries", retry.device, retry.message_id, tries
            )
            return
        self._resent[key] = tries + 1
        while len(self._resent) > max(self._settings.recent_messages, 1):
            self._resent.popitem(last=False)
        async with self._lock:
            stanza = await self._resend_stanza(sent, retry)
        if stanza is None:
            return
        ack = await self._conn.send_message(stanza, timeout=self._settings.ack_timeout_seconds)
        _check_ack(ack, retry.message_id)
        if sent.group:
            await self._memory.add(sent.chat, [str(await self._lids.address(retry.device))])
        log.info("re-sent %s to %s (retry %d)", retry.message_id, retry.device, retry.count)

    async def _resend_stanza(self, sent: Sent, retry: RetryRequest) -> Node | None:
        device = retry.device
        # The asking device has lost or broken its session with us: start a new one, from the keys it
        # sent when it sent some, else from a bundle the edge hands out.
        if retry.bundle is not None:
            await self._sessions.start_from(device, retry.bundle)
        elif not await self._sessions.ensure([device], force=True):
            log.warning("no keys for %s: %s not re-sent", device, retry.message_id)
            return None
        message = parse(wa.Message, sent.message, "a kept message")
        if sent.group:
            distribution = await self._signal.group_distribution(sent.chat, await self._our_address())
            message = with_distribution(sent.chat, distribution, message)
        own = await self._lids.same_user(device, self._me().jid)
        plaintext = device_sent(sent.chat, message) if own and not sent.group else message
        enc = await self._envelope(device, serialize(plaintext), message, count=retry.count)
        if enc is None:
            return None
        attrs = self._attrs(retry.message_id, sent.chat, message)
        if sent.group:
            attrs["participant"] = device
        else:
            attrs["to"] = device
            attrs["device_fanout"] = "false"
            if own:
                attrs["recipient"] = sent.chat
        return Node("message", attrs, [enc, *self._identity([enc])])

    # ---- pieces -------------------------------------------------------------------------------------

    async def _envelope(
        self, device: Jid, plaintext: bytes, message: wa.Message, count: int = 0
    ) -> Node | None:
        """`<enc>` for one device, or None when no session with it can be had."""
        address = await self._lids.address(device)
        try:
            encrypted = await self._signal.encrypt(address, pad(plaintext))
        except NoSession:  # none yet, or a corrupt record the Signal layer just reset: start afresh
            if not await self._sessions.ensure([device], force=True):
                log.warning("no session with %s: left out of this message", device)
                return None
            encrypted = await self._signal.encrypt(address, pad(plaintext))
        attrs = self._enc_attrs(encrypted.type, message)
        if count:
            attrs["count"] = str(count)
        return Node("enc", attrs, encrypted.ciphertext)

    @staticmethod
    def _enc_attrs(kind: str, message: wa.Message) -> dict[str, AttrValue]:
        attrs: dict[str, AttrValue] = {"v": "2", "type": kind}
        mediatype = media_type(message)
        if mediatype:
            attrs["mediatype"] = mediatype
        if message.HasField("reactionMessage"):
            attrs["decrypt-fail"] = "hide"  # a reaction that cannot be read is not worth a placeholder
        return attrs

    def _attrs(self, message_id: str, to: Jid, message: wa.Message) -> dict[str, AttrValue]:
        attrs: dict[str, AttrValue] = {
            "id": message_id,
            "to": to,
            "type": stanza_type(message),
            "t": str(int(self._clock())),
        }
        edit = edit_attribute(message)
        if edit is not None:
            attrs["edit"] = edit
        return attrs

    def _identity(self, envelopes: list[Node]) -> list[Node]:
        """`<device-identity>` (our signed ADV identity) whenever a pkmsg starts a session."""
        encs = [node if node.tag == "enc" else node.children[0] for node in envelopes]
        if not any(enc.str_attr("type") == "pkmsg" for enc in encs):
            return []
        account = self._creds.current.account
        if account is None:
            raise ProtocolError("sending a pkmsg from a device that is not paired")
        return [Node("device-identity", {}, account)]

    async def _kept(self, message_id: str) -> Sent | None:
        raw = await self._recent.get(message_id)
        return Sent.from_bytes(raw) if raw is not None else None

    def _me(self) -> Me:
        me = self._creds.current.me
        if me is None:
            raise ProtocolError("sending from a device that is not paired")
        return me

    async def _our_address(self) -> SignalAddress:
        return await self._lids.address(self._me().jid)

    def _is_this_device(self, device: Jid) -> bool:
        me = self._me()
        number = me.jid.device or 0
        users = {me.jid.user} | ({me.lid.user} if me.lid is not None else set())
        return device.user in users and (device.device or 0) == number


NO_SECRET = ("reactionMessage", "encReactionMessage", "encEventResponseMessage", "pollUpdateMessage")


def with_secret(message: wa.Message) -> wa.Message:
    """The message with a 32-byte `messageContextInfo.messageSecret`, as WhatsApp Web and whatsmeow add to
    every message but reactions and votes (a reply's reactions, edits and poll votes are keyed on it);
    one that has a secret already (a poll) keeps it."""
    if any(message.HasField(kind) for kind in NO_SECRET) or message.messageContextInfo.messageSecret:
        return message
    copy = wa.Message()
    copy.CopyFrom(message)
    copy.messageContextInfo.messageSecret = os.urandom(32)
    return copy


def participant_hash(devices: Iterable[Jid]) -> str:
    """WhatsApp's participant list hash (whatsmeow send.go, participantListHashV2): `2:` and the first 6
    bytes of SHA-256 over the devices' AD strings (`user.agent:device@server`), sorted and joined, in
    unpadded base64. The agent is 0 for every JID we address."""
    names = sorted(f"{d.user}.0:{d.device or 0}@{d.server}" for d in devices)
    digest = hashlib.sha256("".join(names).encode()).digest()[:6]
    return "2:" + base64.b64encode(digest).decode().rstrip("=")


def _meta(message: wa.Message) -> list[Node]:
    return [Node("meta", {"polltype": "creation"})] if is_poll_creation(message) else []


def _server_time(ack: Node) -> float | None:
    try:
        at = ack.int_attr("t")
    except ValueError:
        return None
    return float(at) if at else None


def _check_ack(ack: Node, message_id: str) -> None:
    error = ack.str_attr("error")
    if not error:
        return
    code = int(error) if error.isascii() and error.isdigit() else 0
    if code == ACCOUNT_RESTRICTED:
        raise SendRejected(
            f"WhatsApp refused message {message_id} (463): this number may not start a chat with the "
            "recipient (no privacy token: the account is restricted, or the contact never wrote to it)",
            code="recipient_restricted",
        )
    if 400 <= code < 500:
        raise SendRejected(f"WhatsApp refused message {message_id}: error {code}", code=f"wa_error_{code}")
    raise SendFailed(f"WhatsApp could not take message {message_id}: error {error}", details={"code": code})
