"""Linking a new device: pair-device refs shown as rotating QR codes, then pair-success checked and signed.

    pair-device   ack it, then one QrCode per ref (the first lives longer), then Exit(QR_TIMEOUT)
    pair-success  pairing.complete_pairing: save me/account/platform, answer pair-device-sign, Paired;
                  a tampered one is answered with the error pairing chose and ends the connection
The edge follows a good pair-success with stream:error 515: the engine restarts and logs in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from connector.engines.base import Emit, Exit, ExitReason, Paired, QrCode, Retry, jid_phone
from connector.engines.web.binary.jid import SERVER_JID
from connector.engines.web.binary.node import Node
from connector.engines.web.connection import Connection
from connector.engines.web.creds import CredentialStore
from connector.engines.web.errors import PairingError, ProtocolError
from connector.engines.web.pairing import complete_pairing, pairing_error_reply, pairing_refs, qr_text
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
    ) -> None:
        self._store = store
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
        self._qr_task = self._spawn(self._show_qr_codes(refs), "qr codes")

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
