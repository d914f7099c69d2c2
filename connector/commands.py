"""Commands in: each owned shard's FIFO command queue, consumed and dispatched to the session it names.

Queue `CommandQueue{n}` (FIFO, group id = session id, body = `wagate.domain.events.Command` JSON). A
command is deleted once handled (or found malformed); a command that cannot be handled yet (the session
is still connecting) is made visible again after `command_retry_seconds`, together with the rest of its
session's batch, so a session's commands keep their order; after `command_retry_limit` receives it is
given up (a send reports `message_status` failed). A command for a shard this connector no longer owns
is made visible at once for the new owner.

Data by type: connect, disconnect, logout, sync_groups: none. send: message_id, to (E.164 or jid), text
or media {kind, mime_type, url, caption, filename}, quoted_id. mark_read: chat (jid or E.164),
message_ids (provider ids). sandbox: action (scan, drop, logout, ban, reply) and its own fields.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from connector.config import ConnectorConfig
from connector.engines.base import (
    EngineError,
    GroupsListed,
    MediaKind,
    NotConnected,
    OutgoingMedia,
    SendRejected,
    SendResult,
    to_jid,
)
from connector.publisher import EventPublisher
from connector.session_runner import SessionRunner, SessionState, StopReason
from connector.tasks import BackgroundTasks
from wagate.domain.errors import WagateError
from wagate.domain.events import Command, CommandType, EventType
from wagate.ports import Queue, ReceivedMessage

log = logging.getLogger("wagate.connector.commands")


@dataclass(frozen=True)
class RetryLater:
    seconds: int


CommandResult = RetryLater | None  # None: handled, delete it


class SessionControl(Protocol):
    """What the dispatcher needs from the supervisor."""

    def owns_session(self, session_id: str) -> bool: ...

    def runner(self, tenant_id: str, session_id: str) -> SessionRunner | None: ...

    async def start_session(
        self, tenant_id: str, session_id: str, *, explicit: bool
    ) -> SessionRunner | None: ...

    async def stop_session(self, session_id: str, reason: StopReason) -> None: ...

    def hold(self, session_id: str, reason: str) -> None: ...

    def release_hold(self, session_id: str) -> None: ...

    async def logout_idle(self, tenant_id: str, session_id: str) -> None: ...


Handler = Callable[[Command, "SessionRunner | None", int], Awaitable[CommandResult]]


class CommandDispatcher:
    def __init__(self, control: SessionControl, publisher: EventPublisher, config: ConnectorConfig) -> None:
        self._control = control
        self._publisher = publisher
        self.retry = RetryLater(config.command_retry_seconds)
        self._retry_limit = config.command_retry_limit
        self._handlers: dict[CommandType, Handler] = {
            CommandType.CONNECT: self._connect,
            CommandType.DISCONNECT: self._disconnect,
            CommandType.LOGOUT: self._logout,
            CommandType.SEND: self._send,
            CommandType.MARK_READ: self._mark_read,
            CommandType.SYNC_GROUPS: self._sync_groups,
            CommandType.SANDBOX: self._sandbox,
        }

    async def dispatch(self, command: Command, receive_count: int) -> CommandResult:
        if not self._control.owns_session(command.session_id):
            return RetryLater(0)  # its shard is not ours (any more): leave it to the owner
        runner = self._control.runner(command.tenant_id, command.session_id)
        return await self._handlers[command.type](command, runner, receive_count)

    # ---- lifecycle commands -------------------------------------------------------------------------

    async def _connect(self, command: Command, runner: SessionRunner | None, count: int) -> CommandResult:
        self._control.release_hold(command.session_id)
        if runner is not None:
            if runner.stopping:
                return self.retry  # still closing: start it again once it has
            runner.wake()
            return None
        await self._control.start_session(command.tenant_id, command.session_id, explicit=True)
        return None

    async def _disconnect(self, command: Command, runner: SessionRunner | None, count: int) -> CommandResult:
        self._control.hold(command.session_id, "disconnected")
        if runner is not None:
            await self._control.stop_session(command.session_id, StopReason.REQUESTED)
        return None

    async def _logout(self, command: Command, runner: SessionRunner | None, count: int) -> CommandResult:
        self._control.hold(command.session_id, "logged_out")
        engine = runner.engine if runner is not None and not runner.stopping else None
        if engine is not None:
            try:
                await engine.logout()  # the runner wipes the keys and reports logged_out
                return None
            except EngineError:
                pass  # no socket open right now: log out offline below
        if runner is not None:
            await self._control.stop_session(command.session_id, StopReason.REQUESTED)
        await self._control.logout_idle(command.tenant_id, command.session_id)
        return None

    # ---- commands for a connected engine ------------------------------------------------------------

    async def _send(self, command: Command, runner: SessionRunner | None, count: int) -> CommandResult:
        data = command.data
        message_id = data.get("message_id")
        to = data.get("to")
        if not isinstance(message_id, str) or not isinstance(to, str):
            log.error("send command %s lacks message_id or to; dropped", command.id)
            return None
        engine = runner.engine if runner is not None and runner.state is SessionState.CONNECTED else None
        if runner is None or engine is None:
            return await self._not_ready(command, runner, count)
        quoted = data.get("quoted_id")
        try:
            media = data.get("media")
            result: SendResult
            if isinstance(media, dict):
                outgoing = OutgoingMedia(
                    kind=MediaKind(media.get("kind", "document")),
                    mime_type=str(media.get("mime_type", "application/octet-stream")),
                    url=media.get("url"),
                    caption=media.get("caption"),
                    filename=media.get("filename"),
                )
                result = await engine.send_media(to, outgoing, message_id, quoted_id=quoted)
            else:
                result = await engine.send_text(to, str(data.get("text", "")), message_id, quoted_id=quoted)
        except NotConnected:
            return await self._not_ready(command, runner, count)
        except (SendRejected, ValueError) as exc:
            code = exc.code if isinstance(exc, SendRejected) else "invalid_message"
            self._message_failed(command, runner, code, str(exc))
            return None
        runner.publish(
            EventType.MESSAGE_SENT,
            {
                "message_id": message_id,
                "provider_message_id": result.provider_message_id,
                "to": to,
                "to_jid": result.to_jid,
                "at": result.at,
            },
        )
        return None

    async def _mark_read(self, command: Command, runner: SessionRunner | None, count: int) -> CommandResult:
        engine = runner.engine if runner is not None and runner.state is SessionState.CONNECTED else None
        if engine is None:
            return self._retry_or_drop(command, count)
        ids = [str(i) for i in command.data.get("message_ids", [])]
        try:
            await engine.mark_read(to_jid(str(command.data.get("chat", ""))), ids)
        except NotConnected:
            return self._retry_or_drop(command, count)
        except (EngineError, ValueError) as exc:
            log.warning("mark_read %s of %s failed: %s", command.id, command.session_id, exc)
        return None

    async def _sync_groups(self, command: Command, runner: SessionRunner | None, count: int) -> CommandResult:
        engine = runner.engine if runner is not None and runner.state is SessionState.CONNECTED else None
        if runner is None or engine is None:
            return self._retry_or_drop(command, count)
        try:
            groups = await engine.list_groups()
        except NotConnected:
            return self._retry_or_drop(command, count)
        except EngineError as exc:
            log.warning("sync_groups of %s failed: %s", command.session_id, exc)
            return None
        runner.publish_event(GroupsListed(tuple(groups)))
        return None

    async def _sandbox(self, command: Command, runner: SessionRunner | None, count: int) -> CommandResult:
        if runner is None:
            runner = await self._control.start_session(command.tenant_id, command.session_id, explicit=False)
            if runner is None:
                log.warning("sandbox command %s: %s is not running", command.id, command.session_id)
                return None
        engine = runner.engine
        if engine is None:
            return self._retry_or_drop(command, count)
        try:
            await engine.simulate(str(command.data.get("action", "")), command.data)
        except NotConnected:
            return self._retry_or_drop(command, count)
        except EngineError as exc:
            log.warning("sandbox command %s of %s refused: %s", command.id, command.session_id, exc)
        return None

    # ---- when the session is not ready --------------------------------------------------------------

    async def _not_ready(self, command: Command, runner: SessionRunner | None, count: int) -> CommandResult:
        if runner is None:
            runner = await self._control.start_session(command.tenant_id, command.session_id, explicit=False)
            if runner is None:
                self._message_failed(command, None, "session_not_connected", "the session is not running")
                return None
        if runner.state is SessionState.QR:
            self._message_failed(command, runner, "session_not_connected", "waiting for the QR code scan")
            return None
        if count >= self._retry_limit:
            self._message_failed(command, runner, "session_not_connected", "the session did not connect")
            return None
        return self.retry

    def _retry_or_drop(self, command: Command, count: int) -> CommandResult:
        if count >= self._retry_limit:
            log.warning(
                "%s command %s: %s never became ready; dropped", command.type, command.id, command.session_id
            )
            return None
        return self.retry

    def _message_failed(self, command: Command, runner: SessionRunner | None, code: str, detail: str) -> None:
        data = {
            "message_id": command.data.get("message_id"),
            "status": "failed",
            "reason": code,
            "detail": detail,
        }
        if runner is not None:
            runner.publish(EventType.MESSAGE_STATUS, data)
        else:
            self._publisher.publish(command.tenant_id, command.session_id, 0, EventType.MESSAGE_STATUS, data)


class CommandConsumer:
    """Receives one shard's command queue and hands each command to the dispatcher."""

    def __init__(
        self, shard: int, queue: Queue, dispatcher: CommandDispatcher, *, wait_seconds: float
    ) -> None:
        self.shard = shard
        self._queue = queue
        self._dispatcher = dispatcher
        self._wait_seconds = wait_seconds
        # Its own thread: a long poll must not hold one of the shared worker threads for seconds.
        self._receiver = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"commands-{shard}")
        self._stopping = False
        self._tasks = BackgroundTasks(f"commands of shard {shard}")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = self._tasks.spawn(self._loop(), name=f"commands {self.shard}")

    def request_stop(self) -> None:
        """Take no new command: what the long poll under way returns goes back to the queue."""
        self._stopping = True

    async def stop(self) -> None:
        """Take no new command; finish the batch under way. Waits up to the long-poll time."""
        self._stopping = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self._receiver.shutdown(wait=False)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        receive = functools.partial(self._queue.receive, max_messages=10, wait_seconds=self._wait_seconds)
        while not self._stopping:
            try:
                messages = await loop.run_in_executor(self._receiver, receive)
                if self._stopping:
                    await asyncio.to_thread(self._postpone, messages, 0)  # not ours to process now
                    return
                await self.process(messages)
            except Exception as exc:  # the queue is unreachable: what was received comes back later
                log.warning("shard %s: commands failed: %s", self.shard, exc)
                await asyncio.sleep(1.0)

    async def process(self, messages: Sequence[ReceivedMessage]) -> None:
        """Each session's commands in order; different sessions concurrently."""
        by_session: dict[str | None, list[ReceivedMessage]] = {}
        for message in messages:
            by_session.setdefault(message.group_id, []).append(message)
        await asyncio.gather(*(self._process_in_order(group) for group in by_session.values()))

    async def _process_in_order(self, messages: list[ReceivedMessage]) -> None:
        for index, message in enumerate(messages):
            result = await self._handle(message)
            if result is None:
                await asyncio.to_thread(self._queue.delete, message.receipt)
            else:
                await asyncio.to_thread(self._postpone, messages[index:], result.seconds)
                return

    async def _handle(self, message: ReceivedMessage) -> CommandResult:
        try:
            command = Command.model_validate_json(message.body)
        except ValidationError as exc:
            log.error("shard %s: dropping a malformed command %s: %s", self.shard, message.message_id, exc)
            return None
        try:
            return await self._dispatcher.dispatch(command, message.receive_count)
        except Exception:
            log.exception("shard %s: command %s (%s) failed", self.shard, command.id, command.type)
            return self._dispatcher.retry

    def _postpone(self, messages: Sequence[ReceivedMessage], seconds: int) -> None:
        for message in messages:
            try:
                self._queue.change_visibility(message.receipt, seconds)
            except WagateError:
                pass  # its visibility ran out already (or the queue is unreachable): it comes back anyway
