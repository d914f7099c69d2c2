"""Messages on one connection: the pieces wired together, and what the engine asks of them.

    lid        LidMap: phone number ↔ LID, the Signal address of a device
    usync      DeviceLists: a user's devices (cached)          bundles   Sessions: start sessions
    groups     Groups (metadata), SenderKeyMemory              content   Message protobufs in and out
    group_admin GroupAdmin: create, members, subject, invite, leave; w:gp2 notifications as events
    sending    Outbox: fan-out, acks, retry answers            receiving Inbox: decrypt, receipts, acks
    history    OwnSync: what our phone syncs (history, LID migration)

Built by the engine once its socket is up, dropped with it; everything worth keeping is in the KeyStore.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from connector.engines.base import GroupOp, GroupOpResult, MessageRef, SendResult, to_jid
from connector.engines.events import Emit, GroupInfo, NumberStatus
from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.web import number_check
from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import AttrValue, Node
from connector.engines.web.bundles import Sessions
from connector.engines.web.connection import Connection
from connector.engines.web.content import text_message
from connector.engines.web.creds import CredentialStore, Me
from connector.engines.web.group_admin import GroupAdmin
from connector.engines.web.groups import Groups, SenderKeyMemory
from connector.engines.web.history import OwnSync
from connector.engines.web.inbox_buffer import InboxBuffer
from connector.engines.web.lid import LidMap
from connector.engines.web.media import MediaHosts
from connector.engines.web.outgoing import build
from connector.engines.web.polls import PollBook
from connector.engines.web.prekeys import PreKeys
from connector.engines.web.privacy_tokens import PrivacyTokens
from connector.engines.web.protos import wa
from connector.engines.web.receiving import SEEN, Inbox
from connector.engines.web.recent import RecentRecords
from connector.engines.web.sending import SENT_TTL, Outbox
from connector.engines.web.settings import WebSettings
from connector.engines.web.signal import SignalAddress, SignalRepository
from connector.engines.web.usync import DeviceLists

log = logging.getLogger(__name__)

Spawn = Callable[[Awaitable[None], str], object]
AUTHORS_TTL = 7 * 86400.0  # read receipts and quotes for group messages up to a week old


class Messaging:
    def __init__(
        self,
        conn: Connection,
        keys: KeyStore,
        creds: CredentialStore,
        prekeys: PreKeys,
        emit: Emit,
        spawn: Spawn,
        *,
        settings: WebSettings,
        clock: Callable[[], float] = time.time,
        media: Callable[[], MediaHosts] | None = None,
    ) -> None:
        self._conn = conn
        self._clock = clock
        self._creds = creds
        self.lids = LidMap(keys)
        signal = self._signal = SignalRepository(keys, creds)
        self.devices = DeviceLists(keys, self.lids, conn.query, clock, settings.device_list_seconds)
        sessions = Sessions(signal, self.lids, conn.query)
        self.groups = Groups(conn.query, self.lids, clock, settings.group_metadata_seconds)
        memory = SenderKeyMemory(keys)
        created = RecentRecords(keys, KeyNamespace.GROUP_OPS, limit=500, ttl=7 * 86400.0, clock=clock)
        self.group_admin = GroupAdmin(
            conn.query, self.groups, self.lids, memory, self._forget_own_sender_key, emit, spawn, created
        )
        self.tokens = PrivacyTokens(keys, self.lids, conn.query, clock)
        self._spawn = spawn
        self.polls = PollBook(keys)
        self._buffer = InboxBuffer(keys)
        recent = settings.recent_messages
        sent = RecentRecords(keys, KeyNamespace.SENT, limit=recent, ttl=SENT_TTL, clock=clock)
        authors = RecentRecords(keys, KeyNamespace.AUTHOR, limit=SEEN, ttl=AUTHORS_TTL, clock=clock)
        self.outbox = Outbox(
            conn,
            signal,
            self.lids,
            self.devices,
            sessions,
            self.groups,
            memory,
            creds,
            clock,
            settings,
            self.tokens,
            sent,
        )
        own_sync = None
        if media is not None:
            own_sync = OwnSync(
                keys,
                self.lids,
                self.tokens,
                media,
                emit,
                me=lambda: creds.current.me.jid if creds.current.me is not None else None,
                import_days=settings.history_import_days,
                clock=clock,
            )
        self.inbox = Inbox(
            conn,
            signal,
            self.lids,
            self.outbox,
            creds,
            prekeys,
            emit,
            spawn,
            clock,
            settings,
            group_members=self._refresh_group,
            polls=self.polls,
            buffer=self._buffer,
            authors=authors,
            own_sync=own_sync.on_protocol_message if own_sync is not None else None,
        )

    async def closed(self) -> None:
        """The connection ended: forget the buffered plaintext of what was acked."""
        await self._buffer.flush()

    async def _identity_changed(self, user: Jid) -> None:
        """`<notification type=encrypt><identity/>`: the contact reinstalled WhatsApp. Every session and
        identity we keep for its devices (by number and by LID) is dropped, and its device list asked
        again, so our next message is a pkmsg the new install can read (not a msg on a dead session)."""
        account = user.to_account()
        numbers = {0, *await self.devices.known(account)}
        forms = {account, await self.lids.lid_form(account), await self.lids.pn_form(account)}
        addresses = [
            SignalAddress.from_jid(Jid(form.user, form.server, number or None))
            for form in forms
            for number in sorted(numbers)
        ]
        await self._signal.forget_peer(addresses)
        await self.devices.forget(account)
        log.info("%s changed its identity (reinstalled): %d sessions reset", account, len(addresses))

    async def _forget_own_sender_key(self, group: Jid) -> None:
        await self._signal.forget_sender_key(group, await self.lids.address(self._me().jid))

    async def manage_group(self, op: GroupOp, operation_id: str) -> GroupOpResult:
        """Raises GroupRefused, ValueError, what a query raises."""
        return await self.group_admin.run(op, operation_id)

    async def _refresh_group(self, group: Jid) -> None:
        self.groups.forget(group)
        await self.groups.metadata(group)

    async def logged_in(self, me: Me) -> None:
        """Our own number ↔ LID: our devices' sessions live under our LID like everyone else's."""
        if me.lid is not None:
            await self.lids.learn(me.jid.to_account(), me.lid.to_account(), [me.jid.device or 0])

    # ---- what the engine's callers ask --------------------------------------------------------------

    async def send_text(self, to: str, text: str, message_id: str, quoted_id: str | None) -> SendResult:
        chat = Jid.parse(to_jid(to))
        quoted_sender = await self.inbox.author(quoted_id) if quoted_id is not None else None
        message = text_message(text, quoted_id=quoted_id, quoted_sender=quoted_sender)
        result = await self.outbox.send(chat, message, message_id)
        if not chat.is_group:  # after the send, as WhatsApp Web: our token lets them write back freely
            self._spawn(self.tokens.issue(chat), "privacy token")
        return result

    async def send_attachment(
        self, to: str, message: wa.Message, message_id: str, quoted_id: str | None
    ) -> SendResult:
        """An uploaded attachment (attachments.py), quoting `quoted_id` when given."""
        chat = Jid.parse(to_jid(to))
        if quoted_id is not None:
            part = _attachment_part(message)
            part.contextInfo.stanzaId = quoted_id
            author = await self.inbox.author(quoted_id)
            if author is not None:
                part.contextInfo.participant = str(author)
        result = await self.outbox.send(chat, message, message_id)
        if not chat.is_group:
            self._spawn(self.tokens.issue(chat), "privacy token")
        return result

    async def send_content(
        self,
        to: str,
        content: Mapping[str, Any],
        message_id: str,
        target: MessageRef | None,
        quoted: MessageRef | None,
    ) -> SendResult:
        """Raises ValueError (a kind or target this engine cannot send), what Outbox.send raises."""
        chat = Jid.parse(to_jid(to))
        if quoted is not None and quoted.participant is None and not quoted.from_me:
            author = await self.inbox.author(quoted.provider_id)
            quoted = dataclasses.replace(quoted, participant=str(author) if author else str(chat))
        built = build(content, chat, target=target, quoted=quoted, now_ms=int(self._clock() * 1000))
        if built.poll_secret is not None:  # remembered first: a quick voter's vote must find it
            me = self._me()
            creator = str(me.jid.to_account())
            await self.polls.remember(message_id, creator, built.poll_secret, list(content["options"]))
        result = await self.outbox.send(chat, built.message, message_id)
        if not chat.is_group:
            self._spawn(self.tokens.issue(chat), "privacy token")
        return result

    async def send_presence(self, to: str | None, state: str) -> None:
        """`<presence type=available|unavailable name=…/>`, or `<chatstate to><composing|paused/>` (recording
        = composing with media=audio). Raises ValueError for another state."""
        me = self._me()
        if state in ("available", "unavailable"):
            if not me.name:  # the server wants our profile name with it; the phone has not told it yet
                log.info("presence %s not sent: our profile name is not known yet", state)
                return
            await self._conn.send(Node("presence", {"type": state, "name": me.name.replace("@", "")}))
            self.inbox.available = state == "available"  # delivery receipts say "active" only while online
            return
        if state not in ("composing", "recording", "paused") or to is None:
            raise ValueError(f"not a chat state: {state!r}")
        chat = Jid.parse(to_jid(to))
        sender = me.lid if chat.server == "lid" and me.lid is not None else me.jid
        child = Node("composing", {"media": "audio"}) if state == "recording" else Node(state, {})
        await self._conn.send(Node("chatstate", {"from": sender.to_account(), "to": chat}, [child]))

    def _me(self) -> Me:
        me = self._creds.current.me
        if me is None:
            raise ValueError("not paired")
        return me

    async def mark_read(self, chat_jid: str, message_ids: Sequence[str]) -> None:
        """`<receipt type=read>` for these messages: one per sender in a group (its `participant`)."""
        chat = Jid.parse(to_jid(chat_jid))
        by_author: dict[Jid | None, list[str]] = {}
        for message_id in message_ids:
            author = await self.inbox.author(message_id) if chat.is_group else None
            if chat.is_group and author is None:
                log.info("read receipt for %s in %s skipped: its sender is not known here", message_id, chat)
                continue
            by_author.setdefault(author, []).append(message_id)
        for author, ids in by_author.items():
            attrs: dict[str, AttrValue] = {
                "id": ids[0],
                "to": chat,
                "type": "read",
                "t": str(int(self._clock())),
            }
            if author is not None:
                attrs["participant"] = author
            items = [Node("item", {"id": message_id}) for message_id in ids[1:]]
            await self._conn.send(Node("receipt", attrs, [Node("list", {}, items)] if items else None))

    async def check_numbers(self, phones: Sequence[str]) -> list[NumberStatus]:
        """Whether each number is on WhatsApp (number_check.py). Raises IqError, IqTimeout, ConnectionLost."""
        return await number_check.check_numbers(self._conn.query, phones)

    async def list_groups(self) -> list[GroupInfo]:
        """The groups we are in; the creator by phone number when known (LID groups name it by LID)."""
        groups = []
        for meta in await self.groups.participating():
            creator = await self.lids.pn_form(meta.creator) if meta.creator is not None else None
            groups.append(dataclasses.replace(meta, creator=creator).info())
        return groups

    # ---- stanzas from the read loop -----------------------------------------------------------------

    async def on_stanza(self, node: Node) -> None:
        """A `<message>`, `<receipt>` or `<call>` from the read loop. Raises ProtocolError, ConnectionLost."""
        if node.tag == "message":
            await self.inbox.on_message(node)
        elif node.tag == "receipt":
            await self.inbox.on_receipt(node)
        elif node.tag == "call" and node.str_attr("id") and node.attrs.get("from") is not None:
            # Calls are not ours to take; acknowledged so the edge does not deliver them again.
            ack = {"id": node.str_attr("id") or "", "to": node.attrs["from"], "class": "call"}
            await self._conn.send(Node("ack", ack))

    async def on_notification(self, node: Node) -> None:
        """Before the engine acks it: what a notification changes in our caches and keys."""
        kind, sender = node.str_attr("type"), node.attrs.get("from")
        if not isinstance(sender, Jid) or sender == SERVER_JID:
            return
        if kind == "encrypt" and node.find("identity") is not None:
            await self._identity_changed(sender)
        elif kind == "devices":
            await self.devices.forget(sender)
        elif kind == "w:gp2" and sender.is_group:
            me = self._me()
            ours = {me.jid.to_account()} | ({me.lid.to_account()} if me.lid is not None else set())
            await self.group_admin.on_notification(node, ours)
        elif kind == "privacy_token":
            await self.tokens.on_notification(node)


def _attachment_part(message: wa.Message) -> Any:
    for field in ("imageMessage", "videoMessage", "audioMessage", "documentMessage", "stickerMessage"):
        if message.HasField(field):
            return getattr(message, field)
    raise ValueError("not an attachment message")
