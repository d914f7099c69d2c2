"""One session's supervised life: its lease, its engine attempts, reconnects with backoff, its end.

    acquire the session lease (fence N) ──► build engine ──► run() ──► Exit
                                              ▲                         │
                   NOW (at most 3 in a row) ──┤                         ├─ NEVER: report it, stay down
                   BACKOFF: connection_lost ──┤ (waits backoff(attempt);├─ logged out: wipe keys first
                            a connect command cuts the wait short)      └─ stop(): close, release lease
                   a temporary ban ───────────┘ (reported `failed` / `temporarily_banned` once, then
                            waits until WhatsApp said it ends, plus jitter; a connect command cuts it short)

Anything an engine raises is a bug in that engine: it is logged and treated as a BACKOFF exit, so one
session's failure never reaches another. A lost lease (renewal refused, or self-fencing deadline, or a
fenced key write refused) stops the engine at once and publishes nothing more: the session is someone
else's now.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from connector.backoff import backoff
from connector.config import ConnectorConfig
from connector.engines.base import Engine, SessionInfo
from connector.engines.catalog import EngineCatalog
from connector.engines.errors import Unsupported
from connector.engines.events import (
    Connected,
    Disconnected,
    EngineEvent,
    Failed,
    IncomingMessage,
    LoggedOut,
    PairingCode,
    QrCode,
    Receipt,
)
from connector.engines.exits import Exit, ExitReason, Retry
from connector.keystore import TableKeyStore
from connector.leases import Lease, LeaseKeeper, LeaseLost, Leases, session_lease_key
from connector.media_fetch import MediaFetcher
from connector.publisher import EventPublisher
from connector.tasks import BackgroundTasks
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.sessions import Provider
from wagate.ports import Clock, Crypto, Table

log = logging.getLogger("wagate.connector.session")

MAX_QUICK_RESTARTS = 3  # NOW exits in a row before they count as BACKOFF (an engine asking forever)
# After a temporary ban the number comes back at its end plus up to 10 % of its length (at most a minute):
# a wave of numbers banned together does not log in again in the same second (a burst of logins from one
# host is what automation looks like, and it would crowd the connector).
BAN_JITTER_SHARE = 0.1
BAN_JITTER_CAP_SECONDS = 60.0


@enum.unique
class SessionState(enum.StrEnum):
    STARTING = "starting"  # taking the lease
    CONNECTING = "connecting"  # engine running, not logged in yet
    QR = "qr"  # showing QR codes: waiting for a scan
    CONNECTED = "connected"
    WAITING = "waiting"  # backing off before the next attempt
    STOPPED = "stopped"


@enum.unique
class StopReason(enum.StrEnum):
    REQUESTED = "requested"  # a disconnect command: stays down
    SHUTDOWN = "connector_stopped"  # graceful shutdown of this connector
    HANDOVER = "shard_handover"  # the shard moves to another connector
    LEASE_LOST = "lease_lost"  # someone else holds the session now


@dataclass
class RunnerContext:
    """What every session runner of a connector shares."""

    table: Table
    crypto: Crypto
    clock: Clock
    config: ConnectorConfig
    leases: Leases
    keeper: LeaseKeeper
    publisher: EventPublisher
    engines: EngineCatalog
    tasks: BackgroundTasks
    media: MediaFetcher = field(default_factory=lambda: MediaFetcher(None))


class SessionRunner:
    def __init__(self, session: SessionInfo, shard: int, shard_fence: int, context: RunnerContext) -> None:
        self.session = session
        self.shard = shard
        self.shard_fence = shard_fence
        self._state = SessionState.STARTING
        self._changed = asyncio.Event()
        self.engine: Engine | None = None
        self.lease: Lease | None = None
        self.outcome: Exit | None = None  # the permanent Exit that ended it, if one did
        self._ended: dict[str, str] | None = None  # the status that Exit was reported as
        self._context = context
        self._stop_reason: StopReason | None = None
        self._wake = asyncio.Event()
        self._quick_restarts = 0
        self._attempt = 0
        self.banned_until: float | None = None  # waiting out a temporary ban (epoch seconds, with jitter)

    @property
    def state(self) -> SessionState:
        return self._state

    @state.setter
    def state(self, value: SessionState) -> None:
        if value is not self._state:
            self._state = value
            self._changed.set()  # wakes every waiter of the old event; later waiters get a new one
            self._changed = asyncio.Event()

    async def state_change(self, timeout: float) -> None:
        """Wait until the state changes (or `timeout` passes)."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    @property
    def labels(self) -> dict[str, Any]:
        """Added to every event of the session: sandbox sessions say so, everywhere."""
        return {"sandbox": True} if self.session.provider == Provider.SANDBOX else {}

    @property
    def fence(self) -> int:
        return self.lease.fence if self.lease is not None else 0

    @property
    def stopping(self) -> bool:
        return self._stop_reason is not None

    # ---- control ------------------------------------------------------------------------------------

    async def stop(self, reason: StopReason) -> None:
        """Ask the session to end (the task finishes once the socket is closed and the lease released)."""
        if self._stop_reason is None:
            self._stop_reason = reason
        self._wake.set()
        if self.engine is not None:
            await self.engine.stop()

    def wake(self) -> None:
        """Skip the rest of a backoff wait (a connect command for a session that is retrying)."""
        self._wake.set()

    def publish(self, type: EventType, data: dict[str, Any]) -> SessionEvent:
        s = self.session
        return self._context.publisher.publish(
            s.tenant_id, s.session_id, self.fence, type, {**data, **self.labels}
        )

    # ---- the session task ---------------------------------------------------------------------------

    async def run(self) -> None:
        c = self._context
        times = c.config.session_lease
        key = session_lease_key(self.session.tenant_id, self.session.session_id)
        attributes: dict[str, Any] = {
            "tenant_id": self.session.tenant_id,
            "session_id": self.session.session_id,
            "shard": self.shard,
        }
        lease = await asyncio.to_thread(
            c.leases.acquire, key, times, shard_fence=self.shard_fence, attributes=attributes
        )
        if lease is None:
            log.info("%s is held by another connector; not starting it", self.session.label)
            self.state = SessionState.STOPPED
            return
        self.lease = lease
        c.keeper.hold(lease, times, self._lease_lost)
        keys = TableKeyStore(
            c.table,
            c.crypto,
            lease,
            tenant_id=self.session.tenant_id,
            session_id=self.session.session_id,
            on_lease_lost=lambda: self._lease_lost(lease),
        )
        try:
            await self._serve(keys)
        finally:
            self.state = SessionState.STOPPED
            c.keeper.drop(lease)
            if self._stop_reason is not StopReason.LEASE_LOST:
                ended = self._report_stop() or self._ended
                try:
                    await asyncio.to_thread(functools.partial(c.leases.release, lease, ended=ended))
                except Exception:  # it will expire on its own
                    log.exception("could not release the lease of %s", self.session.label)

    async def _serve(self, keys: TableKeyStore) -> None:
        c = self._context
        while not self.stopping:
            self.state = SessionState.CONNECTING
            self.publish(EventType.SESSION_STATUS, {"status": "connecting", "attempt": self._attempt})
            outcome: Exit | None
            try:
                engine = c.engines.build(self.session, keys, self._on_event)
            except Unsupported as exc:
                outcome = Exit.failed(str(exc))
            else:
                outcome = await self._attempt_once(engine)
            if outcome is None:
                return  # lease lost
            if self.stopping:
                return
            if outcome.logged_out:
                try:
                    await keys.wipe()
                except LeaseLost:
                    return
            if outcome.reason is ExitReason.TEMPORARILY_BANNED and outcome.expires_in is not None:
                if not await self._wait_out_ban(outcome):
                    return
                continue
            if outcome.retry is Retry.NEVER:
                self.outcome = outcome
                self._report_end(outcome)
                return
            if outcome.retry is Retry.NOW and self._quick_restarts < MAX_QUICK_RESTARTS:
                self._quick_restarts += 1
                continue
            delay = backoff(
                self._attempt, base=c.config.backoff_base_seconds, cap=c.config.backoff_cap_seconds
            )
            self._attempt += 1
            self.state = SessionState.WAITING
            log.info(
                "%s: %s (%s); retrying in %.1fs", self.session.label, outcome.reason, outcome.detail, delay
            )
            self.publish_event(
                Disconnected(outcome.reason.value, retry_in=round(delay, 3), detail=outcome.detail)
            )
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    async def _attempt_once(self, engine: Engine) -> Exit | None:
        """The engine's Exit; None when the lease was lost under it."""
        self.engine = engine
        try:
            return await engine.run()
        except LeaseLost:
            self._stop_reason = StopReason.LEASE_LOST
            return None
        except Exception as exc:
            log.exception("%s: the %s engine crashed", self.session.label, self.session.provider)
            return Exit(ExitReason.CRASHED, Retry.BACKOFF, detail=f"{type(exc).__name__}: {exc}")
        finally:
            self.engine = None

    async def _on_event(self, event: EngineEvent) -> None:
        if self._stop_reason is StopReason.LEASE_LOST:
            if isinstance(event, IncomingMessage | Receipt):  # unpublished: the engine must not ack it
                raise LeaseLost(f"{self.session.label} is someone else's now: the event was not published")
            return  # the session is someone else's now; our reports would only confuse
        if isinstance(event, IncomingMessage) and event.media is not None and self.engine is not None:
            # Stored before it is published: WhatsApp's link expires, and the key must not leave us.
            event = await self._context.media.stored(self.engine, self.session, event)
        if isinstance(event, QrCode | PairingCode):
            self.state = SessionState.QR
        elif isinstance(event, Connected):
            self.state = SessionState.CONNECTED
            self._attempt = 0
            self._quick_restarts = 0
        self.publish_event(event)
        if isinstance(event, IncomingMessage | Receipt):
            # The engine acks the stanza to WhatsApp when this returns: only once the event is queued.
            await self._context.publisher.sent()

    def publish_event(self, event: EngineEvent) -> None:
        s = self.session
        self._context.publisher.publish_engine_event(
            s.tenant_id, s.session_id, self.fence, event, self.labels
        )

    def _report_end(self, outcome: Exit) -> None:
        log.warning("%s stopped for good: %s (%s)", self.session.label, outcome.reason, outcome.detail)
        reason = outcome.reason.value
        if outcome.reason is ExitReason.REPLACED:
            # Another socket took the device over. If it is another connector, it holds a newer lease and
            # its events carry a higher fence, so this report is dropped as stale; if it is anything else
            # (a copied key, another client), the session really is down here and must not stay
            # `connected`.
            self.publish_event(Disconnected(reason, retry_in=None, detail=outcome.detail))
            self._ended = _ending("disconnected", reason, outcome.detail)
        elif outcome.logged_out and outcome.reason is not ExitReason.BANNED:
            self.publish_event(LoggedOut(reason, outcome.detail))
            self._ended = _ending("logged_out", reason, outcome.detail)
        elif outcome.reason is ExitReason.QR_TIMEOUT:
            self.publish(EventType.SESSION_STATUS, {"status": "pending", "reason": reason})
            self._ended = _ending("pending", reason)
        else:
            # A temporary ban says when it ends; the session stays down until someone connects it again.
            expires_at = None
            if outcome.expires_in is not None:
                expires_at = round(self._context.clock.now() + outcome.expires_in, 3)
            self.publish_event(Failed(reason, outcome.detail, expires_at))
            self._ended = _ending("failed", reason, outcome.detail)

    async def _wait_out_ban(self, outcome: Exit) -> bool:
        """Report the temporary ban (`expires_at`: when WhatsApp said it ends), keep the lease, and wait
        until then plus jitter. True: connect again (the ban is over, or a connect command came)."""
        expires_in = max(outcome.expires_in or 0.0, 0.0)
        jitter = random.uniform(0.0, min(BAN_JITTER_SHARE * expires_in, BAN_JITTER_CAP_SECONDS))
        now = self._context.clock.now()
        reason = outcome.reason.value
        self.publish_event(Failed(reason, outcome.detail, round(now + expires_in, 3)))
        self._ended = _ending("failed", reason, outcome.detail)  # what a stop during the wait leaves
        self.banned_until = now + expires_in + jitter
        self.state = SessionState.WAITING
        log.warning(
            "%s: temporarily banned (%s); connecting again in %.0fs",
            self.session.label,
            outcome.detail,
            expires_in + jitter,
        )
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), expires_in + jitter)
        except TimeoutError:
            pass
        if self.stopping:  # `banned_until` stays: the stop reports nothing over the ban
            return False
        self.banned_until = None
        self._ended = None
        self._attempt = 0
        return True

    def _report_stop(self) -> dict[str, str] | None:
        """Report a stop that was asked for; the status reported, None when there was nothing to say."""
        if self._stop_reason is StopReason.REQUESTED:
            self.publish(EventType.SESSION_STATUS, {"status": "disconnected", "reason": "requested"})
            return _ending("disconnected", "requested")
        if self.banned_until is not None:  # stopped while waiting out a ban: the row stays failed (the
            return None  # next holder connects it, and WhatsApp says again how long the ban lasts)
        if self._stop_reason is not None and self.outcome is None:
            self.publish_event(Disconnected(self._stop_reason.value, retry_in=None))
            return _ending("disconnected", self._stop_reason.value)
        return None

    def _lease_lost(self, lease: Lease) -> None:
        if lease is not self.lease or self._stop_reason is StopReason.LEASE_LOST:
            return
        self._stop_reason = StopReason.LEASE_LOST
        self._wake.set()
        engine = self.engine
        if engine is not None:
            self._context.tasks.spawn(engine.stop(), name=f"stop {self.session.label}")


def _ending(status: str, reason: str, detail: str = "") -> dict[str, str]:
    """The status left on a released lease, in the session row's own field names."""
    ending = {"status": status, "status_reason": reason}
    if detail:
        ending["status_detail"] = detail
    return ending
