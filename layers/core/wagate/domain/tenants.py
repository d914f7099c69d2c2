"""Tenants, their API keys and the scopes a key grants."""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

TenantName = Annotated[
    str, Field(min_length=1, max_length=120, description="A human name for the tenant (agency, team, ...)")
]
KeyName = Annotated[str, Field(min_length=1, max_length=120, description="What this key is for")]
MAX_KEY_SESSIONS = 100


@enum.unique
class Scope(enum.StrEnum):
    """What a key may do: read everything of its tenant, send messages, administer keys and sessions."""

    READ = "read"
    SEND = "send"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)


class Tenant(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: TenantName
    created_at: float


class ApiKey(BaseModel):
    """A key as listed: the secret itself is never stored, only its SHA-256 and a display prefix."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    name: KeyName
    scopes: list[Scope]
    prefix: str = Field(description="The first characters of the key, to recognise it")
    created_at: float
    sessions: list[str] | None = Field(
        None, description="The only sessions (numbers) this key sees and sends on; null: all of the tenant's"
    )


class Principal(BaseModel):
    """Who is calling: resolved by the authorizer from an API key, carried on every request."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    key_id: str
    scopes: frozenset[Scope]
    sessions: frozenset[str] | None = None  # a session-scoped key: only these; None: all

    def can(self, scope: Scope) -> bool:
        return scope in self.scopes

    def sees(self, session_id: str | None) -> bool:
        """Whether this key may see (and act on) `session_id` and its messages."""
        return self.sessions is None or (session_id is not None and session_id in self.sessions)
