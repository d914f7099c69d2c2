"""The send path: claim the message row, pace the number, send with its stable WhatsApp id, retry what may.

    send command ─► read the row (a duplicate is dropped) ─► wait until the session is connected here
      ─► pacing wait ─► claim (queued → sending, fenced; see claims.py) ─► first-contact cap
      ─► typing… ─► engine send with provider_message_id(message_id) ─► message_sent

Outcomes, and what happens to the command:
    sent                                 message_sent published, then the command is deleted
    duplicate (already sent/…, cancelled, or claimed by another command under the current fence): deleted
    permanent failure (SendRejected, a bad payload, session logged out/failed/waiting for a QR scan,
    first_contact_limit, the session never connected, its tenant suspended: the claim's lease check
    refuses it, see claims.py, and a typed send looks again after "typing…")
                                         message_status failed, deleted (send_failures.py)
    transient failure (NotConnected, a timeout, EngineError.is_transient, an engine bug)
                                         failures + 1 on the row, backoff, next try in this session's lane
                                         (its later commands wait: FIFO); after `send_tries`: failed
                                         (retries_exhausted, with the last error) and the command is
                                         moved to the shard's DLQ (send_failures.py)
    WhatsApp throttles a lookup the send needs (HeldBack)
                                         the row goes back to `queued`, the lane waits out the hold, then
                                         the send starts over here; not a failure, bounded by the message's
                                         age; a session stopped meanwhile fails it (held_back_sends.py)
    the session leaves this connector (shutdown, handover, lease lost)   the command goes back to the
                                         queue at once; the claim stays, the next owner's fence is newer,
                                         so it re-claims and re-sends the same WhatsApp id (deduplicated)
Every event is in the events queue before its command is deleted: a crash loses no outcome.

Over the first-contact cap the message FAILS with `first_contact_limit` rather than waiting for
tomorrow: a CRM's messages are timely (a reminder for today's appointment is worthless tomorrow), so the
CRM is told now and decides (it may reschedule with scheduled_at).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

from connector import claims
from connector.config import ConnectorConfig
from connector.engines.base import Engine, SendResult
from connector.engines.errors import EngineError, HeldBack, SendRejected
from connector.first_contacts import FirstContacts
from connector.held_back_sends import HeldBackSends
from connector.outcomes import CommandResult, DeadLetter, RetryLater, pause
from connector.pacing import NumberPacer, PacingPolicies
from connector.publisher import EventPublisher
from connector.send_failures import Again, Failure, SendFailures, TryOutcome
from connector.send_requests import SendRequest
from connector.session_runner import SessionRunner, SessionState
from wagate.domain.errors import ConflictError, NotFound
from wagate.domain.events import Command, EventType
from wagate.domain.pacing import Pacing
from wagate.domain.tenants import SUSPENDED_CODE
from wagate.ports import Clock, MediaStore, Table
from wagate.services.health import HealthService
from wagate.services.pacing_settings import PacingSettings
from wagate.store.keys import media_object

log = logging.getLogger("wagate.connector.sending")

# Claims that never reached an outcome (the connector died mid-send) are re-tried, but not forever: a
# message that kills every connector that sends it must not take the fleet down in a loop.
CRASHED_CLAIMS_PER_TRY = 3
# Why the pool holds a session back (not started), as the failure reason of a message waiting for it.
_HOLD_REASONS = {
    "logged_out": "session_logged_out",
    "banned": "session_banned",
    SUSPENDED_CODE: SUSPENDED_CODE,
}


class SessionLookup(Protocol):
    """What the send path needs from the supervisor."""

    owner: str

    def owns_session(self, session_id: str) -> bool: ...

    def runner(self, tenant_id: str, session_id: str) -> SessionRunner | None: ...

    def held(self, session_id: str) -> str | None: ...

    async def start_session(
        self, tenant_id: str, session_id: str, *, explicit: bool
    ) -> SessionRunner | None: ...


class Sender:
    def __init__(
        self,
        control: SessionLookup,
        publisher: EventPublisher,
        table: Table,
        clock: Clock,
        config: ConnectorConfig,
        pacing: PacingSettings,
        *,
        media: MediaStore | None = None,
    ) -> None:
        self._control = control
        self._media = media  # stored uploads a send names by media id
        self._publisher = publisher
        self._table = table
        self._clock = clock
        self._config = config
        self.policies = PacingPolicies(
            pacing,
            refresh_seconds=config.pacing_refresh_seconds,
            health=HealthService(table, clock, config.health),
        )
        self._first_contacts = FirstContacts(table, clock)
        self._pacers: dict[str, NumberPacer] = {}
        self._failures = SendFailures(control.owns_session, publisher, table, clock, config)
        self._held_back = HeldBackSends(
            control.owns_session, table, clock, config, self._first_contacts, self._failures
        )

    async def handle(self, command: Command, halt: asyncio.Event) -> CommandResult:
        if not isinstance(command.data.get("message_id"), str) or not isinstance(command.data.get("to"), str):
            log.error("send command %s lacks message_id or to; dropped", command.id)
            return None
        message_id = str(command.data["message_id"])
        try:
            send = SendRequest.parse(command.data)
        except ValueError as exc:
            await self._failures.fail(command, None, "invalid_message", str(exc))
            return None
        row = await asyncio.to_thread(claims.read, self._table, command.tenant_id, message_id)
        verdict = claims.assess(row, command.id, None)
        if verdict is not claims.Verdict.CLAIMABLE:
            log.info("send %s of %s: %s; dropped", command.id, message_id, verdict)
            return None
        assert row is not None
        deadline = time.monotonic() + self._config.send_connect_wait_seconds
        while True:
            ready = await self._ready(command, deadline, halt)
            if ready is None:
                return RetryLater(0)
            if isinstance(ready, Failure):
                await self._failures.fail(command, None, ready.code, ready.detail)
                return None
            runner = ready
            pacing = await self.policies.get(command.tenant_id, command.session_id)
            pacer = self._pacers.setdefault(command.session_id, NumberPacer())
            wait = pacer.delay(pacing)
            if wait > 0:
                if await pause(halt, wait):
                    return RetryLater(0)
                continue  # the session may have changed meanwhile: look again
            claimed = await self._claim(command, row, runner)
            if not isinstance(claimed, int):
                return claimed
            outcome = await self._try(command, send, runner, pacing, pacer, row, claimed, halt)
            if not isinstance(outcome, Again):
                return outcome
            row = await asyncio.to_thread(claims.read, self._table, command.tenant_id, message_id) or row
            deadline = time.monotonic() + self._config.send_connect_wait_seconds

    # ---- one try ------------------------------------------------------------------------------------

    async def _try(
        self,
        command: Command,
        send: SendRequest,
        runner: SessionRunner,
        pacing: Pacing,
        pacer: NumberPacer,
        row: dict[str, Any],
        attempts: int,
        halt: asyncio.Event,
    ) -> TryOutcome:
        """What to do with the command, or AGAIN after a transient failure or a throttled try (the backoff
        or the hold has passed). `row` is the message as read before this try's claim."""
        engine = runner.engine
        if engine is None:
            return await self._failures.failed_try(
                command, runner, "not_connected", "the session dropped", halt
            )
        if claims.bounded_claims(row, attempts) > CRASHED_CLAIMS_PER_TRY * self._config.send_tries:
            await self._failures.fail(
                command, runner, "retries_exhausted", f"claimed {attempts} times, never finished"
            )
            return DeadLetter("retries_exhausted")
        if pacing.enabled and pacing.first_contacts_per_day:
            allowed = await asyncio.to_thread(
                self._first_contacts.reserve,
                command.tenant_id,
                command.session_id,
                send.to,
                send.message_id,
                pacing.first_contacts_per_day,
            )
            if not allowed:
                cap = pacing.first_contacts_per_day
                await self._failures.fail(
                    command,
                    runner,
                    "first_contact_limit",
                    f"this number's {cap} new contacts a day are used up",
                )
                return None
        pacer.took(pacing)
        try:
            if pacing.enabled and pacing.typing and send.media is None and send.text:
                await self._type(engine, send, pacing, pacer)
                if await self._suspended_meanwhile(command, send, runner):
                    return None
            result = await asyncio.wait_for(
                self._deliver(engine, send, command.tenant_id), self._config.send_timeout_seconds
            )
        except SendRejected as exc:
            await asyncio.to_thread(
                self._first_contacts.release, command.tenant_id, command.session_id, send.to, send.message_id
            )
            await self._failures.fail(command, runner, exc.code, exc.message)
            return None
        except ValueError as exc:
            await self._failures.fail(command, runner, "invalid_message", str(exc))
            return None
        except HeldBack as exc:
            return await self._held_back.wait_out(command, send, runner, row, exc, halt)
        except EngineError as exc:
            if not exc.is_transient:
                await self._failures.fail(command, runner, exc.code, exc.message)
                return None
            return await self._failures.failed_try(command, runner, exc.code, exc.message, halt)
        except TimeoutError:
            detail = f"no answer in {self._config.send_timeout_seconds}s"
            return await self._failures.failed_try(command, runner, "timeout", detail, halt)
        except Exception as exc:  # an engine bug: retried like a transient failure, bounded by the tries
            log.exception("send %s of %s: the engine raised", send.message_id, runner.session.label)
            return await self._failures.failed_try(
                command, runner, "engine_error", f"{type(exc).__name__}: {exc}", halt
            )
        runner.publish(
            EventType.MESSAGE_SENT,
            {
                "message_id": send.message_id,
                "provider_message_id": result.provider_message_id,
                "to": send.to,
                "to_jid": result.to_jid,
                "at": result.at,
                "attempts": attempts,
            },
        )
        await self._publisher.sent()
        return None

    async def _suspended_meanwhile(self, command: Command, send: SendRequest, runner: SessionRunner) -> bool:
        """After "typing…" (seconds since the claim checked the suspension mark): whether its tenant was
        suspended meanwhile, then the message failed. One read of the lease row, against a pause of
        typing_min_seconds or more; an untyped send goes out within milliseconds of its claim, so it is
        not worth a read there (README "Suspending a tenant")."""
        try:
            suspended = await asyncio.to_thread(
                claims.suspended, self._table, command.tenant_id, command.session_id
            )
        except Exception as exc:  # the claim's own check stands: send
            log.warning("send %s: could not look at the suspension again: %s", send.message_id, exc)
            return False
        if suspended:
            await asyncio.to_thread(
                self._first_contacts.release, command.tenant_id, command.session_id, send.to, send.message_id
            )
            await self._failures.fail(command, runner, SUSPENDED_CODE, "the tenant is suspended")
        return suspended

    async def _deliver(self, engine: Engine, send: SendRequest, tenant_id: str) -> SendResult:
        if send.media is not None and send.media.media_id is not None:
            with tempfile.TemporaryDirectory(prefix="wagate-send-") as folder:
                path = Path(folder) / "file"
                await asyncio.to_thread(self._copy_out, tenant_id, send.media.media_id, path)
                media = dataclasses.replace(send.media, path=path)
                return await engine.send_media(send.to, media, send.message_id, quoted_id=send.quoted_id)
        typed = send.content is not None and send.content.get("type") not in (
            None,
            "text",
            "template",
            "media",
        )
        if send.content is not None and (typed or send.quoted is not None) and send.media is None:
            content = send.content if typed else {"type": "text", "body": send.text}
            return await engine.send_content(
                send.to, content, send.message_id, target=send.target, quoted=send.quoted
            )
        if send.media is not None:
            return await engine.send_media(send.to, send.media, send.message_id, quoted_id=send.quoted_id)
        return await engine.send_text(send.to, send.text, send.message_id, quoted_id=send.quoted_id)

    def _copy_out(self, tenant_id: str, media_id: str, path: Path) -> None:
        """A stored upload into a local file the engine uploads from (the file is never whole in memory).
        Raises SendRejected when there is no media store or no such file (a retry cannot help)."""
        if self._media is None:
            raise SendRejected("no media store is configured here", code="media_not_configured")
        try:
            chunks = self._media.read(media_object(tenant_id, media_id))
        except NotFound as exc:
            raise SendRejected(f"media {media_id} is no longer stored", code="media_not_found") from exc
        with path.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)

    async def _type(self, engine: Engine, send: SendRequest, pacing: Pacing, pacer: NumberPacer) -> None:
        try:
            await engine.send_typing(send.to, True)
            await asyncio.sleep(pacer.typing_seconds(pacing, send.text))
            await engine.send_typing(send.to, False)
        except EngineError as exc:  # only cosmetic: the send itself says whether the session is usable
            log.debug("typing indicator for %s failed: %s", send.message_id, exc)

    # ---- before a try -------------------------------------------------------------------------------

    async def _ready(
        self, command: Command, deadline: float, halt: asyncio.Event
    ) -> SessionRunner | Failure | None:
        """This session's runner once connected here; a Failure when it cannot become so; None when the
        command is not ours to handle any more (shutdown, the shard moved)."""
        session_id = command.session_id
        while True:
            if halt.is_set() or not self._control.owns_session(session_id):
                return None
            runner = self._control.runner(command.tenant_id, session_id)
            if runner is None:
                held = self._control.held(session_id)
                if held is not None:
                    return Failure(_HOLD_REASONS.get(held, "session_not_connected"), f"the session is {held}")
                runner = await self._control.start_session(command.tenant_id, session_id, explicit=False)
                if runner is None:
                    if not self._control.owns_session(session_id):
                        return None
                    held = self._control.held(session_id)  # e.g. found suspended as it was read
                    if held is not None:
                        return Failure(
                            _HOLD_REASONS.get(held, "session_not_connected"), f"the session is {held}"
                        )
                    return Failure("session_not_connected", "the session is not running")
            if runner.outcome is not None:
                reason = runner.outcome.reason.value
                return Failure(_HOLD_REASONS.get(reason, "session_not_connected"), f"the session is {reason}")
            engine = runner.engine
            if runner.state is SessionState.CONNECTED and engine is not None and engine.connected:
                return runner
            if runner.state is SessionState.QR:
                return Failure("session_not_connected", "waiting for the QR code scan")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Failure("session_not_connected", "the session did not connect in time")
            # Short waits: a shutdown or handover (halt) must not wait for a state change that never comes.
            await runner.state_change(min(remaining, 0.5))

    async def _claim(
        self, command: Command, row: dict[str, Any], runner: SessionRunner
    ) -> int | CommandResult:
        """The attempt number once claimed; else what to do with the command."""
        lease = runner.lease
        if lease is None:
            return RetryLater(0)
        for _ in range(3):
            verdict = claims.assess(row, command.id, lease.fence)
            if verdict is not claims.Verdict.CLAIMABLE:
                log.info("send %s of %s: %s; dropped", command.id, row.get("id"), verdict)
                return None
            try:
                return await asyncio.to_thread(
                    claims.claim,
                    self._table,
                    row,
                    lease=lease,
                    owner=self._control.owner,
                    command_id=command.id,
                    now=self._clock.now(),
                )
            except ConflictError:
                fresh = await asyncio.to_thread(
                    claims.read, self._table, command.tenant_id, str(row.get("id"))
                )
                if fresh is not None and (fresh.get("status"), fresh.get("attempts")) == (
                    row.get("status"),
                    row.get("attempts"),
                ):
                    # The row is as read: the lease check failed. Its tenant suspended, or our lease lost.
                    if await asyncio.to_thread(
                        claims.suspended, self._table, command.tenant_id, command.session_id
                    ):
                        await self._failures.fail(command, runner, SUSPENDED_CODE, "the tenant is suspended")
                        return None
                    return RetryLater(0)
                if fresh is None:
                    return None
                row = fresh
        return RetryLater(1)  # the row keeps changing under us: look again shortly
