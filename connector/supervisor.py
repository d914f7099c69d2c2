"""The supervisor: leases a fair share of the shards; its `SessionPool` runs each of their sessions.

Every `shard_lease.renew_every` it heart-beats its member row, counts the live connectors and takes (or
hands back) shards until it holds its fair share. For each shard it holds it consumes the shard's
command queue and, every `discovery_seconds` (and at once when the shard is taken), lists the shard's
session rows (index gsi1, `gsi1pk = SHARD#{n}`) and the pool starts those that should run
(`connector/session_pool.py` says which).

Losing a shard (renewal refused, or not renewed before its self-fencing deadline) stops that shard's
sessions at once; handing one back does the same, then releases the shard lease. Shutdown: stop taking
commands, stop every session (sockets closed, session leases released), release the shard leases.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from connector.commands import CommandDispatcher
from connector.config import ConnectorConfig
from connector.consumer import CommandConsumer
from connector.engines.catalog import EngineCatalog
from connector.leases import Lease, LeaseKeeper, Leases, shard_lease_key
from connector.media_fetch import MediaFetcher
from connector.members import Members
from connector.publisher import EventPublisher
from connector.session_pool import SessionPool
from connector.session_runner import RunnerContext, SessionState, StopReason
from connector.shards import (
    EVENTS_QUEUE,
    command_dlq_name,
    command_queue_name,
    fair_share,
)
from connector.tasks import BackgroundTasks
from wagate.domain.errors import NotFound, WagateError
from wagate.ports import Clock, Crypto, MediaStore, Queues, Table
from wagate.services.pacing_settings import PacingSettings

log = logging.getLogger("wagate.connector.supervisor")


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
        pacing: PacingSettings,
        media: MediaStore | None = None,
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
        self._shards: dict[int, _Shard] = {}
        self.sessions = SessionPool(
            owner=owner,
            table=table,
            config=config,
            engines=engines,
            leases=self.leases,
            publisher=self.publisher,
            context=RunnerContext(
                table,
                crypto,
                clock,
                config,
                self.leases,
                self.keeper,
                self.publisher,
                engines,
                self._tasks,
                MediaFetcher(media),
            ),
            tasks=self._tasks,
            shards=self,
        )
        self._dispatcher = CommandDispatcher(
            self.sessions, self.publisher, config, table=table, clock=clock, pacing=pacing, media=media
        )
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
        await self.sessions.stop_all(StopReason.SHUTDOWN)
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
        return self.sessions.states()

    # ---- Shards, for the session pool ---------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping

    def fence(self, number: int) -> int | None:
        shard = self._shards.get(number)
        return shard.lease.fence if shard is not None else None

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
        self._tasks.spawn(self.sessions.discover(number), name=f"discover shard {number}")

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
        await self.sessions.stop_shard(number, StopReason.HANDOVER)
        await shard.consumer.stop(self.config.stop_timeout_seconds)
        if release:
            self.keeper.drop(shard.lease)
            await self._release(shard.lease)

    async def _release(self, lease: Lease) -> None:
        try:
            await asyncio.to_thread(self.leases.release, lease)
        except WagateError as exc:
            log.warning("could not release %s (it will expire): %s", lease.key.label, exc)

    # ---- sessions (the pool runs them) ---------------------------------------------------------------

    async def discover_all(self) -> None:
        for number in list(self._shards):
            await self.sessions.discover(number)

    # ---- plumbing -----------------------------------------------------------------------------------

    async def _every(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except Exception:
                log.exception("%s failed; trying again in %.1fs", action, seconds)
