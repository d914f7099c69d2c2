"""What our own phone syncs to us: history-sync blobs and LID migration mappings, read and taken in.

    protocolMessage.historySyncNotification  (from our phone only, right after linking and later)
        ─► the blob: inline (`initialHistBootstrapInlinePayload`) or downloaded from the media hosts
           (`directPath`, "WhatsApp History Keys", MAC and hashes checked) ─► zlib ─► HistorySync
        ─► phone number ↔ LID pairs (`phoneNumberToLidMappings`, and each 1:1 conversation's
           `pnJid` / `lidJid`), push names (`pushnames`), each 1:1 conversation's privacy token
           (`tcToken`, `tcTokenTimestamp`, `tcTokenSenderTimestamp`) and the account's cstoken salt
           (`nctSalt`, field 19, newer than the schema we build from, so read off the wire)
    protocolMessage.lidMigrationMappingSyncMessage  ─► LIDMigrationMappingSyncPayload: pn → latest
        (else assigned) LID

Mappings go to the LidMap (sessions move to the LID address), tokens to PrivacyTokens, the salt to the
KeyStore (`account-sync/nct-salt`: privacy_tokens.py derives cstokens from it), and what the service
keeps of people (phone, LID, push name) goes out as ContactsSynced events in bounded batches. Facts from
Baileys (`history.ts`, `process-message.ts`: these protocol messages count only when our own device sent
them) and whatsmeow (`message.go`: the salt, the order of storage).

Runs beside the read loop (it queries media_conn and downloads); a failure is logged, never fatal to
the connection: the phone does not resend a history it saw receipted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from connector.engines.errors import EngineError
from connector.engines.events import ContactInfo, ContactsSynced, Emit
from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.web.binary.jid import LID_SERVER, USER_SERVER, Jid
from connector.engines.web.errors import ProtocolError, WebEngineError
from connector.engines.web.history_import import recent_messages
from connector.engines.web.lid import LidMap
from connector.engines.web.media import MediaHosts, MediaKind, MediaRef
from connector.engines.web.privacy_tokens import NCT_SALT_ID, PrivacyTokens
from connector.engines.web.protos import parse, wa
from connector.engines.web.signal import protowire

log = logging.getLogger(__name__)

MAX_BLOB = 64 * 1024 * 1024  # compressed, as downloaded
MAX_INFLATED = 256 * 1024 * 1024
NCT_SALT_FIELD = 19  # HistorySync.nctSalt (whatsmeow's waHistorySync)
CONTACTS_PER_EVENT = 500  # a queued event stays well under the queue's 256 KB
DOWNLOAD_ATTEMPTS = 3


class HistoryError(WebEngineError):
    """A history blob that cannot be read (too large, not zlib, not a HistorySync)."""

    code = "web_history_unreadable"


@dataclass
class HistoryFacts:
    """What one HistorySync (or LID migration) teaches."""

    pairs: dict[str, str] = field(default_factory=dict)  # phone user → LID user
    names: dict[Jid, str] = field(default_factory=dict)  # account (either form) → push name
    tokens: list[tuple[Jid, bytes, int, int | None]] = field(default_factory=list)  # chat, token, t, sent
    salt: bytes | None = None
    conversations: int = 0
    history: wa.HistorySync | None = None  # the parsed sync (recent chats may be imported from it)


def inflate(data: bytes, limit: int = MAX_INFLATED) -> bytes:
    """zlib-decompress a history blob, refusing more than `limit` bytes. Raises HistoryError."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise HistoryError(f"the history blob is not zlib data: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise HistoryError(f"the history blob inflates to more than {limit} bytes")
    if not inflater.eof:
        raise HistoryError("the history blob is cut off")
    return out


def read_history(data: bytes) -> HistoryFacts:
    """The facts in an inflated HistorySync. Raises HistoryError."""
    try:
        history = parse(wa.HistorySync, data, "a history sync")
    except ProtocolError as exc:
        raise HistoryError(exc.message) from exc
    facts = HistoryFacts(salt=_salt(data), conversations=len(history.conversations), history=history)
    for mapping in history.phoneNumberToLidMappings:
        _pair(facts, _jid(mapping.pnJid), _jid(mapping.lidJid))
    for chat in history.conversations:
        chat_jid = _jid(chat.id)
        if chat_jid is None or not (chat_jid.is_pn_user or chat_jid.is_lid_user):
            continue  # groups, broadcasts, newsletters: no person, no token
        if chat_jid.is_lid_user:
            _pair(facts, _jid(chat.pnJid), chat_jid)
        else:
            _pair(facts, chat_jid, _jid(chat.lidJid))
        if chat.tcToken and chat.tcTokenTimestamp > 0:
            sent = int(chat.tcTokenSenderTimestamp) if chat.HasField("tcTokenSenderTimestamp") else None
            facts.tokens.append((chat_jid, bytes(chat.tcToken), int(chat.tcTokenTimestamp), sent))
    for pushname in history.pushnames:
        jid = _jid(pushname.id)
        name = pushname.pushname.strip()
        if jid is not None and (jid.is_pn_user or jid.is_lid_user) and name:
            facts.names[jid] = name[:256]
    return facts


def read_lid_migration(message: wa.LIDMigrationMappingSyncMessage) -> HistoryFacts:
    """The pairs of a LID migration sync (the LID a number has now). Raises HistoryError."""
    try:
        payload = parse(
            wa.LIDMigrationMappingSyncPayload, message.encodedMappingPayload, "a LID migration payload"
        )
    except ProtocolError as exc:
        raise HistoryError(exc.message) from exc
    facts = HistoryFacts()
    for mapping in payload.pnToLidMappings:
        lid = mapping.latestLid or mapping.assignedLid
        if mapping.pn and lid:
            facts.pairs[str(mapping.pn)] = str(lid)
    return facts


