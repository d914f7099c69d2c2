"""Commands in: what each command type does to its session (the send path itself is in sending.py).

Queue `CommandQueue{n}` (FIFO, group id = session id, body = `wagate.domain.events.Command` JSON), read by
the shard's `CommandConsumer` (consumer.py) into one lane per session. A lifecycle command that cannot be
handled yet (the session is still connecting) is handed back for `command_retry_seconds`, together with
the rest of its session's held commands, so a session's commands keep their order; after
`command_retry_limit` receives it is given up. A command for a session this connector no longer owns is
handed back at once for the new owner.

Data by type: connect, logout, sync_groups: none. disconnect: reason (optional, tenant_suspended).
send: message_id, to (E.164 or jid), text or media {kind, mime_type, url, caption, filename}, quoted_id.
mark_read: chat (jid or E.164), message_ids (provider ids). sandbox: action (scan, drop, logout, ban,
reply) and its own fields.
group: operation_id, action (engines/base.py GROUP_OPERATIONS), group_jid, subject, description,
participants; its outcome is published as `group_operation` whatever happens (a dropped command too), so an
operation never stays pending.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from connector.config import ConnectorConfig
from connector.engines.base import GROUP_OPERATIONS, GroupOp, to_jid
from connector.engines.errors import EngineError, NotConnected
from connector.engines.events import GroupOperationDone, GroupsListed, NumbersChecked
from connector.outcomes import CommandResult, RetryLater
from connector.publisher import EventPublisher
from connector.sending import Sender
from connector.session_runner import SessionRunner, SessionState, StopReason
from wagate.domain.events import Command, CommandType, EventType
from wagate.domain.status_reports import RATE_LIMITED
from wagate.ports import Clock, MediaStore, Table
from wagate.services.pacing_settings import PacingSettings

log = logging.getLogger("wagate.connector.commands")


class SessionControl(Protocol):
    """What the dispatcher needs from the session pool (`connector/session_pool.py`)."""

    owner: str

    def held(self, session_id: str) -> str | None: ...

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
    def __init__(
        self,
        control: SessionControl,
        publisher: EventPublisher,
        config: ConnectorConfig,
        *,
        table: Table,
        clock: Clock,
        pacing: PacingSettings,
        media: MediaStore | None = None,
    ) -> None:
        self._control = control
        self._publisher = publisher
        self.retry = RetryLater(config.command_retry_seconds)
        self._retry_limit = config.command_retry_limit
        self.sender = Sender(control, publisher, table, clock, config, pacing, media=media)
        self._handlers: dict[CommandType, Handler] = {
            CommandType.CONNECT: self._connect,
            CommandType.DISCONNECT: self._disconnect,
            CommandType.LOGOUT: self._logout,
            CommandType.MARK_READ: self._mark_read,
            CommandType.SYNC_GROUPS: self._sync_groups,
            CommandType.CHECK_NUMBERS: self._check_numbers,
            CommandType.GROUP: self._group,
            CommandType.SANDBOX: self._sandbox,
        }

    async def dispatch(self, command: Command, receive_count: int, halt: asyncio.Event) -> CommandResult:
        if halt.is_set() or not self._control.owns_session(command.session_id):
            return RetryLater(0)  # its shard is not ours (any more): leave it to the owner
        if command.type is CommandType.SEND:
            return await self.sender.handle(command, halt)
        runner = self._control.runner(command.tenant_id, command.session_id)
        return await self._handlers[command.type](command, runner, receive_count)

    # ---- lifecycle commands -------------------------------------------------------------------------

    async def _connect(self, command: Command, runner: SessionRunner | None, count: int) -> CommandResult:
        self._control.release_hold(command.session_id)
        if runner is not None:
            if runner.stopping:
                return self.retry  # still closing: start it again once it has
            wanted = command.data.get("link")
            if wanted in ("qr", "code") and runner.state is not SessionState.CONNECTED:
                if runner.session.link_by_code != (wanted == "code"):
                    # An unlinked device showing QR codes is asked to show a pairing code (or back):
                    # start it over with the session's new choice.
                    await self._control.stop_session(command.session_id, StopReason.REQUESTED)
                    return self.retry
            runner.wake()
            return None
        await self._control.start_session(command.tenant_id, command.session_id, explicit=True)
        return None

    async def _disconnect(self, command: Command, runner: SessionRunner | None, count: int) -> CommandResult:
        # Why it stays down: a suspension's sends then fail `tenant_suspended` (services/operator.py).
        self._control.hold(command.session_id, str(command.data.get("reason") or "disconnected"))
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

    async def _check_numbers(
        self, command: Command, runner: SessionRunner | None, count: int
    ) -> CommandResult:
        """Asks the network which numbers are on WhatsApp; the answer (or why there is none) goes back as
        `numbers_checked`, so the check never stays pending once the command is given up."""
        check_id = str(command.data.get("check_id") or command.id)
        phones = [str(p) for p in command.data.get("numbers") or []][:50]
        engine = runner.engine if runner is not None and runner.state is SessionState.CONNECTED else None
        if runner is None or engine is None:
            retry = self._retry_or_drop(command, count)
            if retry is None:  # given up: the check fails rather than staying pending
                failed = NumbersChecked(check_id, error="session_not_connected")
                if runner is not None:
                    runner.publish_event(failed)
                else:
                    data = dataclasses.asdict(failed)
                    self._publisher.publish(
                        command.tenant_id, command.session_id, 0, EventType.NUMBERS_CHECKED, data
                    )
            return retry
        try:
            results = await engine.check_numbers(phones)
        except NotConnected:
            return self._retry_or_drop(command, count)
        except EngineError as exc:
            if exc.is_transient and count < self._retry_limit:
                return self.retry  # a lost answer: asking again is harmless
            log.warning("check_numbers of %s failed: %s", command.session_id, exc)
            # WhatsApp throttling the lookups (web: 429 rate-overlimit) is said as such; the rest is generic.
            error = RATE_LIMITED if exc.code == RATE_LIMITED else "check_failed"
            runner.publish_event(NumbersChecked(check_id, error=error))
            return None
        runner.publish_event(NumbersChecked(check_id, tuple(results)))
        return None

    async def _group(self, command: Command, runner: SessionRunner | None, count: int) -> CommandResult:
        data = command.data
        operation_id, action = str(data.get("operation_id") or command.id), str(data.get("action") or "")
        group_jid = data.get("group_jid")
        done = GroupOperationDone(operation_id, action, str(group_jid) if group_jid else None, ok=False)
        engine = runner.engine if runner is not None and runner.state is SessionState.CONNECTED else None
        if runner is None or engine is None:
            retry = self._retry_or_drop(command, count)
            if retry is None:  # given up: the operation fails rather than staying pending forever
                failed = dataclasses.replace(done, error_code="session_not_connected", error="not connected")
                self._publish_outcome(command, runner, failed)
            return retry
        try:
            if action not in GROUP_OPERATIONS:
                raise ValueError(f"not a group operation: {action!r}")
            op = GroupOp(
                action=action,
                group_jid=done.group_jid,
                subject=data.get("subject"),
                description=data.get("description"),
                participants=tuple(str(p) for p in data.get("participants") or ()),
            )
            result = await engine.manage_group(op, operation_id)
        except NotConnected:
            return self._retry_or_drop(command, count)
        except ValueError as exc:
            done = dataclasses.replace(done, error_code="invalid_group_operation", error=str(exc))
        except EngineError as exc:
            if exc.is_transient and action != "create" and count < self._retry_limit:
                return self.retry  # a lost answer: the change is safe to ask again
            # A create whose answer was lost may have happened: say so rather than create a second one.
            code = exc.code if not exc.is_transient else "group_outcome_unknown"
            done = dataclasses.replace(done, error_code=code, error=exc.message)
        else:
            group = result.group.jid if result.group is not None else done.group_jid
            done = dataclasses.replace(done, group_jid=group, ok=True, result=dataclasses.asdict(result))
        log.info("group %s %s of %s: %s", action, operation_id, command.session_id, done.error_code or "done")
        self._publish_outcome(command, runner, done)
        await self._publisher.sent()  # the command goes once its outcome is in the queue (as a send's)
        return None

    def _publish_outcome(
        self, command: Command, runner: SessionRunner | None, done: GroupOperationDone
    ) -> None:
        if runner is not None:
            runner.publish_event(done)
            return
        data = dataclasses.asdict(done)
        self._publisher.publish(command.tenant_id, command.session_id, 0, EventType.GROUP_OPERATION, data)

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

    def _retry_or_drop(self, command: Command, count: int) -> CommandResult:
        if count >= self._retry_limit:
            log.warning(
                "%s command %s: %s never became ready; dropped", command.type, command.id, command.session_id
            )
            return None
        return self.retry
