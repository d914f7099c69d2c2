"""One shard's command queue, consumed into one lane per session: in order within a session, never
blocking another.

Receiving never waits for handling: each received command joins its session's lane (group id = session
id), a task that handles that session's commands one at a time, so one number's pacing, backoff or
connection wait delays only that number. The FIFO queue delivers a session's next commands only once
all its received ones are deleted or visible again, which keeps each session's order across receives.

Held commands stay invisible: they are received with `visibility_seconds` and extended while a lane
still holds them (a keeper every third of it), so a long pacing wait is not re-delivered, and the
receive count does not climb (SQS's maxReceiveCount stays meaningful). A crashed connector's commands
come back `visibility_seconds` after its last extension. At most `max_in_flight` commands are held.

After a handler decides: None → deleted; RetryLater(n) → it and the rest of its lane become visible
after n seconds (0: at once, for the session's current owner); DeadLetter → copied to the shard's DLQ,
then deleted. On stop (shutdown, shard handed over) the lanes finish the command under way, and what
they still hold goes back to the queue at once.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pydantic import ValidationError

from connector.outcomes import CommandResult, DeadLetter, RetryLater
from connector.tasks import BackgroundTasks
from wagate.domain.errors import ConflictError, WagateError
from wagate.domain.events import Command
from wagate.ports import Queue, ReceivedMessage

log = logging.getLogger("wagate.connector.commands")

Dispatch = Callable[[Command, int, asyncio.Event], Awaitable[CommandResult]]


@dataclass
class _Held:
    message: ReceivedMessage
    visible_until: float  # monotonic


class CommandConsumer:
    def __init__(
        self,
        shard: int,
        queue: Queue,
        dispatch: Dispatch,
        *,
        wait_seconds: float,
        visibility_seconds: int,
        max_in_flight: int,
        retry_seconds: int,
        dlq: Callable[[], Queue] | None = None,
    ) -> None:
        self.shard = shard
        self._queue = queue
        self._dlq = dlq  # found when first needed: dead letters are rare, and the lookup may fail
        self._dispatch = dispatch
        self._wait_seconds = wait_seconds
        self._visibility = visibility_seconds
        self._max_in_flight = max_in_flight
        self._retry = RetryLater(retry_seconds)
        # Its own thread: a long poll must not hold one of the shared worker threads for seconds.
        self._receiver = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"commands-{shard}")
        self._halt = asyncio.Event()  # set on stop: lanes stop waiting and hand their commands back
        self._room = asyncio.Event()
        self._room.set()
        self._held: dict[str, _Held] = {}  # receipt → held command
        self._lanes: dict[str, collections.deque[ReceivedMessage]] = {}
        self._lane_tasks: dict[str, asyncio.Task[None]] = {}
        self._tasks = BackgroundTasks(f"commands of shard {shard}")
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._held)

    def start(self) -> None:
        self._loop_task = self._tasks.spawn(self._receive_loop(), name=f"commands {self.shard}")
        self._tasks.spawn(self._keep_invisible(), name=f"commands {self.shard} visibility")

    def request_stop(self) -> None:
        """Take no new command; lanes stop waiting (pacing, backoff, a connection) and hand back."""
        self._halt.set()
        self._room.set()  # a receive loop waiting for room must see the halt

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop receiving; lanes finish the command under way (up to `timeout`); the rest go back."""
        self.request_stop()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        lanes = list(self._lane_tasks.values())
        if lanes:
            _, late = await asyncio.wait(lanes, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        leftover = [held.message for held in self._held.values()]
        self._held.clear()
        await asyncio.to_thread(self._postpone, leftover, 0)
        await self._tasks.cancel_all()
        self._receiver.shutdown(wait=False)

    # ---- receiving ----------------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._halt.is_set():
            await self._room.wait()
            if self._halt.is_set():
                return
            room = min(10, self._max_in_flight - len(self._held))
            receive = functools.partial(
                self._queue.receive,
                max_messages=max(1, room),
                wait_seconds=self._wait_seconds,
                visibility_timeout=self._visibility,
            )
            try:
                messages = await loop.run_in_executor(self._receiver, receive)
            except Exception as exc:  # the queue is unreachable: what was received comes back later
                log.warning("shard %s: receiving commands failed: %s", self.shard, exc)
                await asyncio.sleep(1.0)
                continue
            if self._halt.is_set():
                await asyncio.to_thread(self._postpone, messages, 0)  # not ours to process now
                return
            self.accept(messages)

    def accept(self, messages: Sequence[ReceivedMessage]) -> None:
        """Queue received commands on their sessions' lanes (starting lanes as needed)."""
        until = time.monotonic() + self._visibility
        for message in messages:
            self._held[message.receipt] = _Held(message, until)
            group = message.group_id or ""
            lane = self._lanes.setdefault(group, collections.deque())
            lane.append(message)
            if group not in self._lane_tasks:
                task = self._tasks.spawn(self._run_lane(group), name=f"lane {self.shard}/{group}")
                self._lane_tasks[group] = task
        self._update_room()

    def _update_room(self) -> None:
        if len(self._held) < self._max_in_flight or self._halt.is_set():
            self._room.set()
        else:
            self._room.clear()

    # ---- lanes --------------------------------------------------------------------------------------

    async def _run_lane(self, group: str) -> None:
        lane = self._lanes[group]
        try:
            while lane:
                message = lane[0]
                result = await self._handle(message)
                if isinstance(result, RetryLater):
                    # Detach first: once these are visible again they may be received into a new lane.
                    self._detach(group, lane)
                    rest = list(lane)
                    self._release(rest)
                    await asyncio.to_thread(self._postpone, rest, result.seconds)
                    return
                if isinstance(result, DeadLetter):
                    await asyncio.to_thread(self._dead_letter, message, result.reason)
                await asyncio.to_thread(self._delete, message)
                lane.popleft()
                self._release([message])
        finally:
            self._detach(group, lane)

    def _detach(self, group: str, lane: collections.deque[ReceivedMessage]) -> None:
        if self._lanes.get(group) is lane:
            del self._lanes[group]
            self._lane_tasks.pop(group, None)

    def _release(self, messages: Sequence[ReceivedMessage]) -> None:
        for message in messages:
            self._held.pop(message.receipt, None)
        self._update_room()

    async def _handle(self, message: ReceivedMessage) -> CommandResult:
        try:
            command = Command.model_validate_json(message.body)
        except ValidationError as exc:
            log.error("shard %s: dropping a malformed command %s: %s", self.shard, message.message_id, exc)
            return None
        try:
            return await self._dispatch(command, message.receive_count, self._halt)
        except Exception:
            log.exception("shard %s: command %s (%s) failed", self.shard, command.id, command.type)
            return self._retry

    # ---- queue calls (in worker threads) ------------------------------------------------------------

    def _delete(self, message: ReceivedMessage) -> None:
        try:
            self._queue.delete(message.receipt)
        except WagateError as exc:  # it comes back after its visibility; handling it again is harmless
            log.warning("shard %s: could not delete command %s: %s", self.shard, message.message_id, exc)

    def _dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        if self._dlq is None:
            log.error("shard %s: no DLQ; command %s (%s) is dropped", self.shard, message.message_id, reason)
            return
        try:
            self._dlq().send(message.body, group_id=message.group_id, dedup_id=message.message_id)
        except WagateError as exc:  # NotFound, AccessDenied, ...: the message is failed either way
            log.error(
                "shard %s: could not dead-letter %s (%s): %s", self.shard, message.message_id, reason, exc
            )

    def _postpone(self, messages: Sequence[ReceivedMessage], seconds: int) -> None:
        for message in messages:
            try:
                self._queue.change_visibility(message.receipt, seconds)
            except WagateError:
                pass  # its visibility ran out already (or the queue is unreachable): it comes back anyway

    # ---- keeping held commands invisible ------------------------------------------------------------

    async def _keep_invisible(self) -> None:
        while True:
            await asyncio.sleep(max(0.2, self._visibility / 3))
            now = time.monotonic()
            due = [held for held in self._held.values() if held.visible_until - now < self._visibility / 2]
            if due:
                await asyncio.to_thread(self._extend, due)

    def _extend(self, due: Sequence[_Held]) -> None:
        for held in due:
            if held.message.receipt not in self._held:
                continue  # finished meanwhile
            started = time.monotonic()
            try:
                self._queue.change_visibility(held.message.receipt, self._visibility)
                held.visible_until = started + self._visibility
            except ConflictError:
                # Its visibility ran out before we renewed it: it may be handled twice (claims make a
                # duplicate send harmless). Stop renewing it.
                log.warning(
                    "shard %s: command %s became visible while held", self.shard, held.message.message_id
                )
                held.visible_until = float("inf")
            except WagateError as exc:
                log.warning("shard %s: could not extend %s: %s", self.shard, held.message.message_id, exc)
