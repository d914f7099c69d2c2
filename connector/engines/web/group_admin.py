"""Group operations on one connection (create, members, subject, description, invite, leave) and the group
changes WhatsApp notifies, as engine events (stanzas: group_stanzas.py).

After any change that moves members, the group's cached metadata is dropped: the next group send asks for
the members again, and `Outbox` replaces our sender key when someone it was given to is gone (a removed
member must not read what follows; sending.py). Leaving a group drops our sender key for it outright.
After a notification the group is read again (outside the read loop, which must keep reading to get the
answer) so the event carries the group as it now is: the CRM's list never goes stale.

A create is done once per operation: the group it made is remembered (KeyStore, a week, bounded) as soon
as WhatsApp answers, so a `group` command redelivered after a crash answers with that group instead of
creating a second one.

WhatsApp notifies the device that made a change too (whatsmeow's create key exists to recognise the
create notification). Those of our own operations are not reported again (the operation's outcome is):
a create by its key, any other by (group, change) expected from us for a minute. A change our phone
makes is still reported: nothing expected it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Awaitable, Callable

from connector.engines.base import GroupOp, GroupOpResult, ParticipantOutcome
from connector.engines.events import Emit, GroupInfo, GroupMember
from connector.engines.web.binary.jid import Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.errors import IqError, RateLimited, WebEngineError
from connector.engines.web.group_stanzas import (
    MAX_DESCRIPTION,
    MAX_SUBJECT,
    Change,
    create_key,
    create_query,
    description_query,
    group_change,
    invite_link,
    invite_query,
    leave_query,
    members_query,
    parse_change,
    parse_group_jid,
    parse_jid,
    participant_outcomes,
    refused,
    subject_query,
)
from connector.engines.web.groups import GroupMeta, Groups, SenderKeyMemory, parse_group
from connector.engines.web.lid import LidMap
from connector.engines.web.recent import RecentRecords

log = logging.getLogger(__name__)

Query = Callable[[Node], Awaitable[Node]]
Spawn = Callable[[Awaitable[None], str], object]
OWN_CHANGE_SECONDS = 60.0  # how long the notification of our own change is waited for
# The notification each operation makes.
NOTICE_OF = {
    "add": "add",
    "remove": "remove",
    "promote": "promote",
    "demote": "demote",
    "subject": "subject",
    "description": "description",
    "revoke_invite": "invite_revoked",
    "leave": "remove",
}


class GroupAdmin:
    def __init__(
        self,
        query: Query,
        groups: Groups,
        lids: LidMap,
        memory: SenderKeyMemory,
        forget_own_key: Callable[[Jid], Awaitable[None]],
        emit: Emit,
        spawn: Spawn,
        created: RecentRecords,
    ) -> None:
        self._query = query
        self._created = created  # operation id -> the group its create made
        self._groups = groups
        self._lids = lids
        self._memory = memory
        self._forget_own_key = forget_own_key
        self._emit = emit
        self._spawn = spawn
        self._own: dict[tuple[Jid, str], list[float]] = {}  # (group, change) -> when we asked for it
        self._own_keys: dict[str, float] = {}  # create keys we sent

    # ---- operations ---------------------------------------------------------------------------------

    async def run(self, op: GroupOp, operation_id: str) -> GroupOpResult:
        """Raises GroupRefused, ValueError (bad input), IqTimeout, ConnectionLost, ProtocolError."""
        if op.action == "create":
            return await self._create(op, operation_id)
        group = parse_group_jid(op.group_jid)
        if op.action in NOTICE_OF:
            self._expect(group, NOTICE_OF[op.action])
        if op.action in ("add", "remove", "promote", "demote"):
            return await self._members(group, op)
        if op.action == "subject":
            subject = _subject(op.subject)
            await self._ask(subject_query(group, subject), "the subject")
            return await self._after_change(group)
        if op.action == "description":
            text = op.description or ""
            if len(text) > MAX_DESCRIPTION:
                raise ValueError(f"a description has at most {MAX_DESCRIPTION} characters")
            current = await self._meta(group)
            query = description_query(group, text, _new_id(), current.description_id)
            await self._ask(query, "the description")
            return await self._after_change(group)
        if op.action in ("invite", "revoke_invite"):
            revoke = op.action == "revoke_invite"
            answer = await self._ask(invite_query(group, revoke=revoke), "the invite link")
            return GroupOpResult(invite_link=invite_link(answer))
        if op.action == "leave":
            await self._ask(leave_query(group), "leaving")
            self._groups.forget(group)
            await self._memory.reset(group)
            await self._forget_own_key(group)
            return GroupOpResult()
        raise ValueError(f"not a group operation: {op.action!r}")

    async def _create(self, op: GroupOp, operation_id: str) -> GroupOpResult:
        subject = _subject(op.subject)
        people = [parse_jid(p) for p in op.participants]
        made = await self._created.get(operation_id)
        if made is not None:  # asked again (a redelivered command): the group it made, as it is now
            log.info("create %s was done already: %s", operation_id, made.decode())
            return await self._after_change(Jid.parse(made.decode()))
        key = create_key(operation_id)
        self._own_keys[key] = time.monotonic()
        answer = await self._ask(create_query(subject, people, key), "the new group")
        node = answer.find("group")
        if node is None:
            raise WebEngineError(f"a create answer without <group>: {answer}")
        meta, pairs = parse_group(node)
        await self._created.remember(operation_id, str(meta.jid).encode())
        for pn, lid in pairs:
            await self._lids.learn(pn, lid)
        refusals: dict[Jid, tuple[int, str | None]] = {}
        for participant in node.findall("participant"):
            jid, error = participant.attrs.get("jid"), participant.int_attr("error")
            if isinstance(jid, Jid) and error:
                request = participant.find("add_request")
                code = request.str_attr("code") if request is not None else None
                refusals[await self._lids.pn_form(jid.to_account())] = (error, code)
        joined = {await self._lids.pn_form(jid) for jid in meta.members}
        outcomes = []
        for person in people:  # what happened to each person asked for, in the order asked
            pn = await self._lids.pn_form(person)
            status, code = (200, None) if pn in joined else refusals.get(pn, (404, None))
            outcomes.append(ParticipantOutcome(str(person), await self._lids.phone(person), status, code))
        if op.description:
            self._expect(meta.jid, "description")
            await self._ask(description_query(meta.jid, op.description, _new_id(), None), "the description")
            self._groups.forget(meta.jid)
            meta = await self._groups.metadata(meta.jid)
        info = await self.info(meta)
        return GroupOpResult(group=info, participants=tuple(outcomes))

    async def _members(self, group: Jid, op: GroupOp) -> GroupOpResult:
        if not op.participants:
            raise ValueError("name at least one participant")
        people = [parse_jid(p) for p in op.participants]
        answer = await self._ask(members_query(group, op.action, people), f"{op.action} of participants")
        outcomes = tuple(
            [
                ParticipantOutcome(str(jid), await self._lids.phone(jid), status, code)
                for jid, status, code in participant_outcomes(answer, op.action)
            ]
        )
        result = await self._after_change(group)
        return GroupOpResult(group=result.group, participants=outcomes)

    async def _after_change(self, group: Jid) -> GroupOpResult:
        self._groups.forget(group)  # the next send asks for the members again (and rotates our key)
        try:
            meta = await self._groups.metadata(group)
        except RateLimited:  # the change is made; the group comes with the next sync or notification
            return GroupOpResult()
        return GroupOpResult(group=await self.info(meta))

    async def _meta(self, group: Jid) -> GroupMeta:
        try:
            return await self._groups.metadata(group)
        except IqError as exc:
            raise refused(exc, f"the group {group}") from exc

    def _expect(self, group: Jid, change: str) -> None:
        self._own.setdefault((group, change), []).append(time.monotonic())

    def _ours(self, change: Change, me: set[Jid]) -> bool:
        """Whether this notification is of a change this device asked for (then it is consumed)."""
        now = time.monotonic()
        self._own_keys = {k: at for k, at in self._own_keys.items() if now - at < OWN_CHANGE_SECONDS}
        if change.action == "created":
            return change.key is not None and self._own_keys.pop(change.key, None) is not None
        if change.author is None or change.author.to_account() not in me:
            return False
        asked = [
            at for at in self._own.get((change.group, change.action), []) if now - at < OWN_CHANGE_SECONDS
        ]
        if not asked:
            self._own.pop((change.group, change.action), None)
            return False
        self._own[(change.group, change.action)] = asked[1:]
        return True

    async def _ask(self, node: Node, what: str) -> Node:
        try:
            return await self._query(node)
        except IqError as exc:
            raise refused(exc, what) from exc

    # ---- what a group is, for events ----------------------------------------------------------------

    async def members(self, meta: GroupMeta) -> tuple[GroupMember, ...]:
        roles = dict(meta.admins)
        return tuple([await self._member(jid, roles.get(jid)) for jid in meta.members])

    async def info(self, meta: GroupMeta) -> GroupInfo:
        creator = await self._lids.pn_form(meta.creator) if meta.creator is not None else None
        return GroupInfo(
            jid=str(meta.jid),
            subject=meta.subject,
            participants=len(meta.members),
            owner_jid=str(creator) if creator is not None else None,
            created_at=meta.created,
            description=meta.description,
            members=await self.members(meta),
        )

    async def _member(self, jid: Jid, role: str | None) -> GroupMember:
        lid = await self._lids.lid_form(jid)
        return GroupMember(
            jid=str(jid),
            phone=await self._lids.phone(jid),
            lid=str(lid) if lid.is_lid_user else None,
            role=role,
        )

    # ---- notifications ------------------------------------------------------------------------------

    async def on_notification(self, node: Node, me: set[Jid]) -> None:
        """A `w:gp2` notification (in the read loop: no queries here). `me` = our account in both forms."""
        try:
            change = parse_change(node)
        except WebEngineError as exc:
            log.warning("a group notification ignored: %s", exc)
            return
        if change is None:
            return
        for pn, lid in change.pairs:
            await self._lids.learn(pn, lid)
        self._groups.forget(change.group)
        we_left = change.action == "remove" and any(m in me for m in change.members)
        if we_left or change.action == "deleted":
            await self._memory.reset(change.group)
            await self._forget_own_key(change.group)
        if self._ours(change, me):
            return  # our own operation: its outcome tells the service
        self._spawn(self._report(change, we_left), "group change")

    async def _report(self, change: Change, we_left: bool) -> None:
        members = tuple([await self._member(jid, None) for jid in change.members])
        by_phone = await self._lids.phone(change.author) if change.author is not None else None
        event = group_change(change, members, by_phone)
        if we_left:
            event = dataclasses.replace(event, action="left")
        group: GroupInfo | None = None
        if change.created is not None:
            group = await self.info(change.created)
        elif not we_left and change.action != "deleted":
            try:
                group = await self.info(await self._groups.metadata(change.group))
            except WebEngineError as exc:  # the change is still news without the whole group
                log.info("%s: not read again after a change: %s", change.group, exc)
        await self._emit(dataclasses.replace(event, group=group))


def _subject(subject: str | None) -> str:
    text = (subject or "").strip()
    if not text or len(text) > MAX_SUBJECT:
        raise ValueError(f"a group subject has 1 to {MAX_SUBJECT} characters")
    return text


def _new_id() -> str:
    return os.urandom(8).hex().upper()
