"""One client connection to the fake edge: Noise responder, registration or login, then the stanza loop.

Registration: the checked payload earns a `pair-device` iq with refs (the client must ack it); the phone
(`FakePhone.scan`) then drives `pair()`: pair-success out, pair-device-sign back, checked, the device
stored, `stream:error 515`, and the edge waits for the client to close first. Login: the payload must name
a live device whose noise key is the one that just did the handshake; `<success>` follows, then what
waited in the device's offline queue and `<ib><offline count/></ib>`; an older connection of the same
device is ended with a `replaced` conflict.

Delivered messages, receipts and notifications stay outstanding until the client acks them (a message
also by a receipt); what is still outstanding when the connection ends goes back to the device's queue,
so a stanza is delivered at least once. An ack for something never delivered is a violation.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import os
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from connector.engines.web.binary.codec import BinaryDecodeError
from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import AttrValue, Node
from connector.engines.web.binary.payload import decode_payload, encode_payload
from connector.engines.web.crypto import curve
from connector.engines.web.errors import WebEngineError
from connector.engines.web.noise.responder import ClientAuthenticated, ClientPayloadReceived, NoiseResponder
from connector.engines.web.protos import wa
from tests.fakes.whatsapp_edge import handlers
from tests.fakes.whatsapp_edge.checks import (
    Refused,
    Registration,
    check_iq,
    check_login,
    check_registration,
    parse_client_payload,
)
from tests.fakes.whatsapp_edge.state import Account, Device

if TYPE_CHECKING:
    from tests.fakes.whatsapp_edge.server import FakeEdge

ADV_DEVICE_PREFIX = b"\x06\x01"


class PairingRefused(Exception):
    """The client answered pair-success with an error (code, text), as it must for a bad HMAC/signature."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


