"""Conversations (one per session and peer) and contacts (the people who wrote or were written to)."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Conversation(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    tenant_id: str
    session_id: str
    chat: str = Field(description="The peer: E.164 phone, or a group jid")
    name: str | None = Field(None, description="The contact's WhatsApp name, or the group subject")
    is_group: bool = False
    unread: int = 0
    last_message_id: str | None = None
    last_message_at: float | None = None
    last_message_preview: str | None = None
    last_direction: str | None = None
    updated_at: float


class Contact(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    phone: str = Field(description="E.164, or the WhatsApp id when the phone is not known (LID)")
    tenant_id: str
    name: str | None = Field(None, description="The name they use on WhatsApp (push name)")
    jid: str | None = None
    lid: str | None = Field(
        None, description="WhatsApp's other id for the same person (`…@lid`), when the engine learned it"
    )
    first_seen_at: float
    last_seen_at: float
    last_session_id: str | None = None
    messages_in: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)
    push_name: str | None = Field(None, description="The name they last sent with a message (WhatsApp)")
    profile_picture_url: str | None = Field(
        None, description="Their WhatsApp profile picture, when the engine reported one (a temporary URL)"
    )
    external_id: str | None = Field(None, description="The CRM's id for this person (PATCH sets it)")
    tags: list[str] = Field(default_factory=list, description="The CRM's tags (PATCH sets them)")
    updated_at: float | None = Field(None, description="When a CRM or WhatsApp last changed who they are")


def conversation_id(session_id: str, chat: str) -> str:
    """One conversation per session and peer, with an id that is the same wherever it is computed."""
    return "cnv_" + hashlib.sha256(f"{session_id}|{chat}".encode()).hexdigest()[:20]
