"""The w:g2 stanzas that change groups, their answers, and WhatsApp's `w:gp2` notifications: no I/O.

    create       set to @g.us   <create subject key><participant jid/>…</create>   → <group …/> (groups.py)
    add|remove|  set to group   <add><participant jid/>…</add>                      → <add><participant jid
    promote|demote                                                                   [error][<add_request code
                                                                                     expiration/>]/>…</add>
    subject      set to group   <subject>text</subject>                             → empty result
    description  set to group   <description id [prev]><body>text</body></description>, or
                                <description id delete=true [prev]/>                → empty result
    invite       get to group   <invite/>                                           → <invite code/>
    revoke       set to group   <invite/>                                           → <invite code/> (new)
    leave        set to @g.us   <leave><group id=group/></leave>                    → empty result

The server refuses the whole query with an iq error (whatsmeow group.go): 401 not an admin, 403 not a
participant, 404 no such group, 406 not acceptable (a subject over 100 characters, an empty one), 400 a
malformed query; each becomes a GroupRefused with a code by meaning. A participant change is judged per
participant: `error` 403 (their privacy settings: the server prepares an `add_request` invitation
instead), 409 (already in it; open-wa), 404 (not in it / not on WhatsApp), 408 (taken as "left
recently": no anchor documents it). Any other code is passed on as it is.

Notifications `<notification type=w:gp2 from=group participant=author t>` carry one change each:
`<create><group/></create>` (we were put in a new group), `<add|remove|promote|demote [reason]>` with
participants (in the group's addressing mode, the other form as `phone_number`/`lid`), `<subject subject
s_t s_o/>`, `<description id><body/>|<delete/></description>`, `<invite code/>`, `<delete/>`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from connector.engines.base import to_jid
from connector.engines.errors import GROUP_REFUSALS, GroupRefused
from connector.engines.events import GroupChanged, GroupMember
from connector.engines.web.binary.jid import GROUP_SERVER, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.errors import IqError, ProtocolError
from connector.engines.web.groups import GROUPS_SERVER, GroupMeta, parse_group

Query = Callable[[Node], Awaitable[Node]]
INVITE_LINK_PREFIX = "https://chat.whatsapp.com/"
MAX_SUBJECT = 100  # characters; longer is a 406 from the server
MAX_DESCRIPTION = 2048
MEMBER_CHANGES = ("add", "remove", "promote", "demote")


def _iq(kind: str, to: Jid, child: Node) -> Node:
    return Node("iq", {"to": to, "type": kind, "xmlns": "w:g2"}, [child])


def create_key(operation_id: str) -> str:
    """WhatsApp dedupes a create by its key: one per operation, so a retried create names the same one."""
    return hashlib.sha256(operation_id.encode()).hexdigest()[:16].upper()


def create_query(subject: str, participants: list[Jid], key: str) -> Node:
    children = [Node("participant", {"jid": jid}) for jid in participants]
    return _iq("set", GROUPS_SERVER, Node("create", {"subject": subject, "key": key}, children))


def members_query(group: Jid, action: str, participants: list[Jid]) -> Node:
    return _iq("set", group, Node(action, {}, [Node("participant", {"jid": jid}) for jid in participants]))


def subject_query(group: Jid, subject: str) -> Node:
    return _iq("set", group, Node("subject", {}, subject.encode()))


def description_query(group: Jid, text: str, new_id: str, previous_id: str | None) -> Node:
    attrs: dict[str, str] = {"id": new_id}
    if previous_id:
        attrs["prev"] = previous_id
    if not text:
        return _iq("set", group, Node("description", {**attrs, "delete": "true"}))
    return _iq("set", group, Node("description", attrs, [Node("body", {}, text.encode())]))


def invite_query(group: Jid, *, revoke: bool) -> Node:
    return _iq("set" if revoke else "get", group, Node("invite"))


def leave_query(group: Jid) -> Node:
    return _iq("set", GROUPS_SERVER, Node("leave", {}, [Node("group", {"id": group})]))


def refused(exc: IqError, what: str) -> GroupRefused:
    details = exc.details if isinstance(exc.details, dict) else {}
    status = details.get("code")
    code = GROUP_REFUSALS.get(status, "group_refused") if isinstance(status, int) else "group_refused"
    text = details.get("text") or ""
    message = f"WhatsApp refused {what}: {status} {text}".strip()
    return GroupRefused(message, code=code, details={"status": status})


def invite_link(answer: Node) -> str:
    invite = answer.find("invite")
    code = invite.str_attr("code") if invite is not None else None
    if not code:
        raise ProtocolError(f"an invite answer without a code: {answer}")
    return INVITE_LINK_PREFIX + code


def participant_outcomes(answer: Node, action: str) -> list[tuple[Jid, int, str | None]]:
    """(participant, status, invite code) for each participant the answer names. Raises ProtocolError."""
    node = answer.find(action)
    if node is None:
        raise ProtocolError(f"a {action} answer without <{action}>: {answer}")
    outcomes = []
    for participant in node.findall("participant"):
        jid = participant.attrs.get("jid")
        if not isinstance(jid, Jid):
            raise ProtocolError(f"a participant outcome without a JID: {participant}")
        try:
            status = participant.int_attr("error") or 200
        except ValueError as exc:
            raise ProtocolError(f"a participant error that is no number: {participant}") from exc
        request = participant.find("add_request")
        outcomes.append((jid, status, request.str_attr("code") if request is not None else None))
    return outcomes


def parse_jid(text: str) -> Jid:
    """A participant as the API names it (E.164 or a user jid) → a JID. Raises ValueError."""
    jid = Jid.parse(to_jid(text))
    if not (jid.is_pn_user or jid.is_lid_user) or jid.device:
        raise ValueError(f"not a person's WhatsApp id: {text!r}")
    return jid


def parse_group_jid(text: str | None) -> Jid:
    if not text or not text.endswith("@" + GROUP_SERVER):
        raise ValueError(f"not a group id (…@g.us): {text!r}")
    return Jid.parse(text)


# ---- notifications ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One `w:gp2` notification, read: what the engine turns into a GroupChanged."""

    group: Jid
    action: str
    at: float
    members: tuple[Jid, ...] = ()
    pairs: tuple[tuple[Jid, Jid], ...] = ()  # (phone number, LID) learned from the participants
    author: Jid | None = None
    subject: str | None = None
    description: str | None = None
    invite_code: str | None = None
    created: GroupMeta | None = None
    reason: str | None = None
    key: str | None = None  # a create's key: the creator recognises its own create by it


