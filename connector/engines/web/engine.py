"""The `web` engine: one WhatsApp Web multi-device connection per `run()` (register by QR or log in).

    run()  load or create credentials ─► ClientPayload (registration | login) ─► Noise over WebSocket
           ─► read loop: pair-device → QR codes │ pair-success → sign, save, Paired │ 515 → Exit(restart)
                         success → prekeys, passive active → Connected │ failure / stream:error → Exit
           ─► Exit (the supervisor decides what happens next; see base.py)

The read loop never awaits a query (answers arrive through it); work that queries the edge (prekeys,
logout, keepalive, retries) runs in background tasks owned by the engine, and sends run in the caller's
task. Messages, receipts and their notifications go to `Messaging` (messaging.py), built per connection.
The first decision to end wins: a task that decides closes the socket, and the read loop returns that
decision. An engine error ends only this connection; anything else (a KeyStore refusing a write: the
lease is lost) is re-raised from run().
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from connector.engines.base import (
    Engine,
    GroupOp,
    GroupOpResult,
    MessageRef,
    OutgoingMedia,
    SendResult,
    SessionInfo,
    jid_phone,
    provider_message_id,
)
from connector.engines.errors import EngineError, NotConnected, Unsupported
from connector.engines.events import Connected, Emit, GroupInfo, MediaRef, NumberStatus
from connector.engines.exits import Exit, ExitReason, Retry
from connector.engines.keys import KeyStore
from connector.engines.web.attachments import attachment_message
from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.connection import Connection, iq
from connector.engines.web.content import MediaFetch
from connector.engines.web.creds import Credentials, CredentialStore, Me
from connector.engines.web.errors import (
    CertificateError,
    ConnectionLost,
    CredentialsError,
    FrameError,
    HandshakeError,
    IqError,
    IqTimeout,
    ProtocolError,
    WebEngineError,
)
from connector.engines.web.linking import Linking
from connector.engines.web.media import MediaHosts
from connector.engines.web.messaging import Messaging
from connector.engines.web.noise import NoiseClient, NoiseSocket
from connector.engines.web.payloads import ClientProfile, login_payload, registration_payload
from connector.engines.web.prekeys import PreKeyPolicy, PreKeys
from connector.engines.web.settings import WebSettings
from connector.engines.web.stream_end import exit_for_failure, exit_for_stream_error, is_client_outdated
from connector.engines.web.throttle import Throttle
from connector.engines.web.version import DEFAULT_WA_VERSION, VersionSource, format_version
from connector.tasks import BackgroundTasks

log = logging.getLogger(__name__)


class WebEngine(Engine):
    def __init__(
        self,
        session: SessionInfo,
        keys: KeyStore,
        emit: Emit,
        *,
        settings: WebSettings,
        clock: Callable[[], float] = time.time,
        ssl_context: ssl.SSLContext | None = None,
        versions: VersionSource | None = None,
    ) -> None:
        super().__init__(session, keys, emit)
        self._settings = settings
        self._versions = versions or settings.version_source()
        self._profile = ClientProfile.from_settings(settings, DEFAULT_WA_VERSION)  # run() sets the version
        self._clock = clock
        self._ssl_context = ssl_context
        self._tasks = BackgroundTasks(f"web {session.label}")
        self._stopping = asyncio.Event()
        self._store: CredentialStore | None = None
        self._conn: Connection | None = None
        self._prekeys: PreKeys | None = None
        self._messaging: Messaging | None = None
        self._media: MediaHosts | None = None
        self._linking_: Linking | None = None
        self._exit: Exit | None = None
        self._crash: BaseException | None = None
        self._login_started = False
        self._logged_in = False

    @property
    def connected(self) -> bool:
        return self._logged_in and self._conn is not None and not self._conn.closed

    # ---- lifecycle ----------------------------------------------------------------------------------

    async def run(self) -> Exit:
        if self._exit is not None:
            return self._exit  # stop() or logout() came first
        try:
            self._store, _ = await CredentialStore.open(self.keys, self._clock())
        except CredentialsError as exc:
            return Exit.logged_out_(f"{exc.message}; pair the device again")
        creds = self._store.current
        payload = login_payload if creds.paired else registration_payload
        self._profile = replace(self._profile, version=await self._versions.current())
        client = NoiseClient(
            noise_key=creds.noise_key,
            client_payload=payload(creds, self._profile),
            trust=self._settings.trust(self._clock),
            routing_info=creds.routing_info,
        )
        outcome = await self._connect(client)
        if isinstance(outcome, Exit):
            return outcome
        throttle = Throttle(
            self.emit,
            self._spawn,
            self._clock,
            label=self.session.label,
            hold_seconds=self._settings.rate_limit_hold_seconds,
            max_hold_seconds=self._settings.rate_limit_max_hold_seconds,
            quiet_seconds=self._settings.rate_limit_quiet_seconds,
        )
        conn = self._conn = Connection(
            outcome, iq_timeout=self._settings.iq_timeout_seconds, throttle=throttle
        )
        self._media = self._settings.media_hosts(conn.query, self._ssl_context)
        policy = PreKeyPolicy.from_settings(self._settings)
        self._prekeys = PreKeys(self.keys, self._store, conn.query, policy, self._clock)
        self._messaging = Messaging(
            conn,
            self.keys,
            self._store,
            self._prekeys,
            self.emit,
            self._spawn,
            settings=self._settings,
            clock=self._clock,
            media=self.media_hosts_now,
        )
        try:
            result = await self._serve(conn)
        finally:
            self._logged_in = False
            conn.abort(ConnectionLost("the connection ended"))
            await self._tasks.cancel_all()
            await conn.close()
            if self._messaging is not None and self._crash is None:
                try:
                    await self._messaging.closed()
                except Exception as exc:  # tidying only (the lease may be gone): the entries just stay
                    log.info("%s: inbox buffer not tidied: %r", self.session.label, exc)
        if self._crash is not None:
            raise self._crash
        return result

    async def stop(self) -> None:
        self._stopping.set()
        await self._end(Exit.stopped())

    async def logout(self) -> None:
        conn, store = self._conn, self._store
        if conn is not None and store is not None and store.current.me is not None and self._logged_in:
            remove = Node(
                "remove-companion-device", {"jid": store.current.me.jid, "reason": "user_initiated"}
            )
            try:
                await conn.query(iq("set", "md", [remove]))
            except WebEngineError as exc:  # unlink locally anyway; the phone shows the device until it fails
                log.warning("%s: the edge did not confirm the logout: %s", self.session.label, exc)
        self._stopping.set()
        await self._end(Exit.logged_out_("logged out on request"))

    async def _connect(self, client: NoiseClient) -> NoiseSocket | Exit:
        connecting = asyncio.ensure_future(
            NoiseSocket.connect(
                client,
                self._settings.socket_config(),
                keepalive=self._keepalive,
                ssl_context=self._ssl_context,
            )
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not connecting.done():
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            return self._exit or Exit.stopped()
        try:
            socket = connecting.result()
        except CertificateError as exc:
            return Exit.failed(f"the edge's certificate chain is not trusted: {exc.message}")
        except (ConnectionLost, FrameError, HandshakeError) as exc:
            return Exit.lost(exc.message)
        except WebEngineError as exc:  # a URL websockets refuses: configuration
            return Exit.failed(exc.message)
        if self._exit is not None:  # stop() while the handshake finished
            await socket.close()
            return self._exit
        return socket

    async def _serve(self, conn: Connection) -> Exit:
        while self._exit is None:
            try:
                node = await conn.receive()
            except ConnectionLost as exc:  # after our own close() too: then a decision is already made
                self._decide(Exit.lost(exc.message))
                break
            except FrameError as exc:  # a garbled frame or bytes that are no node: this stream is done
                self._decide(Exit.lost(f"the edge sent an unreadable frame: {exc.message}"))
                break
            try:
                decision = await self._dispatch(conn, node)
            except ProtocolError as exc:
                decision = Exit.lost(f"the edge broke the protocol: {exc.message} in <{node.tag}>")
            except WebEngineError as exc:  # the socket went away while we answered
                decision = Exit.lost(exc.message)
            if decision is not None:
                self._decide(decision)
        return self._exit or Exit.lost("the connection ended")  # always decided by now; for the type

    def _decide(self, outcome: Exit) -> None:
        if self._exit is None:
            self._exit = outcome
            log.info("%s: ending: %s (%s)", self.session.label, outcome.reason.value, outcome.detail)

    async def _end(self, outcome: Exit) -> None:
        self._decide(outcome)
        if self._conn is not None:
            await self._conn.close()

    def _spawn(self, work: Awaitable[None], what: str) -> asyncio.Task[None]:
        task = self._tasks.spawn(self._guarded(work, what), name=f"{what} {self.session.label}")
        if inspect.iscoroutine(work):  # cancelled before it ran (the connection ended): closed, not leaked
            task.add_done_callback(
                lambda _: work.close() if inspect.getcoroutinestate(work) == "CORO_CREATED" else None
            )
        return task

    async def _guarded(self, work: Awaitable[None], what: str) -> None:
        try:
            await work
        except WebEngineError as exc:
            await self._end(Exit.lost(f"{what}: {exc.message}"))
        except Exception as exc:  # not ours to judge (a lost lease, a bug): run() re-raises it
            self._crash = self._crash or exc
            await self._end(Exit(ExitReason.CRASHED, Retry.BACKOFF, detail=f"{what}: {exc!r}"))

    # ---- stanzas ------------------------------------------------------------------------------------

    async def _dispatch(self, conn: Connection, node: Node) -> Exit | None:
        """What one stanza does; an Exit ends the connection. Raises ProtocolError, ConnectionLost."""
        creds = self._creds
        if node.tag == "iq":
            return await self._on_iq(conn, node)
        if node.tag == "success":
            await self._on_success(node)
        elif node.tag == "failure":
            return self._on_failure(node)
        elif node.tag == "stream:error":
            return exit_for_stream_error(node, pairing=not creds.paired)
        elif node.tag == "xmlstreamend":
            return Exit.lost("the edge ended the stream")
        elif node.tag == "notification":
            await self._on_notification(conn, node)
            if node.str_attr("type") == PASSKEY_PROLOGUE_REQUEST and not creds.paired:
                return _passkey_required(node)
        elif node.tag == "ib":
            await self._on_ib(node)
        elif node.tag in ("message", "receipt", "call") and creds.paired and self._messaging is not None:
            await self._messaging.on_stanza(node)
        return None  # presence, chatstate, acks of what we sent: nothing to do

    def _on_failure(self, node: Node) -> Exit:
        outcome = exit_for_failure(node)
        if is_client_outdated(node):
            # WhatsApp Web moved on: fetch its current version and come back at once, as a new client would.
            claimed = self._profile.version
            self._versions.refused(claimed)
            detail = (
                f"WhatsApp refused version {format_version(claimed)} (405); reconnecting with the current one"
            )
            return Exit(ExitReason.VERSION_REFUSED, Retry.NOW, detail=detail)
        return outcome

    async def _on_iq(self, conn: Connection, node: Node) -> Exit | None:
        kind = node.str_attr("type")
        if kind in ("result", "error") or _jid(node, "from") != SERVER_JID:
            return None  # a late answer, or not from WhatsApp itself
        iq_id = node.str_attr("id")
        if kind == "get" and node.str_attr("xmlns") == "urn:xmpp:ping" and iq_id:
            await conn.send(Node("iq", {"to": SERVER_JID, "type": "result", "id": iq_id}))
            return None
        first = node.children[0].tag if node.children else None
        if kind == "set" and first == "pair-device":
            await self._linking.on_pair_device(conn, node)
        elif kind == "set" and first == "pair-success":
            return await self._linking.on_pair_success(conn, node)
        return None

    async def _on_success(self, node: Node) -> None:
        if self._login_started:
            raise ProtocolError("a second <success> on one connection")
        self._login_started = True
        me = _me(self._creds)
        lid = _jid(node, "lid")
        if lid is not None and lid != me.lid:
            me = Me(jid=me.jid, lid=lid, name=me.name)
            await self._store_ready.update(me=me)
        if self._messaging is not None:
            await self._messaging.logged_in(me)
        self._spawn(self._after_login(), "login")

    async def _after_login(self) -> None:
        conn, prekeys = self._conn, self._prekeys
        assert conn is not None and prekeys is not None
        try:
            await prekeys.after_login()
        except IqError as exc:  # keep the connection: the next login or low-count notice retries
            log.warning("%s: prekey upload refused: %s", self.session.label, exc)
        try:
            await conn.query(iq("set", "passive", [Node("active")]))
        except IqError as exc:
            log.warning("%s: the edge refused passive=active: %s", self.session.label, exc)
        self._logged_in = True
        me = _me(self._creds)
        await self.emit(Connected(jid_phone(str(me.jid)) or "", str(me.jid.to_account()), me.name))

    async def _on_notification(self, conn: Connection, node: Node) -> None:
        iq_id, sender, kind = node.str_attr("id"), node.attrs.get("from"), node.str_attr("type")
        if self._messaging is not None and self._creds.paired and sender != SERVER_JID:
            # Its effect (a token, a dropped session, a forgotten device list) is stored first, then
            # acked: a crash in between means a redelivery, not a lost token.
            await self._messaging.on_notification(node)
        if iq_id and sender is not None:
            ack = {"id": iq_id, "to": sender, "class": "notification"}
            await conn.send(Node("ack", ack | ({"type": kind} if kind else {})))
        if kind == "link_code_companion_reg" and not self._creds.paired:
            self._spawn(self._linking.on_code_entered(conn, node), "pairing code")
        elif kind == "encrypt" and sender == SERVER_JID and node.find("count") is not None:
            prekeys = self._prekeys
            assert prekeys is not None
            self._spawn(prekeys.on_low_notification(node), "prekey top-up")

    async def _on_ib(self, node: Node) -> None:
        if node.find("offline_preview") is not None and self._conn is not None:
            # WhatsApp announces what waited while we were away; asking for a batch lets it flow in.
            await self._conn.send(Node("ib", {}, [Node("offline_batch", {"count": "100"})]))
        routing = node.find("edge_routing")
        info = routing.find("routing_info") if routing is not None else None
        data = info.content_bytes() if info is not None else None
        if data:
            await self._store_ready.update(routing_info=data)

    async def _keepalive(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            await conn.query(iq("get", "w:p", [Node("ping")]), timeout=self._settings.keepalive_grace_seconds)
        except (IqTimeout, IqError) as exc:  # the socket's silence check decides whether the link is dead
            log.info("%s: keepalive ping unanswered: %s", self.session.label, exc)

    # ---- messaging (messaging.py) -------------------------------------------------------------------

    async def send_text(
        self, to: str, text: str, message_id: str, *, quoted_id: str | None = None
    ) -> SendResult:
        """Raises NotConnected, SendRejected, ValueError (not a number or JID); transient WebEngineErrors
        (a lost connection, no ack in time) leave the message to be sent again with the same id."""
        pid = provider_message_id(message_id)
        return await self._ready().send_text(to, text, pid, quoted_id)

    async def send_media(
        self, to: str, media: OutgoingMedia, message_id: str, *, quoted_id: str | None = None
    ) -> SendResult:
        """Uploads the file (attachments.py) and sends it. Raises NotConnected, SendRejected, ValueError,
        and the media hosts' errors (MediaTransferError is transient: the send is tried again)."""
        messaging = self._ready()
        if media.path is None and media.data is None:
            raise Unsupported(
                "the web engine sends stored files (media.upload_id); media by URL is not fetched here",
                code="media_url_not_supported",
            )
        message = await attachment_message(self.media_hosts(), media)
        return await messaging.send_attachment(to, message, provider_message_id(message_id), quoted_id)

    async def download_media(self, media: MediaRef, path: Path, *, max_bytes: int) -> int:
        """Download, decrypt and verify (MAC, fileEncSha256, fileSha256) into `path` (media/hosts.py).
        Raises NotConnected, MediaRefused (gone), MediaTransferError, MediaIntegrityError, ValueError."""
        fetch = media.fetch
        if not isinstance(fetch, MediaFetch):
            raise ValueError("this attachment has nothing the web engine can download")
        return await self.media_hosts().download_to_path(fetch.ref, fetch.kind, path, max_bytes=max_bytes)

    async def send_content(
        self,
        to: str,
        content: Mapping[str, Any],
        message_id: str,
        *,
        target: MessageRef | None = None,
        quoted: MessageRef | None = None,
    ) -> SendResult:
        """Raises NotConnected, SendRejected, ValueError (a kind or target this engine cannot send)."""
        pid = provider_message_id(message_id)
        return await self._ready().send_content(to, content, pid, target, quoted)

    async def send_presence(self, to: str | None, state: str) -> None:
        await self._ready().send_presence(to, state)

    async def send_typing(self, to: str, typing: bool) -> None:
        await self._ready().send_presence(to, "composing" if typing else "paused")

    async def mark_read(self, chat_jid: str, message_ids: Sequence[str]) -> None:
        await self._ready().mark_read(chat_jid, message_ids)

    async def list_groups(self) -> list[GroupInfo]:
        return await self._ready().list_groups()

    async def check_numbers(self, phones: Sequence[str]) -> list[NumberStatus]:
        """A usync contact query (number_check.py). Raises NotConnected, and what a query raises."""
        return await self._ready().check_numbers(phones)

    async def manage_group(self, op: GroupOp, operation_id: str) -> GroupOpResult:
        """Raises NotConnected, GroupRefused, ValueError; transient WebEngineErrors (timeouts, a lost
        connection) as a send does."""
        return await self._ready().manage_group(op, operation_id)

    def media_hosts_now(self) -> MediaHosts:
        """This connection's media client, logged in or not yet. Raises NotConnected."""
        if self._media is None:
            raise NotConnected(
                f"the web session {self.session.label} has no connection", code="not_connected"
            )
        return self._media

    def media_hosts(self) -> MediaHosts:
        """Upload to and download from WhatsApp's media hosts over this connection (media/__init__.py).
        Raises NotConnected."""
        if not self.connected or self._media is None:
            raise NotConnected(f"the web session {self.session.label} is not connected", code="not_connected")
        return self._media

    def _ready(self) -> Messaging:
        if not self.connected or self._messaging is None:
            raise NotConnected(f"the web session {self.session.label} is not connected", code="not_connected")
        return self._messaging

    # ---- small helpers ------------------------------------------------------------------------------

    @property
    def _store_ready(self) -> CredentialStore:
        if self._store is None:
            raise EngineError("credentials are not loaded")  # unreachable: run() loads them first
        return self._store

    @property
    def _linking(self) -> Linking:
        if self._linking_ is None:
            client_type = self._profile.qr_client_type
            phone = jid_phone_digits(self.session.phone) if self.session.link_by_code else None
            self._linking_ = Linking(
                self._store_ready,
                self._settings,
                client_type,
                self.emit,
                self._spawn,
                self._end,
                self._clock,
                link_phone=phone,
                platform_display=f"{self._profile.browser} ({self._profile.device_name})",
            )
        return self._linking_

    @property
    def _creds(self) -> Credentials:
        return self._store_ready.current


