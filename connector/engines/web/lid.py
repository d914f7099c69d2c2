"""Who is who: phone number ↔ LID of WhatsApp users, learned on the way and kept in the KeyStore (`lid-map`).

WhatsApp addresses a user by phone number (`155…@s.whatsapp.net`) or by LID (`9876…@lid`); both name the
same person and the same devices. The pairs are learned from usync answers, message and receipt
attributes (`sender_lid`, `sender_pn`, `participant_pn`, `participant_lid`) and group participant lists,
and stored as `lid-map/pn:<phone user>` → LID user and `lid-map/lid:<LID user>` → phone user. They serve:

- one Signal session per peer device: under its LID address once the LID is known (as WhatsApp Web
  does), so a peer that writes to us once by number and once by LID finds the same session; a session
  made under the phone-number address before the LID was known moves over when it is learned;
- the service, which always gets the phone number (`sender_phone`) when one is known.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.web.binary.jid import LID_SERVER, USER_SERVER, Jid
from connector.engines.web.signal import SignalAddress

log = logging.getLogger(__name__)

_LID_MAP = KeyNamespace.LID_MAP


CACHED = 256  # users per direction kept in memory (thousands of idle sessions share the process)


class LidMap:
    """The mappings of one session; reads go through a small in-memory copy of what was looked up last."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        self._lid_by_pn: OrderedDict[str, str | None] = OrderedDict()  # None: looked up, not known
        self._pn_by_lid: OrderedDict[str, str | None] = OrderedDict()

    async def learn(self, pn: Jid, lid: Jid, devices: Iterable[int] = ()) -> bool:
        """Remember that `pn` and `lid` are one user; True when that is news. Sessions of `devices` kept
        under the phone-number address move to the LID address (the LID's own sessions win)."""
        if not (pn.server == USER_SERVER and pn.user and lid.server == LID_SERVER and lid.user):
            return False
        if await self.lid_user(pn.user) == lid.user:
            return False
        async with self._keys.transaction():
            await self._keys.put(
                _LID_MAP, {f"pn:{pn.user}": lid.user.encode(), f"lid:{lid.user}": pn.user.encode()}
            )
            await self._migrate(pn, lid, {0, *devices})
        _cache(self._lid_by_pn, pn.user, lid.user)
        _cache(self._pn_by_lid, lid.user, pn.user)
        log.debug("learned %s is %s", pn.to_account(), lid.to_account())
        return True

    async def learn_many(self, pairs: Mapping[str, str], batch: int = 100) -> int:
        """Many phone user → LID user pairs at once (a history sync names thousands): the stored ones are
        read and the new ones written (with their device-0 sessions moved) per batch of `batch`, not one
        round trip each. Returns how many were news."""
        items = [(pn, lid) for pn, lid in pairs.items() if pn and lid]
        learned = 0
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            stored = await self._keys.get(_LID_MAP, [f"pn:{pn}" for pn, _ in chunk])
            news = [(pn, lid) for pn, lid in chunk if stored.get(f"pn:{pn}") != lid.encode()]
            if not news:
                continue
            async with self._keys.transaction():
                mappings: dict[str, bytes | None] = {}
                for pn, lid in news:
                    mappings[f"pn:{pn}"] = lid.encode()
                    mappings[f"lid:{lid}"] = pn.encode()
                await self._keys.put(_LID_MAP, mappings)
                await self._migrate_many([(Jid(pn, USER_SERVER), Jid(lid, LID_SERVER)) for pn, lid in news])
            for pn, lid in news:
                _cache(self._lid_by_pn, pn, lid)
                _cache(self._pn_by_lid, lid, pn)
            learned += len(news)
        return learned

    async def learn_attrs(self, primary: Jid | None, alternate: Jid | None) -> None:
        """Learn from a stanza's address and its other form (e.g. `from` and `sender_lid`), either order."""
        if primary is None or alternate is None:
            return
        device = primary.device or 0
        if primary.server == USER_SERVER and alternate.server == LID_SERVER:
            await self.learn(primary, alternate, [device])
        elif primary.server == LID_SERVER and alternate.server == USER_SERVER:
            await self.learn(alternate, primary, [device])

    async def lid_user(self, pn_user: str) -> str | None:
        return await self._lookup(self._lid_by_pn, f"pn:{pn_user}", pn_user)

    async def pn_user(self, lid_user: str) -> str | None:
        return await self._lookup(self._pn_by_lid, f"lid:{lid_user}", lid_user)

    async def _lookup(self, cache: OrderedDict[str, str | None], key: str, user: str) -> str | None:
        if user in cache:
            cache.move_to_end(user)
            return cache[user]
        stored = (await self._keys.get(_LID_MAP, [key])).get(key)
        value = stored.decode() if stored else None
        _cache(cache, user, value)
        return value

    async def address(self, device: Jid) -> SignalAddress:
        """The Signal address a device's session lives under: its LID form when known. Raises ValueError."""
        return SignalAddress.from_jid(await self.lid_form(device))

    async def lid_form(self, jid: Jid) -> Jid:
        """A user or device JID in LID form when its LID is known, else unchanged."""
        if jid.server == USER_SERVER and jid.user and jid.agent is None:
            lid_user = await self.lid_user(jid.user)
            if lid_user is not None:
                return Jid(lid_user, LID_SERVER, jid.device)
        return jid

    async def pn_form(self, jid: Jid) -> Jid:
        """A user or device JID in phone-number form when known, else unchanged."""
        if jid.server == LID_SERVER and jid.user:
            pn_user = await self.pn_user(jid.user)
            if pn_user is not None:
                return Jid(pn_user, USER_SERVER, jid.device)
        return jid

    async def phone(self, jid: Jid) -> str | None:
        """The E.164 number of a user or device JID, when known."""
        pn = await self.pn_form(jid)
        return f"+{pn.user}" if pn.server == USER_SERVER and pn.user.isdigit() else None

    async def same_user(self, a: Jid, b: Jid) -> bool:
        first, second = await self.lid_form(a.to_account()), await self.lid_form(b.to_account())
        return first.user == second.user and first.server == second.server

    async def _migrate(self, pn: Jid, lid: Jid, devices: set[int]) -> None:
        """Sessions and identities of these devices from the phone-number address to the LID one."""
        moves: dict[str, str] = {}
        for device in sorted(devices):
            old = str(SignalAddress.from_jid(Jid(pn.user, USER_SERVER, device or None)))
            new = str(SignalAddress.from_jid(Jid(lid.user, LID_SERVER, device or None)))
            moves[old] = new
        await self._move(moves, pn)

    async def _migrate_many(self, pairs: list[tuple[Jid, Jid]]) -> None:
        """Device 0's session and identity of each pair to its LID address (other devices move when a
        message or usync names them)."""
        moves = {str(SignalAddress.from_jid(pn)): str(SignalAddress.from_jid(lid)) for pn, lid in pairs}
        if moves:
            await self._move(moves, pairs[0][0])

    async def _move(self, moves: dict[str, str], pn: Jid) -> None:
        for namespace in (KeyNamespace.SESSION, KeyNamespace.IDENTITY):
            found = await self._keys.get(namespace, [*moves, *moves.values()])
            changes: dict[str, bytes | None] = {}
            for old, new in moves.items():
                if old in found:
                    if new not in found:
                        changes[new] = found[old]
                    changes[old] = None
            if changes:
                await self._keys.put(namespace, changes)
                log.info("moved %d %s records of %s to its LID", len(changes) // 2 or 1, namespace, pn)


def _cache(cache: OrderedDict[str, str | None], user: str, value: str | None) -> None:
    cache[user] = value
    cache.move_to_end(user)
    while len(cache) > CACHED:
        cache.popitem(last=False)
