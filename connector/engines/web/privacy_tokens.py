"""Privacy tokens: tctokens contacts issue us and ours to them, and the cstoken for contacts without one.

WhatsApp lets an account whose reach is restricted write only to contacts that trust it: a contact's
client issues a "trusted contact" token, which reaches us as

    <notification type="privacy_token" from=contact [sender_lid=contact's LID]>
        <tokens><token jid=us t=issued type="trusted_contact">bytes</token></tokens></notification>

(or in the answer to our own issuing iq), and in the phone's history sync (history.py). We keep the
newest token per contact, under the contact's LID when known (WhatsApp Web keys them so), and put it in
every 1:1 `<message>` as `<tctoken>bytes</tctoken>`. Without one, when the phone synced the account's
salt (history sync `nctSalt`) and the contact's LID is known, the message carries a cstoken instead:
`<cstoken>HMAC-SHA256(salt, "<lid user>@lid")</cstoken>` (whatsmeow `cstoken.go`, `send.go`). A 1:1
message with neither, to a contact that never trusted us, is acked with error 463; nothing is retried
then, since every retry counts as another reach-out. After a 1:1 send we issue our own token to the contact
(`<iq xmlns=privacy type=set><tokens><token jid t type=trusted_contact/>`) once per 7-day bucket, as
Baileys 7 and WhatsApp Web do. Tokens expire after four 7-day buckets (~28 days).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.web.binary.jid import LID_SERVER, USER_SERVER, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.connection import iq
from connector.engines.web.errors import WebEngineError
from connector.engines.web.lid import LidMap

log = logging.getLogger(__name__)

BUCKET_SECONDS = 7 * 24 * 3600
BUCKETS = 4
TRUSTED_CONTACT = "trusted_contact"
NCT_SALT_ID = "nct-salt"  # account-sync/<this>: the cstoken salt the phone synced

Query = Callable[[Node], Awaitable[Node]]


def expired(issued: int, now: float) -> bool:
    """A token issued at `issued` (epoch seconds) is outside the rolling window of four 7-day buckets."""
    cutoff = (int(now) // BUCKET_SECONDS - (BUCKETS - 1)) * BUCKET_SECONDS
    return issued < cutoff


class PrivacyTokens:
    def __init__(self, keys: KeyStore, lids: LidMap, query: Query, clock: Callable[[], float]) -> None:
        self._keys = keys
        self._lids = lids
        self._query = query
        self._clock = clock
        self._issuing: set[str] = set()

    async def on_notification(self, node: Node) -> int:
        """Store the tokens of a `privacy_token` notification; returns how many were new."""
        sender = node.attrs.get("from")
        sender_lid = node.attrs.get("sender_lid")
        contact = sender_lid if isinstance(sender_lid, Jid) and sender_lid.server == LID_SERVER else sender
        if not isinstance(contact, Jid):
            return 0
        if isinstance(sender, Jid) and isinstance(sender_lid, Jid):
            await self._lids.learn_attrs(sender.to_account(), sender_lid.to_account())
        return await self._store(node, contact)

    async def attach(self, chat: Jid) -> Node | None:
        """`<tctoken>` for a 1:1 message to `chat` when we hold an unexpired token from it, else
        `<cstoken>` when the account's salt and the contact's LID are known, else None."""
        if not _regular_user(chat):
            return None
        record = await self._record(chat)
        token, issued = record.get("token"), record.get("t")
        if (
            isinstance(token, str)
            and isinstance(issued, int)
            and token
            and not expired(issued, self._clock())
        ):
            return Node("tctoken", {}, bytes.fromhex(token))
        return await self._cstoken(chat)

    async def _cstoken(self, chat: Jid) -> Node | None:
        salt = (await self._keys.get(KeyNamespace.ACCOUNT_SYNC, [NCT_SALT_ID])).get(NCT_SALT_ID)
        lid = await self._lids.lid_form(chat.to_account())
        if not salt or lid.server != LID_SERVER:
            return None
        return Node("cstoken", {}, cstoken(salt, lid))

    async def issue(self, chat: Jid) -> None:
        """Give `chat` our token (once per bucket); store what the answer carries. Never raises for the
        edge's refusal: a missing token only matters if WhatsApp restricts us, and the next send tries."""
        if not _regular_user(chat):
            return
        key = await self._key(chat)
        record = await self._record(chat)
        now = int(self._clock())
        sent = record.get("sent")
        if isinstance(sent, int) and sent // BUCKET_SECONDS >= now // BUCKET_SECONDS:
            return
        if key in self._issuing:
            return
        self._issuing.add(key)
        try:
            target = await self._lids.pn_form(chat.to_account())
            token = Node("token", {"jid": target, "t": str(now), "type": TRUSTED_CONTACT})
            answer = await self._query(iq("set", "privacy", [Node("tokens", {}, [token])]))
            await self._store(answer, chat)
            await self._update(key, {"sent": now})
        except WebEngineError as exc:
            log.info("issuing our privacy token to %s failed: %s", chat, exc)
        finally:
            self._issuing.discard(key)

    async def remember(self, contact: Jid, token: bytes, issued: int, *, sent: int | None = None) -> bool:
        """Keep a token known from elsewhere (the phone's history sync: the conversation's tcToken, when
        it was issued, when we last issued ours) unless a newer one is stored. True when stored."""
        if not _regular_user(contact) or not token or issued <= 0:
            return False
        record = await self._record(contact)
        known = record.get("t")
        changes: dict[str, object] = {}
        if not (isinstance(known, int) and known >= issued):
            changes |= {"token": token.hex(), "t": issued}
        known_sent = record.get("sent")
        if sent is not None and sent > 0 and not (isinstance(known_sent, int) and known_sent >= sent):
            changes["sent"] = sent
        if changes:  # written over the record just read: one read and one write per token
            record.update(changes)
            key = await self._key(contact)
            await self._keys.put(KeyNamespace.PRIVACY_TOKEN, {key: json.dumps(record).encode()})
        return "token" in changes

    async def _store(self, node: Node, contact: Jid) -> int:
        tokens = node.find("tokens")
        stored = 0
        for token in tokens.children if tokens is not None else []:
            data = token.content_bytes()
            issued_text = token.str_attr("t") or ""
            if token.tag != "token" or token.str_attr("type") != TRUSTED_CONTACT or not data:
                continue
            if not (issued_text.isascii() and issued_text.isdigit()) or len(issued_text) > 12:
                continue  # a token without a time would count as expired anyway
            issued = int(issued_text)
            record = await self._record(contact)
            known = record.get("t")
            if isinstance(known, int) and known > issued:
                continue
            await self._update(await self._key(contact), {"token": data.hex(), "t": issued})
            stored += 1
        return stored

    async def _key(self, jid: Jid) -> str:
        return str((await self._lids.lid_form(jid.to_account())).to_account())

    async def _record(self, jid: Jid) -> dict[str, object]:
        key = await self._key(jid)
        raw = (await self._keys.get(KeyNamespace.PRIVACY_TOKEN, [key])).get(key)
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    async def _update(self, key: str, changes: dict[str, object]) -> None:
        raw = (await self._keys.get(KeyNamespace.PRIVACY_TOKEN, [key])).get(key)
        record = json.loads(raw) if raw else {}
        record.update(changes)
        await self._keys.put(KeyNamespace.PRIVACY_TOKEN, {key: json.dumps(record).encode()})


def cstoken(salt: bytes, lid: Jid) -> bytes:
    """The new-chat token for a contact: HMAC-SHA256 over its LID account JID text, keyed by the salt."""
    return hmac.new(salt, str(lid.to_account()).encode(), hashlib.sha256).digest()


def _regular_user(jid: Jid) -> bool:
    """A person: not a group, broadcast, bot or the PSA account (user 0)."""
    return jid.server in (USER_SERVER, LID_SERVER) and bool(jid.user) and jid.user != "0"
