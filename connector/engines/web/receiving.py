"""Receiving: `<message>` stanzas into IncomingMessage events, receipts into Receipt events, acks for both.

message  envelope (chat, author device, from us?) ─► the LID ↔ number pair its attributes reveal
         ─► each <enc> in order: pkmsg/msg with the author device's session, skmsg with its sender key in
         the group; unpadded, parsed; a sender key distribution inside is taken in ─► a receipt
         (`sender` for what our other devices sent, `peer_msg` for peer traffic, else delivery, plus
         `hist_sync` for a history sync notification) and the ack ─► IncomingMessage when a person wrote
         something not seen before (history sync, protocol traffic and repeats are only acknowledged)
         ack after durable: a message for the service is receipted and acked only once `emit` has
         returned, i.e. its event is durably queued; until then its plaintext waits in the inbox
         buffer (inbox_buffer.py), so a stanza redelivered after a crash is read back, not lost
         undecryptable ─► ack, and a retry receipt (with fresh keys from the second try on) so the
         sender encrypts again; at most max_retries per message; a DuplicateMessage (read before) gets
         its receipt and ack again; nothing readable at all (<unavailable>, msmsg) is only acked
receipt  delivery / read / played from a peer ─► Receipt, acked once its event is durable; a retry
         receipt ─► Outbox.resend in the background (it may need the edge's keys); every receipt is
         acked. A receipt for a message whose
         send() has not returned yet (the recipient was quicker than our ack) is held until it has, and
         a moment longer: the caller reports the message sent first, and a receipt for a message the
         service does not know as sent yet would be dropped there.

The read loop runs this: nothing here waits for an edge answer (what does, runs in a spawned task).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from connector.engines.errors import EngineError
from connector.engines.events import Emit, IncomingMessage, Receipt, ReceiptStatus
from connector.engines.web.binary.jid import Jid
from connector.engines.web.binary.node import AttrValue, Node
from connector.engines.web.bundles import parse_bundle
from connector.engines.web.connection import Connection
from connector.engines.web.content import Content, read_content
from connector.engines.web.creds import CredentialStore, Me
from connector.engines.web.errors import ProtocolError, WebEngineError
from connector.engines.web.inbox_buffer import InboxBuffer, entry_id
from connector.engines.web.lid import LidMap
from connector.engines.web.polls import PollBook
from connector.engines.web.prekeys import PreKeys, signed_pre_key_node
from connector.engines.web.protos import parse, wa
from connector.engines.web.recent import RecentRecords
from connector.engines.web.sending import Outbox, RetryRequest
from connector.engines.web.settings import WebSettings
from connector.engines.web.signal import (
    DuplicateMessage,
    IdentityStatus,
    InvalidMessage,
    SignalRepository,
    unpad,
)

log = logging.getLogger(__name__)

Spawn = Callable[[Awaitable[None], str], object]
RECEIPT_GRACE = 0.05  # seconds after send() returns: the caller publishes message_sent in that time
SEEN = 500  # message ids remembered: repeats (a re-send after a lost ack) and senders for read receipts
STATUS = {None: ReceiptStatus.DELIVERED, "inactive": ReceiptStatus.DELIVERED, "read": ReceiptStatus.READ}
STATUS |= {"played": ReceiptStatus.PLAYED}


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    sender: Jid  # `from` as written
    author: Jid  # the device that wrote it
    chat: Jid  # the peer (1:1), the group, or where our other device wrote to
    group: Jid | None
    from_me: bool
    timestamp: float
    push_name: str | None


def envelope(node: Node, me: Me, now: float) -> Envelope | None:
    """Who wrote what where; None for stanzas the service does not get (status, newsletters, broadcasts).

    Raises ProtocolError (no id, no `from`, a group message without its participant)."""
    message_id, sender = node.str_attr("id"), _jid(node, "from")
    if not message_id or sender is None:
        raise ProtocolError(f"a message without id or from: {node}")
    participant, recipient = _jid(node, "participant"), _jid(node, "recipient")
    if sender.is_group:
        if participant is None:
            raise ProtocolError(f"a group message without its participant: {node}")
        author, chat, group = participant, sender, sender
    elif sender.is_pn_user or sender.is_lid_user:
        author, chat, group = sender, recipient or sender.to_account(), None
    else:
        return None
    users = {me.jid.user} | ({me.lid.user} if me.lid is not None else set())
    try:
        timestamp = float(node.int_attr("t") or now)
    except ValueError:
        timestamp = now
    notify = node.str_attr("notify")
    return Envelope(
        message_id, sender, author, chat.to_account(), group, author.user in users, timestamp, notify
    )


class Inbox:
    def __init__(
        self,
        conn: Connection,
        signal: SignalRepository,
        lids: LidMap,
        outbox: Outbox,
        creds: CredentialStore,
        prekeys: PreKeys,
        emit: Emit,
        spawn: Spawn,
        clock: Callable[[], float],
        settings: WebSettings,
        group_members: Callable[[Jid], Awaitable[None]] | None = None,
        polls: PollBook | None = None,
        buffer: InboxBuffer | None = None,
        own_sync: Callable[[wa.Message.ProtocolMessage], Awaitable[None]] | None = None,
        authors: RecentRecords | None = None,
    ) -> None:
        self._kept_authors = authors  # group messages' senders (KeyStore: survives reconnects)
        self._conn = conn
        self._polls = polls  # poll secrets: votes are encrypted with them
        self._buffer = buffer  # decrypted, not yet acked (None: tests that need no crash safety)
        self._own_sync = own_sync  # history sync and LID migration from our phone (history.py)
        self._group_members = group_members  # refreshes a group's metadata (its members' phone numbers)
        self._signal = signal
        self._lids = lids
        self._outbox = outbox
        self._creds = creds
        self._prekeys = prekeys
        self._emit = emit
        self._spawn = spawn
        self._clock = clock
        self._settings = settings
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._authors: OrderedDict[str, Jid] = OrderedDict()  # message id -> author (quotes, read receipts)
        self._retries: OrderedDict[tuple[str, str], int] = OrderedDict()
        # Delivery receipts are `inactive` (delivered, not shown to the sender as seen by an open app) unless
        # we told WhatsApp we are online, as WhatsApp Web in the background and whatsmeow do.
        self.available = False
        self._turn: asyncio.Future[None] | None = None  # the last incoming message's publication
        self._held: list[tuple[Receipt, Node]] = []  # receipts for sends not returned yet, unacked
        outbox.finished = self._release

    # ---- messages -----------------------------------------------------------------------------------

    async def on_message(self, node: Node) -> None:
        """Raises ProtocolError (a malformed envelope), ConnectionLost."""
        me = self._me()
        env = envelope(node, me, self._clock())
        if env is None:
            await self._ack(node)
            return
        await self._learn(node, env)
        # A message id seen before is a re-send (the sender lost our ack or its connection): still
        # decrypted, so both ratchets stay in step, but not shown twice.
        seen = (str(env.chat), env.id) in self._seen
        entry = entry_id(str(env.chat), env.id, str(env.author))
        try:
            content = await self._decrypt(node, env, entry)
        except DuplicateMessage:  # an envelope we already read (a redelivery after a lost ack)
            await self._receipt(node, env, None)
            await self._ack(node)
            return
        except (WebEngineError, ValueError) as exc:  # SignalError, a protobuf that does not parse
            log.warning("cannot decrypt %s from %s: %s", env.id, env.author, exc)
            await self._ack(node)
            if not seen:
                self._ask_again(node, env)
            return
        if content is None:  # nothing we can read (<unavailable>, a kind of envelope we do not speak)
            await self._ack(node)
            return
        await self._remember(env)
        if not content.visible or seen:
            await self._settle(node, env, content, entry)
            if content.own_sync is not None and not seen:
                self._take_own_sync(env, content.own_sync)
            return
        incoming = await self._incoming(env, content)
        # Emitted in a task of its own, so the read loop goes on while the queue takes the event (and an
        # attachment is fetched); each task waits for the one before, so events keep the stanzas' order.
        turn, done = self._turn, asyncio.get_running_loop().create_future()
        self._turn = done
        self._spawn(self._deliver(node, env, content, entry, incoming, turn, done), "incoming message")

    async def _deliver(
        self,
        node: Node,
        env: Envelope,
        content: Content,
        entry: str,
        incoming: IncomingMessage,
        turn: asyncio.Future[None] | None,
        done: asyncio.Future[None],
    ) -> None:
        try:
            if incoming.sender_phone is None and env.author.is_lid_user:
                # The edge left out participant_pn/sender_pn and we never learned this LID's number: a CRM
                # must not get a phone-less contact. A LID group's member list names every phone.
                incoming = await self._with_phone(env, content)
            if turn is not None:
                await turn
            await self._emit(incoming)  # returns once the event is durably queued
        finally:
            if not done.done():
                done.set_result(None)
        await self._settle(node, env, content, entry)

    def _take_own_sync(self, env: Envelope, protocol: wa.Message.ProtocolMessage) -> None:
        if self._own_sync is None:
            return
        if env.from_me and env.group is None:  # anyone else sending these is spoofing (Baileys)
            self._spawn(self._own_sync(protocol), "sync from our phone")
        else:
            log.warning(
                "%s from %s: a self-only protocol message from someone else, ignored", env.id, env.author
            )

    async def _settle(self, node: Node, env: Envelope, content: Content, entry: str) -> None:
        await self._receipt(node, env, content)
        await self._ack(node)
        if self._buffer is not None:
            self._buffer.acked(entry)

    async def _decrypt(self, node: Node, env: Envelope, entry: str) -> Content | None:
        envelopes = [enc for enc in node.findall("enc") if enc.str_attr("type") in ("pkmsg", "msg", "skmsg")]
        if not envelopes:
            return None
        buffer = self._buffer
        if buffer is None:
            return read_content(await self._open(envelopes, env))
        kept = await buffer.get(entry)
        if kept is not None:  # decrypted before a crash, never acked: redelivered
            return read_content(parse(wa.Message, kept, "a buffered message"))
        async with buffer.transaction():  # the ratchet steps and the plaintext commit together
            merged = await self._open(envelopes, env)
            deleted = await buffer.put(entry, merged.SerializeToString())
        buffer.committed(deleted)
        return read_content(merged)

    async def _open(self, envelopes: list[Node], env: Envelope) -> wa.Message:
        address = await self._lids.address(env.author)
        merged = wa.Message()
        for enc in envelopes:
            kind, data = enc.str_attr("type"), enc.content_bytes() or b""
            if kind == "skmsg" and env.group is not None:
                plaintext = await self._signal.group_decrypt(env.group, address, data)
            elif kind in ("pkmsg", "msg"):
                decrypted = await self._signal.decrypt(address, kind, data)
                if decrypted.identity is IdentityStatus.CHANGED:
                    log.warning("%s has a new identity key (reinstalled, or someone else)", env.author)
                plaintext = decrypted.plaintext
            else:
                raise InvalidMessage("a group envelope outside a group")
            message = parse(wa.Message, unpad(plaintext), "a decrypted message")
            part = read_content(message)
            if part.distribution is not None and part.distribution.group:
                try:
                    await self._signal.group_process_distribution(
                        part.distribution.group, address, part.distribution.key
                    )
                except InvalidMessage as exc:
                    log.warning("a sender key from %s does not parse: %s", env.author, exc)
            merged.MergeFrom(message)
        return merged

    async def _incoming(self, env: Envelope, content: Content) -> IncomingMessage:
        author = (await self._lids.pn_form(env.author)).to_account()
        chat = env.group or (await self._lids.pn_form(env.chat))
        if content.destination and env.from_me and env.group is None:
            try:
                chat = await self._lids.pn_form(Jid.parse(content.destination).to_account())
            except ValueError:  # our other device named no proper chat: keep the envelope's
                log.warning("a DeviceSentMessage names %r, not a JID", content.destination)
        typed = await self._typed(env, content)
        return IncomingMessage(
            provider_message_id=env.id,
            chat_jid=str(chat),
            sender_jid=str(author),
            sender_phone=await self._lids.phone(env.author),
            timestamp=env.timestamp,
            text=content.text,
            media=content.media,
            quoted_id=content.quoted_id,
            group_jid=str(env.group) if env.group is not None else None,
            push_name=env.push_name,
            from_me=env.from_me,
            content=typed,
            sender_lid=_lid_text(await self._lids.lid_form(env.author.to_account())),
        )

    async def _typed(self, env: Envelope, content: Content) -> dict[str, object] | None:
        """The typed content; a poll's secret is remembered, a vote on a known poll decrypted."""
        typed = content.typed
        if self._polls is None or typed is None:
            return typed
        author = str(env.author.to_account())
        if typed.get("type") == "poll" and content.secret:
            await self._polls.remember(env.id, author, content.secret, list(typed.get("options") or []))
        elif content.vote is not None and typed.get("target_provider_id"):
            typed = await self._polls.read_vote(str(typed["target_provider_id"]), content.vote, author)
        return typed

    async def _with_phone(self, env: Envelope, content: Content) -> IncomingMessage:
        if env.group is not None and self._group_members is not None:
            try:
                await self._group_members(env.group)
            except WebEngineError as exc:  # the message still goes out, without the phone
                log.warning("members of %s not fetched: %s", env.group, exc)
        incoming = await self._incoming(env, content)
        if incoming.sender_phone is None:
            log.warning("no phone number known for %s (message %s)", env.author, env.id)
        return incoming

    async def _learn(self, node: Node, env: Envelope) -> None:
        if env.group is not None:
            other = _jid(node, "participant_pn") or _jid(node, "participant_lid")
        else:
            other = _jid(node, "sender_pn") or _jid(node, "sender_lid")
        await self._lids.learn_attrs(env.author, other)

    async def _remember(self, env: Envelope) -> None:
        self._seen[(str(env.chat), env.id)] = None
        while len(self._seen) > SEEN:
            self._seen.popitem(last=False)
        author = env.author.to_account()
        if env.id not in self._authors and env.group is not None and self._kept_authors is not None:
            await self._kept_authors.remember(env.id, str(author).encode())
        self._authors[env.id] = author
        while len(self._authors) > SEEN:
            self._authors.popitem(last=False)

    async def author(self, message_id: str) -> Jid | None:
        """Who wrote `message_id`: seen on this connection, or a group message kept in the KeyStore."""
        found = self._authors.get(message_id)
        if found is None and self._kept_authors is not None:
            raw = await self._kept_authors.get(message_id)
            try:
                found = Jid.parse(raw.decode()) if raw is not None else None
            except ValueError:
                found = None
        return found

    # ---- acks and receipts out ----------------------------------------------------------------------

    async def _ack(self, node: Node) -> None:
        attrs: dict[str, AttrValue] = {
            "id": node.str_attr("id") or "",
            "to": node.attrs["from"],
            "class": node.tag,
        }
        for name in ("participant", "recipient", "type"):
            value = node.attrs.get(name)
            if value is not None:
                attrs[name] = value
        if node.tag == "message":
            attrs["from"] = self._me().jid
        await self._conn.send(Node("ack", attrs))

    async def _receipt(self, node: Node, env: Envelope, content: Content | None) -> None:
        attrs: dict[str, AttrValue] = {"id": env.id, "to": env.sender}
        if env.group is not None:
            attrs["participant"] = env.author
        if node.str_attr("category") == "peer":
            attrs["type"] = "peer_msg"
        elif env.from_me:
            attrs["type"] = "sender"
            if env.group is None:
                attrs["recipient"] = env.chat
        elif not self.available:
            attrs["type"] = "inactive"
        await self._conn.send(Node("receipt", attrs))
        if content is not None and content.history_sync:
            await self._conn.send(Node("receipt", {"id": env.id, "to": env.sender, "type": "hist_sync"}))

    def _ask_again(self, node: Node, env: Envelope) -> None:
        key = (env.id, str(env.author))
        count = self._retries.get(key, 0) + 1
        if count > self._settings.max_retries:
            log.warning(
                "%s from %s still undecryptable after %d retries: given up", env.id, env.author, count - 1
            )
            return
        self._retries[key] = count
        while len(self._retries) > SEEN:
            self._retries.popitem(last=False)
        self._spawn(self._send_retry(node, count), "retry receipt")

    async def _send_retry(self, node: Node, count: int) -> None:
        creds = self._creds.current
        attrs: dict[str, AttrValue] = {
            "id": node.str_attr("id") or "",
            "to": node.attrs["from"],
            "type": "retry",
        }
        for name in ("participant", "recipient"):
            value = node.attrs.get(name)
            if value is not None:
                attrs[name] = value
        retry = {
            "count": str(count),
            "id": node.str_attr("id") or "",
            "t": node.str_attr("t") or "",
            "v": "1",
        }
        content = [
            Node("retry", retry | {"error": "0"}),
            Node("registration", {}, creds.registration_id.to_bytes(4, "big")),
        ]
        if (
            count >= 2 and creds.account is not None
        ):  # the sender's session with us is likely broken: our keys
            key_id, public = await self._prekeys.fresh()
            keys = [
                Node("type", {}, b"\x05"),
                Node("identity", {}, creds.identity_key.public),
                Node("key", {}, [Node("id", {}, key_id.to_bytes(3, "big")), Node("value", {}, public)]),
                signed_pre_key_node(creds.signed_pre_key),
                Node("device-identity", {}, creds.account),
            ]
            content.append(Node("keys", {}, keys))
        await self._conn.send(Node("receipt", attrs, content))

    # ---- receipts in --------------------------------------------------------------------------------

    async def on_receipt(self, node: Node) -> None:
        """Raises ProtocolError (no id or from), ConnectionLost."""
        receipt_id, sender = node.str_attr("id"), _jid(node, "from")
        if not receipt_id or sender is None:
            raise ProtocolError(f"a receipt without id or from: {node}")
        kind = node.str_attr("type")
        participant = _jid(node, "participant")
        ids = [receipt_id, *_items(node)]
        if kind == "retry":
            await self._ack(node)
            self._on_retry(node, sender, participant, receipt_id)
            return
        try:
            at = float(node.int_attr("t") or self._clock())
        except ValueError:
            at = self._clock()
        own = participant if sender.is_group else sender
        if own is not None and await self._lids.same_user(own, self._me().jid):
            await self._on_own_receipt(node, sender, kind, tuple(ids), at)
            return
        status = STATUS.get(kind)
        if status is None:  # sender, hist_sync…: about our own devices, nothing for the service
            await self._ack(node)
            return
        if sender.is_group:
            chat, by = sender, participant
        else:
            chat, by = (await self._lids.pn_form(sender)).to_account(), None
        by_jid = str((await self._lids.pn_form(by)).to_account()) if by is not None else None
        receipt = Receipt(str(chat), tuple(ids), status, at, by_jid)
        if self._outbox.in_flight.intersection(ids):
            self._held.append((receipt, node))
        else:  # acked once the event is durable, like a message
            self._spawn(self._emit_then_ack([(receipt, node)]), "receipt")

    async def _on_own_receipt(
        self, node: Node, sender: Jid, kind: str | None, ids: tuple[str, ...], at: float
    ) -> None:
        """A receipt from one of our own devices: `read` (or `read-self`, with read receipts turned off)
        means the account read the chat on its phone, so the service clears the unread count; anything
        else (`sender`, delivery to our devices) is only acknowledged."""
        recipient = _jid(node, "recipient")
        chat = sender if sender.is_group else recipient
        if kind not in ("read", "read-self") or chat is None:
            await self._ack(node)
            return
        chat = chat if chat.is_group else (await self._lids.pn_form(chat)).to_account()
        receipt = Receipt(str(chat), ids, ReceiptStatus.READ, at, by_me=True)
        self._spawn(self._emit_then_ack([(receipt, node)]), "read on the phone")

    def _release(self, message_id: str) -> None:
        ready = [h for h in self._held if not self._outbox.in_flight.intersection(h[0].provider_message_ids)]
        if ready:
            self._held = [h for h in self._held if h not in ready]
            self._spawn(self._emit_later(ready), "held receipts")

    async def _emit_later(self, receipts: list[tuple[Receipt, Node]]) -> None:
        await asyncio.sleep(RECEIPT_GRACE)
        await self._emit_then_ack(receipts)

    async def _emit_then_ack(self, receipts: list[tuple[Receipt, Node]]) -> None:
        for receipt, node in receipts:
            await self._emit(receipt)
            await self._ack(node)

    def _on_retry(self, node: Node, sender: Jid, participant: Jid | None, message_id: str) -> None:
        device = participant if sender.is_group else sender
        retry = node.find("retry")
        if device is None or retry is None:
            log.warning("a malformed retry receipt was ignored: %s", node)
            return
        registration = node.find("registration")
        reg_bytes = registration.content_bytes() if registration is not None else None
        keys = node.find("keys")
        bundle = None
        if keys is not None and reg_bytes is not None:
            try:
                bundle = parse_bundle(keys, reg_bytes)
            except WebEngineError as exc:
                log.warning("unusable keys in a retry receipt from %s: %s", device, exc)
        try:
            count = int(retry.int_attr("count") or 1)
        except ValueError:
            count = 1
        registration_id = int.from_bytes(reg_bytes, "big") if reg_bytes and len(reg_bytes) == 4 else None
        request = RetryRequest(message_id, device, count, registration_id, bundle)
        self._spawn(self._resend(request), "resend")

    async def _resend(self, request: RetryRequest) -> None:
        try:
            await self._outbox.resend(request)
        except (EngineError, ValueError) as exc:  # this message only; the connection goes on
            log.warning("re-sending %s to %s failed: %s", request.message_id, request.device, exc)

    def _me(self) -> Me:
        me = self._creds.current.me
        if me is None:
            raise ProtocolError("a message for a device that is not paired")
        return me


def _jid(node: Node, key: str) -> Jid | None:
    try:
        return node.jid_attr(key)
    except ValueError as exc:
        raise ProtocolError(f"attribute {key!r} is not a JID") from exc


def _items(node: Node) -> list[str]:
    listed = node.find("list")
    return [item.str_attr("id") or "" for item in listed.findall("item")] if listed is not None else []


def _lid_text(jid: Jid) -> str | None:
    return str(jid) if jid.is_lid_user else None
