"""The session pool: runs each session of the shards this connector holds as its own supervised task.

It starts the sessions that should run (`desired == "running"`, status not `logged_out`/`failed` but for
a temporary ban, which its runner waits out, a
provider it has an engine for, and not held down here by a disconnect, a logout or a permanent failure;
a connect command lifts that), stops them when their shard goes, and is the `SessionControl` the command
dispatcher acts through. Which shards are held is the supervisor's business (`connector/supervisor.py`);
the pool only asks it, through `Shards`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Protocol

from connector.config import ConnectorConfig
from connector.engines.base import SessionInfo
from connector.engines.catalog import EngineCatalog
from connector.engines.events import Failed, LoggedOut
from connector.keystore import TableKeyStore
from connector.leases import Leases, session_lease_key
from connector.publisher import EventPublisher
from connector.session_runner import RunnerContext, SessionRunner, SessionState, StopReason
from connector.shards import shard_of
from connector.tasks import BackgroundTasks
from wagate.domain.errors import WagateError
from wagate.domain.sessions import PERMANENT, SessionStatus
from wagate.domain.status_reports import TEMPORARILY_BANNED
from wagate.domain.tenants import SUSPENDED_CODE
from wagate.ports import Table
from wagate.store.sessions import SessionRecord, SessionRepository

log = logging.getLogger("wagate.connector.sessions")


class Shards(Protocol):
    """What the pool needs to know of the shards: which are held (with their lease's fence), and whether
    the connector is shutting down."""

    @property
    def stopping(self) -> bool: ...

    def fence(self, number: int) -> int | None:
        """The fence of the shard's lease while this connector holds it, else None."""
        ...


class SessionPool:
    def __init__(
        self,
        *,
        owner: str,
        table: Table,
        config: ConnectorConfig,
        engines: EngineCatalog,
        leases: Leases,
        publisher: EventPublisher,
        context: RunnerContext,
        tasks: BackgroundTasks,
        shards: Shards,
    ) -> None:
        self.owner = owner
        self.config = config
        self._table = table
        self._engines = engines
        self._leases = leases
        self._publisher = publisher
        self._context = context
        self._tasks = tasks
        self._shards = shards
        self._runners: dict[str, SessionRunner] = {}
        self._runner_tasks: dict[str, asyncio.Task[None]] = {}
        self._holds: dict[str, str] = {}  # session id → why it stays down until a connect command

    def states(self) -> dict[str, SessionState]:
        return {session_id: runner.state for session_id, runner in self._runners.items()}

    def _held(self, number: int) -> bool:
        return self._shards.fence(number) is not None and not self._shards.stopping

    async def discover(self, number: int) -> None:
        """Start the sessions of one shard that should run and are not running here."""
        if not self._held(number):
            return
        try:
            rows = await asyncio.to_thread(SessionRepository(self._table).in_shard, number)
        except WagateError as exc:
            log.warning("cannot list the sessions of shard %s: %s", number, exc)
            return
        for row in rows:
            if not self._held(number):
                return
            if row.session.id not in self._holds and self._should_run(row):
                self._launch(_session_info(row), number)

    def _should_run(self, row: SessionRecord) -> bool:
        # A temporarily banned number runs too: its runner waits the ban out (a new holder connects once
        # and WhatsApp's 402 says again how long is left).
        temporary = row.status == SessionStatus.FAILED and row.session.status_reason == TEMPORARILY_BANNED
        return (
            row.desired == "running"
            and row.suspended_at is None
            and (row.status not in PERMANENT or temporary)
            and self._engines.serves(str(row.session.provider))
            and row.session.id not in self._runners
        )

    def _launch(self, session: SessionInfo, shard: int) -> SessionRunner:
        fence = self._shards.fence(shard)
        assert fence is not None  # callers checked that the shard is held
        runner = SessionRunner(session, shard, fence, self._context)
        self._runners[session.session_id] = runner
        self._runner_tasks[session.session_id] = self._tasks.spawn(
            self._run_session(runner), name=f"session {session.label}"
        )
        return runner

    async def _run_session(self, runner: SessionRunner) -> None:
        session_id = runner.session.session_id
        try:
            await runner.run()
        finally:
            if self._runners.get(session_id) is runner:
                del self._runners[session_id]
                self._runner_tasks.pop(session_id, None)
            if runner.outcome is not None:
                self._holds[session_id] = runner.outcome.reason.value

    async def stop_shard(self, number: int, reason: StopReason) -> None:
        """Stop every session of one shard (it was lost or handed back)."""
        await self._stop_runners([r for r in self._runners.values() if r.shard == number], reason)

    async def stop_all(self, reason: StopReason) -> None:
        await self._stop_runners(list(self._runners.values()), reason)

    async def _stop_runners(self, runners: Iterable[SessionRunner], reason: StopReason) -> None:
        runners = list(runners)
        if not runners:
            return
        await asyncio.gather(*(runner.stop(reason) for runner in runners), return_exceptions=True)
        tasks = [
            self._runner_tasks[r.session.session_id]
            for r in runners
            if r.session.session_id in self._runner_tasks
        ]
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=self.config.stop_timeout_seconds)
        for task in late:
            log.error("%s did not stop in time; cancelling it", task.get_name())
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    # ---- SessionControl, for the command dispatcher -------------------------------------------------

    def owns_session(self, session_id: str) -> bool:
        if self._shards.stopping:
            return False  # shutting down: every command is the next owner's
        runner = self._runners.get(session_id)
        shard = runner.shard if runner is not None else shard_of(session_id, self.config.shards)
        return self._shards.fence(shard) is not None

    def runner(self, tenant_id: str, session_id: str) -> SessionRunner | None:
        runner = self._runners.get(session_id)
        return runner if runner is not None and runner.session.tenant_id == tenant_id else None

    async def start_session(self, tenant_id: str, session_id: str, *, explicit: bool) -> SessionRunner | None:
        """Start a session of an owned shard (explicit: a connect command, which overrides its status)."""
        if self._shards.stopping or (not explicit and session_id in self._holds):
            return None
        row = await asyncio.to_thread(SessionRepository(self._table).find, tenant_id, session_id)
        if row is None:
            log.warning("no session %s/%s", tenant_id, session_id)
            return None
        existing = self._runners.get(session_id)
        if existing is not None:
            return existing if existing.session.tenant_id == tenant_id else None
        if row.suspended_at is not None:  # its tenant is suspended (services/operator.py): nothing starts
            self.hold(session_id, SUSPENDED_CODE)
            return None
        shard = row.shard if row.shard is not None else shard_of(session_id, self.config.shards)
        if not self._held(shard):
            return None
        session = _session_info(row)
        if not self._engines.serves(session.provider):
            if explicit:
                reason = Failed("no_engine", f"this connector has no engine for {session.provider!r}")
                self._publisher.publish_engine_event(tenant_id, session_id, 0, reason)
            return None
        if not explicit and not self._should_run(row):
            return None
        return self._launch(session, shard)

    async def stop_session(self, session_id: str, reason: StopReason) -> None:
        runner = self._runners.get(session_id)
        if runner is not None:
            await self._stop_runners([runner], reason)

    def held(self, session_id: str) -> str | None:
        """Why the session stays down here (logged_out, banned, disconnected, ...), if it does."""
        return self._holds.get(session_id)

    def hold(self, session_id: str, reason: str) -> None:
        self._holds[session_id] = reason

    def release_hold(self, session_id: str) -> None:
        self._holds.pop(session_id, None)

    async def logout_idle(self, tenant_id: str, session_id: str) -> None:
        """Log out a session that is not running: take its lease, wipe its keys, report logged_out."""
        shard_fence = self._shards.fence(shard_of(session_id, self.config.shards))
        row = await asyncio.to_thread(SessionRepository(self._table).find, tenant_id, session_id)
        if shard_fence is None or row is None:
            return
        key = session_lease_key(tenant_id, session_id)
        times = self.config.session_lease
        lease = await asyncio.to_thread(self._leases.acquire, key, times, shard_fence=shard_fence)
        if lease is None:
            log.warning("cannot log out %s/%s: another connector holds it", tenant_id, session_id)
            return
        try:
            keys = TableKeyStore(
                self._table, self._context.crypto, lease, tenant_id=tenant_id, session_id=session_id
            )
            await keys.wipe()
            labels = {"sandbox": True} if row.session.provider == "sandbox" else {}
            self._publisher.publish_engine_event(
                tenant_id, session_id, lease.fence, LoggedOut("logged_out", "logged out by request"), labels
            )
        finally:
            try:
                await asyncio.to_thread(self._leases.release, lease)
            except WagateError as exc:
                log.warning("could not release %s (it will expire): %s", lease.key.label, exc)


def _session_info(row: SessionRecord) -> SessionInfo:
    session = row.session
    return SessionInfo(
        tenant_id=session.tenant_id,
        session_id=session.id,
        provider=str(session.provider),
        phone=session.phone or None,
        link_by_code=session.link_by_code,
    )
