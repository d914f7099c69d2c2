"""Broadcasts: one text or template to many recipients, each with its own variables, sent as ordinary
messages through the paced queue of one number or a pool — and how far along a broadcast is."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wagate.domain.messages import PROGRESS, MessageStatus, MessageText

MAX_RECIPIENTS = 10_000
MAX_VARIABLES = 20


class BroadcastStatus(enum.StrEnum):
    RUNNING = "running"  # recipients are being turned into messages as the number sends them
    PAUSED = "paused"  # no new messages; the ones still queued were taken back and go out on resume
    CANCELLED = "cancelled"  # stopped for good; messages still queued were cancelled
    COMPLETED = "completed"  # every recipient has a message (they may still be delivered or read later)


FINAL = frozenset({BroadcastStatus.CANCELLED, BroadcastStatus.COMPLETED})

VariableValue = Annotated[str, Field(max_length=1024)]


class BroadcastTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = Field(min_length=1, max_length=100, description="A template of this tenant (or a built-in)")
    language: str | None = Field(None, description="e.g. es or en; the template's default when omitted")
    variables: dict[str, VariableValue] = Field(
        default_factory=dict, max_length=MAX_VARIABLES, description="Values shared by every recipient"
    )


class Recipient(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    to: str = Field(min_length=3, max_length=64, description="E.164 phone (+34600123456)")
    variables: dict[str, VariableValue] = Field(
        default_factory=dict,
        max_length=MAX_VARIABLES,
        description="This recipient's values for the {placeholders} (over the broadcast's own)",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Free JSON for this recipient's message (e.g. the CRM's lead id)"
    )


class BroadcastRequest(BaseModel):
    """What a CRM asks to broadcast. Exactly one of text and template; exactly one of session_id and pool."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Taller de marzo",
                    "pool": "workshops",
                    "text": "Hola {nombre}, el taller empieza el {fecha}.",
                    "variables": {"fecha": "3 de marzo"},
                    "recipients": [
                        {"to": "+34600123456", "variables": {"nombre": "Ana"}},
                        {"to": "+34600654321", "variables": {"nombre": "Luis"}},
                    ],
                }
            ]
        },
        defer_build=True,
    )

    name: str = Field("", max_length=200, description="For people: shown in lists and the dashboard")
    session_id: str | None = Field(None, description="The session (number) to send from")
    pool: str | None = Field(None, description="Or a number pool: each message picks a connected number")
    text: MessageText | None = Field(None, description="The text, with {variable} placeholders")
    template: BroadcastTemplate | None = None
    variables: dict[str, VariableValue] = Field(
        default_factory=dict, max_length=MAX_VARIABLES, description="Text placeholders' shared values"
    )
    recipients: list[Recipient] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free JSON on the broadcast")

    @model_validator(mode="after")
    def _one_of_each(self) -> BroadcastRequest:
        if (self.text is None) == (self.template is None):
            raise ValueError("give exactly one of text or template")
        if (self.session_id is None) == (self.pool is None):
            raise ValueError("give exactly one of session_id or pool")
        return self


class BroadcastCounts(BaseModel):
    """How far its messages got. `sent` counts every message that reached WhatsApp (delivered and read
    ones too), so `delivered <= sent` and the rates divide by `sent`."""

    model_config = ConfigDict(defer_build=True)

    recipients: int
    accepted: int = Field(description="Recipients that have a message (queued or further)")
    rejected: int = Field(description="Recipients refused at accept (see `rejections`)")
    queued: int = Field(description="Messages accepted and not yet sent, failed or cancelled")
    sent: int
    delivered: int
    read: int
    failed: int
    cancelled: int


class Rejection(BaseModel):
    model_config = ConfigDict(defer_build=True)

    index: int = Field(description="The recipient's position in the request")
    to: str
    code: str
    message: str


class Broadcast(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    tenant_id: str
    name: str
    session_id: str | None
    pool: str | None
    kind: str = Field(description="text or template")
    status: BroadcastStatus
    status_reason: str | None = Field(
        None,
        description="Why it is paused or cancelled: requested, session_not_connected, no_connected_number, "
        "tenant_suspended (it resumes with the tenant)",
    )
    counts: BroadcastCounts
    rejections: list[Rejection] = Field(default_factory=list, description="The first 100 refusals")
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: float
    updated_at: float
    completed_at: float | None = None


# ---- counting: what one message's status change adds to its broadcast's counters ------------------

# Milestones a message passes at most once; a receipt that skips one (read before delivered) passes it
# too. The counters are attributes of the broadcast row, moved in the same transaction as the message.
_MILESTONES = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
_UNSETTLED = frozenset({MessageStatus.SCHEDULED, MessageStatus.QUEUED, MessageStatus.SENDING})


def counter(status: MessageStatus) -> str:
    return f"n_{status.value}"


def counts_moved(previous: MessageStatus, new: MessageStatus) -> dict[str, int]:
    """The counter increments of one message moving `previous` → `new` (a forward move)."""
    added: dict[str, int] = {}
    for milestone in _MILESTONES:
        if PROGRESS[previous] < PROGRESS[milestone] <= PROGRESS[new] and new not in _ENDS:
            added[counter(milestone)] = 1
    if new in _ENDS:
        added[counter(new)] = 1
    if previous in _UNSETTLED and new not in _UNSETTLED:
        added["n_settled"] = 1
    return added


_ENDS = frozenset({MessageStatus.FAILED, MessageStatus.CANCELLED})


def counts_of(row: dict[str, Any]) -> BroadcastCounts:
    def n(name: str) -> int:
        return int(row.get(name) or 0)

    return BroadcastCounts(
        recipients=n("n_recipients"),
        accepted=n("n_accepted"),
        rejected=n("n_rejected"),
        queued=max(0, n("n_accepted") - n("n_settled")),
        sent=n(counter(MessageStatus.SENT)),
        delivered=n(counter(MessageStatus.DELIVERED)),
        read=n(counter(MessageStatus.READ)),
        failed=n(counter(MessageStatus.FAILED)),
        cancelled=n(counter(MessageStatus.CANCELLED)),
    )
