"""Leases with fencing tokens in the Table: who may hold a shard or a session, and for how long.

A lease row (a shard's or a session's: wagate/store/keys.py) carries `owner`,
`lease_until` (epoch seconds) and `fence`, an int that grows on every acquisition and is never reused:
the row is never deleted, and `lease_until` is deliberately not the table's TTL attribute (an expired TTL
item turns invisible, and with it the fence, which would then restart at 1).

    acquire   conditional update: absent, or expired, or already ours (or, for a session, held under an
              older shard fence: its shard changed hands, so its old holder has stopped; or held by a
              process provably gone: same host and boot, its pid and start time no longer run, see
              wagate.process_liveness); fence += 1. Every takeover is logged with its reason.
    renew     conditional on owner and fence: extends lease_until
    release   conditional on owner and fence: lease_until = 0 and no owner, so anyone may acquire at once;
              `ended` (why, until the next acquire) and `released_fence` (kept) say it was on purpose

Self-fencing: a holder stops using a lease at its local `deadline` = (monotonic time when the last
successful acquire/renew was sent) + ttl - margin, which is before any other connector can see the row
expired. The margin absorbs clock skew between machines and the time it takes to close the sockets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.tasks import BackgroundTasks
from wagate import process_liveness
from wagate.conditions import Attr, Condition, item_absent
from wagate.domain.errors import ConflictError
from wagate.ports import Check, Clock, Table
from wagate.store import keys

log = logging.getLogger("wagate.connector.leases")


class LeaseLost(ConflictError):
    """A write was refused because this connector no longer holds the lease it was fenced with."""

    code = "lease_lost"


@dataclass(frozen=True)
class LeaseKey:
    pk: str
    sk: str
    label: str  # for logs: "shard 3", "session ten_x/ses_y"


def shard_lease_key(shard: int) -> LeaseKey:
    return LeaseKey(*keys.shard_lease(shard), f"shard {shard}")


def session_lease_key(tenant_id: str, session_id: str) -> LeaseKey:
    return LeaseKey(*keys.session_lease(tenant_id, session_id), f"session {tenant_id}/{session_id}")


@dataclass(frozen=True)
class LeaseTimes:
    ttl: float  # how long one acquire/renew lasts
    renew_every: float  # renew this long after the last success
    margin: float  # stop using the lease this long before it runs out

    def __post_init__(self) -> None:
        if not 0 < self.margin < self.ttl:
            raise ValueError("a lease margin must be between 0 and the lease time")
        if not 0 < self.renew_every < self.ttl - self.margin:
            raise ValueError("renew_every must leave time to renew before the self-fencing deadline")

    @classmethod
    def for_ttl(cls, ttl: float) -> LeaseTimes:
        """Renew at a third of the lease; self-fence at three quarters: two renewals can fail first."""
        return cls(ttl=ttl, renew_every=ttl / 3, margin=ttl / 4)


@dataclass
class Lease:
    key: LeaseKey
    owner: str
    fence: int
    until: float  # lease_until as written (table clock)
    deadline: float  # monotonic: stop using the lease at this point

    def fence_check(self) -> Check:
        """A transaction operation that holds only while this lease is still ours, at this fence."""
        return Check(self.key.pk, self.key.sk, self.held_condition())

    def held_condition(self) -> Condition:
        return Attr("owner").eq(self.owner) & Attr("fence").eq(self.fence)

    def send_check(self) -> Check:
        """fence_check, and the session's tenant not suspended: services/operator.py marks the session's
        lease row, so a send claim refuses it in the transaction it makes anyway (no extra read)."""
        return Check(self.key.pk, self.key.sk, self.held_condition() & Attr("suspended_at").not_exists())

    @property
    def expired_locally(self) -> bool:
        return time.monotonic() >= self.deadline


class Leases:
    """Lease operations on the Table for one owner. Synchronous: call them through asyncio.to_thread."""

    def __init__(self, table: Table, clock: Clock, owner: str) -> None:
        self.table = table
        self.clock = clock
        self.owner = owner

    def acquire(
        self,
        key: LeaseKey,
        times: LeaseTimes,
        *,
        shard_fence: int | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Lease | None:
        """The lease, with a new fence; None while someone else holds it. Raises TransientError."""
        started = time.monotonic()
        now = self.clock.now()
        condition = item_absent() | Attr("lease_until").lt(now) | Attr("owner").eq(self.owner)
        values: dict[str, Any] = {**(attributes or {}), "owner": self.owner, "lease_until": now + times.ttl}
        values["acquired_at"] = now
        # Who holds it, so that a successor on this host can prove us gone after a crash.
        values.update(process_liveness.current().attributes())
        if shard_fence is not None:
            # A session held under an older fence of its shard belongs to a connector that has lost that
            # shard, and so has stopped its sockets before the shard lease ran out (self-fencing).
            condition = condition | Attr("shard_fence").lt(shard_fence)
            values["shard_fence"] = shard_fence
        row = self.table.get(key.pk, key.sk)
        holder = row.get("owner") if row else None
        live = bool(row and holder and holder != self.owner and row.get("lease_until", 0) >= now)
        gone = live and process_liveness.row_writer_gone(row)
        if gone:
            assert row is not None
            # Exactly the row we judged: if it has changed since, the new holder is not the dead one.
            condition = condition | (Attr("owner").eq(holder) & Attr("fence").eq(row.get("fence")))
        try:
            item = self.table.update(
                key.pk, key.sk, set=values, remove=["ended"], add={"fence": 1}, condition=condition
            )
        except ConflictError:
            return None
        if holder and holder != self.owner:
            if gone:
                assert row is not None
                writer = process_liveness.writer_of(row)
                why = f"at once: its {writer.label() if writer else 'process'} is gone"
            elif live:
                why = "its shard changed hands"
            else:
                why = "its lease had expired"
            log.info("%s took over %s from %s (%s)", self.owner, key.label, holder, why)
        return Lease(key, self.owner, int(item["fence"]), now + times.ttl, started + times.ttl - times.margin)

    def renew(self, lease: Lease, times: LeaseTimes) -> bool:
        """Extend the lease; False when it is no longer ours. Raises TransientError."""
        started = time.monotonic()
        until = self.clock.now() + times.ttl
        try:
            self.table.update(
                lease.key.pk, lease.key.sk, set={"lease_until": until}, condition=lease.held_condition()
            )
        except ConflictError:
            return False
        lease.until = until
        lease.deadline = max(lease.deadline, started + times.ttl - times.margin)
        return True

    def release(self, lease: Lease, *, ended: Mapping[str, str] | None = None) -> None:
        """Let anyone acquire at once. A lease that is no longer ours is left alone. `ended` is the
        status the holder reported on its way out (`status`, `status_reason`, `status_detail`): the
        API shows it until the report itself, which travels the events queue, is applied."""
        # `released_fence`: which holding ended on purpose (kept by the next acquire, unlike `ended`), so a
        # successor's first report is not taken for a crash while this holder's own is still on its way.
        values: dict[str, Any] = {"lease_until": 0, "released_by": self.owner, "released_fence": lease.fence}
        if ended:
            values["ended"] = dict(ended)
        try:
            # Removing the owner also defeats a renewal still in flight in another thread.
            self.table.update(
                lease.key.pk,
                lease.key.sk,
                set=values,
                remove=["owner"],
                condition=lease.held_condition(),
            )
        except ConflictError:
            log.info("%s was already taken over; nothing to release", lease.key.label)
        lease.deadline = 0.0

    def read(self, key: LeaseKey) -> dict[str, Any] | None:
        return self.table.get(key.pk, key.sk)


@dataclass
class _Held:
    lease: Lease
    times: LeaseTimes
    on_lost: Callable[[Lease], None]
    next_renew: float = field(default=0.0)


class LeaseKeeper:
    """Renews every lease this connector holds, and calls `on_lost` when one is lost or runs out.

    One loop for all leases (rather than a task per session) keeps an idle session cheap; renewals run in
    worker threads in chunks, so thousands of sessions renew concurrently without blocking the loop.
    """

    CHUNK = 50

    def __init__(self, leases: Leases, *, tick: float) -> None:
        self.leases = leases
        self.tick = tick
        self._held: dict[tuple[str, str], _Held] = {}
        self._tasks = BackgroundTasks("lease keeper")
        self._task: asyncio.Task[None] | None = None

    def hold(self, lease: Lease, times: LeaseTimes, on_lost: Callable[[Lease], None]) -> None:
        self._held[(lease.key.pk, lease.key.sk)] = _Held(
            lease, times, on_lost, time.monotonic() + times.renew_every
        )

    def drop(self, lease: Lease) -> None:
        """Stop renewing (before a release); on_lost will not be called for it."""
        held = self._held.get((lease.key.pk, lease.key.sk))
        if held is not None and held.lease is lease:
            del self._held[(lease.key.pk, lease.key.sk)]

    def __len__(self) -> int:
        return len(self._held)

    def start(self) -> None:
        self._task = self._tasks.spawn(self._loop(), name="lease keeper")

    async def stop(self) -> None:
        await self._tasks.cancel_all()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            await self.renew_due()

    async def renew_due(self) -> None:
        """Renew what is due, then give up what has run out (its holder must stop using it).

        Never raises: whatever goes wrong with the renewals, the deadlines are still enforced."""
        try:
            await self._renew()
        except Exception:
            log.exception("lease renewal failed")
        for held in list(self._held.values()):
            if held.lease.expired_locally:
                self._lose(held, "not renewed in time")

    async def _renew(self) -> None:
        now = time.monotonic()
        due = [held for held in self._held.values() if held.next_renew <= now]
        if not due:
            return
        chunks = [due[i : i + self.CHUNK] for i in range(0, len(due), self.CHUNK)]
        results = await asyncio.gather(*(asyncio.to_thread(self._renew_chunk, c) for c in chunks))
        for held, outcome in zip(due, (r for chunk in results for r in chunk), strict=True):
            if outcome is None:  # failed: try again next tick, until the deadline
                continue
            if outcome:
                held.next_renew = time.monotonic() + held.times.renew_every
            else:
                self._lose(held, "taken over")

    def _renew_chunk(self, chunk: Sequence[_Held]) -> list[bool | None]:
        outcomes: list[bool | None] = []
        for held in chunk:
            try:
                outcomes.append(self.leases.renew(held.lease, held.times))
            except Exception as exc:  # TransientError, or anything unexpected: the deadline decides
                log.warning("could not renew %s: %s", held.lease.key.label, exc)
                outcomes.append(None)
        return outcomes

    def _lose(self, held: _Held, why: str) -> None:
        key = (held.lease.key.pk, held.lease.key.sk)
        if self._held.get(key) is not held:
            return
        del self._held[key]
        log.warning("lost %s (fence %s): %s", held.lease.key.label, held.lease.fence, why)
        try:
            held.on_lost(held.lease)
        except Exception:
            log.exception("on_lost of %s failed", held.lease.key.label)
