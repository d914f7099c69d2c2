"""Account health: a number's signals counted with the changes they come from, its score, its slow-down.

`signal_ops` gives the counter writes a message's status move or a stored reply adds to its own
transaction (services/connector_events.py); `assess` reads the window and scores it (domain/health.py),
for GET /v1/sessions/{id}/health, the dashboard and the connector's pacing (connector/pacing.py asks
`speed` when it refreshes a number's pacing, so a rising risk slows the number within
WAGATE_PACING_REFRESH_SECONDS; the Cloud API consumer asks it per send).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wagate.domain.health import Health, HealthPolicy, Risk, factor, rates, score, slowed
from wagate.domain.messages import PROGRESS, Message, MessageStatus
from wagate.domain.status_reports import ACCOUNT_RESTRICTIONS, RATE_LIMIT_CODES, RESTRICTION_CODES
from wagate.store.health import HealthRepository

if TYPE_CHECKING:
    from wagate.domain.pacing import Pacing
    from wagate.ports import Clock, Table, TransactOp
    from wagate.services.pacing_settings import PacingSettings
    from wagate.services.sessions import SessionService

# Failure codes that say the RECIPIENT refused or cannot be reached: the closest a sender sees of blocks.
REFUSAL_CODES = frozenset({"not_on_whatsapp", "recipient_unavailable"})
# Failures of wagate's own making (a cap, a bad request, the session down): nothing WhatsApp said.
OWN_FAILURES = frozenset(
    {
        "first_contact_limit",
        "session_not_connected",
        "not_connected",
        "invalid_message",
        "media_not_configured",
        "media_not_found",
        "outcome_unknown",
        "cancelled",
    }
)


_ACCEPTED = frozenset({MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ})


def failure_deltas(code: str) -> dict[str, int]:
    """What one failed message adds to its number's signals, by its failure code."""
    if code in OWN_FAILURES:
        return {}
    deltas = {"failed": 1}
    if code in RESTRICTION_CODES or code in ACCOUNT_RESTRICTIONS:
        deltas["restricted"] = 1
    elif code in RATE_LIMIT_CODES:
        deltas["rate_limited"] = 1
    elif code in REFUSAL_CODES or (code.startswith("wa_error_4")):
        deltas["refused"] = 1
    return deltas


class HealthService:
    def __init__(
        self,
        table: Table,
        clock: Clock,
        policy: HealthPolicy,
        *,
        sessions: SessionService | None = None,
        pacing: PacingSettings | None = None,
    ) -> None:
        self.clock = clock
        self.policy = policy
        self.rows = HealthRepository(table)
        self.sessions = sessions
        self.pacing = pacing

    # ---- counting (inside the change's transaction) -------------------------------------------------

    def status_ops(self, message: Message, previous: MessageStatus) -> list[TransactOp]:
        """A message moved from `previous` to its status: `sent` once it passes SENT, `failed` (and what
        kind) when it ends failed."""
        deltas: dict[str, int] = {}
        status = message.status
        if status in _ACCEPTED and PROGRESS[previous] < PROGRESS[MessageStatus.SENT]:
            deltas["sent"] = 1
        if status == MessageStatus.FAILED and previous != MessageStatus.FAILED:
            deltas.update(failure_deltas(message.error.code if message.error else "send_failed"))
        return self._ops(message, deltas)

    def reply_ops(self, message: Message) -> list[TransactOp]:
        """A 1:1 message someone sent this number (not a group's, not one typed on its own phone)."""
        if message.source == "phone" or message.chat.endswith("@g.us"):
            return []
        return self._ops(message, {"replies": 1})

    def signal_ops(self, tenant_id: str, session_id: str, deltas: dict[str, int]) -> list[TransactOp]:
        """Counters a change that is no message moves (a rate-limit episode of a web number's queries)."""
        if not deltas:
            return []
        at = self.clock.now()
        keep = self.policy.keep_days
        return [self.rows.add(tenant_id, session_id, at, deltas, keep_days=keep)]

    def _ops(self, message: Message, deltas: dict[str, int]) -> list[TransactOp]:
        return self.signal_ops(message.tenant_id, message.session_id, deltas)

    # ---- reading -------------------------------------------------------------------------------------

    def assess(self, tenant_id: str, session_id: str) -> Health:
        """Raises NotFound (through the sessions service) for a session that is not the tenant's."""
        if self.sessions is None:
            raise RuntimeError("HealthService.assess needs the sessions service")
        session = self.sessions.get(tenant_id, session_id)
        signals = self.rows.signals(tenant_id, session_id, self.clock.now(), self.policy.window_days)
        value, risk, cost, judged = score(signals, self.policy)
        enabled = self._slowdown_enabled(tenant_id, session_id)
        reasons = [
            _REASON_TEXT[name] for name, points in sorted(cost.items(), key=lambda kv: -kv[1]) if points
        ]
        return Health(
            session_id=session_id,
            score=value,
            risk=risk,
            signals=signals,
            rates=rates(signals),
            penalties=cost,
            window_days=self.policy.window_days,
            judged=judged,
            slowdown=factor(risk, self.policy) if enabled else 1.0,
            slowdown_enabled=enabled,
            status=session.status.value,
            status_reason=session.status_reason,
            reasons=reasons,
        )

    def risk(self, tenant_id: str, session_id: str) -> Risk:
        signals = self.rows.signals(tenant_id, session_id, self.clock.now(), self.policy.window_days)
        return score(signals, self.policy)[1]

    def paced(self, tenant_id: str, session_id: str, pacing: Pacing) -> tuple[Pacing, Risk]:
        """`pacing` slowed for the number's current risk (unless its `health_slowdown` is off)."""
        if not pacing.enabled or not pacing.health_slowdown:
            return pacing, Risk.OK
        risk = self.risk(tenant_id, session_id)
        return slowed(pacing, factor(risk, self.policy)), risk

    def _slowdown_enabled(self, tenant_id: str, session_id: str) -> bool:
        if self.pacing is None:
            return True
        effective = self.pacing.effective(tenant_id, session_id)
        return effective.enabled and effective.health_slowdown


_REASON_TEXT = {
    "new_contact_share": "most messages go to people this number never wrote to before",
    "failure_rate": "many messages fail",
    "refusal_rate": "many recipients refuse messages or cannot be reached (blocks look like this)",
    "restriction_rate": "WhatsApp refused messages with 463: the number may not start new chats",
    "rate_limits": "WhatsApp or Meta rate-limited the number",
    "silence": "few people answer, while most messages go to strangers",
}