class EdgeSession:
    def __init__(self, edge: FakeEdge, ws: ServerConnection) -> None:
        self.edge = edge
        self.ws = ws
        self.responder = NoiseResponder(static=edge.keys.static, certificate_chain=edge.keys.chain)
        self.client_static = b""
        self.registration: Registration | None = None
        self.client_version: tuple[int, int, int] | None = None  # from an accepted ClientPayload
        self.link_code: dict[str, Any] | None = None  # linking by code: what companion_hello sent
        self.link_finished = asyncio.Event()
        self.refs: list[str] = []
        self.device: Device | None = None
        self.paired = False
        self.available = False  # sent <presence type=available>: its delivery receipts may be "active"
        self.ending = False
        self.closed = asyncio.Event()
        self._awaiting: dict[str, asyncio.Future[Node]] = {}
        self._notifications: dict[str, tuple[str, Jid]] = {}  # id -> (type, from), until acked
        self.outstanding: list[Node] = []  # delivered messages and receipts, until acked
        self._delivered: set[tuple[str, str]] = set()  # (tag, id) ever delivered here: what acks may name
        self._send_lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def label(self) -> str:
        return str(self.device.jid) if self.device is not None else f"unpaired {self.client_static[:4].hex()}"

    # ---- lifecycle ----------------------------------------------------------------------------------

    async def serve(self) -> None:
        try:
            payload = await self._handshake()
            if payload is None:
                return
            client_payload = parse_client_payload(payload)
            if client_payload.HasField("username"):
                await self._login(client_payload)
            else:
                await self._register(client_payload)
            await self._read_loop()
        except Refused as refused:
            self.edge.refuse(self, refused)
            with contextlib.suppress(ConnectionClosed, WebEngineError):
                attrs = {"reason": str(refused.reason), "location": "fake", **refused.attrs}
                await self.send(Node("failure", attrs))
            await self.ws.close()
        except (ConnectionClosed, WebEngineError) as exc:
            self.edge.log("closed", self, detail=f"{type(exc).__name__}: {exc}")
        finally:
            for task in self._tasks:
                task.cancel()
            if self.device is not None and self.outstanding:
                waiting = self.edge.state.queues.setdefault(self.device.jid, [])
                waiting[:0] = self.outstanding  # first in line at the next login, in their order
                self.outstanding = []
            self.closed.set()
            self.edge.forget(self)

    async def _handshake(self) -> bytes | None:
        async for message in self.ws:
            if isinstance(message, str):
                raise Refused(400, "text WebSocket message during the handshake")
            for event in self.responder.receive_data(message):
                if isinstance(event, ClientAuthenticated):
                    self.client_static = event.client_static
                    return event.client_payload
            if outgoing := self.responder.data_to_send():
                await self.ws.send(outgoing)
        return None

    async def _read_loop(self) -> None:
        async for message in self.ws:
            if isinstance(message, str):
                raise Refused(400, "text WebSocket message")
            for event in self.responder.receive_data(message):
                if not isinstance(event, ClientPayloadReceived):
                    continue
                try:
                    node = decode_payload(event.payload)
                except BinaryDecodeError as exc:
                    self.edge.violation(self, f"undecodable stanza: {exc}")
                    await self.ws.close()
                    return
                await self.on_stanza(node)

    async def send(self, node: Node) -> None:
        async with self._send_lock:
            await self.ws.send(self.responder.send(encode_payload(node)))

    async def send_raw(self, data: bytes) -> None:
        """Bytes straight onto the socket (fault injection: they bypass the Noise transport)."""
        async with self._send_lock:
            await self.ws.send(data)

    async def send_encrypted(self, payload: bytes) -> None:
        """An arbitrary frame payload, encrypted properly (fault injection: garbage inside a good frame)."""
        async with self._send_lock:
            await self.ws.send(self.responder.send(payload))

    async def end_stream(self, node: Node) -> None:
        """Send a stream-ending stanza, let the client close first (bounded), then close."""
        self.ending = True
        with contextlib.suppress(ConnectionClosed):
            await self.send(node)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ws.wait_closed(), self.edge.config.linger_seconds)
        await self.ws.close()

    async def deliver(self, node: Node) -> bool:
        """Send a message or receipt that the client must ack; False when the socket is gone."""
        if self.ending:
            return False
        self.outstanding.append(node)
        self._delivered.add((node.tag, node.str_attr("id") or ""))
        try:
            await self.send(node)
        except (ConnectionClosed, WebEngineError):
            if node not in self.outstanding:
                return True  # the connection's end already put it back in the device's queue
            self.outstanding.remove(node)
            return False
        return True

    def settle(self, tag: str, ids: list[str]) -> None:
        """The client handled these stanzas (an ack, or a receipt for messages)."""
        self.outstanding = [
            node for node in self.outstanding if not (node.tag == tag and (node.str_attr("id") or "") in ids)
        ]

    def next_id(self) -> str:
        return f"edge-{next(self._ids)}"

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def expect_answer(self, iq_id: str) -> asyncio.Future[Node]:
        """Register an edge-initiated iq, so the client's answer to it is not taken for a violation."""
        future: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self._awaiting[iq_id] = future
        return future

    async def query(self, node: Node, what: str) -> Node:
        """Send an edge-initiated iq and wait for the client's answer (bounded)."""
        iq_id = str(node.attrs["id"])
        future = self.expect_answer(iq_id)
        await self.send(node)
        try:
            return await asyncio.wait_for(future, self.edge.config.answer_seconds)
        except TimeoutError:
            self.edge.violation(self, f"no answer to {what} within {self.edge.config.answer_seconds} s")
            raise
        finally:
            self._awaiting.pop(iq_id, None)

    # ---- registration and pairing -------------------------------------------------------------------

    async def _register(self, payload: wa.ClientPayload) -> None:
        self.registration = check_registration(payload, self.edge.min_version)
        self.client_version = self.registration.version
        self.refs = [f"2@{base64.b64encode(os.urandom(36)).decode()}" for _ in range(self.edge.config.refs)]
        self.edge.log("registration", self)
        refs = [Node("ref", {}, ref.encode()) for ref in self.refs]
        attrs: dict[str, AttrValue] = {
            "from": SERVER_JID,
            "type": "set",
            "id": self.next_id(),
            "xmlns": "md",
            "t": _now(),
        }
        self.spawn(self._offer_refs(Node("iq", attrs, [Node("pair-device", {}, refs)])))

    async def _offer_refs(self, pair_device: Node) -> None:
        try:
            answer = await self.query(pair_device, "pair-device")
        except TimeoutError:
            await self.ws.close()
            return
        if answer.str_attr("type") != "result" or answer.content is not None:
            self.edge.violation(self, f"pair-device must be acked with an empty result, got {answer}")
        self.edge.log("pair-device", self)
        await asyncio.sleep(self.edge.config.pairing_seconds)
        if not self.paired and not self.ending:
            await self.end_stream(Node("stream:error", {"code": "408"}))

    def link_code_step(self, reg: Node) -> list[Node]:
        """companion_hello (remember the wrapped key, answer a ref) or companion_finish (keep the bundle for
        the phone). Raises Refused for anything a real client would not send."""
        if self.registration is None or self.paired:
            raise Refused(400, "link_code_companion_reg outside a registration")
        stage, jid = reg.str_attr("stage"), reg.attrs.get("jid")
        if not isinstance(jid, Jid) or jid.server != "s.whatsapp.net" or jid.device is not None:
            raise Refused(400, f"link_code_companion_reg needs the phone's user JID: {reg}")
        parts = {child.tag: child.content_bytes() or b"" for child in reg.children}
        if stage == "companion_hello":
            expected = {
                "link_code_pairing_wrapped_companion_ephemeral_pub",
                "companion_server_auth_key_pub",
                "companion_platform_id",
                "companion_platform_display",
                "link_code_pairing_nonce",
            }
            if set(parts) != expected or reg.str_attr("should_show_push_notification") != "true":
                raise Refused(400, f"companion_hello carries {sorted(parts)}")
            if parts["companion_server_auth_key_pub"] != self.client_static:
                raise Refused(400, "companion_hello names a noise key that is not this connection's")
            if len(parts["link_code_pairing_wrapped_companion_ephemeral_pub"]) != 80:
                raise Refused(400, "the wrapped companion key is salt(32) + iv(16) + key(32)")
            ref = base64.b64encode(os.urandom(24))
            self.link_code = {"phone": jid.user, "ref": ref, **parts}
            self.edge.refs[ref.decode()] = self
            self.edge.log("link-code", self, detail=jid.user)
            return [Node("link_code_companion_reg", {}, [Node("link_code_pairing_ref", {}, ref)])]
        if stage == "companion_finish":
            if self.link_code is None or parts.get("link_code_pairing_ref") != self.link_code["ref"]:
                raise Refused(400, "companion_finish without a matching companion_hello ref")
            if parts.get("companion_identity_public") != self.registration.identity_public:
                raise Refused(400, "companion_finish names another identity key than the registration's")
            self.link_code["bundle"] = parts.get("link_code_pairing_wrapped_key_bundle", b"")
            self.link_finished.set()
            return []
        raise Refused(400, f"unknown link_code_companion_reg stage {stage!r}")

    async def request_passkey(self) -> None:
        """The account's passkey gate: instead of pair-success, a WebAuthn challenge for the companion
        (whatsmeow pair-passkey.go: a `passkey_prologue_request` notification from the server)."""
        options = {
            "challenge": base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode(),
            "rpId": "whatsapp.com",
            "timeout": 300000,
            "userVerification": "required",
            "allowCredentials": [],
        }
        content = [Node("passkey_request_options", {}, json.dumps(options).encode())]
        await self.notify("passkey_prologue_request", content)
        self.edge.log("passkey-request", self)

    async def pair(
        self, account: Account, device: int, container: bytes, signed: wa.ADVSignedDeviceIdentity
    ) -> None:
        """Deliver a phone's scan: pair-success out, pair-device-sign checked, device stored, 515.

        Raises PairingRefused when the client refuses (it must, for a bad HMAC or signature).
        """
        registration = self.registration
        assert registration is not None
        details = wa.ADVDeviceIdentity()
        details.ParseFromString(signed.details)
        jid, lid = account.device_jid(device), account.device_lid(device)
        success = Node(
            "pair-success",
            {},
            [
                Node("device-identity", {}, container),
                Node("platform", {"name": "android"}),
                Node("device", {"jid": jid, "lid": lid}),
            ],
        )
        attrs: dict[str, AttrValue] = {
            "from": SERVER_JID,
            "type": "set",
            "id": self.next_id(),
            "xmlns": "md",
            "t": _now(),
        }
        answer = await self.query(Node("iq", attrs, [success]), "pair-success")
        if answer.str_attr("type") == "error":
            error = answer.find("error")
            code = error.str_attr("code") if error is not None else None
            text = error.str_attr("text") if error is not None else None
            self.edge.log("pair-refused", self, detail=f"{code} {text}")
            raise PairingRefused(code or "", text or "")
        sign = answer.find("pair-device-sign")
        identity_node = sign.find("device-identity") if sign is not None else None
        raw = identity_node.content_bytes() if identity_node is not None else None
        if identity_node is None or raw is None:
            raise self._bad_pairing(f"pair-success answer lacks pair-device-sign/device-identity: {answer}")
        if identity_node.str_attr("key-index") != str(details.keyIndex):
            raise self._bad_pairing(
                f"key-index {identity_node.str_attr('key-index')}, expected {details.keyIndex}"
            )
        returned = wa.ADVSignedDeviceIdentity()
        returned.ParseFromString(raw)
        if returned.HasField("accountSignatureKey"):
            raise self._bad_pairing("pair-device-sign must not echo the account signature key")
        if returned.details != signed.details or returned.accountSignature != signed.accountSignature:
            raise self._bad_pairing("pair-device-sign changed the details or the account signature")
        message = ADV_DEVICE_PREFIX + signed.details + registration.identity_public + account.identity.public
        if not curve.verify(registration.identity_public, message, returned.deviceSignature):
            raise self._bad_pairing("the device signature does not verify with the registered identity key")
        stored = Device(
            jid=jid,
            lid=lid,
            noise_public=self.client_static,
            identity_public=registration.identity_public,
            registration_id=registration.registration_id,
            signed_pre_key=registration.signed_pre_key,
            key_index=details.keyIndex,
            paired_at=int(time.time()),
        )
        self.edge.state.add_device(account, stored)
        self.paired = True
        self.edge.log("paired", self, jid=jid)
        await self.edge.notify_devices(account, "add", stored)
        await self.end_stream(Node("stream:error", {"code": "515"}))

    def _bad_pairing(self, text: str) -> Refused:
        self.edge.violation(self, text)
        self.spawn(self.ws.close())
        return Refused(400, text)

    # ---- login --------------------------------------------------------------------------------------

    async def _login(self, payload: wa.ClientPayload) -> None:
        login = check_login(payload, self.edge.min_version)
        self.client_version = login.version
        forced = self.edge.forced_failures.pop(login.jid, None)
        if forced is not None:
            raise Refused(forced[0], "failure on demand", forced[1])
        ban = self.edge.bans.get(login.jid)
        if ban is not None:
            left = ban[0] - time.time()
            if left > 0:
                self.edge.log("temp-ban", self, jid=login.jid, detail=f"{left:.1f}")
                raise Refused(402, "temporarily banned", {"code": ban[1], "expire": str(math.ceil(left))})
            del self.edge.bans[login.jid]
        device = self.edge.state.device(login.jid)
        if device is None or device.removed:
            raise Refused(401, f"{login.jid} is not a linked device")
        if device.noise_public != self.client_static:
            raise Refused(401, f"{login.jid} logged in with a noise key it was not paired with")
        previous = self.edge.live.get(device.jid)
        self.device = device
        self.edge.live[device.jid] = self
        if previous is not None and previous is not self:
            self.spawn(
                previous.end_stream(Node("stream:error", {}, [Node("conflict", {"type": "replaced"})]))
            )
        attrs: dict[str, AttrValue] = {
            "t": _now(),
            "props": "1",
            "location": "fake",
            "creation": str(device.paired_at),
            "lid": device.lid,
        }
        await self.send(Node("success", attrs))
        waiting = len(self.edge.state.queues.get(device.jid, []))
        if waiting:
            preview = Node("offline_preview", {"count": str(waiting), "message": str(waiting)})
            await self.send(Node("ib", {"from": SERVER_JID}, [preview]))
        count = await self.edge.relay.flush_offline(self)
        await self.send(Node("ib", {"from": SERVER_JID}, [Node("offline", {"count": str(count)})]))
        routing = self.responder.routing_info
        self.edge.log("login", self, jid=device.jid, detail=f"routing {routing.hex()}" if routing else "")

    # ---- stanzas ------------------------------------------------------------------------------------

    async def on_stanza(self, node: Node) -> None:
        if node.tag == "iq":
            await self._on_iq(node)
        elif node.tag == "ack":
            self._on_ack(node)
        elif self.device is None and node.tag in ("message", "receipt"):
            self.edge.violation(self, f"<{node.tag}> before login: {node}")
        elif node.tag == "message":
            await self.edge.relay.on_message(self, node)
        elif node.tag == "receipt":
            await self.edge.relay.on_receipt(self, node)
        elif node.tag == "chatstate" and not _chatstate_ok(node):
            self.edge.violation(self, f"a chatstate names a chat and holds <composing/> or <paused/>: {node}")
        elif node.tag in ("ib", "presence", "chatstate"):
            if node.tag == "presence" and node.str_attr("type") in ("available", "unavailable"):
                self.available = node.str_attr("type") == "available"
            self.edge.log(node.tag, self, detail=str(node))
        else:
            self.edge.unhandled_stanza(self, node)

    async def _on_iq(self, node: Node) -> None:
        iq_id = node.str_attr("id") or ""
        try:
            kind = check_iq(node)
        except Refused as refused:
            self.edge.violation(self, refused.text)
            if iq_id:
                await self.send(handlers.error(iq_id, 400, "bad-request"))
            return
        if kind in ("result", "error"):
            future = self._awaiting.get(iq_id)
            if future is None or future.done():
                self.edge.violation(self, f"answer to an iq the edge did not send: {node}")
            else:
                future.set_result(node)
            return
        await handlers.answer(self, node)

    def _on_ack(self, node: Node) -> None:
        ack_id, ack_class = node.str_attr("id") or "", node.str_attr("class")
        if ack_class in ("message", "receipt"):
            if (ack_class, ack_id) not in self._delivered or not isinstance(node.attrs.get("to"), Jid):
                self.edge.violation(self, f"ack for nothing the edge delivered, or malformed: {node}")
                return
            self.settle(ack_class, [ack_id])
            self.edge.log("ack", self, detail=f"{ack_class} {ack_id}")
            return
        pending = self._notifications.pop(ack_id, None)
        if pending is None or ack_class != "notification" or node.attrs.get("to") != pending[1]:
            self.edge.violation(self, f"ack for nothing the edge sent, or malformed: {node}")
            return
        kind = pending[0]
        self.settle("notification", [ack_id])  # one queued while the device was away is done with
        if node.str_attr("type") != kind:
            self.edge.violation(self, f"ack of a {kind} notification says type {node.str_attr('type')}")
        self.edge.log("ack", self, detail=kind)

    def expect_ack(self, notification: Node) -> None:
        """A notification queued while the device was away, about to be delivered: it must be acked."""
        sender = notification.attrs.get("from")
        assert isinstance(sender, Jid)
        self._notifications[notification.str_attr("id") or ""] = (notification.str_attr("type") or "", sender)

    async def notify(
        self,
        kind: str,
        content: list[Node],
        *,
        sender: Jid = SERVER_JID,
        extra: dict[str, AttrValue] | None = None,
    ) -> str:
        notification_id = self.next_id()
        self._notifications[notification_id] = (kind, sender)
        attrs: dict[str, AttrValue] = {"from": sender, "type": kind, "id": notification_id, "t": _now()}
        attrs.update(extra or {})
        await self.send(Node("notification", attrs, content))
        return notification_id


def _now() -> str:
    return str(int(time.time()))


def _chatstate_ok(node: Node) -> bool:
    """`<chatstate to=JID><composing [media=audio]/> | <paused/></chatstate>`, as the server takes it."""
    if not isinstance(node.attrs.get("to"), Jid) or len(node.children) != 1:
        return False
    state = node.children[0]
    if state.tag == "paused":
        return not state.attrs
    return state.tag == "composing" and state.attrs in ({}, {"media": "audio"})