def web_engine_factory(settings: WebSettings) -> Callable[[SessionInfo, KeyStore, Emit], Engine]:
    """The catalog's factory for provider `web`: every engine shares one settings object."""

    versions = settings.version_source()  # one per process: one version fetch however many sessions

    def build(session: SessionInfo, keys: KeyStore, emit: Emit) -> Engine:
        return WebEngine(session, keys, emit, settings=settings, versions=versions)

    return build


PASSKEY_PROLOGUE_REQUEST = "passkey_prologue_request"


def jid_phone_digits(phone: str | None) -> str | None:
    """`+15551234567` → `15551234567`; None when there is no usable number."""
    digits = (phone or "").removeprefix("+")
    return digits if digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 15 else None


def _passkey_required(node: Node) -> Exit | None:
    """WhatsApp answered the scan with a passkey challenge instead of pair-success (whatsmeow
    pair-passkey.go): finishing needs a WebAuthn assertion from the account's passkey, which a server
    cannot give. Say so instead of letting the QR codes time out."""
    if _jid(node, "from") != SERVER_JID:
        return None  # only WhatsApp itself may ask
    options = node.find("passkey_request_options")
    site = ""
    if options is not None and options.content_bytes():
        with contextlib.suppress(ValueError, AttributeError):
            site = str(json.loads(options.content_bytes() or b"").get("rpId") or "")
    detail = (
        "WhatsApp asked for this account's passkey to link a new device"
        + (f" ({site})" if site else "")
        + "; wagate cannot answer a passkey prompt, so this link cannot finish. The account owner has "
        "to deal with the passkey request on the phone, then connect the session again"
    )
    return Exit(ExitReason.PASSKEY_REQUIRED, Retry.NEVER, detail=detail)


def _jid(node: Node, key: str) -> Jid | None:
    try:
        return node.jid_attr(key)
    except ValueError as exc:
        raise ProtocolError(f"attribute {key!r} is not a JID") from exc


def _me(creds: Credentials) -> Me:
    if creds.me is None:
        raise ProtocolError("a logged-in stanza arrived for a device that is not paired")
    return creds.me
