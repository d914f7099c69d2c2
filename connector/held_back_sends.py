"""Waiting out WhatsApp's hold on a send (HeldBack): the message goes back to `queued`, its session's lane
waits out the hold, then the send starts over (connector/sending.py paces and claims it again).

WhatsApp throttles a lookup the send needs (web: 429 rate-overlimit on the device list, prekeys or group
metadata; the engine holds that kind of query back, engines/web/throttle.py):
    the row goes back to `queued` (claims.put_back, under our claim: it may be cancelled meanwhile)
    the lane waits out the hold        the same command, so the session's order holds (FIFO). Not a
                                       failure (`failures` unchanged) nor a crashed claim
    then AGAIN                         sending.py starts the send over: paced, claimed again
    too old by the hold's end          when the message would be older than `throttled_send_max_age_seconds`
                                       (from when it was due) by then, it fails `rate_limited` at once
    the session stopped meanwhile      disconnect, logout, deletion, suspension (the session row, read every
                                       HOLD_LOOK_SECONDS): it fails at once, so the stop is not held back
    the session leaves this connector  the command goes back to the queue; its next owner's hold starts clean

Why a throttled send waits in its lane rather than going back to the queue with a delay: FIFO queues
take no per-message delay, and a command made visible later (RetryLater) is received again each time,
which climbs towards the queue's maxReceiveCount (5) and a silent dead letter. The lane's wait is the one
transient failures use (backoff, then try again), with the hold's remaining time as the delay. Neither
reference client waits: whatsmeow fails SendMessage when the device list cannot be had (send.go
prepareMessageNode) and leaves out the devices whose prekeys it could not fetch (prekeys.go
fetchPreKeysNoError: they miss the message); Baileys rejects the send when its usync or prekey query
throws (messages-send.ts getUSyncDevices / assertSessions, through socket.ts `query`, which throws on an
`<error>` child). Baileys' maxMsgRetryCount / retryRequestDelayMs are about retry receipts for messages a
peer could not decrypt, not about sending again. Keeping the message until WhatsApp answers is the
gateway's job; our engine raises on a refused prekey fetch too, so no device silently misses it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from connector import claims
from connector.config import ConnectorConfig
from connector.engines.errors import HeldBack
from connector.first_contacts import FirstContacts
from connector.outcomes import RetryLater, pause
from connector.send_failures import AGAIN, Failure, SendFailures, TryOutcome
from connector.send_requests import SendRequest
from connector.session_runner import SessionRunner
from wagate.domain.errors import ConflictError
from wagate.domain.events import Command
from wagate.domain.tenants import SUSPENDED_CODE
from wagate.ports import Clock, Table
from wagate.store.sessions import SessionRepository

log = logging.getLogger("wagate.connector.sending")  # one logger for the whole send path

# The engine rounds a hold's remaining time to a tenth of a second: waking this much later finds it over.
HOLD_MARGIN_SECONDS = 0.2
# A send waiting out a hold (up to 15 min) keeps its session's later commands behind it in the lane, a
# disconnect or logout too. The session row is read this often meanwhile: a number stopped, deleted or
# suspended fails the waiting message at once (as it would fail once stopped) rather than holding the
# stop back for the rest of the hold.
HOLD_LOOK_SECONDS = 5.0


class HeldBackSends:
    def __init__(
        self,
        owns_session: Callable[[str], bool],
        table: Table,
        clock: Clock,
        config: ConnectorConfig,
        first_contacts: FirstContacts,
        failures: SendFailures,
    ) -> None:
        self._owns_session = owns_session
        self._table = table
        self._clock = clock
        self._config = config
        self._first_contacts = first_contacts
        self._failures = failures

    async def wait_out(
        self,
        command: Command,
        send: SendRequest,
        runner: SessionRunner,
        row: dict[str, Any],
        error: HeldBack,
        halt: asyncio.Event,
    ) -> TryOutcome:
        """WhatsApp throttles a lookup this send needs: queued again and tried once the hold is over, or
        failed with the engine's code (`rate_limited`) when the message would be too old by then.
        `row` is the message as read before this try's claim."""
        if halt.is_set() or not self._owns_session(command.session_id):
            return RetryLater(0)  # the session is leaving us: its next owner tries (its hold starts clean)
        now = self._clock.now()
        wait = error.retry_in + HOLD_MARGIN_SECONDS if error.retry_in > 0 else self._failures.retry_delay(1)
        limit = self._config.throttled_send_max_age_seconds
        age = now + wait - _due_at(row, now)
        if age > limit:
            await asyncio.to_thread(
                self._first_contacts.release, command.tenant_id, command.session_id, send.to, send.message_id
            )
            detail = (
                f"{error.message}; the message would be {age:.0f} s old when the hold ends "
                f"(throttled_send_max_age_seconds: {limit:g})"
            )
            await self._failures.fail(command, runner, error.code, detail)
            return None
        problem = {"code": error.code, "message": error.message, "at": now, "retry_in": round(wait, 1)}
        try:
            await asyncio.to_thread(
                claims.put_back,
                self._table,
                command.tenant_id,
                send.message_id,
                fence=runner.fence,
                command_id=command.id,
                error=problem,
                now=now,
            )
        except ConflictError:
            log.warning("send %s: %s is no longer our claim; dropped", command.id, send.message_id)
            return None
        log.info(
            "send %s of %s throttled by WhatsApp: queued again, next try in %.1f s: %s",
            send.message_id,
            runner.session.label,
            wait,
            error.message,
        )
        waited = await self._wait(command, wait, halt)
        if waited is True:
            return RetryLater(0)
        if isinstance(waited, Failure):
            await asyncio.to_thread(
                self._first_contacts.release, command.tenant_id, command.session_id, send.to, send.message_id
            )
            await self._failures.fail(command, runner, waited.code, waited.detail)
            return None
        return AGAIN

    async def _wait(self, command: Command, seconds: float, halt: asyncio.Event) -> Failure | bool:
        """Waits `seconds`, looking at the session row now and then. True when halted first; a Failure
        when the session was stopped, deleted or suspended meanwhile."""
        end = time.monotonic() + seconds
        while (remaining := end - time.monotonic()) > 0:
            if await pause(halt, min(remaining, HOLD_LOOK_SECONDS)):
                return True
            stopped = await asyncio.to_thread(self._stopped, command.tenant_id, command.session_id)
            if stopped is not None:
                return stopped
        return False

    def _stopped(self, tenant_id: str, session_id: str) -> Failure | None:
        record = SessionRepository(self._table).find(tenant_id, session_id)
        waiting = "while the message waited out WhatsApp's hold"
        if record is None:
            return Failure("session_not_connected", f"the session was deleted {waiting}")
        if record.suspended_at is not None:
            return Failure(SUSPENDED_CODE, "the tenant is suspended")
        if record.desired not in (None, "running"):
            return Failure("session_not_connected", f"the session was stopped {waiting}")
        return None


def _due_at(row: dict[str, Any], default: float) -> float:
    """When the message was due: its scheduled time, else its acceptance."""
    for name in ("scheduled_at", "created_at"):
        value = row.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return default
