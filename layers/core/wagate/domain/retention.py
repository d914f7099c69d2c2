"""How long a tenant's data is kept: one number of days per kind of data, with documented defaults."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

DAY = 86_400

Days = Annotated[
    int | None,
    Field(ge=1, le=3650, description="Days to keep; null keeps it until erased or the tenant is deleted"),
]


class RetentionPolicy(BaseModel):
    """Defaults: a year of messages, conversations and audit; 90 days of media; 30 of webhook deliveries."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    messages: Days = 365
    media: Days = 90
    webhook_deliveries: Days = 30
    audit: Days = 365
    conversations: Days = 365

    def expires_at(self, kind: str, start: float) -> int | None:
        """The TTL (epoch seconds) of a row of `kind` written at `start`, or None to keep it."""
        days: int | None = getattr(self, kind)
        return None if days is None else int(start) + days * DAY