class OwnSync:
    """Takes in what our phone syncs (history sync, LID migration) for one connection."""

    def __init__(
        self,
        keys: KeyStore,
        lids: LidMap,
        tokens: PrivacyTokens,
        media: Callable[[], MediaHosts],
        emit: Emit,
        *,
        me: Callable[[], Jid | None] = lambda: None,
        import_days: int = 0,
        clock: Callable[[], float] = time.time,
        retry_delay: float = 2.0,
    ) -> None:
        self._me = me
        self._import_days = import_days
        self._clock = clock
        self._keys = keys
        self._lids = lids
        self._tokens = tokens
        self._media = media
        self._emit = emit
        self._retry_delay = retry_delay

    async def on_protocol_message(self, protocol: wa.Message.ProtocolMessage) -> None:
        """A protocol message our own device sent us. Never raises a WebEngineError (logged instead)."""
        try:
            if protocol.HasField("historySyncNotification"):
                facts = await self._history(protocol.historySyncNotification)
                source = "history_sync"
            elif protocol.HasField("lidMigrationMappingSyncMessage"):
                facts = read_lid_migration(protocol.lidMigrationMappingSyncMessage)
                source = "lid_migration"
            else:
                return
            await self.apply(facts, source)
        except EngineError as exc:  # a download that failed, a blob that does not read, no connection
            log.warning("a sync from our phone was not taken in: %s", exc.message)

    async def apply(self, facts: HistoryFacts, source: str) -> None:
        """Store the facts: mappings first (tokens are kept under the LID), then tokens, salt, contacts."""
        await self._lids.learn_many(facts.pairs)
        for chat, token, issued, sent in facts.tokens:
            await self._tokens.remember(chat, token, issued, sent=sent)
        if facts.salt:
            await self._keys.put(KeyNamespace.ACCOUNT_SYNC, {NCT_SALT_ID: facts.salt})
        contacts = await self._contacts(facts)
        for start in range(0, len(contacts), CONTACTS_PER_EVENT):
            await self._emit(ContactsSynced(tuple(contacts[start : start + CONTACTS_PER_EVENT]), source))
        if facts.history is not None and self._import_days > 0:
            recent = await recent_messages(
                facts.history, self._lids, self._me(), now=self._clock(), days=self._import_days
            )
            for incoming in recent:
                await self._emit(incoming)
            log.info("history sync: %d recent messages imported", len(recent))
        log.info(
            "%s: %d conversations, %d number/LID pairs, %d names, %d tokens%s",
            source,
            facts.conversations,
            len(facts.pairs),
            len(facts.names),
            len(facts.tokens),
            ", the cstoken salt" if facts.salt else "",
        )

    async def _history(self, notification: wa.Message.HistorySyncNotification) -> HistoryFacts:
        if notification.initialHistBootstrapInlinePayload:
            return read_history(inflate(notification.initialHistBootstrapInlinePayload))
        ref = MediaRef.from_message(notification)
        blob = await _retrying(
            lambda: self._media().download_bytes(ref, MediaKind.HISTORY, max_bytes=MAX_BLOB),
            self._retry_delay,
        )
        return read_history(inflate(blob))

    async def _contacts(self, facts: HistoryFacts) -> list[ContactInfo]:
        people: dict[str, ContactInfo] = {}  # by LID user, else by phone user
        for pn_user, lid_user in facts.pairs.items():
            people[lid_user] = ContactInfo(phone=f"+{pn_user}", lid=f"{lid_user}@{LID_SERVER}")
        lid_of, pn_of = facts.pairs, {lid: pn for pn, lid in facts.pairs.items()}
        for jid, name in facts.names.items():
            # The sync's own pairs first: asking the LID map for thousands of names costs a read each.
            if jid.server == USER_SERVER and jid.user in lid_of:
                pn, lid = jid, Jid(lid_of[jid.user], LID_SERVER)
            elif jid.server == LID_SERVER and jid.user in pn_of:
                pn, lid = Jid(pn_of[jid.user], USER_SERVER), jid
            else:
                lid, pn = await self._lids.lid_form(jid), await self._lids.pn_form(jid)
            key = lid.user if lid.server == LID_SERVER else pn.user
            phone = f"+{pn.user}" if pn.server == USER_SERVER else None
            people[key] = ContactInfo(
                phone=phone, lid=str(lid) if lid.server == LID_SERVER else None, name=name
            )
        return list(people.values())


async def _retrying(work: Callable[[], Awaitable[bytes]], delay: float) -> bytes:
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        try:
            return await work()
        except EngineError as exc:
            if not exc.is_transient or attempt == DOWNLOAD_ATTEMPTS:
                raise
            log.info("history download failed (%s); trying again", exc.message)
            await asyncio.sleep(delay * attempt)
    raise AssertionError("unreachable")


def _pair(facts: HistoryFacts, pn: Jid | None, lid: Jid | None) -> None:
    if pn is not None and lid is not None and pn.is_pn_user and lid.is_lid_user:
        facts.pairs[pn.user] = lid.user


def _jid(text: str) -> Jid | None:
    if not text:
        return None
    try:
        return Jid.parse(text).to_account()
    except ValueError:
        return None


def _salt(data: bytes) -> bytes | None:
    """HistorySync field 19, read off the wire (the schema we build from predates it)."""
    try:
        value = protowire.parse(data).get(NCT_SALT_FIELD)
    except protowire.WireError:
        return None
    return value if isinstance(value, bytes) and 16 <= len(value) <= 128 else None
