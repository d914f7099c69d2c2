"""Groups: the participating list and one group's metadata over w:g2, and who has our sender key.

    list      <iq xmlns=w:g2 type=get to=@g.us><participating><participants/><description/></participating>
    metadata  <iq xmlns=w:g2 type=get to=group><query request=interactive/></iq>
    answer    <group id subject s_t creation creator addressing_mode size><participant jid type
                [phone_number | lid]/>…[<description><body/></description>]</group>

`addressing_mode` says how members are named in the group's stanzas: `pn` (phone numbers) or `lid`; the
other form of each member rides along and is learned into the LID map. Metadata is reused for sends for a
short while; a `w:gp2` notification about the group drops it.

Who has our sender key (`SenderKeyMemory`): `sender-key/<group>::distributed` = JSON list of the Signal
addresses of member devices we distributed it to. When a member leaves, our key is replaced by a new one
(they must not read what follows) and the list starts over.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from connector.engines.events import GroupInfo
from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.web.binary.jid import GROUP_SERVER, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.errors import ProtocolError
from connector.engines.web.lid import LidMap

Query = Callable[[Node], Awaitable[Node]]
GROUPS_SERVER = Jid("", GROUP_SERVER)


@dataclass(frozen=True)
class GroupMeta:
    jid: Jid
    subject: str
    addressing_mode: str  # "pn" | "lid"
    members: tuple[Jid, ...]  # accounts, in the group's addressing mode
    creator: Jid | None = None
    created: float | None = None
    description: str | None = None
    description_id: str | None = None  # a description change names the one it replaces (`prev`)
    admins: tuple[tuple[Jid, str], ...] = ()  # (member, "admin" | "superadmin")

    def info(self) -> GroupInfo:
        return GroupInfo(
            jid=str(self.jid),
            subject=self.subject,
            participants=len(self.members),
            owner_jid=str(self.creator) if self.creator is not None else None,
            created_at=self.created,
            description=self.description,
        )


def participating_query() -> Node:
    content = [Node("participating", {}, [Node("participants"), Node("description")])]
    return Node("iq", {"to": GROUPS_SERVER, "type": "get", "xmlns": "w:g2"}, content)


def metadata_query(group: Jid) -> Node:
    return Node(
        "iq", {"to": group, "type": "get", "xmlns": "w:g2"}, [Node("query", {"request": "interactive"})]
    )


def parse_group(node: Node) -> tuple[GroupMeta, list[tuple[Jid, Jid]]]:
    """A `<group>`: its metadata and the (phone number, LID) pairs it reveals. Raises ProtocolError."""
    group_id = node.str_attr("id")
    if node.tag != "group" or not group_id:
        raise ProtocolError(f"not a <group id>: {node}")
    jid = Jid.parse(group_id) if "@" in group_id else Jid(group_id, GROUP_SERVER)
    mode = "lid" if node.str_attr("addressing_mode") == "lid" else "pn"
    members: list[Jid] = []
    pairs: list[tuple[Jid, Jid]] = []
    admins: list[tuple[Jid, str]] = []
    for participant in node.findall("participant"):
        member = participant.attrs.get("jid")
        if not isinstance(member, Jid):
            raise ProtocolError(f"a group participant without a JID: {participant}")
        if participant.str_attr("error"):
            continue  # a create's answer names who could not be added (group_admin.py): not a member
        members.append(member.to_account())
        role = participant.str_attr("type")
        if role in ("admin", "superadmin"):
            admins.append((member.to_account(), role))
        other = participant.attrs.get("phone_number") or participant.attrs.get("lid")
        if isinstance(other, Jid):
            pairs.append((member, other) if member.is_pn_user else (other, member))
    creator = node.attrs.get("creator")
    description = node.find("description")
    body = description.find("body") if description is not None else None
    text = body.content_bytes() if body is not None else None
    try:
        created = node.int_attr("creation")
    except ValueError as exc:
        raise ProtocolError(f"a group's creation time is no number: {node.str_attr('creation')}") from exc
    meta = GroupMeta(
        jid=jid,
        subject=node.str_attr("subject") or "",
        addressing_mode=mode,
        members=tuple(members),
        creator=creator.to_account() if isinstance(creator, Jid) else None,
        created=float(created) if created is not None else None,
        description=text.decode(errors="replace") if text is not None else None,
        description_id=description.str_attr("id") if description is not None else None,
        admins=tuple(admins),
    )
    return meta, pairs


class Groups:
    def __init__(self, query: Query, lids: LidMap, clock: Callable[[], float], ttl: float) -> None:
        self._query = query
        self._lids = lids
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[Jid, tuple[float, GroupMeta]] = {}

    async def participating(self) -> list[GroupMeta]:
        """Raises IqError, IqTimeout, ConnectionLost, ProtocolError."""
        answer = await self._query(participating_query())
        groups = answer.find("groups")
        metas = [await self._take(node) for node in (groups.findall("group") if groups is not None else [])]
        return metas

    async def metadata(self, group: Jid) -> GroupMeta:
        """Raises IqError (e.g. 404: not a group we are in), IqTimeout, ConnectionLost, ProtocolError."""
        cached = self._cache.get(group)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        answer = await self._query(metadata_query(group))
        node = answer.find("group")
        if node is None:
            raise ProtocolError(f"a group metadata answer without <group>: {answer}")
        return await self._take(node)

    def forget(self, group: Jid) -> None:
        self._cache.pop(group, None)

    async def _take(self, node: Node) -> GroupMeta:
        meta, pairs = parse_group(node)
        for pn, lid in pairs:
            await self._lids.learn(pn, lid)
        if self._ttl > 0:
            now = self._clock()
            self._cache = {jid: kept for jid, kept in self._cache.items() if now - kept[0] < self._ttl}
            self._cache[meta.jid] = (now, meta)
        return meta


class SenderKeyMemory:
    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    async def distributed(self, group: Jid) -> set[str]:
        key = _memory_id(group)
        stored = (await self._keys.get(KeyNamespace.SENDER_KEY, [key])).get(key)
        try:
            return set(json.loads(stored)) if stored else set()
        except ValueError:
            return set()  # unreadable: distribute again, which is always safe

    async def add(self, group: Jid, addresses: Iterable[str]) -> None:
        known = await self.distributed(group)
        merged = sorted(known | set(addresses))
        if len(merged) != len(known):
            await self._keys.put(KeyNamespace.SENDER_KEY, {_memory_id(group): json.dumps(merged).encode()})

    async def reset(self, group: Jid, addresses: Iterable[str] = ()) -> None:
        remaining = sorted(set(addresses))
        value = json.dumps(remaining).encode() if remaining else None
        await self._keys.put(KeyNamespace.SENDER_KEY, {_memory_id(group): value})

    async def discard(self, group: Jid, address: str) -> None:
        known = await self.distributed(group)
        if address in known:
            await self.reset(group, known - {address})


def _memory_id(group: Jid) -> str:
    return f"{group}::distributed"
