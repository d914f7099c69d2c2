"""Evolution's settings router (settings.router.ts): `settings/set/{instance}` (201), `settings/find`.

The settings are kept with the instance (store/evolution.py, sealed). wagate applies `groupsIgnore`: the
instance's webhook is not told about group messages (they are still stored and in /v1). The others
(`rejectCall`, `msgCall`, `alwaysOnline`, `readMessages`, `readStatus`, `syncFullHistory`,
`wavoipToken`) are kept and answered back, not applied: README says so.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, StrictBool, StrictStr

from wagate import compose
from wagate.evolution.access import Caller, Need, instance
from wagate.store.evolution import EvolutionInstances

router = APIGatewayHttpRouter()


class SetSettings(BaseModel):
    """settings.schema.ts: the six flags are required, the two texts optional."""

    rejectCall: StrictBool
    msgCall: StrictStr = ""
    groupsIgnore: StrictBool
    alwaysOnline: StrictBool
    readMessages: StrictBool
    readStatus: StrictBool
    syncFullHistory: StrictBool
    wavoipToken: StrictStr = ""


@router.post("/settings/set/<instanceName>")
def set_settings(instanceName: str, body: SetSettings, principal: Caller) -> tuple[dict[str, Any], int]:
    session = instance(principal, instanceName, Need.MANAGE)
    settings = body.model_dump()
    EvolutionInstances(compose.ports().table).set_settings(session.tenant_id, session.id, settings)
    return {"settings": {"instanceName": session.name, "settings": settings}}, 201


@router.get("/settings/find/<instanceName>")
def find_settings(instanceName: str, principal: Caller) -> Any:
    """The instance's settings, or null (a session made through /v1)."""
    session = instance(principal, instanceName, Need.READ)
    kept = EvolutionInstances(compose.ports().table).get(session.tenant_id, session.id) or {}
    return kept.get("settings")
