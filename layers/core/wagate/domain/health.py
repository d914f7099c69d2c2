"""How a WhatsApp number is doing, from its own signals: a 0-100 score, a risk level, a pacing slow-down.

Signals, counted per session and UTC day (store/health.py) over the last `window_days` days:

    sent          messages WhatsApp (or Meta) accepted from this number
    failed        messages that ended failed, whatever the reason
    restricted    463 refusals (WhatsApp: this number may not start chats) and Meta's restriction codes
    refused       recipient-level refusals (not on WhatsApp, wa_error_4xx, Meta's recipient_unavailable):
                  the closest thing to a block WhatsApp shows a sender
    rate_limited  WhatsApp/Meta throttled the number
    replies       1:1 messages received (people answering)
    new_contacts  recipients this number never wrote to before (the first-contact counter)

Each signal costs at most a fixed number of points (below); the score is 100 minus the sum. Why these:
the peers' ban threads (Baileys #2441/#2707, whatsmeow #506, WAHA #2166) agree that bans follow writing to
people who never wrote to you (new-contact share, few replies), many people blocking or reporting you
(refusals: WhatsApp's own temporary-ban code 102 is "blocked by users"), and sending fast; a 463 means
the restriction already began. Below `min_messages` sends in the window only restrictions and rate
limits count (a handful of failures says little). No I/O here.
"""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wagate.domain.numbers import NotBoolean
from wagate.domain.pacing import Pacing


@enum.unique
class Risk(enum.StrEnum):
    OK = "ok"  # pacing as configured
    ELEVATED = "elevated"  # pacing slowed by `slowdown_elevated`
    HIGH = "high"  # pacing slowed by `slowdown_high`


# signal: (points at most, the value where it starts to cost, the value where it costs them all)
PENALTIES: dict[str, tuple[float, float, float]] = {
    "new_contact_share": (25.0, 0.5, 0.9),  # share of sends to first contacts
    "failure_rate": (20.0, 0.10, 0.30),  # failed / (sent + failed)
    "refusal_rate": (20.0, 0.02, 0.10),  # refused / (sent + failed)
    "restriction_rate": (35.0, 0.0, 0.05),  # restricted / (sent + failed): any 463 costs
    "rate_limits": (15.0, 0.0, 3.0),  # rate-limit answers in the window
    "silence": (15.0, 0.0, 1.0),  # few replies while writing mostly to strangers (see `silence`)
}
REPLY_RATE_OK = 0.3  # replies / sent at which silence stops costing


class HealthPolicy(BaseModel):
    """The operator's thresholds (`WAGATE_HEALTH_*`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    window_days: Annotated[int, NotBoolean] = Field(
        3, ge=1, le=14, description="days of signals a score looks at (today included)"
    )
    min_messages: Annotated[int, NotBoolean] = Field(
        20, ge=1, description="sends in the window before rates count (restrictions always count)"
    )
    elevated_below: Annotated[float, NotBoolean] = Field(
        70.0, ge=0, le=100, description="a score below this is `elevated` risk"
    )
    high_below: Annotated[float, NotBoolean] = Field(
        40.0, ge=0, le=100, description="a score below this is `high` risk"
    )
    slowdown_elevated: Annotated[float, NotBoolean] = Field(
        0.5, gt=0, le=1, description="pacing speed factor at `elevated` risk (rate, burst, caps × it)"
    )
    slowdown_high: Annotated[float, NotBoolean] = Field(
        0.25, gt=0, le=1, description="pacing speed factor at `high` risk"
    )
    keep_days: Annotated[int, NotBoolean] = Field(
        15, ge=1, le=400, description="days the daily signal rows are kept (TTL)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> HealthPolicy:
        if self.high_below > self.elevated_below:
            raise ValueError("high_below must not exceed elevated_below")
        if self.slowdown_high > self.slowdown_elevated:
            raise ValueError("slowdown_high must not exceed slowdown_elevated (high risk is slower)")
        return self


class Signals(BaseModel):
    """A number's counts over the window."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    sent: int = 0
    failed: int = 0
    restricted: int = 0
    refused: int = 0
    rate_limited: int = 0
    replies: int = 0
    new_contacts: int = 0


