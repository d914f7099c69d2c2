"""Number pools: manage a tenant's pools, and pick the number a pooled send goes out from.

Rows: store/pools.py (keys and access patterns: store/keys.py).
Picking, when a message names a pool instead of a session:
    1. the connected members with the best (lowest) priority;
    2. among equals, the one with the most pacing budget left, when the pacing data is there for all of
       them (`budget`); otherwise the least recently picked (never picked first, then list order);
    3. none connected: the best transient member (disconnected / connecting: the connector is already
       reconnecting it, and its send waits for the connection a while before failing), picked the same way;
    4. none of those (logged out, failed, waiting for a QR scan, pending, deleted): 409 no_connected_number.
The number is chosen when the message is accepted; a scheduled message keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wagate.domain.errors import ConflictError, InvalidInput, NotFound
from wagate.domain.pools import MemberState, NewPool, Pool, PoolMember, PoolSpec
from wagate.domain.sessions import Session, SessionStatus
from wagate.ports import Clock, Table, Update
from wagate.services.sessions import SessionService
from wagate.store.pools import PoolRecord, PoolRepository

TRANSIENT = frozenset({SessionStatus.DISCONNECTED, SessionStatus.CONNECTING})
Budget = Callable[[str, str], float | None]
"""budget(tenant_id, session_id): sends the number may still make now under its pacing, None if unknown."""


@dataclass(frozen=True)
class Pick:
    session: Session
    usage: Update  # marks the session as just picked; written in the message's own transaction


@dataclass(frozen=True)
class _Candidate:
    member: PoolMember
    session: Session | None
    last_used_at: float | None

    @property
    def status(self) -> SessionStatus | None:
        return self.session.status if self.session is not None else None


class PoolService:
    def __init__(
        self, table: Table, clock: Clock, sessions: SessionService, *, budget: Budget | None = None
    ) -> None:
        self.table = table
        self.clock = clock
        self.sessions = sessions
        self.rows = PoolRepository(table)
        # The connector's pacing state, once it is published; until then ties go to the least recently used.
        self.budget = budget

    # ---- management ---------------------------------------------------------------------------------

    def create(self, tenant_id: str, spec: NewPool) -> Pool:
        """Raises InvalidInput (a member is not this tenant's session), ConflictError `pool_exists`."""
        self._check_members(tenant_id, spec.members)
        now = self.clock.now()
        pool = PoolRecord(
            tenant_id=tenant_id,
            name=spec.name,
            members=tuple(spec.members),
            description=spec.description,
            created_at=now,
            updated_at=now,
            version=1,
        )
        try:
            self.rows.create(pool)
        except ConflictError as exc:
            raise ConflictError(
                f"pool {spec.name} already exists; change it with PUT /v1/pools/{spec.name}",
                code="pool_exists",
            ) from exc
        return self._view(pool)

    def replace(self, tenant_id: str, name: str, spec: PoolSpec) -> Pool:
        """Replaces the members and description. Raises NotFound, InvalidInput."""
        self._item(tenant_id, name)  # an unknown pool is a 404 before anything about its body
        self._check_members(tenant_id, spec.members)
        try:
            pool = self.rows.replace(
                tenant_id, name, members=spec.members, description=spec.description, at=self.clock.now()
            )
        except ConflictError as exc:
            raise NotFound(f"pool {name} does not exist") from exc
        return self._view(pool)

    def get(self, tenant_id: str, name: str) -> Pool:
        return self._view(self._item(tenant_id, name))

    def list(
        self, tenant_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Pool], str | None]:
        pools, next_cursor = self.rows.page(tenant_id, limit=limit, cursor=cursor)
        return [self._view(pool) for pool in pools], next_cursor

    def delete(self, tenant_id: str, name: str) -> None:
        """Messages already sent through the pool keep their number. Raises NotFound."""
        try:
            self.rows.delete(tenant_id, name)
        except ConflictError as exc:
            raise NotFound(f"pool {name} does not exist") from exc

    # ---- sending ------------------------------------------------------------------------------------

    def pick(self, tenant_id: str, name: str) -> Pick:
        """The number a message sent through pool `name` goes out from (see the module's docstring).

        Raises NotFound (no such pool), ConflictError `no_connected_number`.
        """
        candidates = self._candidates(tenant_id, self._item(tenant_id, name))
        usable = [c for c in candidates if c.status == SessionStatus.CONNECTED] or [
            c for c in candidates if c.status in TRANSIENT
        ]
        if not usable:
            states = ", ".join(
                f"{c.member.session_id} is {c.status.value if c.status else 'deleted'}" for c in candidates
            )
            raise ConflictError(
                f"pool {name} has no number that can send: {states}; reconnect one or add another",
                code="no_connected_number",
                details={
                    "pool": name,
                    "members": [
                        {"session_id": c.member.session_id, "status": c.status.value if c.status else None}
                        for c in candidates
                    ],
                },
            )
        best = min(c.member.priority for c in usable)
        chosen = self._tie_break(tenant_id, [c for c in usable if c.member.priority == best])
        assert chosen.session is not None
        usage = self.rows.mark_used(tenant_id, chosen.member.session_id, self.clock.now())
        return Pick(session=chosen.session, usage=usage)

    def _tie_break(self, tenant_id: str, tied: Sequence[_Candidate]) -> _Candidate:
        def least_recently_used(c: _Candidate) -> float:
            return c.last_used_at if c.last_used_at is not None else float("-inf")

        if len(tied) > 1 and self.budget is not None:
            budgets = [self.budget(tenant_id, c.member.session_id) for c in tied]
            known = [(b, c) for b, c in zip(budgets, tied, strict=True) if b is not None]
            if len(known) == len(tied):
                # Most budget left first; among equal budgets, the least recently used.
                return min(known, key=lambda p: (-p[0], least_recently_used(p[1])))[1]
        return min(tied, key=least_recently_used)

    # ---- plumbing -----------------------------------------------------------------------------------

    def _item(self, tenant_id: str, name: str) -> PoolRecord:
        pool = self.rows.find(tenant_id, name)
        if pool is None:
            raise NotFound(f"pool {name} does not exist")
        return pool

    def _check_members(self, tenant_id: str, members: Sequence[PoolMember]) -> None:
        for index, member in enumerate(members):
            try:
                self.sessions.get(tenant_id, member.session_id)
            except NotFound as exc:
                raise InvalidInput(
                    f"members[{index}].session_id: session {member.session_id} does not exist",
                    details={"field": f"members.{index}.session_id", "session_id": member.session_id},
                ) from exc

    def _candidates(self, tenant_id: str, pool: PoolRecord) -> Sequence[_Candidate]:
        found = []
        for member in pool.members:
            try:
                session: Session | None = self.sessions.get(tenant_id, member.session_id)
            except NotFound:
                session = None  # deleted after it joined the pool: shown, never picked
            used = self.rows.last_used(tenant_id, member.session_id)
            found.append(_Candidate(member, session, used))
        return found

    def _view(self, pool: PoolRecord) -> Pool:
        members = [
            MemberState(
                session_id=c.member.session_id,
                priority=c.member.priority,
                status=c.status,
                last_used_at=c.last_used_at,
            )
            for c in self._candidates(pool.tenant_id, pool)
        ]
        return Pool(
            name=pool.name,
            tenant_id=pool.tenant_id,
            members=members,
            description=pool.description,
            created_at=pool.created_at,
            updated_at=pool.updated_at,
        )
