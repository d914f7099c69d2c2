"""The supervisor: leases a fair share of the shards, runs each of their sessions as its own task.

Every `shard_lease.renew_every` it heart-beats its member row, counts the live connectors and takes (or
hands back) shards until it holds its fair share. For each shard it holds it consumes the shard's
command queue and, every `discovery_seconds` (and at once when the shard is taken), lists the shard's
session rows (index gsi1, `gsi1pk = SHARD#{n}`) and starts those that should run:
`desired == "running"`, status not `logged_out`/`failed`, a provider it has an engine for, and not held
down here by a disconnect, a logout or a permanent failure (a connect command lifts that).

Losing a shard (renewal refused, or not renewed before its self-fencing deadline) stops that shard's
sessions at once; handing one back does the same, then releases the shard lease. Shutdown: stop taking
commands, stop every session (sockets closed, session leases released), release the shard leases.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from connector.commands import CommandDispatcher
from connector.config import ConnectorConfig
from connector.consumer import CommandConsumer
from connector.engines.base import SessionInfo
from connector.engines.catalog import EngineCatalog
from connector.engines.events import Failed, LoggedOut
from connector.keystore import TableKeyStore
from connector.leases import Lease, LeaseKeeper, Leases, session_lease_key, shard_lease_key
from connector.members import Members
from connector.publisher import EventPublisher
from connector.session_runner import RunnerContext, SessionRunner, SessionState, StopReason
from connector.shards import (
    EVENTS_QUEUE,
    command_dlq_name,
    command_queue_name,
    fair_share,
    shard_of,
)
from connector.tasks import BackgroundTasks
from wagate.domain.errors import NotFound, WagateError
from wagate.domain.sessions import PERMANENT
from wagate.ports import Clock, Crypto, Queues, Table
from wagate.store.sessions import SessionRecord, SessionRepository

log = logging.getLogger("wagate.connector.supervisor")

_PERMANENT_STATUSES = frozenset(status.value for status in PERMANENT)


@dataclass
class _Shard:
    number: int
    lease: Lease
    consumer: CommandConsumer


class Supervisor:
    def __init__(
        self,
        *,
        table: Table,
        queues: Queues,
        crypto: Crypto,
        clock: Clock,
        config: ConnectorConfig,
        owner: str,
        engines: EngineCatalog,
    ) -> None:
        self.owner = owner
        self.config = config
        self._table = table
        self._queues = queues
        self._engines = engines
        self.leases = Leases(table, clock, owner)
        self.keeper = LeaseKeeper(self.leases, tick=config.keeper_tick)
        try:
            events = queues.get(EVENTS_QUEUE)
        except NotFound as exc:
            raise NotFound(
                f"the connector needs the queues {EVENTS_QUEUE} and CommandQueue0..{config.shards - 1}"
                " (declared in template.yaml; locally, recorded in the queue file by `wagate serve`)"
            ) from exc
        self.publisher = EventPublisher(events, clock)
        self.members = Members(table, clock, owner, ttl=config.shard_lease_seconds)
        self._tasks = BackgroundTasks(f"connector {owner}")
        self._context = RunnerContext(
            table, crypto, clock, config, self.leases, self.keeper, self.publisher, engines, self._tasks
        )
        self._dispatcher = CommandDispatcher(self, self.publisher, config, table=table, clock=clock)
        self._shards: dict[int, _Shard] = {}
        self._runners: dict[str, SessionRunner] = {}
        self._runner_tasks: dict[str, asyncio.Task[None]] = {}
        self._holds: dict[str, str] = {}  # session id → why it stays down until a connect command
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False

    # ---- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.publisher.start()
        self.keeper.start()
        await self.balance()
        self._loops = [
            self._tasks.spawn(self._every(self.config.shard_lease.renew_every, self.balance), name="balance"),
            self._tasks.spawn(
                self._every(self.config.discovery_seconds, self.discover_all), name="discovery"
            ),
        ]

    async def stop(self) -> None:
        """Stop taking commands, close every socket, release every lease."""
        self._stopping = True
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        shards = list(self._shards.values())
        for shard in shards:
            shard.consumer.request_stop()
        await self._stop_runners(list(self._runners.values()), StopReason.SHUTDOWN)
        await asyncio.gather(*(shard.consumer.stop(self.config.stop_timeout_seconds) for shard in shards))
        for shard in shards:
            self.keeper.drop(shard.lease)
            await self._release(shard.lease)
        self._shards.clear()
        try:
            await asyncio.to_thread(self.members.leave)
        except WagateError as exc:
            log.warning("could not remove the member row: %s", exc)
        await self.keeper.stop()
        await self.publisher.stop()
        await self._tasks.cancel_all()

    # ---- what tests and benchmarks look at ----------------------------------------------------------

    @property
    def shards(self) -> set[int]:
        return set(self._shards)

    def session_states(self) -> dict[str, SessionState]:
        return {session_id: runner.state for session_id, runner in self._runners.items()}

    # ---- shards -------------------------------------------------------------------------------------

    async def balance(self) -> None:
        """Heartbeat, then take or hand back shards until this connector holds its fair share."""
        if self._stopping:
            return
        try:
            live = await asyncio.to_thread(self.members.heartbeat)
        except WagateError as exc:
            log.warning("heartbeat failed: %s", exc)
            return
        target = fair_share(self.config.shards, live)
        held = sorted(self._shards)
        for number in held[target:]:
            log.info("%s hands back shard %s (%d connectors alive)", self.owner, number, live)
            await self._drop_shard(number, release=True)
        for number in self._shard_order():
            if len(self._shards) >= target or self._stopping:
                break
            if number in self._shards:
                continue
            lease = await asyncio.to_thread(
                self.leases.acquire, shard_lease_key(number), self.config.shard_lease
            )
            if lease is not None:
                self._adopt(number, lease)

    def _shard_order(self) -> list[int]:
        # Each connector starts looking at a different shard, so simultaneous starters rarely collide.
        count = self.config.shards
        start = zlib.crc32(self.owner.encode()) % count
        return [(start + i) % count for i in range(count)]

    def _adopt(self, number: int, lease: Lease) -> None:
        try:
            queue = self._queues.get(command_queue_name(number))
        except NotFound:
            log.error("no queue %s: shard %s cannot take commands", command_queue_name(number), number)
            self._tasks.spawn(self._release(lease), name=f"release shard {number}")
            return
        consumer = CommandConsumer(
            number,
            queue,
            self._dispatcher.dispatch,
            wait_seconds=self.config.command_wait_seconds,
            visibility_seconds=self.config.command_visibility_seconds,
            max_in_flight=self.config.command_max_in_flight,
            retry_seconds=self.config.command_retry_seconds,
            dlq=functools.partial(self._queues.get, command_dlq_name(number)),
        )
        self._shards[number] = _Shard(number, lease, consumer)
        self.keeper.hold(lease, self.config.shard_lease, lambda lost: self._shard_lost(number, lost))
        consumer.start()
        log.info("%s holds shard %s (fence %s)", self.owner, number, lease.fence)
        self._tasks.spawn(self.discover(number), name=f"discover shard {number}")

    def _shard_lost(self, number: int, lease: Lease) -> None:
        shard = self._shards.get(number)
        if shard is not None and shard.lease is lease:
            self._tasks.spawn(self._drop_shard(number, release=False), name=f"drop shard {number}")

    async def _drop_shard(self, number: int, *, release: bool) -> None:
        shard = self._shards.pop(number, None)
        if shard is None:
            return
        shard.consumer.request_stop()
        # Sockets first: when the lease was lost, only the self-fencing margin is left to close them.
        await self._stop_runners(
            [r for r in self._runners.values() if r.shard == number], StopReason.HANDOVER
        )
        await shard.consumer.stop(self.config.stop_timeout_seconds)
        if release:
            self.keeper.drop(shard.lease)
            await self._release(shard.lease)

    async def _release(self, lease: Lease) -> None:
        try:
            await asyncio.to_thread(self.leases.release, lease)
        except WagateError as exc:
            log.warning("could not release %s (it will expire): %s", lease.key.label, exc)

    # ---- sessions -----------------------------------------------------------------------------------

    async def discover_all(self) -> None:
        for number in list(self._shards):
            await self.discover(number)

    async def discover(self, number: int) -> None:
        """Start the sessions of one shard that should run and are not running here."""
        if number not in self._shards or self._stopping:
            return
        try:
            rows = await asyncio.to_thread(self._shard_sessions, number)
        except WagateError as exc:
            log.warning("cannot list the sessions of shard %s: %s", number, exc)
            return
        for row in rows:
            if number not in self._shards or self._stopping:
                return
            if row.session.id not in self._holds and self._should_run(row):
                self._launch(_session_info(row), number)

    def _shard_sessions(self, number: int) -> list[SessionRecord]:
        return SessionRepository(self._table).in_shard(number)

    def _should_run(self, row: SessionRecord) -> bool:
        return (
            row.desired == "running"
            and row.status not in PERMANENT
            and self._engines.serves(str(row.session.provider))
            and row.session.id not in self._runners
        )

    def _launch(self, session: SessionInfo, shard: int) -> SessionRunner:
        runner = SessionRunner(session, shard, self._shards[shard].lease.fence, self._context)
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
        if self._stopping:
            return False  # shutting down: every command is the next owner's
        runner = self._runners.get(session_id)
        shard = runner.shard if runner is not None else shard_of(session_id, self.config.shards)
        return shard in self._shards

    def runner(self, tenant_id: str, session_id: str) -> SessionRunner | None:
        runner = self._runners.get(session_id)
        return runner if runner is not None and runner.session.tenant_id == tenant_id else None

    async def start_session(self, tenant_id: str, session_id: str, *, explicit: bool) -> SessionRunner | None:
        """Start a session of an owned shard (explicit: a connect command, which overrides its status)."""
        if self._stopping or (not explicit and session_id in self._holds):
            return None
        row = await asyncio.to_thread(SessionRepository(self._table).find, tenant_id, session_id)
        if row is None:
            log.warning("no session %s/%s", tenant_id, session_id)
            return None
        existing = self._runners.get(session_id)
        if existing is not None:
            return existing if existing.session.tenant_id == tenant_id else None
        shard = row.shard if row.shard is not None else shard_of(session_id, self.config.shards)
        if shard not in self._shards or self._stopping:
            return None
        session = _session_info(row)
        if not self._engines.serves(session.provider):
            if explicit:
                reason = Failed("no_engine", f"this connector has no engine for {session.provider!r}")
                self.publisher.publish_engine_event(tenant_id, session_id, 0, reason)
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
        shard = self._shards.get(shard_of(session_id, self.config.shards))
        row = await asyncio.to_thread(SessionRepository(self._table).find, tenant_id, session_id)
        if shard is None or row is None:
            return
        key = session_lease_key(tenant_id, session_id)
        times = self.config.session_lease
        lease = await asyncio.to_thread(self.leases.acquire, key, times, shard_fence=shard.lease.fence)
        if lease is None:
            log.warning("cannot log out %s/%s: another connector holds it", tenant_id, session_id)
            return
        try:
            keys = TableKeyStore(
                self._table, self._context.crypto, lease, tenant_id=tenant_id, session_id=session_id
            )
            await keys.wipe()
            labels = {"sandbox": True} if row.session.provider == "sandbox" else {}
            self.publisher.publish_engine_event(
                tenant_id, session_id, lease.fence, LoggedOut("logged out by request"), labels
            )
        finally:
            await self._release(lease)

    # ---- plumbing -----------------------------------------------------------------------------------

    async def _every(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except Exception:
                log.exception("%s failed; trying again in %.1fs", action, seconds)


def _session_info(row: SessionRecord) -> SessionInfo:
    session = row.session
    return SessionInfo(
        tenant_id=session.tenant_id,
        session_id=session.id,
        provider=str(session.provider),
        phone=session.phone or None,
        link_by_code=session.link_by_code,
    )
