"""The sandbox's groups per number: the two built-in ones plus those it creates, changed as WhatsApp would.

State lives in the session's KeyStore (namespace `groups`, one JSON record), so it survives reconnects and
restarts like a real number's groups. The built-in "Sandbox workshop" is the number's own (it is its
superadmin); in "Sandbox announcements" it is a plain member, so a CRM can try what WhatsApp answers a
non-admin (`not_group_admin`). The same refusals as the web engine's: `group_not_found`, `not_in_group`,
`not_group_admin`; per participant 404 (not on WhatsApp: UNREACHABLE_PHONE; not in the group) and 409.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from connector.engines.base import GroupOp, GroupOpResult, ParticipantOutcome, jid_phone, to_jid
from connector.engines.errors import GroupRefused
from connector.engines.events import GroupInfo, GroupMember
from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.sandbox_network import GROUPS, UNREACHABLE_PHONE, Contact, contact_for

STATE_ID = "state"
INVITE_PREFIX = "https://chat.whatsapp.com/"
MAX_SUBJECT = 100

Group = dict[str, Any]  # {"subject", "description", "created", "invite", "members": {jid: role | None}}


class SandboxGroups:
    def __init__(self, keys: KeyStore, now: float) -> None:
        self._keys = keys
        self._now = now

    async def _load(self, me: str) -> dict[str, Group]:
        stored = (await self._keys.get(KeyNamespace.GROUPS, [STATE_ID])).get(STATE_ID)
        if stored:
            state: dict[str, Group] = json.loads(stored)
            return state
        built_in: dict[str, Group] = {}
        for number, group in enumerate(GROUPS):
            members: dict[str, str | None] = {me: "superadmin" if number == 0 else None}
            members.update({c.jid: None for c in group.members})
            if number == 1:
                members[group.members[0].jid] = "superadmin"
            built_in[group.jid] = _group(group.subject, members, self._now)
        return built_in

    async def _save(self, state: dict[str, Group]) -> None:
        await self._keys.put(KeyNamespace.GROUPS, {STATE_ID: json.dumps(state).encode()})

    async def listed(self, me: str) -> list[GroupInfo]:
        state = await self._load(me)
        return [
            _info(jid, group, with_members=False) for jid, group in state.items() if me in group["members"]
        ]

    async def members_of(self, me: str, jid: str) -> tuple[Contact, ...] | None:
        """The sandbox contacts in a group the number is in (who reads and replies); None otherwise."""
        group = (await self._load(me)).get(jid)
        if group is None or me not in group["members"]:
            return None
        return tuple(contact_for(member) for member in group["members"] if member != me)

    async def run(self, op: GroupOp, me: str) -> GroupOpResult:
        """Raises GroupRefused, ValueError."""
        state = await self._load(me)
        if op.action == "create":
            return await self._create(state, op, me)
        jid = op.group_jid or ""
        group = state.get(jid)
        if group is None:
            raise GroupRefused(f"no group {jid} (sandbox)", code="group_not_found", details={"status": 404})
        if me not in group["members"]:
            raise GroupRefused(f"not in {jid} (sandbox)", code="not_in_group", details={"status": 403})
        if op.action == "leave":
            del group["members"][me]
            await self._save(state)
            return GroupOpResult()
        if group["members"][me] is None:
            raise GroupRefused(
                f"not an admin of {jid} (sandbox)", code="not_group_admin", details={"status": 401}
            )
        result = GroupOpResult()
        if op.action in ("add", "remove", "promote", "demote"):
            result = GroupOpResult(participants=tuple(_change(group, op.action, p) for p in op.participants))
        elif op.action == "subject":
            group["subject"] = _subject(op.subject)
        elif op.action == "description":
            group["description"] = op.description or None
        elif op.action == "revoke_invite":
            group["invite"] = secrets.token_urlsafe(16)[:22]
        elif op.action != "invite":
            raise ValueError(f"not a group operation: {op.action!r}")
        await self._save(state)
        link = INVITE_PREFIX + group["invite"] if op.action in ("invite", "revoke_invite") else None
        info = _info(jid, group, with_members=True) if link is None else None
        return GroupOpResult(group=info, participants=result.participants, invite_link=link)

    async def _create(self, state: dict[str, Group], op: GroupOp, me: str) -> GroupOpResult:
        members: dict[str, str | None] = {me: "superadmin"}
        outcomes = []
        for person in op.participants:
            jid = to_jid(person)
            if jid_phone(jid) == UNREACHABLE_PHONE:
                outcomes.append(ParticipantOutcome(jid, jid_phone(jid), 404))
                continue
            members[jid] = None
            outcomes.append(ParticipantOutcome(jid, jid_phone(jid), 200))
        jid = f"1203639{secrets.randbelow(10**11):011d}@g.us"
        group = _group(_subject(op.subject), members, self._now)
        group["description"] = op.description or None
        state[jid] = group
        await self._save(state)
        return GroupOpResult(group=_info(jid, group, with_members=True), participants=tuple(outcomes))


def _group(subject: str, members: dict[str, str | None], now: float) -> Group:
    return {
        "subject": subject,
        "description": None,
        "created": now,
        "invite": secrets.token_urlsafe(16)[:22],
        "members": members,
    }


def _change(group: Group, action: str, person: str) -> ParticipantOutcome:
    jid = to_jid(person)
    members: dict[str, str | None] = group["members"]
    phone = jid_phone(jid)
    status = 200
    if action == "add":
        if phone == UNREACHABLE_PHONE:
            status = 404
        elif jid in members:
            status = 409
        else:
            members[jid] = None
    elif jid not in members:
        status = 404
    elif action == "remove":
        del members[jid]
    else:
        members[jid] = "admin" if action == "promote" else None
    return ParticipantOutcome(jid, phone, status)


def _info(jid: str, group: Group, *, with_members: bool) -> GroupInfo:
    members: dict[str, str | None] = group["members"]
    owner = next((m for m, role in members.items() if role == "superadmin"), None)
    listed = tuple(GroupMember(m, jid_phone(m), None, role) for m, role in members.items())
    return GroupInfo(
        jid=jid,
        subject=group["subject"],
        participants=len(members),
        owner_jid=owner,
        created_at=group["created"],
        description=group["description"],
        members=listed if with_members else (),
    )


def _subject(subject: str | None) -> str:
    text = (subject or "").strip()
    if not text or len(text) > MAX_SUBJECT:
        raise ValueError(f"a group subject has 1 to {MAX_SUBJECT} characters")
    return text
