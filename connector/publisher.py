"""Publishes session events to the EventsQueue: engine events mapped to the one vocabulary, in order.

Each event is a `wagate.domain.events.SessionEvent` (JSON) sent to the FIFO `EventsQueue` with group id =
session id (each session's events stay in order) and dedup id = event id. Events carry the fence of the
session lease they were produced under, so the consumer can ignore a former owner's late reports.

`publish()` never waits for the queue: events go to an in-memory backlog that one flusher task sends in
batches of up to 10, so a burst (a thousand sessions reconnecting) costs a hundred queue calls, and an
engine is never slowed by the queue. Transient queue errors are retried with backoff, keeping the
order; an event the queue refuses outright (too large) is logged and dropped. `sent()` lets a caller
wait until what it published is in the queue (the send path deletes a command only after that).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
from typing import Any

from connector.backoff import backoff
from connector.engines.events import (
    Connected,
    ContactsSynced,
    Disconnected,
    EngineEvent,
    Failed,
    GroupChanged,
    GroupOperationDone,
    GroupsListed,
    IncomingMessage,
    LoggedOut,
    NumbersChecked,
    Paired,
    PairingCode,
    QrCode,
    Receipt,
    Throttled,
    ThrottleEnded,
)
from connector.tasks import BackgroundTasks
from wagate.domain.errors import TransientError, WagateError
from wagate.domain.events import EventType, SessionEvent
from wagate.ports import Clock, OutgoingMessage, Queue

log = logging.getLogger("wagate.connector.publisher")

MAX_BATCH = 10  # SQS SendMessageBatch takes at most 10


def event_payload(event: EngineEvent) -> tuple[EventType, dict[str, Any]]:
    """The vocabulary type and data of an engine event (see domain/events.py)."""
    if isinstance(event, IncomingMessage) and event.media is not None and event.media.fetch is not None:
        # How the engine downloads the file (a WhatsApp media key) never leaves the connector.
        event = dataclasses.replace(event, media=dataclasses.replace(event.media, fetch=None))
    fields = dataclasses.asdict(event)
    if isinstance(event, IncomingMessage) and fields.get("media") is not None:
        fields["media"].pop("fetch", None)
    if isinstance(event, QrCode):
        return EventType.QR_CODE, {"status": "qr", **fields}
    if isinstance(event, PairingCode):
        return EventType.QR_CODE, {
            "status": "qr",
            "qr": None,
            "pairing_code": event.code,
            "expires_at": event.expires_at,
        }
    if isinstance(event, Paired):
        return EventType.SESSION_STATUS, {"status": "connecting", "paired": True, **fields}
    if isinstance(event, Connected):
        return EventType.CONNECTION_SUCCESS, {"status": "connected", **fields}
    if isinstance(event, IncomingMessage):
        kind = event.media.kind.value if event.media is not None else "text"
        if event.content is not None:
            kind = str(event.content.get("type") or kind)
        return EventType.INCOMING_MESSAGE, {"type": kind, **fields}
    if isinstance(event, Receipt):
        return EventType.MESSAGE_STATUS, fields
    if isinstance(event, GroupsListed):
        for group in fields["groups"]:
            group.pop("members", None)  # the list stays small (one group's metadata carries them)
        return EventType.GROUPS_SYNCED, fields
    if isinstance(event, GroupChanged):
        return EventType.GROUP_UPDATED, fields
    if isinstance(event, GroupOperationDone):
        return EventType.GROUP_OPERATION, fields
    if isinstance(event, ContactsSynced):
        return EventType.CONTACTS_SYNCED, fields
    if isinstance(event, NumbersChecked):
        return EventType.NUMBERS_CHECKED, fields
    if isinstance(event, Throttled):  # a reason on a connected number (domain/status_reports.py)
        return EventType.SESSION_STATUS, {"status": "connected", "reason": "rate_limited", **fields}
    if isinstance(event, ThrottleEnded):  # clears only that reason (services/connector_events.py)
        return EventType.SESSION_STATUS, {
            "status": "connected",
            "reason": None,
            "ends": "rate_limited",
            **fields,
        }
    if isinstance(event, Disconnected):
        return EventType.CONNECTION_LOST, {"status": "disconnected", "permanent": False, **fields}
    if isinstance(event, LoggedOut):
        return EventType.LOGGED_OUT, {"status": "logged_out", **fields}
    if isinstance(event, Failed):
        return EventType.SESSION_FAILED, {"status": "failed", **fields}
    raise TypeError(f"not an engine event: {event!r}")


class EventPublisher:
    """Sends SessionEvents to one FIFO queue, in publish order."""

    def __init__(self, queue: Queue, clock: Clock, *, retry_cap: float = 30.0) -> None:
        self._queue = queue
        self._clock = clock
        self._retry_cap = retry_cap
        self._backlog: collections.deque[SessionEvent] = collections.deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks = BackgroundTasks("event publisher")
        self._published = 0  # events ever published
        self._done = 0  # of those, how many left the backlog (sent, or dropped as unsendable)
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def start(self) -> None:
        self._tasks.spawn(self._flush_forever(), name="event publisher")

    async def stop(self, timeout: float = 10.0) -> None:
        """Send what is waiting (up to `timeout`), then stop."""
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            log.error("stopping with %d events not sent", len(self._backlog))
        await self._tasks.cancel_all()

    async def flush(self) -> None:
        """Wait until everything published so far has been sent (or dropped)."""
        await self._idle.wait()

    def sent(self) -> asyncio.Future[None]:
        """Resolves once every event published so far is in the queue (or was dropped as unsendable)."""
        future = asyncio.get_running_loop().create_future()
        if self._done >= self._published:
            future.set_result(None)
        else:
            self._waiters.append((self._published, future))
        return future

    def publish(
        self, tenant_id: str, session_id: str, fence: int, type: EventType, data: dict[str, Any]
    ) -> SessionEvent:
        event = SessionEvent(
            type=type,
            tenant_id=tenant_id,
            session_id=session_id,
            fence=fence,
            at=self._clock.now(),
            data=data,
        )
        self._backlog.append(event)
        self._published += 1
        self._idle.clear()
        self._wake.set()
        return event

    def publish_engine_event(
        self,
        tenant_id: str,
        session_id: str,
        fence: int,
        event: EngineEvent,
        labels: dict[str, Any] | None = None,
    ) -> SessionEvent:
        type_, data = event_payload(event)
        return self.publish(tenant_id, session_id, fence, type_, {**data, **(labels or {})})

    async def _flush_forever(self) -> None:
        attempt = 0
        while True:
            if not self._backlog:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._backlog[i] for i in range(min(MAX_BATCH, len(self._backlog)))]
            try:
                await asyncio.to_thread(self._send, batch)
            except Exception as exc:  # TransientError, or anything unexpected: keep the order, retry
                delay = backoff(attempt, base=0.2, cap=self._retry_cap)
                attempt += 1
                log.warning("events queue unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            attempt = 0
            for _ in batch:
                self._backlog.popleft()
            self._done += len(batch)
            while self._waiters and self._waiters[0][0] <= self._done:
                _, future = self._waiters.popleft()
                if not future.done():
                    future.set_result(None)

    def _send(self, batch: list[SessionEvent]) -> None:
        messages = [_message(event) for event in batch]
        try:
            self._queue.send_batch(messages)
            return
        except TransientError:
            raise
        except WagateError:
            pass  # one of them is refused: send them one by one, so only that one is lost
        for event, message in zip(batch, messages, strict=True):
            try:
                self._queue.send_batch([message])
            except TransientError:
                raise
            except WagateError as exc:
                log.error(
                    "dropping event %s (%s) of %s/%s: %s",
                    event.id,
                    event.type,
                    event.tenant_id,
                    event.session_id,
                    exc,
                )


def _message(event: SessionEvent) -> OutgoingMessage:
    return OutgoingMessage(event.model_dump_json(), group_id=event.session_id, dedup_id=event.id)
