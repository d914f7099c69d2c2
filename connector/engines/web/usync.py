"""Device lists: which devices a user has (usync), cached in the KeyStore (`device-list`), LIDs on the way.

    query   <iq xmlns=usync type=get><usync context=message mode=query sid last=true index=0>
              <query><devices version=2/><lid/></query><list><user jid=account/>…</list></usync></iq>
    answer  <usync><list><user jid><devices><device-list><device id key-index/>…</device-list>
              <key-index-list/></devices><lid val/></user>…</list></usync>
    record  device-list/<account jid> = {"at": epoch seconds, "devices": [0, 2, …]} (JSON)

A record is trusted for the configured time; a `devices` notification about the user drops it, so the
next send asks again. A user with no devices is not on WhatsApp. Companion devices without a key index
and hosted devices are left out (WhatsApp refuses messages fanned out to them).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence

from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.errors import ProtocolError
from connector.engines.web.lid import LidMap

log = logging.getLogger(__name__)

Query = Callable[[Node], Awaitable[Node]]
_DEVICE_LIST = KeyNamespace.DEVICE_LIST


def usync_query(accounts: Sequence[Jid]) -> Node:
    usync = Node(
        "usync",
        {
            "context": "message",
            "mode": "query",
            "sid": f"{secrets.randbits(48)}",
            "last": "true",
            "index": "0",
        },
        [
            Node("query", {}, [Node("devices", {"version": "2"}), Node("lid")]),
            Node("list", {}, [Node("user", {"jid": account}) for account in accounts]),
        ],
    )
    return Node("iq", {"to": SERVER_JID, "type": "get", "xmlns": "usync"}, [usync])


def parse_usync(answer: Node) -> dict[Jid, tuple[list[int], Jid | None]]:
    """account → (device numbers, its LID if the answer gave one). Raises ProtocolError."""
    usync = answer.find("usync")
    listed = usync.find("list") if usync is not None else None
    if listed is None:
        raise ProtocolError(f"a usync answer without <usync><list>: {answer}")
    found: dict[Jid, tuple[list[int], Jid | None]] = {}
    for user in listed.findall("user"):
        jid = user.attrs.get("jid")
        devices_node = user.find("devices")
        if not isinstance(jid, Jid):
            raise ProtocolError(f"a usync <user> without a JID: {user}")
        device_list = devices_node.find("device-list") if devices_node is not None else None
        numbers: list[int] = []
        for device in device_list.findall("device") if device_list is not None else []:
            number = device.int_attr("id")
            if number is None or device.str_attr("is_hosted") == "true":
                continue
            if number == 0 or device.str_attr("key-index"):
                numbers.append(number)
        lid_node = user.find("lid")
        lid = lid_node.attrs.get("val") if lid_node is not None else None
        found[jid.to_account()] = (sorted(set(numbers)), lid if isinstance(lid, Jid) else None)
    return found


class DeviceLists:
    def __init__(self, keys: KeyStore, lids: LidMap, query: Query, clock: Callable[[], float], ttl: float):
        self._keys = keys
        self._lids = lids
        self._query = query
        self._clock = clock
        self._ttl = ttl

    async def devices(self, accounts: Sequence[Jid], *, refresh: bool = False) -> dict[Jid, list[Jid]]:
        """Every device of each account, as JIDs in the account's form (device 0 is the bare account).

        Raises IqError, IqTimeout, ConnectionLost, ProtocolError (from the usync query).
        """
        wanted = list(dict.fromkeys(account.to_account() for account in accounts))
        result: dict[Jid, list[Jid]] = {}
        stale: list[Jid] = []
        stored = {} if refresh else await self._keys.get(_DEVICE_LIST, [str(a) for a in wanted])
        now = self._clock()
        for account in wanted:
            record = _read(stored.get(str(account)))
            if record is not None and now - record[0] < self._ttl:
                result[account] = _jids(account, record[1])
            else:
                stale.append(account)
        if stale:
            answered = parse_usync(await self._query(usync_query(stale)))
            records: dict[str, bytes | None] = {}
            for account in stale:
                numbers, lid = answered.get(account, ([], None))
                result[account] = _jids(account, numbers)
                records[str(account)] = json.dumps({"at": now, "devices": numbers}).encode()
                if lid is not None:
                    await self._lids.learn(account, lid, numbers)
                    records[str(lid.to_account())] = records[str(account)]
            await self._keys.put(_DEVICE_LIST, records)
        return result

    async def known(self, account: Jid) -> list[int]:
        """The device numbers last listed for `account` (however old; [] when never asked)."""
        forms = {account.to_account(), await self._lids.lid_form(account.to_account())}
        stored = await self._keys.get(_DEVICE_LIST, [str(form) for form in forms])
        numbers: set[int] = set()
        for data in stored.values():
            record = _read(data)
            numbers.update(record[1] if record is not None else [])
        return sorted(numbers)

    async def forget(self, account: Jid) -> None:
        """A device list changed (a notification): ask again on the next send."""
        forms = {account.to_account(), await self._lids.lid_form(account.to_account())}
        forms.add(await self._lids.pn_form(account.to_account()))
        await self._keys.put(_DEVICE_LIST, {str(form): None for form in forms})


def _read(data: bytes | None) -> tuple[float, list[int]] | None:
    if data is None:
        return None
    try:
        record = json.loads(data)
        return float(record["at"]), [int(number) for number in record["devices"]]
    except (ValueError, KeyError, TypeError):  # unreadable: treat as absent, it is refetched
        log.warning("an unreadable device-list record was ignored")
        return None


def _jids(account: Jid, numbers: list[int]) -> list[Jid]:
    return [Jid(account.user, account.server, number or None) for number in numbers]
