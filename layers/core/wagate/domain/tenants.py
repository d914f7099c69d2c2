"""Tenants, their API keys and the scopes a key grants."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain.errors import Forbidden

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


@enum.unique
class TenantStatus(enum.StrEnum):
    """active: its keys work; suspended: its keys answer 403 `tenant_suspended`, its sessions are stopped."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


@enum.unique
class TenantChange(enum.StrEnum):
    """A suspend or resume not finished yet (services/suspension.py): running now, or interrupted."""

    SUSPEND = "suspend"
    RESUME = "resume"


SUSPENDED_CODE = "tenant_suspended"  # the 403 of its keys, and the failure reason of its unsent messages


def tenant_suspended(tenant_id: str, suspended_at: float) -> Forbidden:
    """What a suspended tenant's key or session is refused with (services/operator.py)."""
    return Forbidden(
        f"tenant {tenant_id} is suspended: ask the operator of this gateway",
        code=SUSPENDED_CODE,
        details={"tenant_id": tenant_id, "suspended_at": suspended_at},
    )


class Quotas(BaseModel):
    """What one tenant may use; null: the deployment's default (sessions) or no limit (messages)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    sessions: int | None = Field(
        None,
        ge=0,
        le=100_000,
        description="WhatsApp sessions it may hold (default: WAGATE_MAX_SESSIONS_PER_TENANT)",
    )
    messages_per_day: int | None = Field(
        None,
        ge=0,
        le=100_000_000,
        description="messages it may send per UTC day (accepted by POST /v1/messages)",
    )


class Tenant(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    name: TenantName
    created_at: float
    status: TenantStatus = TenantStatus.ACTIVE
    suspended_at: float | None = None
    quotas: Quotas = Field(default_factory=Quotas)
    pending: TenantChange | None = Field(
        None,
        description="A suspend or resume not finished yet: running now, or cut short (a timeout, a crash). "
        "POST the same action again: it finishes what is left",
    )


class ApiKey(BaseModel):
    """A key as listed: the secret itself is never stored, only its SHA-256 and a display prefix."""

    model_config = ConfigDict(frozen=True, defer_build=True)

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

    model_config = ConfigDict(frozen=True, defer_build=True)

    tenant_id: str
    key_id: str
    scopes: frozenset[Scope]
    sessions: frozenset[str] | None = None  # a session-scoped key: only these; None: all

    def can(self, scope: Scope) -> bool:
        return scope in self.scopes

    def sees(self, session_id: str | None) -> bool:
        """Whether this key may see (and act on) `session_id` and its messages."""
        return self.sessions is None or (session_id is not None and session_id in self.sessions)


def utc_day(at: float) -> str:
    """The UTC day of `at` as YYYY-MM-DD (daily quotas count per UTC day)."""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d")


def seconds_to_next_day(at: float) -> int:
    """Whole seconds from `at` to the next UTC midnight (at least 1)."""
    return max(1, 86_400 - int(at) % 86_400)
