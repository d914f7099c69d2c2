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
                                         message_status failed, deleted
    transient failure (NotConnected, a timeout, EngineError.is_transient, an engine bug)
                                         failures + 1 on the row, backoff, next try in this session's lane
                                         (its later commands wait: FIFO); after `send_tries`: failed
                                         (retries_exhausted, with the last error) and the command is
                                         moved to the shard's DLQ
    WhatsApp throttles a lookup the send needs (HeldBack: web 429 rate-overlimit on the device list,
    prekeys or group metadata; the engine holds that kind of query back, engines/web/throttle.py)
                                         the row goes back to `queued` (claims.put_back), the lane waits
                                         out the hold, then the send starts over (paced, claimed again):
                                         the same command, so the session's order holds. Not a failure
                                         (`failures` unchanged); bounded by age instead: when the message
                                         would be older than `throttled_send_max_age_seconds` (from when it
                                         was due) by the hold's end, it fails `rate_limited` at once.
                                         Stopping the session meanwhile (disconnect, logout, deletion,
                                         suspension) fails it at once, so the stop is not held back
    the session leaves this connector (shutdown, handover, lease lost)   the command goes back to the
                                         queue at once; the claim stays, the next owner's fence is newer,
                                         so it re-claims and re-sends the same WhatsApp id (deduplicated)
Every event is in the events queue before its command is deleted: a crash loses no outcome.

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

Over the first-contact cap the message FAILS with `first_contact_limit` rather than waiting for
tomorrow: a CRM's messages are timely (a reminder for today's appointment is worthless tomorrow), so the
CRM is told now and decides (it may reschedule with scheduled_at).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from connector import claims
from connector.backoff import backoff
from connector.config import ConnectorConfig
from connector.engines.base import Engine, MessageRef, OutgoingMedia, SendResult
from connector.engines.errors import EngineError, HeldBack, SendRejected
from connector.engines.events import MediaKind
from connector.first_contacts import FirstContacts
from connector.outcomes import CommandResult, DeadLetter, RetryLater, pause
from connector.pacing import NumberPacer, PacingPolicies
from connector.publisher import EventPublisher
from connector.session_runner import SessionRunner, SessionState
from wagate.domain.errors import ConflictError, NotFound
from wagate.domain.events import Command, EventType
from wagate.domain.pacing import Pacing
from wagate.domain.tenants import SUSPENDED_CODE
from wagate.ports import Clock, MediaStore, Table
from wagate.services.health import HealthService
from wagate.services.pacing_settings import PacingSettings
from wagate.store.keys import media_object
from wagate.store.sessions import SessionRepository

log = logging.getLogger("wagate.connector.sending")

# Claims that never reached an outcome (the connector died mid-send) are re-tried, but not forever: a
# message that kills every connector that sends it must not take the fleet down in a loop.
CRASHED_CLAIMS_PER_TRY = 3
_HOLD_REASONS = {
    "logged_out": "session_logged_out",
    "banned": "session_banned",
    SUSPENDED_CODE: SUSPENDED_CODE,
}
# Failures a later re-send of the same message may get past (the CRM is told so: MessageError.retryable).
RETRYABLE = frozenset(
    {"first_contact_limit", "retries_exhausted", "session_not_connected", "rate_limited", SUSPENDED_CODE}
)
# The engine rounds a hold's remaining time to a tenth of a second: waking this much later finds it over.
HOLD_MARGIN_SECONDS = 0.2
# A send waiting out a hold (up to 15 min) keeps its session's later commands behind it in the lane, a
# disconnect or logout too. The session row is read this often meanwhile: a number stopped, deleted or
# suspended fails the waiting message at once (as it would fail once stopped) rather than holding the
# stop back for the rest of the hold.
HOLD_LOOK_SECONDS = 5.0


class SessionLookup(Protocol):
    """What the send path needs from the supervisor."""

    owner: str

    def owns_session(self, session_id: str) -> bool: ...

    def runner(self, tenant_id: str, session_id: str) -> SessionRunner | None: ...

    def held(self, session_id: str) -> str | None: ...

    async def start_session(
        self, tenant_id: str, session_id: str, *, explicit: bool
    ) -> SessionRunner | None: ...


class _Again:
    """Try once more: the backoff after a transient failure has passed."""


AGAIN = _Again()
TryOutcome = CommandResult | _Again


@dataclass(frozen=True)
class _Failure:
    code: str
    detail: str


