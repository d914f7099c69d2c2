"""How a send that did not go out ends: the message reported failed, or a transient failure counted on its
row and tried again after a backoff, until `send_tries` are used up (connector/sending.py runs the tries).

Every report is in the events queue before the send's command is deleted: a crash loses no outcome.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from connector import claims
from connector.backoff import backoff
from connector.config import ConnectorConfig
from connector.outcomes import CommandResult, DeadLetter, RetryLater, pause
from connector.publisher import EventPublisher
from connector.session_runner import SessionRunner
from wagate.domain.errors import ConflictError
from wagate.domain.events import Command, EventType
from wagate.domain.tenants import SUSPENDED_CODE
from wagate.ports import Clock, Table

log = logging.getLogger("wagate.connector.sending")  # one logger for the whole send path

# Failures a later re-send of the same message may get past (the CRM is told so: MessageError.retryable).
RETRYABLE = frozenset(
    {"first_contact_limit", "retries_exhausted", "session_not_connected", "rate_limited", SUSPENDED_CODE}
)


@dataclass(frozen=True)
class Failure:
    """Why a message cannot be sent, found before a try (its code is the message's failure reason)."""

    code: str
    detail: str


class Again:
    """Try once more: the backoff after a transient failure (or a hold WhatsApp put on) has passed."""


AGAIN = Again()
TryOutcome = CommandResult | Again


class SendFailures:
    def __init__(
        self,
        owns_session: Callable[[str], bool],
        publisher: EventPublisher,
        table: Table,
        clock: Clock,
        config: ConnectorConfig,
    ) -> None:
        self._owns_session = owns_session
        self._publisher = publisher
        self._table = table
        self._clock = clock
        self._config = config

    async def fail(self, command: Command, runner: SessionRunner | None, code: str, detail: str) -> None:
        """Report the message failed, and wait until the report is in the events queue."""
        data = {
            "message_id": command.data.get("message_id"),
            "status": "failed",
            "reason": code,
            "detail": detail,
            "retryable": code in RETRYABLE,
        }
        if runner is not None:
            runner.publish(EventType.MESSAGE_STATUS, data)
        else:
            self._publisher.publish(command.tenant_id, command.session_id, 0, EventType.MESSAGE_STATUS, data)
        await self._publisher.sent()

    async def failed_try(
        self, command: Command, runner: SessionRunner, code: str, detail: str, halt: asyncio.Event
    ) -> TryOutcome:
        """Record a transient failure on the claimed row; fail the message once the tries are used up."""
        if halt.is_set() or not self._owns_session(command.session_id):
            return RetryLater(0)  # the session is leaving us: not the message's failure
        message_id = str(command.data["message_id"])
        error = {"code": code, "message": detail, "at": self._clock.now()}
        try:
            failures = await asyncio.to_thread(
                claims.record_failure,
                self._table,
                command.tenant_id,
                message_id,
                fence=runner.fence,
                command_id=command.id,
                error=error,
                now=self._clock.now(),
            )
        except ConflictError:
            log.warning("send %s: %s is no longer our claim; dropped", command.id, message_id)
            return None
        tries = self._config.send_tries
        log.warning(
            "send %s of %s failed (%d/%d): %s: %s",
            message_id,
            runner.session.label,
            failures,
            tries,
            code,
            detail,
        )
        if failures >= tries:
            await self.fail(
                command, runner, "retries_exhausted", f"{failures} tries failed; last: {code}: {detail}"
            )
            return DeadLetter("retries_exhausted")
        if await pause(halt, self.retry_delay(failures)):
            return RetryLater(0)
        return AGAIN

    def retry_delay(self, failures: int) -> float:
        """Exponential, with half of it jittered: never (almost) zero, never in lockstep."""
        ceiling = backoff(
            failures - 1,
            base=self._config.send_retry_base_seconds,
            cap=self._config.send_retry_cap_seconds,
            rand=lambda: 1.0,
        )
        return ceiling * (0.5 + 0.5 * random.random())
