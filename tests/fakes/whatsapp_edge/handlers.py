"""The fake edge's answers to a client's get/set iqs: ping, passive, prekeys (count, upload, rotate,
digest), logout, media_conn (media_hosts.py), and the directory (directory.py): usync, prekey bundles,
groups (w:g2), privacy. Lookups (usync, w:g2 get) beyond the account's budget are answered 429
rate-overlimit (limits.py).

Only `w:p` pings are allowed before login. A query the edge does not know is answered with
`501 feature-not-implemented` and recorded as unhandled; a known one that is malformed is answered with
`400 bad-request` and recorded as a violation (the test fails on it).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import Node
from tests.fakes.whatsapp_edge import directory, group_admin
from tests.fakes.whatsapp_edge.checks import Refused, check_signed_pre_key, child_bytes
from tests.fakes.whatsapp_edge.limits import OVERLIMIT

if TYPE_CHECKING:
    from tests.fakes.whatsapp_edge.session import EdgeSession
    from tests.fakes.whatsapp_edge.state import Device

MAX_UPLOAD = 2000


def result(iq_id: str, content: list[Node] | None = None) -> Node:
    return Node("iq", {"from": SERVER_JID, "type": "result", "id": iq_id}, content)


def error(iq_id: str, code: int, text: str) -> Node:
    return Node(
        "iq",
        {"from": SERVER_JID, "type": "error", "id": iq_id},
        [Node("error", {"code": str(code), "text": text})],
    )


async def answer(session: EdgeSession, node: Node) -> None:
    iq_id, kind, xmlns = node.str_attr("id") or "", node.str_attr("type"), node.str_attr("xmlns")
    edge = session.edge
    if xmlns == "w:p" and kind == "get":
        if any(child.tag != "ping" for child in node.children):
            edge.violation(session, f"ping iq with unexpected children: {node}")
        edge.log("ping", session)
        await session.send(result(iq_id))
        return
    first_child = node.children[0] if node.children else None
    if (
        (xmlns, kind) == ("md", "set")
        and first_child is not None
        and first_child.tag == "link_code_companion_reg"
    ):
        try:
            await session.send(result(iq_id, session.link_code_step(first_child)))
        except Refused as refused:
            edge.violation(session, refused.text)
            await session.send(error(iq_id, 400, "bad-request"))
        return
    device = session.device
    if device is None:
        edge.violation(session, f"{xmlns} query before login: {node}")
        await session.send(error(iq_id, 401, "not-authorized"))
        return
    first = node.children[0].tag if node.children else None
    limited = xmlns if (xmlns, kind) in (("usync", "get"), ("w:g2", "get")) and first != "invite" else None
    if limited is not None and not edge.limits.allow(device.jid.user, limited):
        # WhatsApp's throttling of an account's lookups (limits.py): refused, and not counted.
        edge.log("rate-overlimit", session, detail=limited)
        await session.send(error(iq_id, *OVERLIMIT))
        return
    try:
        if (xmlns, kind) == ("passive", "set") and len(node.children) == 1 and first in ("active", "passive"):
            edge.log("passive", session, detail=first or "")
            await session.send(result(iq_id))
        elif (xmlns, kind, first) == ("encrypt", "get", "count"):
            edge.log("count", session, detail=str(len(device.pre_keys)))
            await session.send(result(iq_id, [Node("count", {"value": str(len(device.pre_keys))})]))
        elif (xmlns, kind, first) == ("encrypt", "get", "key"):
            content = directory.bundles(edge.state, node)
            edge.log("bundles", session, detail=str(len(content[0].children)))
            await session.send(result(iq_id, content))
        elif (xmlns, kind, first) == ("usync", "get", "usync"):
            content = directory.usync(edge.state, node)
            edge.log("usync", session, detail=str(len(content[0].children[0].children)))
            await session.send(result(iq_id, content))
        elif xmlns == "w:g2" and (kind == "set" or first == "invite"):
            await group_admin.answer(session, node)
        elif (xmlns, kind) == ("w:g2", "get"):
            account = edge.state.account_of(device.jid)
            to = node.attrs.get("to")
            assert account is not None and isinstance(to, Jid)
            try:
                content = directory.group_query(edge.state, account, to, node)
            except LookupError as exc:
                edge.log("w:g2", session, detail=str(exc))
                await session.send(error(iq_id, 404, "item-not-found"))
                return
            except PermissionError as exc:  # whatsmeow: 403 forbidden = not in the group
                edge.log("w:g2", session, detail=str(exc))
                await session.send(error(iq_id, 403, "forbidden"))
                return
            edge.log("w:g2", session, detail=first or "")
            await session.send(result(iq_id, content))
        elif (xmlns, kind, first) == ("w:m", "set", "media_conn"):
            if len(node.children) != 1 or node.children[0].children or node.children[0].attrs:
                raise Refused(400, f"media_conn takes a bare <media_conn/>: {node}")
            edge.log("media_conn", session)
            await session.send(result(iq_id, [edge.media.media_conn()]))
        elif (xmlns, kind, first) == ("privacy", "get", "privacy"):
            await session.send(result(iq_id, directory.privacy()))
        elif (xmlns, kind, first) == ("privacy", "set", "tokens"):
            await _issue_privacy_tokens(session, node.children[0])
            await session.send(result(iq_id))
        elif (xmlns, kind, first) == ("encrypt", "get", "digest"):
            edge.log("digest", session)
            await session.send(result(iq_id, [_digest(device)]))
        elif (xmlns, kind, first) == ("encrypt", "set", "rotate"):
            rotate = node.children[0]
            skey = rotate.find("skey")
            if skey is None or len(rotate.children) != 1:
                raise Refused(400, "rotate needs exactly one <skey>")
            device.signed_pre_key = check_signed_pre_key(skey, device.identity_public)
            edge.log("rotate", session, detail=str(device.signed_pre_key.key_id))
            await session.send(result(iq_id))
        elif (xmlns, kind) == ("encrypt", "set") and first == "registration":
            count = _upload(device, node)
            edge.log("prekeys", session, detail=str(count))
            await session.send(result(iq_id))
        elif (xmlns, kind, first) == ("md", "set", "remove-companion-device"):
            target = node.children[0].attrs.get("jid")
            if target != device.jid or not node.children[0].str_attr("reason"):
                raise Refused(400, f"remove-companion-device must name this device and a reason: {node}")
            await session.send(result(iq_id))
            edge.log("logout", session)
            await edge.remove_device(device.jid)
        else:
            edge.unhandled_stanza(session, node)
            await session.send(error(iq_id, 501, "feature-not-implemented"))
    except Refused as refused:
        edge.violation(session, refused.text)
        await session.send(error(iq_id, 400, "bad-request"))


async def _issue_privacy_tokens(session: EdgeSession, tokens: Node) -> None:
    """The account trusts each named contact: mint the contact's token and notify its companions
    (`privacy_token`, from the issuer, with its LID), as WhatsApp does."""
    edge = session.edge
    assert session.device is not None
    issuer = edge.state.account_of(session.device.jid)
    assert issuer is not None
    for token in tokens.children:
        jid, issued = token.attrs.get("jid"), token.str_attr("t") or ""
        if token.tag != "token" or token.str_attr("type") != "trusted_contact" or not isinstance(jid, Jid):
            raise Refused(400, f"<token jid t type=trusted_contact/> expected: {token}")
        if not (issued.isascii() and issued.isdigit()) or abs(int(issued) - time.time()) > 3600:
            raise Refused(400, f"a privacy token's t is the current time in seconds: {token}")
        if jid.device is not None:
            raise Refused(400, f"privacy tokens are issued to a user, not a device: {token}")
        holder = edge.state.account_of(jid)
        if holder is None or holder is issuer:
            continue
        value = os.urandom(24)
        edge.state.privacy_tokens[(holder.phone, issuer.phone)] = (value, int(issued))
        edge.log("privacy-token", session, detail=f"{issuer.phone}->{holder.phone}")
        content = [
            Node(
                "tokens",
                {},
                [Node("token", {"jid": holder.pn, "t": issued, "type": "trusted_contact"}, value)],
            )
        ]
        for device in holder.active_devices():
            live = edge.live.get(device.jid)
            if live is not None and not live.ending:
                await live.notify(
                    "privacy_token", content, sender=issuer.pn, extra={"sender_lid": issuer.lid}
                )


def _upload(device: Device, node: Node) -> int:
    """Check and store a prekey upload: exactly registration, type, identity, list, skey, in that order."""
    tags = [child.tag for child in node.children]
    if tags != ["registration", "type", "identity", "list", "skey"]:
        raise Refused(400, f"prekey upload children must be registration, type, identity, list, skey: {tags}")
    if int.from_bytes(child_bytes(node, "registration", 4), "big") != device.registration_id:
        raise Refused(400, "prekey upload names another registration id")
    if child_bytes(node, "type", 1) != b"\x05":
        raise Refused(400, "prekey upload key type must be 0x05")
    if child_bytes(node, "identity", 32) != device.identity_public:
        raise Refused(400, "prekey upload identity is not the device's identity key")
    skey = node.find("skey")
    assert skey is not None
    signed = check_signed_pre_key(skey, device.identity_public)
    keys = node.children[3].children
    if not keys or len(keys) > MAX_UPLOAD or any(key.tag != "key" for key in keys):
        raise Refused(400, f"prekey list must hold 1..{MAX_UPLOAD} <key> children")
    uploaded: dict[int, bytes] = {}
    for key in keys:
        key_id = int.from_bytes(child_bytes(key, "id", 3), "big")
        if key_id == 0 or key_id in uploaded:
            raise Refused(400, f"prekey id {key_id} is zero or repeated")
        uploaded[key_id] = child_bytes(key, "value", 32)
    device.pre_keys.update(uploaded)
    device.signed_pre_key = signed
    return len(uploaded)


def _digest(device: Device) -> Node:
    signed = device.signed_pre_key
    ids = sorted(device.pre_keys)
    return Node(
        "digest",
        {},
        [
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
            Node("list", {}, [Node("id", {}, key_id.to_bytes(3, "big")) for key_id in ids]),
        ],
    )