@dataclass(frozen=True)
class _Send:
    message_id: str
    to: str
    text: str
    media: OutgoingMedia | None
    quoted_id: str | None
    content: dict[str, Any] | None = None  # a typed kind (location, reaction, poll…): send_content
    target: MessageRef | None = None
    quoted: MessageRef | None = None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> _Send:
        """Raises ValueError."""
        media = data.get("media")
        outgoing = None
        if isinstance(media, dict):
            outgoing = OutgoingMedia(
                kind=MediaKind(media.get("kind", "document")),
                mime_type=str(media.get("mime_type", "application/octet-stream")),
                url=media.get("url"),
                caption=media.get("caption"),
                filename=media.get("filename"),
                voice=bool(media.get("voice")),
                media_id=media.get("media_id"),
                size=media.get("size") if isinstance(media.get("size"), int) else None,
            )
        quoted = data.get("quoted_id")
        content = data.get("content") if isinstance(data.get("content"), dict) else None
        return cls(
            str(data["message_id"]),
            str(data["to"]),
            str(data.get("text") or ""),
            outgoing,
            quoted,
            content,
            _ref(data.get("target")),
            _ref(data.get("quoted")),
        )


def _ref(raw: Any) -> MessageRef | None:
    """A message named by a send command (services/messages.py writes them). Raises ValueError."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("provider_id"), str):
        raise ValueError(f"not a message reference: {raw!r}")
    participant = raw.get("participant")
    content = raw.get("content")
    return MessageRef(
        provider_id=raw["provider_id"],
        from_me=bool(raw.get("from_me")),
        participant=participant if isinstance(participant, str) else None,
        content=content if isinstance(content, dict) else None,
    )


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

    async def handle(self, command: Command, halt: asyncio.Event) -> CommandResult:
        if not isinstance(command.data.get("message_id"), str) or not isinstance(command.data.get("to"), str):
            log.error("send command %s lacks message_id or to; dropped", command.id)
            return None
        message_id = str(command.data["message_id"])
        try:
            send = _Send.parse(command.data)
        except ValueError as exc:
            await self._fail(command, None, "invalid_message", str(exc))
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
            if isinstance(ready, _Failure):
                await self._fail(command, None, ready.code, ready.detail)
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
            if not isinstance(outcome, _Again):
                return outcome
            row = await asyncio.to_thread(claims.read, self._table, command.tenant_id, message_id) or row
            deadline = time.monotonic() + self._config.send_connect_wait_seconds

    # ---- one try ------------------------------------------------------------------------------------

    async def _try(
        self,
        command: Command,
        send: _Send,
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
            return await self._failed_try(command, runner, "not_connected", "the session dropped", halt)
        if claims.bounded_claims(row, attempts) > CRASHED_CLAIMS_PER_TRY * self._config.send_tries:
            await self._fail(
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
                await self._fail(
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
            await self._fail(command, runner, exc.code, exc.message)
            return None
        except ValueError as exc:
            await self._fail(command, runner, "invalid_message", str(exc))
            return None
        except HeldBack as exc:
            return await self._held_back(command, send, runner, row, exc, halt)
        except EngineError as exc:
            if not exc.is_transient:
                await self._fail(command, runner, exc.code, exc.message)
                return None
            return await self._failed_try(command, runner, exc.code, exc.message, halt)
        except TimeoutError:
            detail = f"no answer in {self._config.send_timeout_seconds}s"
            return await self._failed_try(command, runner, "timeout", detail, halt)
        except Exception as exc:  # an engine bug: retried like a transient failure, bounded by the tries
            log.exception("send %s of %s: the engine raised", send.message_id, runner.session.label)
            return await self._failed_try(
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

    async def _suspended_meanwhile(self, command: Command, send: _Send, runner: SessionRunner) -> bool:
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
            await self._fail(command, runner, SUSPENDED_CODE, "the tenant is suspended")
        return suspended

    async def _deliver(self, engine: Engine, send: _Send, tenant_id: str) -> SendResult:
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

    async def _type(self, engine: Engine, send: _Send, pacing: Pacing, pacer: NumberPacer) -> None:
        try:
            await engine.send_typing(send.to, True)
            await asyncio.sleep(pacer.typing_seconds(pacing, send.text))
            await engine.send_typing(send.to, False)
        except EngineError as exc:  # only cosmetic: the send itself says whether the session is usable
            log.debug("typing indicator for %s failed: %s", send.message_id, exc)

    # ---- before a try -------------------------------------------------------------------------------

    async def _ready(
        self, command: Command, deadline: float, halt: asyncio.Event
    ) -> SessionRunner | _Failure | None:
        """This session's runner once connected here; a _Failure when it cannot become so; None when the
        command is not ours to handle any more (shutdown, the shard moved)."""
        session_id = command.session_id
        while True:
            if halt.is_set() or not self._control.owns_session(session_id):
                return None
            runner = self._control.runner(command.tenant_id, session_id)
            if runner is None:
                held = self._control.held(session_id)
                if held is not None:
                    return _Failure(
                        _HOLD_REASONS.get(held, "session_not_connected"), f"the session is {held}"
                    )
                runner = await self._control.start_session(command.tenant_id, session_id, explicit=False)
                if runner is None:
                    if not self._control.owns_session(session_id):
                        return None
                    held = self._control.held(session_id)  # e.g. found suspended as it was read
                    if held is not None:
                        return _Failure(
                            _HOLD_REASONS.get(held, "session_not_connected"), f"the session is {held}"
                        )
                    return _Failure("session_not_connected", "the session is not running")
            if runner.outcome is not None:
                reason = runner.outcome.reason.value
                return _Failure(
                    _HOLD_REASONS.get(reason, "session_not_connected"), f"the session is {reason}"
                )
            engine = runner.engine
            if runner.state is SessionState.CONNECTED and engine is not None and engine.connected:
                return runner
            if runner.state is SessionState.QR:
                return _Failure("session_not_connected", "waiting for the QR code scan")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _Failure("session_not_connected", "the session did not connect in time")
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
                        await self._fail(command, runner, SUSPENDED_CODE, "the tenant is suspended")
                        return None
                    return RetryLater(0)
                if fresh is None:
                    return None
                row = fresh
        return RetryLater(1)  # the row keeps changing under us: look again shortly

    # ---- failures -----------------------------------------------------------------------------------

    async def _failed_try(
        self, command: Command, runner: SessionRunner, code: str, detail: str, halt: asyncio.Event
    ) -> TryOutcome:
        """Record a transient failure on the claimed row; fail the message once the tries are used up."""
        if halt.is_set() or not self._control.owns_session(command.session_id):
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
            await self._fail(
                command, runner, "retries_exhausted", f"{failures} tries failed; last: {code}: {detail}"
            )
            return DeadLetter("retries_exhausted")
        if await pause(halt, self.retry_delay(failures)):
            return RetryLater(0)
        return AGAIN

    async def _held_back(
        self,
        command: Command,
        send: _Send,
        runner: SessionRunner,
        row: dict[str, Any],
        error: HeldBack,
        halt: asyncio.Event,
    ) -> TryOutcome:
        """WhatsApp throttles a lookup this send needs: queued again and tried once the hold is over, or
        failed with the engine's code (`rate_limited`) when the message would be too old by then."""
        if halt.is_set() or not self._control.owns_session(command.session_id):
            return RetryLater(0)  # the session is leaving us: its next owner tries (its hold starts clean)
        now = self._clock.now()
        wait = error.retry_in + HOLD_MARGIN_SECONDS if error.retry_in > 0 else self.retry_delay(1)
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
            await self._fail(command, runner, error.code, detail)
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
        waited = await self._wait_out(command, wait, halt)
        if waited is True:
            return RetryLater(0)
        if isinstance(waited, _Failure):
            await asyncio.to_thread(
                self._first_contacts.release, command.tenant_id, command.session_id, send.to, send.message_id
            )
            await self._fail(command, runner, waited.code, waited.detail)
            return None
        return AGAIN

    async def _wait_out(self, command: Command, seconds: float, halt: asyncio.Event) -> _Failure | bool:
        """Waits `seconds`, looking at the session row now and then. True when halted first; a _Failure
        when the session was stopped, deleted or suspended meanwhile."""
        end = time.monotonic() + seconds
        while (remaining := end - time.monotonic()) > 0:
            if await pause(halt, min(remaining, HOLD_LOOK_SECONDS)):
                return True
            stopped = await asyncio.to_thread(self._stopped, command.tenant_id, command.session_id)
            if stopped is not None:
                return stopped
        return False

    def _stopped(self, tenant_id: str, session_id: str) -> _Failure | None:
        record = SessionRepository(self._table).find(tenant_id, session_id)
        waiting = "while the message waited out WhatsApp's hold"
        if record is None:
            return _Failure("session_not_connected", f"the session was deleted {waiting}")
        if record.suspended_at is not None:
            return _Failure(SUSPENDED_CODE, "the tenant is suspended")
        if record.desired not in (None, "running"):
            return _Failure("session_not_connected", f"the session was stopped {waiting}")
        return None

    async def _fail(self, command: Command, runner: SessionRunner | None, code: str, detail: str) -> None:
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

    def retry_delay(self, failures: int) -> float:
        """Exponential, with half of it jittered: never (almost) zero, never in lockstep."""
        ceiling = backoff(
            failures - 1,
            base=self._config.send_retry_base_seconds,
            cap=self._config.send_retry_cap_seconds,
            rand=lambda: 1.0,
        )
        return ceiling * (0.5 + 0.5 * random.random())


def _due_at(row: dict[str, Any], default: float) -> float:
    """When the message was due: its scheduled time, else its acceptance."""
    for name in ("scheduled_at", "created_at"):
        value = row.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return default
