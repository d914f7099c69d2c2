"""Number pools: a named, prioritised list of a tenant's sessions (seed 001's campaign assignments)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wagate.domain.numbers import NotBoolean
from wagate.domain.sessions import SessionStatus

PoolName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Lower-case letters, digits, - and _ (e.g. campaign-spring); send with it as `pool`",
    ),
]
MAX_MEMBERS = 50


class PoolMember(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    session_id: str = Field(min_length=1, max_length=64)
    priority: Annotated[int, Field(ge=1, le=1000), NotBoolean] = Field(
        1, description="1 is tried first; members with equal priority share the load"
    )


def _members_are_unique(members: list[PoolMember]) -> list[PoolMember]:
    seen: set[str] = set()
    for member in members:
        if member.session_id in seen:
            raise ValueError(f"session {member.session_id} is listed twice")
        seen.add(member.session_id)
    return members


class PoolSpec(BaseModel):
    """What a pool is made of (the body of PUT /v1/pools/{name})."""

    model_config = ConfigDict(defer_build=True)

    members: list[PoolMember] = Field(min_length=1, max_length=MAX_MEMBERS)
    description: str | None = Field(None, max_length=500)

    _unique = field_validator("members")(_members_are_unique)


class NewPool(PoolSpec):
    """The body of POST /v1/pools."""

    name: PoolName


class MemberState(BaseModel):
    """A member as the API shows it: its priority and what the pool would make of it right now."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    session_id: str
    priority: int
    status: SessionStatus | None = Field(description="The session's status; null once it was deleted")
    last_used_at: float | None = Field(None, description="When the pool last picked it")


class Pool(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    tenant_id: str
    members: list[MemberState]
    description: str | None = None
    created_at: float
    updated_at: float
