"""Signal sessions on demand: fetch prekey bundles for devices we have no session with, and start them.

fetch   <iq xmlns=encrypt type=get><key><user jid=device [reason=identity]/>…</key></iq>
answer  <list><user jid><registration>4B</registration><type>05</type><identity>32B</identity>
          <skey><id>3B</id><value>32B</value><signature>64B</signature></skey>[<key><id/><value/></key>]
        </user>…</list>          a <user> holding <error> has no keys: that device is left out
retry   a peer's retry receipt may carry the same keys (`<keys>`, registration beside it): a session
        starts from them without asking the edge.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.errors import ProtocolError
from connector.engines.web.lid import LidMap
from connector.engines.web.signal import IdentityStatus, InvalidBundle, PreKeyBundle, SignalRepository

log = logging.getLogger(__name__)

Query = Callable[[Node], Awaitable[Node]]


def bundle_query(devices: Sequence[Jid], *, reason: str | None = None) -> Node:
    attrs = {"reason": reason} if reason else {}
    users = [Node("user", {"jid": device, **attrs}) for device in devices]
    return Node("iq", {"to": SERVER_JID, "type": "get", "xmlns": "encrypt"}, [Node("key", {}, users)])


def parse_bundle(keys: Node, registration: bytes | None = None) -> PreKeyBundle:
    """A bundle from a `<user>` answer (or a retry receipt's `<keys>` and `<registration>`).

    Raises ProtocolError (a missing or mis-sized part), InvalidBundle.
    """
    registration = registration if registration is not None else _child(keys, "registration")
    skey = keys.find("skey")
    key = keys.find("key")
    if skey is None or len(registration) != 4 or _child(keys, "type") != b"\x05":
        raise ProtocolError(f"<{keys.tag}> is no prekey bundle: {keys}")
    return PreKeyBundle(
        registration_id=int.from_bytes(registration, "big"),
        identity_key=_child(keys, "identity"),
        signed_pre_key_id=int.from_bytes(_child(skey, "id"), "big"),
        signed_pre_key=_child(skey, "value"),
        signed_pre_key_signature=_child(skey, "signature"),
        pre_key_id=int.from_bytes(_child(key, "id"), "big") if key is not None else None,
        pre_key=_child(key, "value") if key is not None else None,
    )


def _child(node: Node, tag: str) -> bytes:
    child = node.find(tag)
    data = child.content_bytes() if child is not None else None
    if data is None:
        raise ProtocolError(f"<{node.tag}> lacks <{tag}>")
    return data


class Sessions:
    def __init__(self, signal: SignalRepository, lids: LidMap, query: Query) -> None:
        self._signal = signal
        self._lids = lids
        self._query = query

    async def ensure(self, devices: Sequence[Jid], *, force: bool = False) -> list[Jid]:
        """The devices we can encrypt to now: those with a session, and those a fetched bundle started one
        for (`force`: fetch for all of them, e.g. after a peer asked for a retry).

        Raises IqError, IqTimeout, ConnectionLost, ProtocolError (from the fetch).
        """
        missing = list(devices) if force else [d for d in devices if not await self._has_session(d)]
        if not missing:
            return list(devices)
        answer = await self._query(bundle_query(missing, reason="identity" if force else None))
        listed = answer.find("list")
        started: set[Jid] = set()
        for user in listed.findall("user") if listed is not None else []:
            jid = user.attrs.get("jid")
            if not isinstance(jid, Jid) or jid not in missing or user.find("error") is not None:
                continue
            try:
                status = await self._signal.inject_bundle(await self._lids.address(jid), parse_bundle(user))
            except (ProtocolError, InvalidBundle, ValueError) as exc:
                log.warning("the prekey bundle of %s is unusable: %s", jid, exc)
                continue
            if status is IdentityStatus.CHANGED:
                log.warning("the identity key of %s changed (a reinstall, or someone else)", jid)
            started.add(jid)
        unreachable = [d for d in missing if d not in started]
        if unreachable:
            log.info("no session could be started with %s", ", ".join(str(d) for d in unreachable))
        return [device for device in devices if device not in unreachable]

    async def start_from(self, device: Jid, bundle: PreKeyBundle) -> None:
        """A session from keys a peer sent (a retry receipt). Raises InvalidBundle."""
        await self._signal.inject_bundle(await self._lids.address(device), bundle)

    async def _has_session(self, device: Jid) -> bool:
        return await self._signal.has_session(await self._lids.address(device))
