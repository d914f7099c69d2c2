"""Anti-ban pacing settings: a tenant's and a session's overrides, read and changed, and what applies.

One service for the API (PATCH /v1/sessions/{id}, /v1/settings/pacing) and the connector (which reads
`effective` within WAGATE_PACING_REFRESH_SECONDS). Stored as overrides: the tenant row's and the session
row's `pacing` attribute hold only the fields they set (see wagate.domain.pacing); what applies is the
process defaults ← tenant ← session. Every write is conditional (no lost update).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain.errors import ConflictError, InvalidInput
from wagate.domain.pacing import Pacing, PacingOverrides, merge, merge_leniently
from wagate.ports import Table
from wagate.store.pacing import PacingRepository
from wagate.store.sessions import SessionRepository


class PacingView(BaseModel):
    model_config = ConfigDict(defer_build=True)

    session_id: str | None = Field(None, description="The session, for a session's pacing")
    pacing: PacingOverrides = Field(description="What this level sets (the rest is inherited)")
    effective: Pacing = Field(description="What applies: server defaults ← tenant ← session")


class PacingSettings:
    def __init__(self, rows: PacingRepository, sessions: SessionRepository, defaults: Pacing) -> None:
        self.rows = rows
        self.sessions = sessions
        self.defaults = defaults

    @classmethod
    def on_table(cls, table: Table, defaults: Pacing) -> PacingSettings:
        """On the table's own repositories (what the connector and the composition root use)."""
        return cls(PacingRepository(table), SessionRepository(table), defaults)

    def effective(self, tenant_id: str, session_id: str) -> Pacing:
        """What the connector applies to a number, even if a later tenant change made the mix
        inconsistent (each bound is kept at least its lower partner). A missing row overrides nothing."""
        tenant, session = self.rows.layers(tenant_id, session_id)
        return merge_leniently(self.defaults, tenant, session)

    def tenant(self, tenant_id: str) -> PacingView:
        overrides = self.rows.tenant(tenant_id)
        return PacingView(pacing=overrides, effective=merge(self.defaults, overrides))

    def put_tenant(self, tenant_id: str, overrides: PacingOverrides) -> PacingView:
        """Replaces the tenant's overrides. Raises InvalidInput (contradictory), NotFound."""
        effective = self._checked(overrides)
        self.rows.set_tenant(tenant_id, overrides)
        return PacingView(pacing=overrides, effective=effective)

    def session(self, tenant_id: str, session_id: str) -> PacingView:
        """Raises NotFound."""
        record = self.sessions.get(tenant_id, session_id)
        overrides = PacingOverrides.from_stored(record.pacing)
        effective = merge_leniently(self.defaults, self.rows.tenant(tenant_id), overrides)
        return PacingView(session_id=session_id, pacing=overrides, effective=effective)

    def patch_session(self, tenant_id: str, session_id: str, patch: PacingOverrides | None) -> PacingView:
        """Only the fields given change; a field set to null inherits again; None clears them all.
        Raises NotFound, InvalidInput (contradictory), ConflictError `busy` (changed meanwhile)."""
        record = self.sessions.get(tenant_id, session_id)
        current = PacingOverrides.from_stored(record.pacing).stored()
        wanted = _patched(current, patch)
        overrides = PacingOverrides.model_validate(wanted)
        effective = self._checked(self.rows.tenant(tenant_id), overrides)
        try:
            self.sessions.set_pacing(record, wanted)
        except ConflictError as exc:
            raise ConflictError(
                f"session {session_id} changed meanwhile; send the PATCH again", code="busy"
            ) from exc
        return PacingView(session_id=session_id, pacing=overrides, effective=effective)

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
