"""What the fake edge knows about others, as answers: usync device lists and LIDs, prekey bundles, groups.

    usync      <usync context mode sid><query><devices version=2/><lid/>…</query><list><user jid/>…</list>
               → per user: <devices><device-list><device id key-index/>…</device-list><key-index-list ts>
                 ADVSignedKeyIndexList</key-index-list></devices><lid val/>  (an unknown number: empty list)
               <query><contact/><lid/></query><list><user><contact>+number</contact></user>…</list>
               → per number: <user jid><contact type=in|out>+number</contact><lid val/>?</user>
    bundles    <key><user jid=device [reason]/>…</key> → <list><user jid><registration/><type/><identity/>
                 <skey/><key/></user>…</list>; each one-time prekey is handed out once
    w:g2       <participating><participants/><description/></participating> (to @g.us) → <groups><group/>…
               <query request=interactive/> (to the group) → <group id subject s_t s_o creation creator
                 addressing_mode size><participant jid type [phone_number | lid]/>…</group>
    privacy    <privacy/> → <privacy><category name value/>…</privacy>

Each function raises `Refused(400, …)` for a malformed query (the edge records a violation).
"""

from __future__ import annotations

import time

from connector.engines.web.binary.jid import GROUP_SERVER, USER_SERVER, Jid
from connector.engines.web.binary.node import AttrValue, Node
from connector.engines.web.crypto import curve
from connector.engines.web.protos import wa
from tests.fakes.whatsapp_edge.checks import Refused
from tests.fakes.whatsapp_edge.state import Account, Device, EdgeState, Group

KEY_INDEX_PREFIX = b"\x06\x02"  # the account signs its key index list with this prefix
USYNC_PROTOCOLS = frozenset({"devices", "lid", "contact", "status", "disappearing_mode", "business"})


def usync(state: EdgeState, node: Node) -> list[Node]:
    """The content of the answer to a usync query."""
    usync_node = node.find("usync")
    query = usync_node.find("query") if usync_node is not None else None
    users = usync_node.find("list") if usync_node is not None else None
    if usync_node is None or query is None or users is None:
        raise Refused(400, f"usync needs <usync><query/><list/></usync>: {node}")
    protocols = [child.tag for child in query.children]
    if not protocols or any(tag not in USYNC_PROTOCOLS for tag in protocols):
        raise Refused(400, f"usync query protocols must be among {sorted(USYNC_PROTOCOLS)}: {protocols}")
    devices = query.find("devices")
    if devices is not None and devices.str_attr("version") != "2":
        raise Refused(400, "usync <devices> needs version=2")
    if (
        not usync_node.str_attr("sid")
        or not usync_node.str_attr("context")
        or not usync_node.str_attr("mode")
    ):
        raise Refused(400, "usync needs sid, context and mode")
    answers: list[Node] = []
    for user in users.children:
        jid = user.attrs.get("jid")
        asked = _asked_number(user, protocols) if "jid" not in user.attrs else None
        if asked is not None:  # is this number on WhatsApp: the number is the user's <contact> text
            answers.append(_number_answer(state, asked, protocols))
            continue
        if user.tag != "user" or not isinstance(jid, Jid) or jid.device is not None:
            raise Refused(400, f"usync users are <user jid=account/> (a JID, no device): {user}")
        account = state.account_of(jid)
        content: list[Node] = []
        if "devices" in protocols:
            content.append(_devices(account))
        if "lid" in protocols and account is not None and jid.server == USER_SERVER:
            content.append(Node("lid", {"val": account.lid}))
        if "contact" in protocols:
            content.append(Node("contact", {"type": "in" if account is not None else "out"}))
        answers.append(Node("user", {"jid": jid}, content))
    sid = usync_node.str_attr("sid") or ""
    return [Node("usync", {"sid": sid, "index": "0", "last": "true"}, [Node("list", {}, answers)])]


def _asked_number(user: Node, protocols: list[str]) -> str | None:
    """The number a `<user><contact>+34600…</contact></user>` asks about (Baileys' onWhatsApp, whatsmeow's
    IsOnWhatsApp); refused unless the query has the contact protocol and the text is +digits."""
    contact = user.find("contact")
    if user.tag != "user" or contact is None:
        return None
    if "contact" not in protocols:
        raise Refused(400, f"a <user><contact> without <query><contact/>: {user}")
    raw = contact.content
    text = raw.decode() if isinstance(raw, bytes) else str(raw) if raw is not None else ""
    if not text.startswith("+") or not text[1:].isdigit() or not 6 <= len(text) - 1 <= 15:
        raise Refused(400, f"a usync contact is a number with its country code (+34600123456): {text!r}")
    return text


def _number_answer(state: EdgeState, number: str, protocols: list[str]) -> Node:
    """As WhatsApp answers: the account's JID, `<contact type=in|out>` echoing the number, its LID if in."""
    jid = Jid(number[1:], USER_SERVER)
    account = state.account_of(jid)
    content = [Node("contact", {"type": "in" if account is not None else "out"}, number.encode())]
    if "lid" in protocols and account is not None:
        content.append(Node("lid", {"val": account.lid}))
    if "devices" in protocols:
        content.append(_devices(account))
    return Node("user", {"jid": jid}, content)


