"""The thin I/O shell: one WebSocket to the edge carrying a NoiseClient session (asyncio + websockets).

All protocol logic lives in the sans-I/O NoiseClient; this module only moves its bytes, applies timeouts,
runs the keepalive hook and turns every websockets/OS failure into the engine's errors. Reading is pull:
the engine's read loop calls `receive()` continuously (that is also what keeps the liveness clock fresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket as stdlib_socket
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI, WebSocketException
from websockets.typing import Origin

from connector.engines.web.errors import ConnectionLost, FrameError, HandshakeError, WebEngineError
from connector.engines.web.noise.handshake import HandshakeComplete, NoiseClient, PayloadReceived
from connector.engines.web.noise.tls import client_context

logger = logging.getLogger(__name__)

DEFAULT_URL = "wss://web.whatsapp.com/ws/chat"
DEFAULT_ORIGIN = "https://web.whatsapp.com"

Keepalive = Callable[[], Awaitable[None]]
"""Called every keepalive interval while the edge is alive; sends the app-level ping (a binary node)."""


@dataclass(frozen=True, slots=True)
class SocketConfig:
    url: str = DEFAULT_URL
    origin: str = DEFAULT_ORIGIN
    connect_timeout: float = 20.0  # TCP + TLS + WebSocket upgrade
    handshake_timeout: float = 20.0  # from ClientHello to a verified ServerHello
    close_timeout: float = 5.0
    keepalive_interval: float = 30.0
    keepalive_grace: float = 5.0  # silence longer than interval + grace means the link is dead
    max_message_size: int = 32 * 1024 * 1024  # one WebSocket message may carry several 16 MiB frames
    proxy: str | Literal[True] | None = True  # True: the system's proxy settings, as websockets does
    ca_file: str | None = None  # a PEM bundle to trust instead of the system store (private CA, tests)


class NoiseSocket:
    """A connected, handshaken session. Create it with `await NoiseSocket.connect(...)`."""

    def __init__(
        self,
        connection: ClientConnection,
        client: NoiseClient,
        handshake: HandshakeComplete,
        config: SocketConfig,
        pending: deque[bytes],
    ) -> None:
        self._connection = connection
        self._client = client
        self._config = config
        self._pending = pending
        self._send_lock = asyncio.Lock()
        self._last_received = asyncio.get_running_loop().time()
        self._closed_by_us = False
        self._lost_reason: str | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self.handshake = handshake

    @classmethod
    async def connect(
        cls,
        client: NoiseClient,
        config: SocketConfig | None = None,
        *,
        keepalive: Keepalive | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> NoiseSocket:
        """Open the WebSocket (with the web client's Origin), run the Noise handshake, start keepalive.

        Raises ConnectionLost (network, timeouts, refused upgrade), HandshakeError / CertificateError
        (the peer is not a WhatsApp edge we trust), WebEngineError (a malformed URL).
        """
        config = config or SocketConfig()
        connection = await _open(config, ssl_context)
        try:
            handshake, pending = await _handshake(connection, client, config)
        except BaseException:
            await _close_quietly(connection)
            raise
        socket = cls(connection, client, handshake, config, pending)
        if keepalive is not None:
            socket._keepalive_task = asyncio.create_task(socket._keepalive(keepalive), name="noise-keepalive")
            socket._keepalive_task.add_done_callback(_log_task_failure)
        return socket

    @property
    def closed(self) -> bool:
        return self._closed_by_us or self._lost_reason is not None

    async def send(self, payload: bytes) -> None:
        """Encrypt, frame and send one payload. Raises ConnectionLost, FrameError."""
        # Encrypt and write under one lock: frames must hit the wire in counter order.
        async with self._send_lock:
            data = self._client.send(payload)
            try:
                await self._connection.send(data)
            except ConnectionClosed as exc:
                raise self._lost(exc) from exc

    async def receive(self) -> bytes:
        """The next payload (binary node bytes). Raises ConnectionLost when the socket is gone (also after
        our own close()), FrameError if the edge sent something undecryptable (the socket is then closed)."""
        while not self._pending:
            try:
                data = await self._connection.recv()
            except ConnectionClosed as exc:
                raise self._lost(exc) from exc
            self._last_received = asyncio.get_running_loop().time()
            try:
                if isinstance(data, str):
                    raise FrameError("the edge sent a text WebSocket message")
                events = self._client.receive_data(data)
            except WebEngineError:
                await self.close()
                raise
            self._pending.extend(event.payload for event in events if isinstance(event, PayloadReceived))
        return self._pending.popleft()

    def __aiter__(self) -> NoiseSocket:
        return self

    async def __anext__(self) -> bytes:
        """Payloads until the socket closes: ends quietly after our close(), else raises ConnectionLost."""
        try:
            return await self.receive()
        except ConnectionLost:
            if self._closed_by_us and self._lost_reason is None:
                raise StopAsyncIteration from None
            raise

    async def close(self) -> None:
        """Close the WebSocket (normal closure) and stop keepalive. Idempotent, never raises."""
        self._closed_by_us = True
        task, self._keepalive_task = self._keepalive_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await _close_quietly(self._connection)

    async def __aenter__(self) -> NoiseSocket:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _keepalive(self, ping: Keepalive) -> None:
        interval, grace = self._config.keepalive_interval, self._config.keepalive_grace
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            silence = loop.time() - self._last_received
            if silence > interval + grace:
                self._lost_reason = f"no data from the edge for {silence:.1f} s (keepalive)"
                logger.info("noise socket: %s; closing", self._lost_reason)
                await _close_quietly(self._connection)
                return
            try:
                await ping()
            except WebEngineError as exc:  # the socket is going away; the read loop reports why
                logger.debug("noise socket: keepalive stopped: %s", exc)
                return

    def _lost(self, exc: ConnectionClosed) -> ConnectionLost:
        received = exc.rcvd
        code, reason = (received.code, received.reason) if received is not None else (None, "")
        if self._lost_reason is not None:
            message = f"connection lost: {self._lost_reason}"
        elif self._closed_by_us:
            message = "connection closed by us"
        else:
            message = f"the edge closed the connection (code {code}, reason {reason!r})"
        return ConnectionLost(message, details={"code": code, "reason": reason})


async def _open(config: SocketConfig, ssl_context: ssl.SSLContext | None) -> ClientConnection:
    if not config.url.startswith("wss://"):
        # The edge speaks TLS only; a clear-text URL is a configuration mistake, not a network fault.
        raise WebEngineError(f"the edge URL must start with wss:// (TLS): {config.url!r}")
    context = ssl_context if ssl_context is not None else client_context(config.ca_file)
    try:
        return await connect(
            config.url,
            origin=Origin(config.origin),
            open_timeout=config.connect_timeout,
            close_timeout=config.close_timeout,
            # WhatsApp keepalive is an app-level ping the caller sends; browsers send no WebSocket pings.
            ping_interval=None,
            # Noise ciphertext does not compress: permessage-deflate would only burn CPU per session.
            compression=None,
            max_size=config.max_message_size,
            proxy=config.proxy,
            ssl=context,
        )
    except InvalidURI as exc:
        raise WebEngineError(f"invalid edge URL {config.url!r}: {exc}") from exc
    except TimeoutError as exc:
        raise ConnectionLost(
            f"no WebSocket to {config.url} within {config.connect_timeout} s", details={"stage": "timeout"}
        ) from exc
    except (OSError, InvalidHandshake, WebSocketException) as exc:
        stage, why = connect_failure(exc)
        raise ConnectionLost(
            f"cannot open a WebSocket to {config.url}: {why}", details={"stage": stage}
        ) from exc
    except ValueError as exc:  # websockets refusing its arguments (a proxy URL it cannot use)
        raise WebEngineError(f"cannot connect to {config.url}: {exc}") from exc


def connect_failure(exc: BaseException) -> tuple[str, str]:
    """(stage, explanation) of a failure to open the WebSocket: dns | tls | connect | upgrade.

    Every stage is transient for the engine (the network, a captive proxy or the edge may recover), but
    the stage tells an operator where to look.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls", f"TLS: the edge's certificate is not trusted ({exc.verify_message or exc})"
    if isinstance(exc, ssl.SSLError):
        return "tls", f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, stdlib_socket.gaierror):
        return "dns", f"cannot resolve the edge's host name ({exc.strerror or exc})"
    if isinstance(exc, OSError):
        return "connect", f"cannot reach the edge ({exc.strerror or exc})"
    return "upgrade", f"the WebSocket upgrade failed ({exc})"


async def _handshake(
    connection: ClientConnection, client: NoiseClient, config: SocketConfig
) -> tuple[HandshakeComplete, deque[bytes]]:
    pending: deque[bytes] = deque()
    try:
        async with asyncio.timeout(config.handshake_timeout):
            await connection.send(client.initiate())
            while True:
                data = await connection.recv()
                if isinstance(data, str):
                    raise HandshakeError("the edge sent a text WebSocket message during the handshake")
                handshake: HandshakeComplete | None = None
                for event in client.receive_data(data):
                    if isinstance(event, HandshakeComplete):
                        handshake = event
                    else:
                        pending.append(event.payload)
                if handshake is not None:
                    await connection.send(client.data_to_send())
                    return handshake, pending
    except TimeoutError as exc:
        raise ConnectionLost(f"no Noise handshake with the edge within {config.handshake_timeout} s") from exc
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd is not None else None
        raise ConnectionLost(f"the edge closed the connection during the handshake (code {code})") from exc


async def _close_quietly(connection: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        await connection.close()


def _log_task_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("noise socket: keepalive task failed", exc_info=task.exception())
