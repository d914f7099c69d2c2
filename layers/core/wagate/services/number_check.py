"""Is each of up to 50 numbers on WhatsApp (POST /v1/contacts/check), without becoming a scraping tool.

Web and sandbox sessions ask the network through their connector: a `check_numbers` command, answered by a
`numbers_checked` event (the web engine's usync contact query: connector/engines/web/number_check.py),
stored on the check's row; the API waits for it a few seconds (WAGATE_CONTACT_CHECK_WAIT_SECONDS), then
answers 202 and the CRM reads GET /v1/contacts/checks/{id}. A Cloud API number cannot ask (Meta offers no
such lookup): every number is `unknown`, said so, never guessed.

Anti-scraping: every number asked counts against the tenant's hourly budget
(WAGATE_CONTACT_CHECKS_PER_HOUR), one counter row per epoch hour written with a condition, so a request
that would exceed it is refused whole (429 `number_check_rate_limited`, Retry-After to the next hour) and
racing requests cannot overspend it. Results are kept a day (TTL), sealed like other content.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from wagate.conditions import Attr, item_exists
from wagate.domain.errors import ConflictError, InvalidInput, NotFound, QuotaExceeded
from wagate.domain.events import CommandType, SessionEvent
from wagate.domain.ids import new_id
from wagate.domain.phones import normalise_phone
from wagate.domain.sessions import Provider, SessionStatus
from wagate.store import keys

if TYPE_CHECKING:
    from wagate.ports import Clock, Table
    from wagate.services.sessions import SessionService

MAX_NUMBERS = 50
KEEP_SECONDS = 24 * 3600
POLL_SECONDS = 0.2


@enum.unique
class CheckStatus(enum.StrEnum):
    PENDING = "pending"  # the connector has not answered yet
    DONE = "done"
    FAILED = "failed"  # no answer will come (`error` says why); nothing was learned


class NumberResult(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    phone: str = Field(description="E.164, as normalised from what was asked")
    status: str = Field(description="on_whatsapp, not_on_whatsapp, or unknown (not asked, or not answered)")
    jid: str | None = Field(None, description="The WhatsApp account, when on WhatsApp")
    lid: str | None = Field(None, description="Its LID, when WhatsApp gave it")


class NumberCheck(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    session_id: str
    status: CheckStatus
    results: list[NumberResult] = Field(default_factory=list, description="In the order asked (once done)")
    error: str | None = Field(
        None,
        description="Why it failed: session_not_connected, check_failed, rate_limited (WhatsApp throttles "
        "this number's lookups: ask again in a few minutes)",
    )
    reason: str | None = Field(
        None, description="Why every number is unknown (cloud: cloud_api_cannot_check)"
    )
    created_at: float


class NumberChecks:
    def __init__(
        self,
        table: Table,
        clock: Clock,
        sessions: SessionService,
        *,
        per_hour: int,
        wait_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table = table
        self.clock = clock
        self.sessions = sessions
        self.per_hour = per_hour
        self.wait_seconds = wait_seconds
        self.sleep = sleep

    def start(self, tenant_id: str, session_id: str, raw_numbers: Sequence[str]) -> NumberCheck:
        """Raises InvalidInput (a bad number), NotFound (session), ConflictError (`session_not_connected`),
        QuotaExceeded (`number_check_rate_limited`)."""
        numbers = _normalised(raw_numbers)
        session = self.sessions.get(tenant_id, session_id)
        now = self.clock.now()
        check_id = new_id("chk", now)
        if session.provider == Provider.CLOUD:
            unknown = [NumberResult(phone=phone, status="unknown") for phone in numbers]
            return NumberCheck(
                id=check_id,
                session_id=session_id,
                status=CheckStatus.DONE,
                results=unknown,
                reason="cloud_api_cannot_check",
                created_at=now,
            )
        if session.status != SessionStatus.CONNECTED:
            raise ConflictError(
                f"session {session_id} is {session.status.value}: a number check needs it connected",
                code="session_not_connected",
                details={"status": session.status.value},
            )
        self._spend(tenant_id, len(numbers), now)
        pk, sk = keys.number_check(tenant_id, check_id)
        self.table.put(
            {
                "pk": pk,
                "sk": sk,
                "id": check_id,
                "session_id": session_id,
                "status": CheckStatus.PENDING.value,
                "data": {"numbers": numbers},
                "created_at": now,
                "expires_at": int(now) + KEEP_SECONDS,
            }
        )
        self.sessions.ask_connector(
            session, CommandType.CHECK_NUMBERS, {"check_id": check_id, "numbers": numbers}
        )
        return self._waited(tenant_id, check_id)

    def get(self, tenant_id: str, check_id: str) -> NumberCheck:
        """Raises NotFound (`check_not_found`: unknown, another tenant's, or older than a day)."""
        item = self.table.get(*keys.number_check(tenant_id, check_id))
        if item is None:
            raise NotFound(f"number check {check_id} does not exist", code="check_not_found")
        return _to_check(item)

    def record(self, event: SessionEvent) -> bool:
        """Stores a `numbers_checked` answer on its check (once: a redelivery changes nothing)."""
        check_id = str(event.data.get("check_id") or "")
        if not check_id:
            return False
        key = keys.number_check(event.tenant_id, check_id)
        item = self.table.get(*key)
        if item is None or item.get("status") != CheckStatus.PENDING.value:
            return False
        asked = list((item.get("data") or {}).get("numbers") or [])
        error = event.data.get("error")
        answered = {str(r.get("phone")): r for r in event.data.get("results") or [] if isinstance(r, dict)}
        results = [_result(phone, answered.get(phone)) for phone in asked]
        changes: dict[str, Any] = {
            "status": (CheckStatus.FAILED if error else CheckStatus.DONE).value,
            "data": {"numbers": asked, "results": [] if error else [r.model_dump() for r in results]},
        }
        if error:
            changes["error"] = str(error)[:100]
        try:
            self.table.update(
                *key, set=changes, condition=item_exists() & Attr("status").eq(CheckStatus.PENDING.value)
            )
        except ConflictError:
            return False
        return True

    def _waited(self, tenant_id: str, check_id: str) -> NumberCheck:
        """The check once answered, or still pending after the wait."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            check = self.get(tenant_id, check_id)
            if check.status != CheckStatus.PENDING or time.monotonic() >= deadline:
                return check
            self.sleep(POLL_SECONDS)

    def _spend(self, tenant_id: str, count: int, now: float) -> None:
        hour = int(now // 3600)
        retry_after = max(1, (hour + 1) * 3600 - int(now))
        refused = QuotaExceeded(
            f"this tenant may check {self.per_hour} numbers per hour (anti-scraping); retry after "
            f"{retry_after} s",
            code="number_check_rate_limited",
            details={"limit_per_hour": self.per_hour, "asked": count, "retry_after": retry_after},
        )
        if count > self.per_hour:
            raise refused
        room = Attr("count").not_exists() | Attr("count").le(self.per_hour - count)
        try:
            self.table.update(
                *keys.number_check_window(tenant_id, hour),
                add={"count": count},
                set={"expires_at": (hour + 2) * 3600},
                condition=room,
            )
        except ConflictError as exc:
            raise refused from exc


def _normalised(raw_numbers: Sequence[str]) -> list[str]:
    if not raw_numbers or len(raw_numbers) > MAX_NUMBERS:
        raise InvalidInput(f"numbers: 1 to {MAX_NUMBERS} phone numbers", details={"field": "numbers"})
    numbers = [normalise_phone(raw, field=f"numbers[{i}]") for i, raw in enumerate(raw_numbers)]
    return list(dict.fromkeys(numbers))


def _result(phone: str, answer: dict[str, Any] | None) -> NumberResult:
    if answer is None:
        return NumberResult(phone=phone, status="unknown")
    status = str(answer.get("status"))
    if status not in ("on_whatsapp", "not_on_whatsapp"):
        status = "unknown"
    jid, lid = answer.get("jid"), answer.get("lid")
    return NumberResult(
        phone=phone,
        status=status,
        jid=str(jid) if jid else None,
        lid=str(lid) if lid else None,
    )


def _to_check(item: dict[str, Any]) -> NumberCheck:
    data = item.get("data") or {}
    return NumberCheck(
        id=str(item["id"]),
        session_id=str(item["session_id"]),
        status=CheckStatus(str(item["status"])),
        results=[NumberResult.model_validate(r) for r in data.get("results") or []],
        error=item.get("error"),
        created_at=float(item["created_at"]),
    )
