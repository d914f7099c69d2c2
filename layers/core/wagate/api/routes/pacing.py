"""Anti-ban pacing over the API: PATCH /v1/sessions/{id} (a number's own), /v1/settings/pacing (a tenant's).

Stored as overrides: the session row's and the tenant row's `pacing` attribute hold only the fields they
set (see wagate.domain.pacing). The connector reads them within WAGATE_PACING_REFRESH_SECONDS (30 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate.api.auth import require
from wagate.api.dependencies import session_service
from wagate.domain.errors import ConflictError, InvalidInput
from wagate.domain.pacing import Pacing, PacingOverrides, merge, merge_leniently
from wagate.domain.tenants import Principal, Scope
from wagate.ports import Table
from wagate.store.pacing import PacingRepository
from wagate.store.sessions import SessionRepository
from wagate.wiring import deps

router = APIGatewayHttpRouter()
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


class SessionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pacing: PacingOverrides | None = Field(
        description="Fields to change; a field set to null inherits again; pacing: null clears them all"
    )


class PacingView(BaseModel):
    session_id: str | None = Field(None, description="The session, for a session's pacing")
    pacing: PacingOverrides = Field(description="What this level sets (the rest is inherited)")
    effective: Pacing = Field(description="What applies: server defaults ← tenant ← session")


@router.patch("/sessions/<session_id>", summary="Change a session (its pacing)", tags=["sessions"])
def patch_session(session_id: str, body: SessionPatch, principal: Admin) -> PacingView:
    return _store().patch_session(principal.tenant_id, session_id, body.pacing)


@router.get("/sessions/<session_id>/pacing", summary="A session's pacing", tags=["sessions"])
def session_pacing(session_id: str, principal: Reader) -> PacingView:
    return _store().session(principal.tenant_id, session_id)


@router.get("/settings/pacing", summary="The tenant's default pacing", tags=["settings"])
def get_tenant_pacing(principal: Reader) -> PacingView:
    return _store().tenant(principal.tenant_id)


@router.put("/settings/pacing", summary="Set the tenant's default pacing", tags=["settings"])
def put_tenant_pacing(body: PacingOverrides, principal: Admin) -> PacingView:
    """Replaces the tenant's overrides: every field left out inherits the server default."""
    return _store().put_tenant(principal.tenant_id, body)


def _store() -> _PacingStore:
    d = deps()
    return _PacingStore(d.table, d.settings.pacing)


class _PacingStore:
    """The pacing overrides on tenant and session rows. Every write is conditional (no lost update)."""

    def __init__(self, table: Table, defaults: Pacing) -> None:
        self.table = table
        self.rows = PacingRepository(table)
        self.defaults = defaults

    def tenant(self, tenant_id: str) -> PacingView:
        overrides = self._tenant_overrides(tenant_id)
        return PacingView(pacing=overrides, effective=merge(self.defaults, overrides))

    def put_tenant(self, tenant_id: str, overrides: PacingOverrides) -> PacingView:
        effective = self._checked(overrides)
        self.rows.set_tenant(tenant_id, overrides)
        return PacingView(pacing=overrides, effective=effective)

    def session(self, tenant_id: str, session_id: str) -> PacingView:
        record = session_service().record(tenant_id, session_id)
        overrides = PacingOverrides.from_stored(record.pacing)
        # What the connector applies, even if a later tenant change made the mix inconsistent.
        effective = merge_leniently(self.defaults, self._tenant_overrides(tenant_id), overrides)
        return PacingView(session_id=session_id, pacing=overrides, effective=effective)

    def patch_session(self, tenant_id: str, session_id: str, patch: PacingOverrides | None) -> PacingView:
        record = session_service().record(tenant_id, session_id)
        current = PacingOverrides.from_stored(record.pacing).stored()
        wanted = _patched(current, patch)
        overrides = PacingOverrides.model_validate(wanted)
        effective = self._checked(self._tenant_overrides(tenant_id), overrides)
        try:
            SessionRepository(self.table).set_pacing(record, wanted)
        except ConflictError as exc:
            raise ConflictError(
                f"session {session_id} changed meanwhile; send the PATCH again", code="busy"
            ) from exc
        return PacingView(session_id=session_id, pacing=overrides, effective=effective)

    def _tenant_overrides(self, tenant_id: str) -> PacingOverrides:
        return self.rows.tenant(tenant_id)

    def _checked(self, *layers: PacingOverrides) -> Pacing:
        try:
            return merge(self.defaults, *layers)
        except ValueError as exc:
            raise InvalidInput(f"these pacing settings contradict each other: {exc}") from exc


def _patched(current: Mapping[str, Any], patch: PacingOverrides | None) -> dict[str, Any]:
    if patch is None:
        return {}
    wanted = dict(current)
    for name in patch.model_fields_set:
        value = getattr(patch, name)
        if value is None:
            wanted.pop(name, None)
        else:
            wanted[name] = value
    return wanted
