"""The audit log's entries: who did what to which target, with what outcome, when and from where.

An entry never holds message content or secrets: the actor is a key id (never the key), the target an id
from the route, and `details` only small, non-sensitive facts (a key's scopes, a logout reason).
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


@enum.unique
class AuditKind(enum.StrEnum):
    """api: a state-changing API call; security: an event about access or linking; operator: the CLI."""

    API = "api"
    SECURITY = "security"
    OPERATOR = "operator"


# Actors that are not API keys.
OPERATOR = "operator"  # `wagate admin ...` on the data directly
WHATSAPP = "whatsapp"  # what the connector or Meta reported (a number linked, logged out, banned)
ANONYMOUS = "anonymous"  # a request without a valid key (failed authentication)


class AuditEntry(BaseModel):
    """One thing that happened. Append-only: nothing updates or deletes an entry but its retention."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str = Field(description="Time-ordered: entries sort by when they happened")
    tenant_id: str
    at: float = Field(description="When, epoch seconds")
    kind: AuditKind
    actor: str = Field(description="The API key id, or operator / whatsapp / anonymous")
    action: str = Field(
        description="A named event (key.created, session.linked, ...) or the route, as `POST /v1/sessions`"
    )
    route: str | None = Field(None, description="The route called, for API calls")
    target: str | None = Field(None, description="The id the action was on (session, key, message, ...)")
    outcome: int = Field(description="The HTTP status answered (security events: 200 for done)")
    source_ip: str | None = None
    details: dict[str, Any] = Field(default_factory=dict, description="Small, non-sensitive facts")