def parse_change(node: Node) -> Change | None:
    """A w:gp2 notification's change; None for kinds wagate does not report (settings, ephemeral...).
    Raises ProtocolError for a malformed one."""
    group, author = node.attrs.get("from"), node.attrs.get("participant")
    if not isinstance(group, Jid) or not group.is_group:
        raise ProtocolError(f"a w:gp2 notification not from a group: {node}")
    try:
        at = float(node.int_attr("t") or 0)
    except ValueError as exc:
        raise ProtocolError(f"a w:gp2 notification's t is no number: {node}") from exc
    by = author if isinstance(author, Jid) else None
    for child in node.children:
        if child.tag in MEMBER_CHANGES:
            members, pairs = _participants(child)
            return Change(group, child.tag, at, members, pairs, by, reason=child.str_attr("reason"))
        if child.tag == "subject":
            return Change(group, "subject", at, author=by, subject=child.str_attr("subject") or "")
        if child.tag == "description":
            body = child.find("body")
            text = body.content_bytes() if body is not None and child.find("delete") is None else b""
            description = (text or b"").decode(errors="replace")
            return Change(group, "description", at, author=by, description=description)
        if child.tag == "invite":
            return Change(group, "invite_revoked", at, author=by, invite_code=child.str_attr("code"))
        if child.tag == "delete":
            return Change(group, "deleted", at, author=by, reason=child.str_attr("reason"))
        if child.tag == "create":
            inner = child.find("group")
            if inner is None:
                raise ProtocolError(f"a group create notification without <group>: {node}")
            meta, found = parse_group(inner)
            reason, key = child.str_attr("reason"), child.str_attr("key")
            return Change(
                group, "created", at, meta.members, tuple(found), by, created=meta, reason=reason, key=key
            )
    return None


def _participants(node: Node) -> tuple[tuple[Jid, ...], tuple[tuple[Jid, Jid], ...]]:
    members: list[Jid] = []
    pairs: list[tuple[Jid, Jid]] = []
    for participant in node.findall("participant"):
        jid = participant.attrs.get("jid")
        if not isinstance(jid, Jid):
            raise ProtocolError(f"a group change participant without a JID: {participant}")
        members.append(jid.to_account())
        other = participant.attrs.get("phone_number") or participant.attrs.get("lid")
        if isinstance(other, Jid):
            pairs.append((jid, other) if jid.is_pn_user else (other, jid))
    return tuple(members), tuple(pairs)


def group_change(change: Change, members: tuple[GroupMember, ...], by_phone: str | None) -> GroupChanged:
    return GroupChanged(
        group_jid=str(change.group),
        action=change.action,
        at=change.at,
        members=members,
        subject=change.subject,
        description=change.description,
        invite_link=INVITE_LINK_PREFIX + change.invite_code if change.invite_code else None,
        by_jid=str(change.author.to_account()) if change.author is not None else None,
        by_phone=by_phone,
        reason=change.reason,
    )
