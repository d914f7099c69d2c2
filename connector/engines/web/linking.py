"""Linking a new device: pair-device refs shown as rotating QR codes (or a code typed on the phone), then
pair-success checked and signed.

    pair-device   ack it, then one QrCode per ref (the first lives longer), then Exit(QR_TIMEOUT);
                  linking by code instead: companion_hello → PairingCode, then the phone's
                  link_code_companion_reg notification → companion_finish (pairing_code.py)
    pair-success  pairing.complete_pairing: save me/account/platform, answer pair-device-sign, Paired;
                  a tampered one is answered with the error pairing chose and ends the connection
The edge follows a good pair-success with stream:error 515: the engine restarts and logs in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from connector.engines.base import jid_phone
from connector.engines.events import Emit, Paired, PairingCode, QrCode
from connector.engines.exits import Exit, ExitReason, Retry
from connector.engines.web.binary.jid import SERVER_JID, USER_SERVER, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.connection import Connection, iq
from connector.engines.web.creds import CredentialStore
from connector.engines.web.errors import PairingError, ProtocolError
from connector.engines.web.pairing import complete_pairing, pairing_error_reply, pairing_refs, qr_text
from connector.engines.web.pairing_code import CodeRequest, finish, unwrap_key, wrap_key
from connector.engines.web.settings import WebSettings


class Linking:
    def __init__(
        self,
        store: CredentialStore,
        settings: WebSettings,
        client_type: str,
        emit: Emit,
        spawn: Callable[[Awaitable[None], str], asyncio.Task[None]],
        end: Callable[[Exit], Awaitable[None]],
        clock: Callable[[], float],
        *,
        link_phone: str | None = None,
        platform_display: str = "Chrome (Linux)",
    ) -> None:
        self._store = store
        self._link_phone = link_phone  # digits: link by a code typed on this phone instead of a QR code
        self._platform_display = platform_display
        self._code: CodeRequest | None = None
        self._settings = settings
        self._client_type = client_type
        self._emit = emit
        self._spawn = spawn
        self._end = end
        self._clock = clock
        self._qr_task: asyncio.Task[None] | None = None
        self._shown = 0

    async def on_pair_device(self, conn: Connection, node: Node) -> None:
        """Raises ProtocolError, ConnectionLost."""
        if self._store.current.paired:
            raise ProtocolError("pair-device for a device that is already paired")
        iq_id = node.str_attr("id")
        if not iq_id:
            raise ProtocolError("pair-device iq without an id")
        refs = pairing_refs(node)
        await conn.send(Node("iq", {"to": SERVER_JID, "type": "result", "id": iq_id}))
        if self._qr_task is not None:
            self._qr_task.cancel()
        if self._link_phone is not None:
            if self._code is None:  # one code per registration; later refs only keep the socket alive
                self._code = CodeRequest(self._link_phone)
                self._qr_task = self._spawn(self._show_code(conn, self._code, len(refs)), "pairing code")
            return
        self._qr_task = self._spawn(self._show_qr_codes(refs), "qr codes")

    async def _show_code(self, conn: Connection, request: CodeRequest, refs: int) -> None:
        creds = self._store.current
        hello = Node(
            "link_code_companion_reg",
            {
                "jid": Jid(request.phone, USER_SERVER),
                "stage": "companion_hello",
                "should_show_push_notification": "true",
            },
            [
                Node(
                    "link_code_pairing_wrapped_companion_ephemeral_pub",
                    {},
                    wrap_key(request.code, request.ephemeral.public),
                ),
                Node("companion_server_auth_key_pub", {}, creds.noise_key.public),
                Node("companion_platform_id", {}, self._client_type.encode()),
                Node("companion_platform_display", {}, self._platform_display.encode()),
                Node("link_code_pairing_nonce", {}, b"0"),
            ],
        )
        answer = await conn.query(iq("set", "md", [hello]))
        reg = answer.find("link_code_companion_reg")
        ref = reg.find("link_code_pairing_ref") if reg is not None else None
        if ref is None or not ref.content_bytes():
            raise ProtocolError(f"companion_hello answered without a pairing ref: {answer}")
        request.ref = ref.content_bytes() or b""
        settings = self._settings
        lifetime = settings.qr_first_seconds + settings.qr_next_seconds * max(refs - 1, 0)
        await self._emit(PairingCode(request.code, self._clock() + lifetime))
        await asyncio.sleep(lifetime)
        await self._end(Exit(ExitReason.QR_TIMEOUT, Retry.NEVER, detail="the pairing code was not entered"))

    async def on_code_entered(self, conn: Connection, node: Node) -> None:
        """The phone took our code (notification link_code_companion_reg): finish the key exchange, so
        that pair-success follows. Runs beside the read loop (it queries). Raises ProtocolError."""
        request = self._code
        reg = node.find("link_code_companion_reg")
        if request is None or reg is None:
            raise ProtocolError(f"a link_code_companion_reg nobody asked for: {node}")
        parts = {child.tag: child.content_bytes() or b"" for child in reg.children}
        if parts.get("link_code_pairing_ref") != request.ref:
            raise ProtocolError("link_code_companion_reg names another pairing ref")
        primary_identity = parts.get("primary_identity_pub", b"")
        wrapped = parts.get("link_code_pairing_wrapped_primary_ephemeral_pub", b"")
        primary_ephemeral = unwrap_key(request.code, wrapped)
        creds = self._store.current
        done = finish(
            ephemeral=request.ephemeral,
            identity=creds.identity_key,
            primary_identity=primary_identity,
            primary_ephemeral=primary_ephemeral,
        )
        await self._store.update(adv_secret=done.adv_secret)
        final = Node(
            "link_code_companion_reg",
            {"jid": Jid(request.phone, USER_SERVER), "stage": "companion_finish"},
            [
                Node("link_code_pairing_wrapped_key_bundle", {}, done.wrapped_bundle),
                Node("companion_identity_public", {}, creds.identity_key.public),
                Node("link_code_pairing_ref", {}, request.ref),
            ],
        )
        await conn.query(iq("set", "md", [final]))

    async def _show_qr_codes(self, refs: Sequence[str]) -> None:
        for ref in refs:
            settings = self._settings
            lifetime = settings.qr_first_seconds if self._shown == 0 else settings.qr_next_seconds
            self._shown += 1
            text = qr_text(ref, self._store.current, self._client_type)
            await self._emit(QrCode(text, self._clock() + lifetime))
            await asyncio.sleep(lifetime)
        detail = f"{self._shown} QR codes were not scanned"
        await self._end(Exit(ExitReason.QR_TIMEOUT, Retry.NEVER, detail=detail))

    async def on_pair_success(self, conn: Connection, node: Node) -> Exit | None:
        """Raises ProtocolError, ConnectionLost."""
        if self._store.current.paired:
            raise ProtocolError("pair-success for a device that is already paired")
        if self._qr_task is not None:
            self._qr_task.cancel()
        try:
            result = complete_pairing(node, self._store.current)
        except PairingError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            code, text = details.get("code", 500), details.get("text", "internal-error")
            await conn.send(pairing_error_reply(node.str_attr("id") or "", code, text))
            return Exit.failed(exc.message)
        paired = result.creds
        await self._store.update(me=paired.me, account=paired.account, platform=paired.platform)
        await conn.send(result.reply)
        assert paired.me is not None  # complete_pairing sets it
        await self._emit(Paired(jid_phone(str(paired.me.jid)) or "", str(paired.me.jid.to_account())))
        return None  # the edge follows with stream:error 515 (restart and log in)
