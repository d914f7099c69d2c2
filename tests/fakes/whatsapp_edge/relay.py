"""The fake edge's relay: checks and routes `<message>` and `<receipt>` stanzas between devices.

A 1:1 message names each recipient device in `<participants><to jid><enc v=2 type=pkmsg|msg/></to>`:
devices of the recipient get `<message from=sender-device id t type notify sender_lid|sender_pn>`, the
sender's own other devices get the same with `recipient=chat`. `from` is written in the form the sender
addressed that device in (phone number or LID), the other form rides along as `sender_lid`/`sender_pn`.
A group message carries one `<enc type=skmsg>` for everyone and, in `<participants>`, 1:1 envelopes
(sender key distributions) for some devices: every member device gets `from=group participant=sender`
(in the group's addressing mode, the other form as `participant_pn`/`participant_lid`) with its envelope
first. A device-addressed message (`to=device`, or `to=group participant=device`) is a retry resend.
The sender gets `<ack class=message id from=to t phash/>` (with `error` when the edge refuses the message):
`phash` is the participant hash of the devices that should have got it (the recipient's and the
sender's own, or every member device of a group; whatsmeow send.go), so a sender with a stale device
list can tell; a group message's own `phash` that differs is logged as `phash-mismatch`, and devices a
1:1 message left out as `incomplete-fanout`.

Receipts: delivery/read/played go to every companion of the message's sender (`to`, or `participant` in
a group) as `<receipt from=receiver id t type>`; a retry receipt goes to the one device it names, keys
and all. A `read` also goes to the reader's own other companions (`from=reader device recipient=chat`, or
`from=group participant=reader device`), and a `read-self` (read receipts turned off) only to them: that
is how a linked device learns the chat was read on the phone. Stanzas for a device that is not
connected wait in its queue; phones (device 0) read at once.

Checked (violations): a delivery receipt without a type (active) from a device that has not sent
`<presence type=available>` (it must say `inactive`); envelopes with v=2 and a known type, a pkmsg's
identity and registration are the sender's own, a `<device-identity>` (the sender's ADV identity,
signatures verified) with every pkmsg, envelopes only for the recipient's or the sender's own devices,
never for the sending device itself (in a group that is only logged as `self-envelope`: Baileys
encrypts for itself in LID groups).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import TYPE_CHECKING

from connector.engines.web.binary.jid import GROUP_SERVER, LID_SERVER, Jid
from connector.engines.web.binary.node import AttrValue, Node
from connector.engines.web.crypto import curve
from connector.engines.web.errors import WebEngineError
from connector.engines.web.protos import wa
from connector.engines.web.sending import participant_hash
from connector.engines.web.signal.messages import PreKeySignalMessage, SenderKeyMessage
from tests.fakes.whatsapp_edge.checks import Refused
from tests.fakes.whatsapp_edge.state import Account, Device, Group

if TYPE_CHECKING:
    from tests.fakes.whatsapp_edge.server import FakeEdge
    from tests.fakes.whatsapp_edge.session import EdgeSession

ADV_DEVICE_PREFIX = b"\x06\x01"
ENC_TYPES = frozenset({"pkmsg", "msg", "skmsg", "msmsg"})
DELIVERY_TYPES = frozenset({"read", "played", "inactive", "read-self"})
OWN_READS = frozenset({"read", "read-self"})  # also told to the reader's own other devices
QUIET_RECEIPTS = frozenset({"sender", "hist_sync", "peer_msg", "server-error", "enc_rekey_retry"})


class Relay:
    def __init__(self, edge: FakeEdge) -> None:
        self.edge = edge
        self.state = edge.state
        self._late_acks: dict[str, tuple[EdgeSession, Node]] = {}
        self._lid_messages = 0

    # ---- delivery -----------------------------------------------------------------------------------

    async def deliver(self, device: Device, node: Node, *, sender: Device | None = None, chat: Jid) -> None:
        """Hand `node` to `device`: its phone endpoint, its live connection, or its offline queue."""
        if device.primary:
            if sender is not None and node.tag == "message":
                account = self.state.account_of(device.jid)
                assert account is not None
                await self.edge.phone(account.phone).receive(sender, chat, node)
            return
        session = self.edge.live.get(device.jid)
        if session is not None and session.device is device and not session.ending:
            if await session.deliver(node):
                return
        self.state.queues.setdefault(device.jid, []).append(node)

    async def flush_offline(self, session: EdgeSession) -> int:
        """Deliver what waited for this device (marked offline); returns how many stanzas."""
        assert session.device is not None
        waiting = self.state.queues.pop(session.device.jid, [])
        for node in waiting:
            if node.tag == "notification":  # a group change while it was away (group_admin.py)
                session.expect_ack(node)
            await session.deliver(Node(node.tag, {**node.attrs, "offline": "1"}, node.content))
        return len(waiting)

    # ---- messages -----------------------------------------------------------------------------------

    async def on_message(self, session: EdgeSession, node: Node) -> None:
        sender = session.device
        assert sender is not None
        account = self.state.account_of(sender.jid)
        assert account is not None
        message_id, to = node.str_attr("id"), node.attrs.get("to")
        try:
            if not message_id or not isinstance(to, Jid) or not node.str_attr("type"):
                raise Refused(400, f"a message needs id, type and a JID `to`: {node}")
            if message_id in self.edge.drop_before_routing:
                self.edge.drop_before_routing.discard(message_id)
                self.edge.log("dropped", session, detail=message_id)
                session.spawn(session.ws.close())
                return
            self._check_envelopes(sender, account, node)
            if to.server == GROUP_SERVER:
                error = await self._route_group(sender, account, to, node)
            else:
                error = await self._route_direct(sender, account, to, node)
        except Refused as refused:
            self.edge.violation(session, refused.text)
            error = "400"
        participants = node.find("participants")
        envelopes = len(participants.children) if participants is not None else 0
        self.edge.log("message", session, detail=f"{message_id} {error or 'ok'} envelopes={envelopes}")
        if message_id in self.edge.drop_after_routing:
            self.edge.drop_after_routing.discard(message_id)
            self.edge.log("dropped", session, detail=message_id)
            session.spawn(session.ws.close())
            return
        ack: dict[str, AttrValue] = {"class": "message", "id": message_id or "", "t": _now()}
        if isinstance(to, Jid):
            ack["from"] = to
            expected = self._expected_hash(account, to) if not error and to.device is None else None
            if expected is not None:
                ack["phash"] = expected
                claimed = node.str_attr("phash")
                if claimed is not None and claimed != expected:
                    self.edge.log("phash-mismatch", session, detail=f"{message_id} {claimed} != {expected}")
        if error:
            ack["error"] = error
        if message_id in self.edge.ack_after_receipt:  # the recipient's receipt overtakes our ack
            self._late_acks[message_id] = (session, Node("ack", ack))
            return
        await session.send(Node("ack", ack))

    def _expected_hash(self, account: Account, to: Jid) -> str | None:
        """The participant hash of who should get a message to `to` (None for a retry resend)."""
        if to.server == GROUP_SERVER:
            group = self.state.groups.get(to.user)
            if group is None:
                return None
            lid = group.addressing_mode == "lid"
            members = [self.state.accounts[phone] for phone in group.members]
            devices = [
                (m.device_lid if lid else m.device_jid)(d.jid.device or 0)
                for m in members
                for d in m.active_devices()
            ]
        else:
            target = self.state.account_of(to)
            if target is None:
                return None
            owners = [target] if target is account else [target, account]
            devices = [o.device_in_form(d.jid.device or 0, to) for o in owners for d in o.active_devices()]
        return participant_hash(devices)

    def _check_envelopes(self, sender: Device, account: Account, node: Node) -> None:
        envelopes = node.findall("enc")
        participants = node.find("participants")
        for to in participants.children if participants is not None else []:
            if to.tag != "to" or not isinstance(to.attrs.get("jid"), Jid) or len(to.findall("enc")) != 1:
                raise Refused(400, f"<participants> holds <to jid><enc/></to> only: {to}")
            envelopes.append(to.children[0])
        if not envelopes:
            raise Refused(400, f"a message carries no <enc>: {node}")
        prekey_messages = 0
        for enc in envelopes:
            kind = enc.str_attr("type") or ""
            if enc.str_attr("v") != "2" or kind not in ENC_TYPES or not enc.content_bytes():
                raise Refused(400, f"<enc> needs v=2, a type among {sorted(ENC_TYPES)} and bytes: {enc}")
            if kind == "pkmsg":
                prekey_messages += 1
                self._check_pkmsg(sender, enc.content_bytes() or b"")
        if prekey_messages:
            self._check_device_identity(sender, account, node.find("device-identity"))

    @staticmethod
    def _check_pkmsg(sender: Device, data: bytes) -> None:
        try:
            message = PreKeySignalMessage.parse(data)
        except WebEngineError as exc:
            raise Refused(400, f"a pkmsg does not parse: {exc.message}") from exc
        if message.identity_key != sender.identity_public:
            raise Refused(400, "a pkmsg carries an identity key that is not the sending device's")
        if message.registration_id != sender.registration_id:
            raise Refused(400, f"a pkmsg says registration {message.registration_id}, not the sender's")

    @staticmethod
    def _check_device_identity(sender: Device, account: Account, node: Node | None) -> None:
        data = node.content_bytes() if node is not None else None
        if data is None:
            raise Refused(400, "a message with a pkmsg needs <device-identity>")
        signed = wa.ADVSignedDeviceIdentity()
        signed.ParseFromString(data)
        details = wa.ADVDeviceIdentity()
        details.ParseFromString(signed.details)
        if sender.primary:
            return
        if details.keyIndex != sender.key_index:
            raise Refused(
                400, f"<device-identity> key index {details.keyIndex}, sender has {sender.key_index}"
            )
        account_key = signed.accountSignatureKey or account.identity.public
        if account_key != account.identity.public:
            raise Refused(400, "<device-identity> names another account key")
        signed_text = ADV_DEVICE_PREFIX + signed.details + sender.identity_public + account_key
        if not curve.verify(sender.identity_public, signed_text, signed.deviceSignature):
            raise Refused(400, "<device-identity> device signature does not verify")

    async def _route_direct(self, sender: Device, account: Account, to: Jid, node: Node) -> str:
        target = self.state.account_of(to)
        if target is None:
            return "404"
        participants = node.find("participants")
        if to.device is not None or participants is None:
            return await self._resend_direct(sender, account, to, node)
        if target is not account and not self._privacy_token_ok(account, target, node):
            self.edge.log("restricted", None, jid=sender.jid, detail=f"{account.phone}->{target.phone}")
            return "463"
        routed: set[int] = set()
        for envelope in participants.children:
            device_jid = envelope.attrs["jid"]
            assert isinstance(device_jid, Jid)
            owner = self.state.account_of(device_jid)
            device = self.state.device(device_jid)
            if owner not in (target, account) or device is None or device.removed:
                raise Refused(400, f"<to jid={device_jid}> is no device of {to} nor of the sender")
            if device is sender:
                raise Refused(400, "a message must not be encrypted for the sending device itself")
            number = sender.jid.device or 0
            attrs = _base_attrs(node)
            attrs["from"] = account.device_in_form(number, device_jid)
            if owner is account and owner is not target:
                attrs["recipient"] = to
            else:
                _alt_sender(attrs, account, device_jid, "sender", omit_pn=self._omit_pn(device_jid))
            if envelope.children[0].str_attr("type") == "pkmsg":
                self.edge.log("pkmsg", None, jid=sender.jid, detail=f"{node.str_attr('id')} {device_jid}")
            await self.deliver(device, Node("message", attrs, envelope.children), sender=sender, chat=to)
            routed.add(id(device))
        missing = [d for d in target.active_devices() if id(d) not in routed and d is not sender]
        if missing:
            self.edge.log(
                "incomplete-fanout", None, jid=sender.jid, detail=" ".join(str(d.jid) for d in missing)
            )
        return ""

    def _privacy_token_ok(self, account: Account, target: Account, node: Node) -> bool:
        """A restricted account needs the recipient's token (or, for a new chat, the cstoken derived from
        the account's salt and the recipient's LID) on every new 1:1 message; anyone who attaches one must
        attach the real one (a tctoken unexpired: four 7-day buckets)."""
        attached, derived = node.find("tctoken"), node.find("cstoken")
        if attached is not None and derived is not None:
            raise Refused(400, "a message carries a tctoken or a cstoken, not both")
        if derived is not None:
            expected = hmac.new(account.nct_salt, str(target.lid).encode(), hashlib.sha256).digest()
            return hmac.compare_digest(derived.content_bytes() or b"", expected)
        issued = self.state.privacy_tokens.get((account.phone, target.phone))
        if attached is None:
            return not account.restricted
        if issued is None or attached.content_bytes() != issued[0]:
            return False
        cutoff = (int(time.time()) // 604800 - 3) * 604800
        return issued[1] >= cutoff

    async def _resend_direct(self, sender: Device, account: Account, to: Jid, node: Node) -> str:
        device = self.state.device(to)
        if device is None or to.device is None and not node.findall("enc"):
            raise Refused(400, f"a message to {to} needs <participants>, or <enc> when sent to one device")
        attrs = _base_attrs(node)
        attrs["from"] = account.device_in_form(sender.jid.device or 0, to)
        recipient = node.attrs.get("recipient")
        if isinstance(recipient, Jid):
            attrs["recipient"] = recipient
        else:
            _alt_sender(attrs, account, to, "sender")
        chat = recipient if isinstance(recipient, Jid) else to.to_account()
        await self.deliver(device, Node("message", attrs, node.findall("enc")), sender=sender, chat=chat)
        return ""

    async def _route_group(self, sender: Device, account: Account, to: Jid, node: Node) -> str:
        group = self.state.groups.get(to.user)
        if group is None:
            return "404"
        if account.phone not in group.members:
            return "403"
        mode = node.str_attr("addressing_mode")
        if mode is not None and mode != group.addressing_mode:
            raise Refused(400, f"addressing_mode {mode} for a {group.addressing_mode} group")
        direct = node.findall("enc")
        participant = node.attrs.get("participant")
        if isinstance(participant, Jid):  # a retry resend to one member device
            device = self.state.device(participant)
            if device is None:
                return "404"
            await self.deliver(
                device, self._group_stanza(group, sender, account, node, direct), sender=sender, chat=to
            )
            return ""
        if len([enc for enc in direct if enc.str_attr("type") == "skmsg"]) != 1 or len(direct) != 1:
            raise Refused(400, "a group message carries exactly one direct <enc type=skmsg>")
        self._check_sender_key(group, sender, direct[0])
        envelopes: dict[int, Node] = {}
        participants = node.find("participants")
        for envelope in participants.children if participants is not None else []:
            device_jid = envelope.attrs["jid"]
            assert isinstance(device_jid, Jid)
            device = self.state.device(device_jid)
            owner = self.state.account_of(device_jid)
            if device is None or owner is None or owner.phone not in group.members:
                raise Refused(400, f"<to jid={device_jid}> is no member device of {to}")
            if device is sender:  # Baileys does this in LID groups; the server drops it: logged, not refused
                self.edge.log("self-envelope", None, jid=sender.jid, detail=f"{to} {device_jid}")
                continue
            envelopes[id(device)] = envelope.children[0]
        for phone in group.members:
            for device in self.state.accounts[phone].active_devices():
                if device is sender:
                    continue
                children = ([envelopes[id(device)]] if id(device) in envelopes else []) + direct
                stanza = self._group_stanza(group, sender, account, node, children)
                await self.deliver(device, stanza, sender=sender, chat=to)
        return ""

    def _check_sender_key(self, group: Group, sender: Device, skmsg: Node) -> None:
        """A member left since this sender key was used: re-using it lets them read what follows (the
        sender must make a new key and distribute it), so it is a violation (group_admin.py marks them)."""
        try:
            key_id = SenderKeyMessage.parse(skmsg.content_bytes() or b"").key_id
        except WebEngineError as exc:
            raise Refused(400, f"an skmsg does not parse: {exc.message}") from exc
        name = str(sender.jid)
        if key_id in group.stale_keys.get(name, set()):
            text = f"{name} re-used sender key {key_id} in {group.jid} after a member left"
            self.edge.violations.append(text)
            self.edge.log("stale-sender-key", None, jid=sender.jid, detail=text)
        group.key_ids.setdefault(name, set()).add(key_id)

    def _omit_pn(self, form: Jid) -> bool:
        """Whether this LID-addressed stanza goes without its `*_pn` (config.omit_pn_every)."""
        every = self.edge.config.omit_pn_every
        if form.server != LID_SERVER or every <= 0:
            return False
        self._lid_messages += 1
        if self._lid_messages % every:
            return False
        self.edge.log("pn-omitted", None, jid=form)
        return True

    def _group_stanza(
        self, group: Group, sender: Device, account: Account, node: Node, children: list[Node]
    ) -> Node:
        attrs = _base_attrs(node)
        attrs["from"] = group.jid
        number = sender.jid.device or 0
        if group.addressing_mode == "lid":
            attrs["participant"] = account.device_lid(number)
            if not self._omit_pn(account.lid):
                attrs["participant_pn"] = account.device_jid(number)
        else:
            attrs["participant"] = account.device_jid(number)
            attrs["participant_lid"] = account.device_lid(number)
        attrs["addressing_mode"] = group.addressing_mode
        if account.push_name:
            attrs["notify"] = account.push_name
        return Node("message", attrs, children)

    # ---- receipts -----------------------------------------------------------------------------------

    async def on_receipt(self, session: EdgeSession, node: Node) -> None:
        receiver = session.device
        assert receiver is not None
        account = self.state.account_of(receiver.jid)
        assert account is not None
        receipt_id, kind = node.str_attr("id"), node.str_attr("type")
        if not receipt_id:
            self.edge.violation(session, f"a receipt needs an id: {node}")
            return
        session.settle("message", [receipt_id, *_items(node)])
        self.edge.log("receipt", session, detail=f"{kind or 'delivery'} {receipt_id}")
        if kind is None and not session.available and not receiver.primary:
            # WhatsApp Web (and whatsmeow) send "inactive" delivery receipts until they announce presence
            self.edge.violation(session, f"an active delivery receipt without presence available: {node}")
        to, participant = node.attrs.get("to"), node.attrs.get("participant")
        if kind in QUIET_RECEIPTS:
            return
        if not isinstance(to, Jid):
            self.edge.violation(session, f"a {kind or 'delivery'} receipt needs a JID `to`: {node}")
            return
        if kind == "retry":
            await self._route_retry(receiver, account, to, participant, node)
        elif kind is None or kind in DELIVERY_TYPES:
            await self._route_receipt(session, receiver, account, to, participant, node)
        else:
            self.edge.unhandled_stanza(session, node)
        late = self._late_acks.pop(receipt_id, None)
        if late is not None:
            await late[0].send(late[1])

    async def _route_receipt(
        self,
        session: EdgeSession,
        receiver: Device,
        account: Account,
        to: Jid,
        participant: AttrValue | None,
        node: Node,
    ) -> None:
        attrs: dict[str, AttrValue] = {"id": node.str_attr("id") or "", "t": node.str_attr("t") or _now()}
        if node.str_attr("type"):
            attrs["type"] = node.str_attr("type") or ""
        number = receiver.jid.device or 0
        if node.str_attr("type") in OWN_READS:
            await self.own_read(receiver, account, to, node)
            if node.str_attr("type") == "read-self":
                return
        if to.server == GROUP_SERVER:
            group = self.state.groups.get(to.user)
            if not isinstance(participant, Jid) or group is None:
                self.edge.violation(
                    session, f"a group receipt needs the message's sender as participant: {node}"
                )
                return
            target = self.state.account_of(participant)
            attrs["from"] = to
            attrs["participant"] = (
                account.device_lid(number) if group.addressing_mode == "lid" else account.device_jid(number)
            )
        else:
            target = self.state.account_of(to)
            attrs["from"] = account.device_in_form(number, to)
        if target is None:
            return
        for device in target.active_devices():
            if not device.primary:
                await self.deliver(device, Node("receipt", attrs, node.content), chat=to)

    async def own_read(self, reader: Device, account: Account, chat: Jid, node: Node) -> None:
        """Tell the reader's own other companions that `chat` was read (its ids in `node`)."""
        attrs: dict[str, AttrValue] = {
            "id": node.str_attr("id") or "",
            "t": node.str_attr("t") or _now(),
            "type": node.str_attr("type") or "read",
        }
        number = reader.jid.device or 0
        if chat.server == GROUP_SERVER:
            attrs["from"], attrs["participant"] = chat, account.device_jid(number)
        else:
            attrs["from"], attrs["recipient"] = account.device_in_form(number, chat), chat
        for device in account.active_devices():
            if device is not reader and not device.primary:
                await self.deliver(device, Node("receipt", attrs, node.content), chat=chat)

    async def _route_retry(
        self, asker: Device, account: Account, to: Jid, participant: AttrValue | None, node: Node
    ) -> None:
        number = asker.jid.device or 0
        attrs: dict[str, AttrValue] = {"id": node.str_attr("id") or "", "t": _now(), "type": "retry"}
        if to.server == GROUP_SERVER:
            if not isinstance(participant, Jid):
                return
            target = self.state.device(participant)
            attrs["from"] = to
            attrs["participant"] = account.device_in_form(number, participant)
        else:
            target = self.state.device(to)
            attrs["from"] = account.device_in_form(number, to)
        recipient = node.attrs.get("recipient")
        if recipient is not None:
            attrs["recipient"] = recipient
        if target is not None:
            await self.deliver(target, Node("receipt", attrs, node.content), chat=to)


def _base_attrs(node: Node) -> dict[str, AttrValue]:
    attrs: dict[str, AttrValue] = {
        "id": node.str_attr("id") or "",
        "t": _now(),
        "type": node.str_attr("type") or "",
    }
    for name in ("category", "edit"):
        value = node.str_attr(name)
        if value:
            attrs[name] = value
    return attrs


def _alt_sender(
    attrs: dict[str, AttrValue], account: Account, form: Jid, prefix: str, *, omit_pn: bool = False
) -> None:
    if form.server == LID_SERVER:
        if not omit_pn:
            attrs[f"{prefix}_pn"] = account.pn
    else:
        attrs[f"{prefix}_lid"] = account.lid
    if account.push_name:
        attrs["notify"] = account.push_name


def _items(node: Node) -> list[str]:
    listed = node.find("list")
    return [item.str_attr("id") or "" for item in listed.children] if listed is not None else []


def _now() -> str:
    return str(int(time.time()))