def _devices(account: Account | None) -> Node:
    if account is None:
        return Node("devices", {}, [Node("device-list", {}, [])])
    listed: list[Node] = []
    for device in account.active_devices():
        number = device.jid.device or 0
        attrs: dict[str, AttrValue] = {"id": str(number)}
        if number:
            attrs["key-index"] = str(device.key_index)
        listed.append(Node("device", attrs))
    indexes = [device.key_index for device in account.active_devices() if device.key_index]
    details = wa.ADVKeyIndexList(
        rawId=account.raw_id, timestamp=int(time.time()), currentIndex=max(indexes, default=0)
    )
    details.validIndexes.extend(indexes)
    details_bytes = details.SerializeToString()
    signed = wa.ADVSignedKeyIndexList(
        details=details_bytes,
        accountSignature=curve.sign(account.identity.private, KEY_INDEX_PREFIX + details_bytes),
    )
    return Node(
        "devices",
        {},
        [
            Node("device-list", {}, listed),
            Node("key-index-list", {"ts": str(details.timestamp)}, signed.SerializeToString()),
        ],
    )


def bundles(state: EdgeState, node: Node) -> list[Node]:
    """The content of the answer to a prekey bundle fetch (`<key><user jid/>…</key>`)."""
    key = node.find("key")
    if key is None or not key.children:
        raise Refused(400, f"a bundle fetch needs <key> with <user jid/> children: {node}")
    answers: list[Node] = []
    for user in key.children:
        jid = user.attrs.get("jid")
        if user.tag != "user" or not isinstance(jid, Jid) or not (jid.is_pn_user or jid.is_lid_user):
            raise Refused(400, f"bundle fetch users are <user jid=device/>: {user}")
        device = state.device(jid)
        if device is None or device.removed:
            error = Node("error", {"code": "404", "text": "item-not-found"})
            answers.append(Node("user", {"jid": jid}, [error]))
            continue
        answers.append(Node("user", {"jid": jid}, bundle_nodes(device)))
    return [Node("list", {}, answers)]


def bundle_nodes(device: Device) -> list[Node]:
    """A device's keys as a bundle (taking one of its one-time prekeys, if any are left)."""
    signed = device.signed_pre_key
    content = [
        Node("registration", {}, device.registration_id.to_bytes(4, "big")),
        Node("type", {}, b"\x05"),
        Node("identity", {}, device.identity_public),
        Node(
            "skey",
            {},
            [
                Node("id", {}, signed.key_id.to_bytes(3, "big")),
                Node("value", {}, signed.public),
                Node("signature", {}, signed.signature),
            ],
        ),
    ]
    taken = device.take_pre_key()
    if taken is not None:
        key_id, public = taken
        content.append(
            Node("key", {}, [Node("id", {}, key_id.to_bytes(3, "big")), Node("value", {}, public)])
        )
    return content


def participating(state: EdgeState, account: Account) -> list[Node]:
    groups = [group for group in state.groups.values() if account.phone in group.members]
    return [Node("groups", {}, [group_node(state, group) for group in groups])]


def group_node(state: EdgeState, group: Group) -> Node:
    creator = state.accounts[group.creator]
    participants: list[Node] = []
    for phone in group.members:
        member = state.accounts[phone]
        attrs: dict[str, AttrValue] = {"jid": group.member_jid(member)}
        role = group.role(phone)
        if role is not None:
            attrs["type"] = role
        if group.addressing_mode == "lid":
            attrs["phone_number"] = member.pn
        else:
            attrs["lid"] = member.lid
        participants.append(Node("participant", attrs))
    content = participants
    if group.description is not None:
        body = Node("body", {}, group.description.encode())
        description_id = group.description_id or "1"
        content = [
            *participants,
            Node("description", {"id": description_id, "t": str(group.created)}, [body]),
        ]
    return Node(
        "group",
        {
            "id": group.jid.user,
            "subject": group.subject,
            "s_t": str(group.created),
            "s_o": group.member_jid(creator),
            "creation": str(group.created),
            "creator": group.member_jid(creator),
            "addressing_mode": group.addressing_mode,
            "size": str(len(group.members)),
        },
        content,
    )


def group_query(state: EdgeState, account: Account, to: Jid, node: Node) -> list[Node]:
    """Answers to w:g2 gets: the participating list (to @g.us) or one group's metadata."""
    first = node.children[0] if len(node.children) == 1 else None
    if first is not None and first.tag == "participating" and to == Jid("", GROUP_SERVER):
        return participating(state, account)
    if first is not None and first.tag == "query" and to.is_group:
        group = state.groups.get(to.user)
        if group is None:
            raise LookupError(f"{to} is no group")
        if account.phone not in group.members:
            raise PermissionError(f"{account.phone} is not in {to}")
        return [group_node(state, group)]
    raise Refused(400, f"w:g2 get must be <participating> to @g.us or <query> to a group: {node}")


def privacy() -> list[Node]:
    categories = [("readreceipts", "all"), ("last", "all"), ("online", "all"), ("groupadd", "all")]
    return [Node("privacy", {}, [Node("category", {"name": n, "value": v}) for n, v in categories])]
