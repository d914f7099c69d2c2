"""The fake edge itself: a loopback WebSocket server, its TEST certificate chain, its state and its controls.

    async with FakeEdge() as edge:              # wss://localhost:<port>/ws/chat, TLS only: trust edge.ca_file
                                                # and a TEST Noise root in edge.root_public
        phone = FakePhone(edge, "15551230001")
        ...                                     # point a client at edge.url, trusting edge.root_public
        await phone.scan(qr_text)               # the phone-side ADV crypto; pairing completes or raises
        await edge.wait_for("login", jid=...)   # everything the edge saw is in edge.events
        await edge.stream_error(jid, "503"); await edge.replace(jid); await edge.remove_device(jid)
        await edge.prekey_low(jid, 3); await edge.inject(session, "frame")
        group = edge.create_group("Team", "15551230001", ["15551230002"])   # w:g2 answers it
        edge.phone("15551230001").received       # what reached that account's phone (device 0)
        edge.media.uploads / .downloads / .refused   # the media hosts (media_hosts.py), via media_conn
        await edge.send_history_sync(jid)        # the phone's first message to a new companion (history.py)
        await edge.send_lid_migration(jid, [("155…", "9876…")])   # the phone's LID migration sync
        edge.drop_before_routing.add(msg_id)     # faults: the socket dies around routing that message
        assert edge.violations == []            # what a real client must never send

The relay (relay.py) routes messages and receipts, the directory (directory.py) answers usync, bundle and
group queries; see those modules for the wire shapes.

It also serves WhatsApp Web's service worker script (`https://…/sw.js`, the same TLS port) announcing
`edge.current_version` as `client_revision`, only to requests that look like a browser's (as the real site's
bot filter does); `edge.release(version)` moves it and from then on refuses older clients with
`<failure reason="405" location=…>` right after the Noise handshake, as WhatsApp does.

Only TLS (the certificate comes from tests/fakes/tls.py's per-run CA, so a client must be told to trust
it: `WAGATE_WA_CA_FILE`, `SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`), the Origin header of WhatsApp Web and the
`/ws/chat` path are accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from connector.engines.web.binary.codec import encode
from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import AttrValue, Node
from connector.engines.web.crypto import curve
from connector.engines.web.noise.responder import issue_chain
from connector.engines.web.protos import wa
from connector.engines.web.signal import PreKeyBundle
from connector.engines.web.version import DEFAULT_WA_VERSION
from tests.fakes.tls import local_ca
from tests.fakes.whatsapp_edge.checks import Refused
from tests.fakes.whatsapp_edge.directory import bundle_nodes
from tests.fakes.whatsapp_edge.history import (
    as_message,
    history_blob,
    inline_history,
    lid_migration,
    publish_history,
)
from tests.fakes.whatsapp_edge.limits import DEFAULT_LIMITS, QueryLimits
from tests.fakes.whatsapp_edge.media_hosts import FakeMediaHosts
from tests.fakes.whatsapp_edge.primary import PhoneEndpoint
from tests.fakes.whatsapp_edge.relay import Relay
from tests.fakes.whatsapp_edge.session import EdgeSession
from tests.fakes.whatsapp_edge.state import Account, Device, EdgeState, Group

log = logging.getLogger(__name__)

ORIGIN = "https://web.whatsapp.com"
PATH = "/ws/chat"
SERVICE_WORKER_PATH = "/sw.js"
GARBAGE_KINDS = ("frame", "node", "truncated", "zlib", "bad-jid")


@dataclass(frozen=True)
class EdgeConfig:
    min_version: tuple[int, int, int] = (2, 3000, 0)
    refs: int = 6
    pairing_seconds: float = 160.0  # then stream:error 408 if nobody scanned
    answer_seconds: float = 10.0  # how long the edge waits for a client's answer to its iq
    linger_seconds: float = 2.0  # after a stream error, how long the client gets to close first
    certificate_root: curve.KeyPair | None = None  # sign the chain with another root (an untrusted edge)
    certificate_expired: bool = False
    # WhatsApp sometimes leaves out sender_pn / participant_pn on LID-addressed messages: every Nth one here
    omit_pn_every: int = 4
    new_groups: str = "pn"  # how groups created over w:g2 address their members: "pn" or "lid"
    # per account: (budget, window seconds) per kind of lookup; beyond it 429 rate-overlimit (limits.py)
    query_limits: dict[str, tuple[int, float]] = field(default_factory=lambda: dict(DEFAULT_LIMITS))


@dataclass(frozen=True)
class EdgeKeys:
    root: curve.KeyPair
    static: curve.KeyPair
    chain: bytes

    @classmethod
    def issue(cls, config: EdgeConfig) -> EdgeKeys:
        root, intermediate, static = (curve.KeyPair.generate() for _ in range(3))
        now = int(time.time())
        window = (now - 7200, now - 3600) if config.certificate_expired else (now - 3600, now + 86400)
        chain = issue_chain(
            root=config.certificate_root or root,
            intermediate=intermediate,
            leaf_key=static.public,
            not_before=window[0],
            not_after=window[1],
        )
        return cls(root=root, static=static, chain=chain)


@dataclass(frozen=True)
class EdgeEvent:
    kind: str
    session: EdgeSession | None
    jid: Jid | None = None
    detail: str = ""


@dataclass
class FakeEdge:
    config: EdgeConfig = field(default_factory=EdgeConfig)

    def __post_init__(self) -> None:
        self.keys = EdgeKeys.issue(self.config)
        self.state = EdgeState()
        self.sessions: list[EdgeSession] = []
        self.live: dict[Jid, EdgeSession] = {}
        self.refs: dict[str, EdgeSession] = {}
        self.forced_failures: dict[Jid, tuple[int, dict[str, str]]] = {}
        self.bans: dict[Jid, tuple[float, str]] = {}  # temporary bans: device -> (ends at, code)
        self.events: list[EdgeEvent] = []
        self.watchers: list[Callable[[EdgeEvent], None]] = []  # called as each event is recorded
        self.violations: list[str] = []
        self.refusals: list[str] = []
        self.unhandled: list[str] = []
        self.relay = Relay(self)
        self.media = FakeMediaHosts(self.unhandled.append)  # HTTPS upload/download (media_hosts.py)
        self.phones: dict[str, PhoneEndpoint] = {}
        self.drop_before_routing: set[str] = set()  # message ids: close the sender's socket unrouted
        self.drop_after_routing: set[str] = set()  # message ids: close it after routing, before the ack
        self.ack_after_receipt: set[str] = set()  # message ids: ack only once the recipient's receipt is in
        self.limits = QueryLimits(self.config.query_limits)  # lookups over budget: 429 rate-overlimit
        self.announce_devices = True  # False: a new device is not announced (others' lists go stale)
        self._changed = asyncio.Event()
        self._server: Server | None = None
        self.url = ""
        self.ca_file = local_ca().ca_file
        self.current_version: tuple[int, int, int] = DEFAULT_WA_VERSION  # what sw.js announces
        self.min_version = self.config.min_version  # older ClientPayloads get <failure reason=405>

    @property
    def root_public(self) -> bytes:
        return self.keys.root.public

    @property
    def version_url(self) -> str:
        return self.url.replace("wss://", "https://", 1).removesuffix(PATH) + SERVICE_WORKER_PATH

    def release(self, version: tuple[int, int, int]) -> None:
        """A new WhatsApp Web release: sw.js announces it and every older client is refused (405)."""
        self.current_version = self.min_version = version
        self.log("release", None, detail=".".join(map(str, version)))

    async def __aenter__(self) -> FakeEdge:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check_request,
            compression=None,
            ping_interval=None,
            max_size=32 * 1024 * 1024,
            ssl=local_ca().server_context(),
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"wss://localhost:{port}{PATH}"
        await self.media.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.media.stop()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _handle(self, ws: ServerConnection) -> None:
        session = EdgeSession(self, ws)
        self.sessions.append(session)
        await session.serve()

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == SERVICE_WORKER_PATH:
            return self._service_worker(connection, request)
        if request.path != PATH:
            self.unhandled.append(f"HTTP GET {request.path}")
            return connection.respond(HTTPStatus.NOT_FOUND, f"the edge serves {PATH} only\n")
        if request.headers.get("Origin") != ORIGIN:
            return connection.respond(HTTPStatus.FORBIDDEN, f"Origin must be {ORIGIN}\n")
        return None

    def _service_worker(self, connection: ServerConnection, request: Request) -> Response:
        agent = request.headers.get("User-Agent", "")
        if request.headers.get("sec-fetch-site") != "none" or "Mozilla/5.0" not in agent:
            self.log("version", None, detail=f"refused: not a browser ({agent!r})")
            return connection.respond(HTTPStatus.FORBIDDEN, "not a browser\n")
        self.log("version", None, detail=".".join(map(str, self.current_version)))
        revision = self.current_version[2]
        # The real script embeds its data as escaped JSON inside JavaScript, as here.
        data = f'{{\\"SiteData\\":{{\\"server_revision\\":{revision},\\"client_revision\\":{revision}}}}}'
        response = connection.respond(HTTPStatus.OK, f'self.__swData=JSON.parse(/*BTDS*/"{data}");\n')
        response.headers["Content-Type"] = "application/javascript; charset=utf-8"
        return response

    # ---- what sessions report -----------------------------------------------------------------------

    def log(
        self, kind: str, session: EdgeSession | None, *, jid: Jid | None = None, detail: str = ""
    ) -> None:
        if jid is None and session is not None and session.device is not None:
            jid = session.device.jid
        event = EdgeEvent(kind, session, jid, detail)
        self.events.append(event)
        for watcher in self.watchers:  # a test acting at that very instant (e.g. kill -9 a client)
            watcher(event)
        if kind == "registration" and session is not None:
            self.refs.update(dict.fromkeys(session.refs, session))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def violation(self, session: EdgeSession, text: str) -> None:
        log.warning("fake edge: violation by %s: %s", session.label, text)
        self.violations.append(f"{session.label}: {text}")
        self.log("violation", session, detail=text)

    def refuse(self, session: EdgeSession, refused: Refused) -> None:
        self.refusals.append(f"{session.label}: {refused}")
        self.log("refused", session, detail=str(refused))

    def unhandled_stanza(self, session: EdgeSession, node: Node) -> None:
        self.unhandled.append(f"{session.label}: {node}")
        self.log("unhandled", session, detail=str(node))

    def forget(self, session: EdgeSession) -> None:
        if session.device is not None and self.live.get(session.device.jid) is session:
            del self.live[session.device.jid]
        for ref in session.refs:
            self.refs.pop(ref, None)
        self.log("closed", session)

    def events_of(self, kind: str) -> list[EdgeEvent]:
        return [event for event in self.events if event.kind == kind]

    async def wait_for(
        self, kind: str, *, jid: Jid | None = None, count: int = 1, timeout: float = 15
    ) -> EdgeEvent:
        """The `count`-th event of `kind` (for `jid`), waiting for it if needed. Raises TimeoutError."""

        def found() -> EdgeEvent | None:
            matching = [e for e in self.events if e.kind == kind and (jid is None or e.jid == jid)]
            return matching[count - 1] if len(matching) >= count else None

        async with asyncio.timeout(timeout):
            while (event := found()) is None:
                await self._changed.wait()
        return event

    # ---- controls -----------------------------------------------------------------------------------

    def session_for_ref(self, ref: str) -> EdgeSession:
        session = self.refs.get(ref)
        if session is None:
            raise LookupError(f"no registration is offering ref {ref!r} (expired or never sent)")
        return session

    def provision(self, record: dict[str, Any]) -> None:
        self.state.provision(record)

    def fail_next_login(self, jid: Jid, reason: int, **attrs: str) -> None:
        """The next login of `jid` is refused with `<failure reason=… {attrs}>` (a temporary ban: code,
        expire; a banned account: logout_message_header)."""
        self.forced_failures[jid] = (reason, attrs)

    def temp_ban(self, jid: Jid, seconds: float, code: str = "101") -> None:
        """WhatsApp's temporary ban: until it ends, every login of `jid` is refused with `<failure
        reason=402 code=… expire=…>` (`expire`: whole seconds left, as whatsmeow reads it); after, the
        login is accepted. A live socket is left alone (drop it with `stream_error` to meet the ban)."""
        self.bans[jid] = (time.time() + seconds, code)

    async def stream_error(self, jid: Jid, code: str | None = None, child: Node | None = None) -> None:
        session = self.live[jid]
        attrs = {"code": code} if code is not None else {}
        await session.end_stream(Node("stream:error", attrs, [child] if child is not None else None))

    async def replace(self, jid: Jid) -> None:
        await self.stream_error(jid, child=Node("conflict", {"type": "replaced"}))

    def require_passkey(self, phone: str) -> None:
        """This account links new devices only with its passkey: a scan gets a passkey challenge."""
        self.state.account(phone).passkey = True

    def restrict(self, phone: str) -> None:
        """WhatsApp limits this account's reach: 1:1 messages need the recipient's privacy token (463)."""
        self.state.account(phone).restricted = True

    def phone(self, phone: str) -> PhoneEndpoint:
        """The Signal endpoint of `phone`'s device 0 (the account is created if needed)."""
        endpoint = self.phones.get(phone)
        if endpoint is None:
            endpoint = self.phones[phone] = PhoneEndpoint(self.state.account(phone))
        return endpoint

    def create_group(
        self, subject: str, creator: str, members: list[str], *, addressing_mode: str = "pn"
    ) -> Group:
        """A group of these phones (digits), `creator` first and superadmin."""
        group = self.state.create_group(subject, creator, members, addressing_mode)
        self.log("group", None, detail=f"{group.jid} {addressing_mode}")
        return group

    async def send_history_sync(self, jid: Jid, *, inline: bool = False, sender: str | None = None) -> str:
        """The phone sends its companion `jid` a history sync notification (pkmsg, category peer): the
        blob (history.py) on the media hosts, or inline. `sender`: another account's phone sends it (a
        spoof the companion must ignore)."""
        account = self.state.account_of(jid)
        assert account is not None
        blob = history_blob(self.state, account)
        notification = inline_history(blob) if inline else publish_history(self.media, blob)
        self.log("history-sync", None, jid=jid, detail="inline" if inline else "download")
        return await self._from_phone(jid, as_message(notification), sender)

    async def send_lid_migration(self, jid: Jid, pairs: list[tuple[str, str]]) -> str:
        """The phone tells its companion the LIDs numbers have now ((phone digits, LID user) pairs)."""
        return await self._from_phone(jid, lid_migration(pairs), None)

    async def _from_phone(self, jid: Jid, message: wa.Message, sender: str | None) -> str:
        account, device = self.state.account_of(jid), self.state.device(jid)
        assert account is not None and device is not None
        bundle = _bundle(device)
        stanza = await self.phone(sender or account.phone).encrypt_for(device, bundle, message)
        await self.relay.deliver(device, stanza, chat=account.pn)
        return stanza.str_attr("id") or ""

    async def send_from_phone(self, phone: str, to: str, text: str) -> str:
        """The account's owner types `text` to `to` on the phone: each companion of `phone` gets the
        DeviceSentMessage copy (`from=phone recipient=to`, a pkmsg). The contact's side is not simulated.
        Returns the message id."""
        account = self.state.account(phone)
        endpoint = self.phone(phone)
        destination = self.state.account(to).pn
        copy = wa.Message(deviceSentMessage=wa.Message.DeviceSentMessage(destinationJid=str(destination)))
        copy.deviceSentMessage.message.conversation = text
        message_id = f"3A{phone[-4:]}{os.urandom(8).hex().upper()}"
        for device in account.active_devices():
            if device.primary:
                continue
            stanza = await endpoint.encrypt_for(device, _bundle(device), copy)
            attrs = {**stanza.attrs, "id": message_id, "recipient": destination}
            attrs.pop("category", None)
            await self.relay.deliver(device, Node("message", attrs, stanza.content), chat=destination)
        self.log("phone-sent", None, detail=f"{phone}->{to} {message_id}")
        return message_id

    async def identity_changed(self, phone: str, to: Jid) -> None:
        """`phone` reinstalled WhatsApp: the device `to` is told (`<notification type=encrypt from=phone>
        <identity/></notification>`, as WhatsApp tells everyone who has a session with it)."""
        account = self.state.account(phone)
        await self.live[to].notify("encrypt", [Node("identity", {})], sender=account.pn)
        self.log("identity-change", None, jid=to, detail=phone)

    async def read_on_phone(self, phone: str, chat: Jid, ids: list[str], *, receipts: bool = True) -> None:
        """The owner opens `chat` on the phone and reads `ids`: `read` (or `read-self` when the account
        has read receipts turned off) to the account's companions."""
        account = self.state.account(phone)
        reader = account.devices[0]
        items = [Node("item", {"id": i}) for i in ids[1:]]
        attrs: dict[str, AttrValue] = {"id": ids[0], "t": str(int(time.time()))}
        attrs["type"] = "read" if receipts else "read-self"
        node = Node("receipt", attrs, [Node("list", {}, items)] if items else None)
        await self.relay.own_read(reader, account, chat, node)
        self.log("phone-read", None, detail=f"{phone} {chat} {' '.join(ids)}")

    async def notify_devices(self, account: Account, change: str, device: Device) -> None:
        """Tell every other connected device that `account`'s device list changed (add | remove)."""
        if not self.announce_devices:
            self.log("devices-unannounced", None, jid=device.jid, detail=change)
            return
        entry = Node("device", {"jid": device.jid, "key-index": str(device.key_index)})
        content = [Node(change, {"device_hash": os.urandom(4).hex()}, [entry])]
        for session in list(self.live.values()):
            if session.device is not None and session.device is not device and not session.ending:
                with contextlib.suppress(Exception):  # a socket closing meanwhile: it re-syncs at login
                    await session.notify("devices", content, sender=account.pn)

    async def remove_device(self, jid: Jid) -> None:
        """Unlink the device as the phone does: later logins fail 401, a live socket gets stream error 401."""
        device = self.state.device(jid)
        if device is not None:
            device.removed = True
            self.state.queues.pop(device.jid, None)
            account = self.state.account_of(jid)
            if account is not None:
                await self.notify_devices(account, "remove", device)
        session = self.live.get(jid)
        if session is not None:
            session.spawn(
                session.end_stream(
                    Node("stream:error", {"code": "401"}, [Node("conflict", {"type": "device_removed"})])
                )
            )

    async def ping(self, jid: Jid) -> Node:
        """A server-initiated ping (`urn:xmpp:ping`); returns the client's answer. Raises TimeoutError."""
        session = self.live[jid]
        attrs: dict[str, AttrValue] = {"from": SERVER_JID, "type": "get", "id": session.next_id()}
        attrs["xmlns"] = "urn:xmpp:ping"
        return await session.query(Node("iq", attrs), "ping")

    async def send_routing_info(self, jid: Jid, data: bytes) -> None:
        """Tell the client where to connect next time (it must send this back in its `ED` intro)."""
        routing = Node("edge_routing", {}, [Node("routing_info", {}, data)])
        await self.live[jid].send(Node("ib", {"from": SERVER_JID}, [routing]))

    async def prekey_low(self, jid: Jid, count: int) -> None:
        await self.live[jid].notify("encrypt", [Node("count", {"value": str(count)})])

    async def inject(self, session: EdgeSession, kind: str) -> None:
        """Send something broken: a raw frame that does not decrypt, or a good frame whose content is not a
        well-formed stanza."""
        if kind == "frame":
            await session.send_raw(len(b"x" * 40).to_bytes(3, "big") + os.urandom(40))
        elif kind == "node":
            # A list of 5 whose items are whole tokens, then 3 bytes past its end. Fixed, not random: about 1
            # in 200 random tails decodes to a well-formed stanza, which a client rightly ignores.
            await session.send_encrypted(b"\x00\xf8\x05" + b"\x2b" * 5 + b"\xfa" * 3)
        elif kind == "truncated":
            await session.send_encrypted(b"\x00\xf8\x03\x19")  # a list of 3 that ends after its tag
        elif kind == "zlib":
            await session.send_encrypted(b"\x02" + bytes(range(30)))  # flagged compressed; no zlib header
        elif kind == "bad-jid":  # decodable, but the `lid` is no JID
            await session.send_encrypted(b"\x00" + _success_with_bad_lid())
        else:
            raise ValueError(f"unknown garbage kind {kind!r}; one of {GARBAGE_KINDS}")


def _bundle(device: Device) -> PreKeyBundle:
    nodes = {node.tag: node for node in bundle_nodes(device)}
    skey = {node.tag: node.content_bytes() or b"" for node in nodes["skey"].children}
    key = {node.tag: node.content_bytes() or b"" for node in nodes["key"].children} if "key" in nodes else {}
    return PreKeyBundle(
        registration_id=device.registration_id,
        identity_key=device.identity_public,
        signed_pre_key_id=int.from_bytes(skey["id"], "big"),
        signed_pre_key=skey["value"],
        signed_pre_key_signature=skey["signature"],
        pre_key_id=int.from_bytes(key["id"], "big") if key else None,
        pre_key=key.get("value"),
    )


def _success_with_bad_lid() -> bytes:
    return encode(Node("success", {"t": "1", "lid": "not a jid"}))
