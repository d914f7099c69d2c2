"""WhatsApp groups a session's number belongs to (as the last sync and the changes since reported them),
and the group operations the API asks a number to carry out."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_SUBJECT = 100  # WhatsApp refuses a longer subject (406)
MAX_DESCRIPTION = 2048
MAX_PARTICIPANTS = 256  # per request; WhatsApp groups hold up to 1,024 members

ExternalId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="The CRM's own id for this group (e.g. its workshop id): printable ASCII, no spaces",
    ),
]


def is_group(recipient: str) -> bool:
    return recipient.endswith("@g.us")


class GroupMember(BaseModel):
    """One participant, as WhatsApp named it in the group, with the phone and LID when known."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    jid: str
    phone: str | None = Field(None, description="E.164, when known (LID groups may hide it)")
    lid: str | None = None
    role: str | None = Field(None, description="`admin`, `superadmin` (the creator), or null for a member")


class Group(BaseModel):
    """One group, as the API shows it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    jid: str = Field(description="The group id to send to: 120363012345678901@g.us")
    session_id: str
    subject: str = Field(description="The group's name")
    participants: int = Field(ge=0, description="How many members it had at the last sync or change")
    owner_jid: str | None = None
    description: str | None = None
    created_at: float | None = Field(None, description="When the group was created on WhatsApp")
    synced_at: float = Field(description="When the sync or change that reported it landed (epoch seconds)")
    members: list[GroupMember] | None = Field(
        None, description="Who is in it, once a change or an operation read the group (a sync lists counts)"
    )
    external_id: str | None = Field(None, description="The CRM's own id for it (PATCH to set it)")
    invite_link: str | None = Field(None, description="The invite link, once an operation read it")


class GroupSync(BaseModel):
    """The outcome of the last sync of a session's groups."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    session_id: str
    synced_at: float | None = Field(None, description="null until a sync has landed")
    count: int = 0


@enum.unique
class GroupAction(enum.StrEnum):
    """What a group operation does (POST /v1/sessions/{id}/groups and the routes under a group)."""

    CREATE = "create"
    ADD = "add"
    REMOVE = "remove"
    PROMOTE = "promote"
    DEMOTE = "demote"
    SUBJECT = "subject"
    DESCRIPTION = "description"
    INVITE = "invite"  # read the invite link
    REVOKE_INVITE = "revoke_invite"  # a new invite link; the old one stops working
    LEAVE = "leave"


@enum.unique
class OperationStatus(enum.StrEnum):
    PENDING = "pending"  # queued for the number's connector
    DONE = "done"
    FAILED = "failed"


class OperationError(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    code: str = Field(
        description="not_group_admin (WhatsApp: 401), not_in_group (403), group_not_found (404), "
        "group_change_not_acceptable (406), session_not_connected, group_outcome_unknown (the answer to a "
        "create was lost: sync before creating again), invalid_group_operation"
    )
    message: str


class ParticipantOutcome(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    jid: str
    phone: str | None = None
    status: int = Field(
        description="200 done; 403 their privacy settings refuse (WhatsApp prepared an invitation: "
        "`invite_code`); 404 not in the group / not on WhatsApp; 408 they left recently; 409 already in it"
    )
    invite_code: str | None = None


class GroupOperation(BaseModel):
    """A change the API asked a number to make to a group; the outcome lands in a few seconds."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    session_id: str
    action: GroupAction
    group_jid: str | None = Field(None, description="null for a create until it is done")
    status: OperationStatus
    requested_at: float
    finished_at: float | None = None
    participants: list[ParticipantOutcome] | None = Field(
        None, description="Per participant, for create/add/remove/promote/demote"
    )
    invite_link: str | None = Field(None, description="For invite and revoke_invite")
    group: Group | None = Field(None, description="The group after the change, when WhatsApp told it")
    error: OperationError | None = None
    external_id: str | None = Field(None, description="create: the CRM's id the new group will carry")


def outcome_fields(result: dict[str, Any]) -> dict[str, Any]:
    """An operation's stored outcome fields from the connector's result (connector/engines/base.py)."""
    participants = [
        ParticipantOutcome.model_validate(p).model_dump()
        for p in result.get("participants") or []
        if isinstance(p, dict)
    ]
    return {
        "participants": participants or None,
        "invite_link": result.get("invite_link") if isinstance(result.get("invite_link"), str) else None,
    }
