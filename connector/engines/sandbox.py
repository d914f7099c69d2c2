"""The sandbox engine: a simulated WhatsApp number for demos and CRM development. Nothing leaves the machine.

It behaves like the real thing where a CRM can observe it: QR codes that rotate (the first lives
`qr_first_seconds`, the next ones `qr_next_seconds`, until `qr_limit`), a scan (the `scan` action) that
pairs a fake +1555 number and stores its credentials in the KeyStore (so a restart logs in again without
a QR code), and the restart WhatsApp asks for right after pairing. Once connected:

  * messages to the sandbox contacts progress sent → delivered → read (Cleo's phone is off: delivered
    only); Ana answers each message once, a little later (`auto_reply`); +15550109999 is "not on
    WhatsApp", so sends to it fail; any other number is delivered and read (the phones at the other
    end: sandbox_phones.py);
  * two sandbox groups can be listed and written to; "typing…" (send_typing) is kept in
    `SandboxNetwork.presences`;
  * each recipient keeps a WhatsApp message id once, like a phone: a re-send of the same id (a retry
    after a crash) is journaled as a duplicate and answered with receipts only (see sandbox_network);
  * actions (the `sandbox` command, `data.action`): `scan` (data: phone, name, qr — all optional),
    `drop` (a transient disconnect: reconnect with backoff), `logout` (unlinked from the phone: keys
    wiped), `ban` (permanent failure, remembered until a logout), `temp_ban` (WhatsApp's 402, remembered
    until it ends; data: expire seconds, code), `restrict` (WhatsApp's 463 reach-out time-lock: until
    the next connection, messages to anyone but the sandbox contacts fail with `recipient_restricted`),
    `reply` (data: from, text, group, quoted_id: an incoming message now), `rate_limit` (WhatsApp's 429
    rate-overlimit on lookups, as the web engine meets it: for `expire` seconds (60) number checks and
    sends to anyone but the sandbox contacts, whose devices a real engine must look up, are held back;
    the number is `connected` / `rate_limited` meanwhile, and the send path waits the hold out;
    sandbox_throttle.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from connector.config import SandboxSettings
from connector.engines.base import (
    Engine,
    GroupOp,
    GroupOpResult,
    MessageRef,
    OutgoingMedia,
    SendResult,
    SessionInfo,
    jid_phone,
    provider_message_id,
    to_jid,
)
from connector.engines.errors import EngineError, NotConnected, SendRejected, Unsupported
from connector.engines.events import (
    Connected,
    Emit,
    GroupInfo,
    NumberStatus,
    Paired,
    QrCode,
)
from connector.engines.exits import Exit, ExitReason, Retry
from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.sandbox_groups import SandboxGroups
from connector.engines.sandbox_network import (
    STRANGER,
    UNREACHABLE_PHONE,
    SandboxNetwork,
    SandboxSocket,
    contact_for,
)
from connector.engines.sandbox_phones import SandboxPhones, contact_named, group_named
from connector.engines.sandbox_throttle import SandboxThrottle
from connector.tasks import BackgroundTasks
from wagate.domain.content import SENDABLE
from wagate.ports import Clock

CREDS_ID = "creds"


def fake_phone(session_id: str) -> str:
    """A stable, obviously fictional number (+1 555 is reserved for fiction) for a paired session."""
    number = int.from_bytes(hashlib.sha256(session_id.encode()).digest()[:8], "big") % 10_000_000
    return f"+1555{number:07d}"


async def store_pairing(
    keys: KeyStore, session_id: str, now: float, *, phone: Any = None, name: Any = None
) -> tuple[str, str]:
    """Store what a scan leaves behind (credentials, identity, pre-keys); returns (phone, jid).
    Also lets benchmarks and demos pre-pair sessions without scanning. Raises ValueError (bad phone)."""
    phone = str(phone or fake_phone(session_id))
    jid = to_jid(phone)
    creds = {
        "phone": phone,
        "jid": jid,
        "name": str(name or f"Sandbox {phone[-4:]}"),
        "paired_at": now,
        "platform": "sandbox",
    }
    async with keys.transaction():
        await keys.put(KeyNamespace.CREDS, {CREDS_ID: json.dumps(creds).encode()})
        await keys.put(KeyNamespace.IDENTITY, {"self": os.urandom(32)})
        await keys.put(KeyNamespace.PRE_KEY, {str(i): os.urandom(32) for i in range(1, 6)})
    return phone, jid


SANDBOX_KINDS = frozenset(kind.value for kind in SENDABLE["sandbox"])


class SandboxEngine(Engine):
    def __init__(
        self,
        session: SessionInfo,
        keys: KeyStore,
        emit: Emit,
        *,
        network: SandboxNetwork,
        settings: SandboxSettings,
        clock: Clock,
    ) -> None:
        super().__init__(session, keys, emit)
        self._network = network
        self._settings = settings
        self._clock = clock
        self._end: asyncio.Future[Exit] | None = None
        self._scan: asyncio.Future[Mapping[str, Any]] | None = None
        self._qr: str | None = None
        self._socket: SandboxSocket | None = None
        self._creds: dict[str, Any] | None = None
        self._stop_requested = False
        self._restricted = False  # the `restrict` action: new chats refused with 463 until a reconnect
        self._throttle = SandboxThrottle(emit, clock)  # the `rate_limit` action
        self._tasks: BackgroundTasks | None = None
        self._groups = SandboxGroups(keys, clock.now())
        self._phones = SandboxPhones(emit, clock, settings, self._groups, self._me)

    @property
    def connected(self) -> bool:
        return self._creds is not None and self._end is not None and not self._end.done()

    # ---- lifecycle ----------------------------------------------------------------------------------

    async def run(self) -> Exit:
        self._end = asyncio.get_running_loop().create_future()
        if self._stop_requested:
            return Exit.stopped()
        self._tasks = BackgroundTasks(f"sandbox {self.session.label}")
        self._socket = await self._network.open_socket(self.session, self._socket_closed)
        outcome = Exit.stopped()
        try:
            stored = await self.keys.get(KeyNamespace.CREDS, [CREDS_ID])
            if CREDS_ID not in stored:
                outcome = await self._pair()
                return outcome
            creds = json.loads(stored[CREDS_ID])
            if creds.get("banned"):
                outcome = Exit.banned("this sandbox number is banned; log out to start again")
                return outcome
            left = float(creds.get("banned_until") or 0) - self._clock.now()
            if left > 0:  # as WhatsApp does: every login until the ban ends gets 402 with the time left
                code = creds.get("ban_code") or "101"
                detail = f"sandbox: temporarily banned (402, code {code}) for {left:.0f} s more"
                outcome = Exit.temporarily_banned(detail, left)
                return outcome
            if not self._end.done():  # stop() may have come while the socket was opening
                self._creds = creds
                await self.emit(Connected(creds["phone"], creds["jid"], creds.get("name")))
            outcome = await self._end
            return outcome
        finally:
            self._creds = None
            await self._tasks.cancel_all()
            await self._network.close_socket(self._socket, outcome.reason.value)

    async def stop(self) -> None:
        self._stop_requested = True
        self._finish(Exit.stopped())

    def _finish(self, outcome: Exit) -> None:
        if self._end is not None and not self._end.done():
            self._end.set_result(outcome)

    def _socket_closed(self, reason: str) -> None:
        if reason == "replaced":
            self._finish(Exit.replaced("another socket opened for this device"))
        else:
            self._finish(Exit.lost(reason))

    async def _pair(self) -> Exit:
        assert self._end is not None
        shown = 0
        while True:
            if self._settings.qr_limit and shown >= self._settings.qr_limit:
                return Exit(ExitReason.QR_TIMEOUT, Retry.NEVER, detail=f"{shown} QR codes were not scanned")
            lifetime = self._settings.qr_first_seconds if shown == 0 else self._settings.qr_next_seconds
            shown += 1
            self._qr = f"sandbox:{self.session.session_id}:{shown}:{secrets.token_urlsafe(12)}"
            self._scan = asyncio.get_running_loop().create_future()
            await self.emit(QrCode(self._qr, self._clock.now() + lifetime))
            waiting: set[asyncio.Future[Any]] = {self._scan, self._end}
            await asyncio.wait(waiting, timeout=lifetime, return_when=asyncio.FIRST_COMPLETED)
            if self._end.done():
                return self._end.result()
            if self._scan.done():
                return await self._paired(self._scan.result())

    async def _paired(self, scan: Mapping[str, Any]) -> Exit:
        try:
            phone, jid = await store_pairing(
                self.keys,
                self.session.session_id,
                self._clock.now(),
                phone=scan.get("phone"),
                name=scan.get("name"),
            )
        except ValueError as exc:
            return Exit.failed(str(exc))
        await self.emit(Paired(phone, jid))
        # WhatsApp closes the stream after pairing and expects a fresh login with the new credentials.
        return Exit.restart("paired")

    # ---- simulated actions --------------------------------------------------------------------------

    async def simulate(self, action: str, data: Mapping[str, Any]) -> None:
        """Raises NotConnected (not in a state for it yet), EngineError (a stale QR), Unsupported."""
        if action == "scan":
            await self._simulate_scan(data)
        elif action == "drop":
            self._require_socket()
            self._finish(Exit.lost("sandbox: connection dropped"))
        elif action == "logout":
            self._require_socket()
            self._finish(Exit.logged_out_("sandbox: unlinked from the phone"))
        elif action == "ban":
            self._require_socket()
            if self._creds is not None:
                await self.keys.put(
                    KeyNamespace.CREDS, {CREDS_ID: json.dumps({**self._creds, "banned": True}).encode()}
                )
            self._finish(Exit.banned("sandbox: this number was banned"))
        elif action == "temp_ban":
            self._require_socket()
            expire = _seconds(data.get("expire"), 3600)
            code = str(data.get("code") or "101")
            detail = f"sandbox: temporarily banned (402, code {code}) for {expire:.0f} s"
            if self._creds is not None:  # remembered until it ends: a reconnect before then meets it again
                until = self._clock.now() + expire
                banned = {**self._creds, "banned_until": until, "ban_code": code}
                await self.keys.put(KeyNamespace.CREDS, {CREDS_ID: json.dumps(banned).encode()})
            self._finish(Exit.temporarily_banned(detail, expire))
        elif action == "restrict":
            self._require_connected()
            self._restricted = True
        elif action == "rate_limit":
            self._require_connected()
            assert self._tasks is not None
            await self._throttle.hold(_seconds(data.get("expire"), 60), self._tasks)
        elif action == "reply":
            self._require_connected()
            content = data.get("content") if isinstance(data.get("content"), dict) else None
            text = data.get("text") or (None if content else "Hello from the sandbox 👋")
            await self._phones.write(
                sender=contact_named(data.get("from")),
                text=str(text) if text else None,
                group_jid=group_named(data.get("group")),
                quoted_id=str(data["quoted_id"]) if data.get("quoted_id") else None,
                content=content,
            )
        else:
            raise Unsupported(f"unknown sandbox action {action!r}", code="unknown_action")

    async def _simulate_scan(self, data: Mapping[str, Any]) -> None:
        if self._creds is not None:
            return  # already paired and connected: nothing to scan
        if self._scan is None or self._scan.done() or self._end is None or self._end.done():
            raise NotConnected("no QR code is showing yet", code="no_qr")
        expected = data.get("qr")
        if expected is not None and expected != self._qr:
            raise EngineError("that QR code has expired", code="qr_expired")
        self._scan.set_result(data)

    def _require_socket(self) -> None:
        if self._end is None or self._end.done():
            raise NotConnected("the sandbox socket is not open", code="not_connected")

    def _require_connected(self) -> None:
        if not self.connected:
            raise NotConnected("the sandbox session is not connected", code="not_connected")

    # ---- while connected ----------------------------------------------------------------------------

    async def send_text(
        self, to: str, text: str, message_id: str, *, quoted_id: str | None = None
    ) -> SendResult:
        return await self._send(to, text, message_id)

    async def send_media(
        self, to: str, media: OutgoingMedia, message_id: str, *, quoted_id: str | None = None
    ) -> SendResult:
        return await self._send(to, media.caption or f"[{media.kind.value}]", message_id)

    async def send_content(
        self,
        to: str,
        content: Mapping[str, Any],
        message_id: str,
        *,
        target: MessageRef | None = None,
        quoted: MessageRef | None = None,
    ) -> SendResult:
        """The sandbox's contacts read every kind the web engine sends (as its short text); edits,
        deletes and reactions need the message they name, like WhatsApp."""
        kind = str(content.get("type"))
        if kind not in SANDBOX_KINDS:
            raise Unsupported(f"the sandbox does not send {kind!r}", code="unsupported_kind")
        if kind in ("reaction", "edit", "delete") and target is None:
            raise SendRejected(f"a {kind} names no message", code="invalid_message")
        text = str(content.get("body") or content.get("name") or content.get("emoji") or f"[{kind}]")
        return await self._send(to, text, message_id)

    async def send_presence(self, to: str | None, state: str) -> None:
        self._require_connected()
        assert self._socket is not None
        if state not in ("available", "unavailable", "composing", "recording", "paused"):
            raise ValueError(f"not a presence: {state!r}")
        self._network.presence(self._socket, _recipient(to) if to else "", state)

    async def send_typing(self, to: str, typing: bool) -> None:
        self._require_connected()
        assert self._socket is not None
        self._network.presence(self._socket, _recipient(to), "composing" if typing else "paused")

    async def _send(self, to: str, text: str, message_id: str) -> SendResult:
        self._require_connected()
        jid = _recipient(to)
        if jid_phone(jid) == UNREACHABLE_PHONE:
            raise SendRejected(f"{to} is not on WhatsApp (sandbox)", code="not_on_whatsapp")
        if jid.endswith("@g.us") and await self._groups.members_of(self._me(), jid) is None:
            raise SendRejected(f"not a member of {jid} (sandbox)", code="not_a_participant")
        if not jid.endswith("@g.us") and contact_for(jid) is STRANGER:
            self._throttle.check("device_list")
        if self._restricted and not jid.endswith("@g.us") and contact_for(jid) is STRANGER:
            # As WhatsApp's time-lock does: chats that exist (the sandbox contacts) keep working.
            raise SendRejected(
                f"WhatsApp refused the message to {to} (463): this number may not start new chats (sandbox)",
                code="recipient_restricted",
            )
        assert self._socket is not None and self._tasks is not None
        wa_id = provider_message_id(message_id)
        first = await self._network.deliver(self._socket, jid, wa_id)
        if self.connected:  # receipts come while the socket lives; a re-send is acknowledged again
            self._tasks.spawn(self._phones.answer(jid, wa_id, text, seen=first), name="sandbox receipts")
        return SendResult(wa_id, self._clock.now(), jid)

    async def mark_read(self, chat_jid: str, message_ids: Sequence[str]) -> None:
        self._require_connected()

    async def list_groups(self) -> list[GroupInfo]:
        self._require_connected()
        return await self._groups.listed(self._me())

    async def check_numbers(self, phones: Sequence[str]) -> list[NumberStatus]:
        """The simulated network has every number but its unreachable one (sends to it fail too) and those
        ending in 000 (so a test can see both answers)."""
        self._require_connected()
        self._throttle.check("number_check")
        return [
            NumberStatus(phone, "not_on_whatsapp")
            if phone == UNREACHABLE_PHONE or phone.endswith("000")
            else NumberStatus(phone, "on_whatsapp", jid=f"{phone.lstrip('+')}@s.whatsapp.net")
            for phone in phones
        ]

    async def manage_group(self, op: GroupOp, operation_id: str) -> GroupOpResult:
        """The sandbox's groups change as WhatsApp's would (engines/sandbox_groups.py). Raises NotConnected,
        GroupRefused, ValueError."""
        self._require_connected()
        return await self._groups.run(op, self._me())

    def _me(self) -> str:
        return str(self._creds["jid"]) if self._creds is not None else ""

    async def logout(self) -> None:
        self._require_socket()
        self._finish(Exit.logged_out_("logged out by request"))


def _seconds(raw: Any, default: float) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default
    return value if 0 < value <= 30 * 86400 else default


def _recipient(to: str) -> str:
    try:
        return to_jid(to)
    except ValueError as exc:
        raise SendRejected(str(exc), code="invalid_recipient") from exc
