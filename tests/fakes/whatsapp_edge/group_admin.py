"""The fake edge's group changes (w:g2 sets and the invite link), with the real server's refusals, and the
`w:gp2` notifications it sends every other member device about them.

    create       set @g.us <create subject key><participant jid/>…</create> → <group …/> (the creator is
                 superadmin; a participant whose privacy refuses is named with error=403 + <add_request>)
    add|remove|promote|demote  set group <add><participant jid/>…</add> → <add><participant jid [error]/>…
    subject      set group <subject>text</subject>          description  set group <description id [prev]>
    invite       get group <invite/> → <invite code/>        revoke       set group <invite/> → new code
    leave        set @g.us <leave><group id/></leave>

Refusals, as whatsmeow and Baileys document them: 404 item-not-found (no such group), 403 forbidden (the
asker is not in it), 401 not-authorized (only admins change members, subject and description, or see the
invite link), 406 not-acceptable (a subject empty or over 100 characters, a description over 2048), 400
bad-request (malformed: also recorded as a violation). Per participant: 409 already in it, 404 not in it
(or not on WhatsApp), 408 left within RECENTLY seconds (code and window are our assumption: bots in the
wild disagree on 408/409), 403 their privacy refuses (an invitation
is prepared instead).
A description change must name the current one as `prev` (both anchors read the group first to name it;
the answer to a wrong one, 409 conflict here, is our assumption: no anchor documents it).

Notifications go to every member device, the one that asked included (whatsmeow's create key exists so
the creator can recognise its own create notification), live now or queued for its next login, from the
group with `participant` = the author in the group's addressing mode.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from connector.engines.web.binary.jid import GROUP_SERVER, Jid
from connector.engines.web.binary.node import AttrValue, Node
from tests.fakes.whatsapp_edge import handlers  # the module: it imports this one
from tests.fakes.whatsapp_edge.checks import Refused
from tests.fakes.whatsapp_edge.directory import group_node

if TYPE_CHECKING:
    from tests.fakes.whatsapp_edge.session import EdgeSession
    from tests.fakes.whatsapp_edge.state import Account, EdgeState, Group

MAX_SUBJECT = 100
MAX_DESCRIPTION = 2048
RECENTLY = 60.0  # seconds after leaving during which an add is refused with 408
GROUPS = Jid("", GROUP_SERVER)


class GroupError(Exception):
    def __init__(self, code: int, text: str, why: str) -> None:
        super().__init__(why)
        self.code = code
        self.text = text


async def answer(session: EdgeSession, node: Node) -> None:
    iq_id = node.str_attr("id") or ""
    edge = session.edge
    assert session.device is not None
    account = edge.state.account_of(session.device.jid)
    to = node.attrs.get("to")
    assert account is not None and isinstance(to, Jid)
    if len(node.children) != 1:
        edge.violation(session, f"a w:g2 set carries one child: {node}")
        await session.send(handlers.error(iq_id, 400, "bad-request"))
        return
    action = node.children[0]
    try:
        content, notices = _apply(
            edge.state, account, to, node.str_attr("type") or "", action, edge.config.new_groups
        )
    except Refused as refused:
        edge.violation(session, refused.text)
        await session.send(handlers.error(iq_id, 400, "bad-request"))
        return
    except GroupError as refusal:
        edge.log("w:g2-refused", session, detail=f"{action.tag} {refusal.code} {refusal}")
        await session.send(handlers.error(iq_id, refusal.code, refusal.text))
        return
    edge.log("w:g2-set", session, detail=f"{action.tag} {to}")
    await session.send(handlers.result(iq_id, content))
    for group, notice, audience in notices:
        await _notify(session, group, account, notice, audience)


Notice = tuple["Group", Node, list[str]]  # the group, the notification's child, who hears of it (phones)


def _apply(
    state: EdgeState, account: Account, to: Jid, kind: str, action: Node, mode: str
) -> tuple[list[Node], list[Notice]]:
    if to == GROUPS:
        if (kind, action.tag) == ("set", "create"):
            return _create(state, account, action, mode)
        if (kind, action.tag) == ("set", "leave"):
            return _leave(state, account, action)
        raise Refused(400, f"to @g.us: set <create> or <leave> only here: {action}")
    if not to.is_group or to.device:
        raise Refused(400, f"a group change goes to a group jid: {to}")
    group = state.groups.get(to.user)
    if group is None:
        raise GroupError(404, "item-not-found", f"no group {to}")
    if account.phone not in group.members:
        raise GroupError(403, "forbidden", f"{account.phone} is not in {to}")
    admin = group.role(account.phone) is not None
    if action.tag == "invite" and not action.attrs and not action.children:
        if not admin:
            raise GroupError(401, "not-authorized", "only admins see the invite link")
        if kind == "set":
            group.invite_code = secrets.token_urlsafe(16)[:22]
            notice = Node("invite", {"code": group.invite_code})
            return [Node("invite", {"code": group.invite_code})], [(group, notice, group.members)]
        return [Node("invite", {"code": group.invite_code})], []
    if kind != "set":
        raise Refused(400, f"a group change is a set: {action}")
    if action.tag in ("add", "remove", "promote", "demote"):
        if not admin:
            raise GroupError(401, "not-authorized", f"only admins {action.tag}")
        return _members(state, account, group, action)
    if action.tag == "subject":
        if not admin:
            raise GroupError(401, "not-authorized", "only admins change the subject (the group is locked)")
        text = (action.content_bytes() or b"").decode(errors="replace") if action.content is not None else ""
        if action.children or not text.strip() or len(text) > MAX_SUBJECT:
            raise GroupError(406, "not-acceptable", f"a subject of {len(text)} characters")
        group.subject = text
        now = str(int(time.time()))
        notice = Node("subject", {"subject": text, "s_t": now, "s_o": group.member_jid(account)})
        return [], [(group, notice, group.members)]
    if action.tag == "description":
        return _description(account, group, action)
    raise Refused(400, f"a w:g2 set the edge does not know: {action}")


def _people(state: EdgeState, action: Node) -> list[tuple[Jid, Account | None]]:
    people = []
    for participant in action.children:
        jid = participant.attrs.get("jid")
        if participant.tag != "participant" or not isinstance(jid, Jid) or jid.device or jid.is_group:
            raise Refused(400, f"<participant jid=user/> expected: {participant}")
        people.append((jid, state.account_of(jid)))
    if not people:
        raise Refused(400, f"name at least one participant: {action}")
    return people


def _create(state: EdgeState, account: Account, action: Node, mode: str) -> tuple[list[Node], list[Notice]]:
    subject, key = action.str_attr("subject") or "", action.str_attr("key") or ""
    if not key:
        raise Refused(400, f"a create carries a key (WhatsApp dedupes the create with it): {action}")
    if not subject.strip() or len(subject) > MAX_SUBJECT:
        raise GroupError(406, "not-acceptable", f"a subject of {len(subject)} characters")
    people = _people(state, action) if action.children else []
    added, refused = [], []
    for jid, person in people:
        if person is None or person is account:
            continue  # unknown numbers are left out; the creator is in it anyway
        if person.group_add == "nobody":
            refused.append((jid, person))
        elif person.phone not in added:
            added.append(person.phone)
    group = state.create_group(subject, account.phone, added, mode)
    node = group_node(state, group)
    for jid, _person in refused:
        request = Node(
            "add_request",
            {"code": secrets.token_urlsafe(12), "expiration": str(int(time.time()) + 3 * 86400)},
        )
        node.children.append(Node("participant", {"jid": jid, "error": "403"}, [request]))
    notice = Node("create", {"key": key}, [group_node(state, group)])
    return [node], [(group, notice, group.members)]


def _members(
    state: EdgeState, account: Account, group: Group, action: Node
) -> tuple[list[Node], list[Notice]]:
    outcomes: list[Node] = []
    changed: list[Account] = []
    audience = list(group.members)
    for jid, person in _people(state, action):
        attrs: dict[str, AttrValue] = {"jid": jid}
        content: list[Node] | None = None
        code = _member_code(group, action.tag, person)
        if code == 403:
            expires = str(int(time.time()) + 3 * 86400)
            content = [Node("add_request", {"code": secrets.token_urlsafe(12), "expiration": expires})]
        if code:
            attrs["error"] = str(code)
        else:
            assert person is not None
            changed.append(person)
            _change(group, action.tag, person)
        outcomes.append(Node("participant", attrs, content))
    if not changed:
        return [Node(action.tag, {}, outcomes)], []
    listed = [_participant(group, person) for person in changed]
    notice = Node(action.tag, {}, listed)
    if action.tag == "add":
        audience = list(group.members)  # the new members hear of it too
    return [Node(action.tag, {}, outcomes)], [(group, notice, audience)]


def _member_code(group: Group, action: str, person: Account | None) -> int:
    if person is None:
        return 404  # not on WhatsApp
    member = person.phone in group.members
    if action == "add":
        if member:
            return 409
        if time.time() - group.left_at.get(person.phone, 0.0) < RECENTLY:
            return 408  # left (or was removed) recently: WhatsApp lets them back only by invite for a while
        return 403 if person.group_add == "nobody" else 0
    return 0 if member else 404


def _change(group: Group, action: str, person: Account) -> None:
    if action == "add":
        group.members.append(person.phone)
    elif action == "remove":
        _left(group, person.phone)
    elif action == "promote":
        group.admins.add(person.phone)
    elif action == "demote":
        group.admins.discard(person.phone)


def _left(group: Group, phone: str) -> None:
    """`phone` is out: its devices' copies of everyone's current sender keys are now stale."""
    group.members.remove(phone)
    group.admins.discard(phone)
    group.left_at[phone] = time.time()
    for sender, ids in group.key_ids.items():
        group.stale_keys.setdefault(sender, set()).update(ids)


def _description(account: Account, group: Group, action: Node) -> tuple[list[Node], list[Notice]]:
    if group.role(account.phone) is None:
        raise GroupError(401, "not-authorized", "only admins change the description (the group is locked)")
    new_id, previous = action.str_attr("id"), action.str_attr("prev")
    if not new_id:
        raise Refused(400, f"a description change carries a new id: {action}")
    if previous != group.description_id and group.description_id is not None:
        raise GroupError(
            409, "conflict", f"prev {previous} is not the current description {group.description_id}"
        )
    body = action.find("body")
    if action.str_attr("delete") == "true":
        if body is not None:
            raise Refused(400, f"a deleted description has no body: {action}")
        group.description, group.description_id = None, new_id
        return [], [(group, Node("description", {"id": new_id}, [Node("delete")]), group.members)]
    text = (body.content_bytes() or b"").decode(errors="replace") if body is not None else ""
    if body is None or not text:
        raise Refused(400, f"a description needs a <body> (or delete=true): {action}")
    if len(text) > MAX_DESCRIPTION:
        raise GroupError(406, "not-acceptable", f"a description of {len(text)} characters")
    group.description, group.description_id = text, new_id
    notice = Node("description", {"id": new_id}, [Node("body", {}, text.encode())])
    return [], [(group, notice, group.members)]


def _leave(state: EdgeState, account: Account, action: Node) -> tuple[list[Node], list[Notice]]:
    inner = action.children
    jid = inner[0].attrs.get("id") if len(inner) == 1 and inner[0].tag == "group" else None
    if not isinstance(jid, Jid) or not jid.is_group:
        raise Refused(400, f"<leave><group id=group/></leave> expected: {action}")
    group = state.groups.get(jid.user)
    if group is None:
        raise GroupError(404, "item-not-found", f"no group {jid}")
    if account.phone not in group.members:
        raise GroupError(403, "forbidden", f"{account.phone} is not in {jid}")
    audience = list(group.members)
    _left(group, account.phone)
    if group.creator == account.phone and group.members and not group.admins:
        group.admins.add(group.members[0])  # someone must be able to run it
    notice = Node("remove", {"reason": "leave"}, [_participant(group, account)])
    return [], [(group, notice, audience)]


def _participant(group: Group, person: Account) -> Node:
    other: dict[str, AttrValue] = (
        {"phone_number": person.pn} if group.addressing_mode == "lid" else {"lid": person.lid}
    )
    return Node("participant", {"jid": group.member_jid(person), **other})


async def _notify(
    session: EdgeSession, group: Group, author: Account, child: Node, audience: list[str]
) -> None:
    edge = session.edge
    extra: dict[str, AttrValue] = {"participant": group.member_jid(author)}
    if group.addressing_mode == "lid":
        extra["participant_pn"] = author.pn
    for phone in dict.fromkeys(audience):
        account = edge.state.accounts.get(phone)
        for device in account.active_devices() if account is not None else []:
            if device.primary:
                continue
            live = edge.live.get(device.jid)
            if live is not None and not live.ending:
                await live.notify("w:gp2", [child], sender=group.jid, extra=extra)
            else:
                attrs: dict[str, AttrValue] = {
                    "from": group.jid,
                    "type": "w:gp2",
                    "id": f"gp2-{secrets.token_hex(6)}",
                }
                attrs.update({"t": str(int(time.time())), **extra})
                edge.state.queues.setdefault(device.jid, []).append(Node("notification", attrs, [child]))
    edge.log("w:gp2", session, detail=f"{child.tag} {group.jid}")
