"""Anti-ban pacing of one WhatsApp number: its settings, the overrides a tenant or session sets, the merge.

Effective settings = process defaults (`Settings.pacing`, passed in: the domain reads no environment) ←
the tenant's overrides (`TENANT#{tenant}` / `TENANT`, attribute `pacing`) ← the session's overrides
(`T#{tenant}` / `SESSION#{session}`, attribute `pacing`). An override holds only the fields it sets; a
field it leaves out is inherited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wagate.domain.numbers import NotBoolean, NotNumber

Enabled = Annotated[
    bool, Field(description="false turns all pacing off (benchmarks, sandbox demos)"), NotNumber
]
RatePerMinute = Annotated[
    float,
    Field(gt=0, le=6000, description="Token bucket: sustained messages per minute (Cloud API: 4800 = 80/s)"),
    NotBoolean,
]
Burst = Annotated[
    int, Field(ge=1, le=1000, description="Token bucket: how many may go back to back"), NotBoolean
]
JitterSeconds = Annotated[
    float,
    Field(ge=0, le=300, description="A random gap, drawn between min and max, since the last send"),
    NotBoolean,
]
Typing = Annotated[
    bool, Field(description="Show 'typing…' before a text, for a time its length makes real"), NotNumber
]
TypingSpeed = Annotated[
    float, Field(gt=0, le=100, description="Typing speed, characters per second"), NotBoolean
]
TypingSeconds = Annotated[
    float, Field(ge=0, le=60, description="Bounds of the typing time, seconds"), NotBoolean
]
FirstContactsPerDay = Annotated[
    int,
    Field(
        ge=0,
        le=100_000,
        description="Most recipients this number never wrote to before, per UTC day; 0 = no cap",
    ),
    NotBoolean,
]
HealthSlowdown = Annotated[
    bool,
    Field(description="slow this number down automatically when its health risk rises (domain/health.py)"),
    NotNumber,
]


class Pacing(BaseModel):
    """The effective pacing of one number."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    enabled: Enabled = True
    rate_per_minute: RatePerMinute = 30.0
    burst: Burst = 5
    jitter_min_seconds: JitterSeconds = 1.0
    jitter_max_seconds: JitterSeconds = 3.0
    typing: Typing = False
    typing_chars_per_second: TypingSpeed = 15.0
    typing_min_seconds: TypingSeconds = 1.0
    typing_max_seconds: TypingSeconds = 6.0
    first_contacts_per_day: FirstContactsPerDay = 50
    health_slowdown: HealthSlowdown = True

    @model_validator(mode="after")
    def _ordered(self) -> Pacing:
        if self.jitter_min_seconds > self.jitter_max_seconds:
            raise ValueError("jitter_min_seconds must not exceed jitter_max_seconds")
        if self.typing_min_seconds > self.typing_max_seconds:
            raise ValueError("typing_min_seconds must not exceed typing_max_seconds")
        return self

    @classmethod
    def off(cls) -> Pacing:
        return cls(enabled=False)


class PacingOverrides(BaseModel):
    """What a tenant or a session sets; every field it omits (or sets to null) is inherited."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    enabled: Enabled | None = None
    rate_per_minute: RatePerMinute | None = None
    burst: Burst | None = None
    jitter_min_seconds: JitterSeconds | None = None
    jitter_max_seconds: JitterSeconds | None = None
    typing: Typing | None = None
    typing_chars_per_second: TypingSpeed | None = None
    typing_min_seconds: TypingSeconds | None = None
    typing_max_seconds: TypingSeconds | None = None
    first_contacts_per_day: FirstContactsPerDay | None = None
    health_slowdown: HealthSlowdown | None = None

    def stored(self) -> dict[str, Any]:
        """The fields it sets, as the Table keeps them."""
        return self.model_dump(exclude_none=True)

    @classmethod
    def from_stored(cls, value: Any) -> PacingOverrides:
        """From a row's `pacing` attribute; anything unreadable counts as no override."""
        if not isinstance(value, Mapping):
            return cls()
        known = {k: v for k, v in value.items() if k in cls.model_fields}
        try:
            return cls.model_validate(known)
        except ValueError:
            return cls()


def merge(defaults: Pacing, *layers: PacingOverrides | None) -> Pacing:
    """Each layer's fields over the previous. Raises ValueError when the result is inconsistent
    (e.g. a session's jitter max below its tenant's jitter min)."""
    values = defaults.model_dump()
    for layer in layers:
        if layer is not None:
            values.update(layer.stored())
    return Pacing.model_validate(values)


def merge_leniently(defaults: Pacing, *layers: PacingOverrides | None) -> Pacing:
    """`merge`, for the connector: an inconsistent mix keeps each bound at least its lower partner."""
    try:
        return merge(defaults, *layers)
    except ValueError:
        values = defaults.model_dump()
        for layer in layers:
            if layer is not None:
                values.update(layer.stored())
        values["jitter_max_seconds"] = max(values["jitter_max_seconds"], values["jitter_min_seconds"])
        values["typing_max_seconds"] = max(values["typing_max_seconds"], values["typing_min_seconds"])
        return Pacing.model_validate(values)
