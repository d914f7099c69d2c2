"""Evolution's webhook router (webhook.router.ts): `webhook/set/{instance}` (201), `webhook/find/{instance}`.

Over the session's formatted wagate webhook (evolution/webhooks.py): deliveries are signed, retried and
replayable like every wagate webhook, and listed under /v1/webhooks/{id}/deliveries.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from wagate import compose
from wagate.evolution.access import Caller, Need, instance
from wagate.evolution.webhooks import EvolutionWebhook, row, set_webhook

router = APIGatewayHttpRouter()


class SetWebhook(BaseModel):
    webhook: EvolutionWebhook


@router.post("/webhook/set/<instanceName>")
def set_instance_webhook(
    instanceName: str, body: SetWebhook, principal: Caller
) -> tuple[dict[str, Any], int]:
    session = instance(principal, instanceName, Need.MANAGE)
    webhook, secret = set_webhook(session, body.webhook)
    return row(session, webhook, secret), 201


@router.get("/webhook/find/<instanceName>")
def find_instance_webhook(instanceName: str, principal: Caller) -> Any:
    """The instance's webhook, or null (Evolution's answer when none was set)."""
    session = instance(principal, instanceName, Need.READ)
    found = compose.webhook_service().for_session(session.tenant_id, session.id)
    return row(session, found) if found is not None else None
