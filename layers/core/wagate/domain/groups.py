"""WhatsApp groups a session's number belongs to, as its last sync reported them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


def is_group(recipient: str) -> bool:
    return recipient.endswith("@g.us")


class Group(BaseModel):
    """One group, as the API shows it."""

    model_config = ConfigDict(frozen=True)

    jid: str = Field(description="The group id to send to: 120363012345678901@g.us")
    session_id: str
    subject: str = Field(description="The group's name")
    participants: int = Field(ge=0, description="How many members it had at the last sync")
    owner_jid: str | None = None
    description: str | None = None
    created_at: float | None = Field(None, description="When the group was created on WhatsApp")
    synced_at: float = Field(description="When the sync that reported it landed (epoch seconds)")


class GroupSync(BaseModel):
    """The outcome of the last sync of a session's groups."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    synced_at: float | None = Field(None, description="null until a sync has landed")
    count: int = 0