class Health(BaseModel):
    """What GET /v1/sessions/{id}/health answers."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    session_id: str
    score: float = Field(description="0 (about to be banned) to 100 (nothing worrying)")
    risk: Risk
    signals: Signals = Field(description="the counts over the window")
    rates: dict[str, float] = Field(description="the ratios scored: new_contact_share, failure_rate, ...")
    penalties: dict[str, float] = Field(description="points each signal took off the score")
    window_days: int
    judged: bool = Field(
        description="false below min_messages sends: only restrictions and rate limits count"
    )
    slowdown: float = Field(description="the factor the number's pacing runs at (1 = as configured)")
    slowdown_enabled: bool = Field(description="the number's pacing `health_slowdown` setting")
    status: str = Field(description="the session's status")
    status_reason: str | None = None
    reasons: list[str] = Field(description="in words, what costs most first")


def _ramp(value: float, start: float, full: float) -> float:
    if value <= start:
        return 0.0
    if value >= full:
        return 1.0
    return (value - start) / (full - start)


def rates(signals: Signals) -> dict[str, float]:
    attempts = signals.sent + signals.failed
    sent = max(signals.sent, 1)
    share = min(1.0, signals.new_contacts / sent) if signals.sent else 0.0
    reply_rate = signals.replies / sent if signals.sent else 0.0
    return {
        "new_contact_share": round(share, 4),
        "failure_rate": round(signals.failed / attempts, 4) if attempts else 0.0,
        "refusal_rate": round(signals.refused / attempts, 4) if attempts else 0.0,
        "restriction_rate": round(signals.restricted / attempts, 4) if attempts else 0.0,
        "reply_rate": round(reply_rate, 4),
    }


def penalties(signals: Signals, policy: HealthPolicy) -> tuple[dict[str, float], bool]:
    """Points each signal costs, and whether the window had enough sends to judge rates."""
    r = rates(signals)
    judged = signals.sent + signals.failed >= policy.min_messages
    measured = {
        "new_contact_share": r["new_contact_share"] if judged else 0.0,
        "failure_rate": r["failure_rate"] if judged else 0.0,
        "refusal_rate": r["refusal_rate"] if judged else 0.0,
        "restriction_rate": max(r["restriction_rate"], 0.05 if signals.restricted else 0.0)
        if not judged
        else r["restriction_rate"],
        "rate_limits": float(signals.rate_limited),
        # Silence matters only when most sends go to strangers: 1 = no replies at all to strangers.
        "silence": (1 - min(1.0, r["reply_rate"] / REPLY_RATE_OK)) * _ramp(r["new_contact_share"], 0.3, 0.7)
        if judged
        else 0.0,
    }
    cost = {}
    for name, (points, start, full) in PENALTIES.items():
        cost[name] = round(points * _ramp(measured[name], start, full), 2)
    return cost, judged


def risk_of(score: float, policy: HealthPolicy) -> Risk:
    if score < policy.high_below:
        return Risk.HIGH
    if score < policy.elevated_below:
        return Risk.ELEVATED
    return Risk.OK


def score(signals: Signals, policy: HealthPolicy) -> tuple[float, Risk, dict[str, float], bool]:
    cost, judged = penalties(signals, policy)
    value = round(max(0.0, 100.0 - sum(cost.values())), 1)
    return value, risk_of(value, policy), cost, judged


def factor(risk: Risk, policy: HealthPolicy) -> float:
    if risk == Risk.HIGH:
        return policy.slowdown_high
    if risk == Risk.ELEVATED:
        return policy.slowdown_elevated
    return 1.0


def slowed(pacing: Pacing, speed: float) -> Pacing:
    """`pacing` at `speed` (0 < speed ≤ 1): fewer sends per minute, a smaller burst, longer random gaps,
    fewer first contacts a day (a cap of 0 means no cap, and stays so)."""
    if speed >= 1 or not pacing.enabled:
        return pacing
    cap = pacing.first_contacts_per_day
    return pacing.model_copy(
        update={
            "rate_per_minute": max(0.1, pacing.rate_per_minute * speed),
            "burst": max(1, int(pacing.burst * speed)),
            "jitter_min_seconds": min(300.0, pacing.jitter_min_seconds / speed),
            "jitter_max_seconds": min(300.0, pacing.jitter_max_seconds / speed),
            "first_contacts_per_day": max(1, int(cap * speed)) if cap else 0,
        }
    )
