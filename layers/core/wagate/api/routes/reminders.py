"""/v1/reminders: reminder plans (an event and scheduled messages around it): create, list, move, cancel.

Scopes: creating, moving and cancelling take `send` (they schedule and cancel messages); reading takes
`read` or `send`.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, Field

from wagate.api import idempotency
from wagate.api.auth import require, require_any
from wagate.api.dependencies import message_service
from wagate.domain.reminders import ReminderPlan, ReminderPlanChange
from wagate.domain.tenants import Principal, Scope
from wagate.services.reminders import MoveReminderPlan, NewReminderPlan, ReminderService
from wagate.services.templates import TemplateService
from wagate.wiring import deps

router = APIGatewayHttpRouter()
Viewer = Annotated[Principal, Depends(require_any(Scope.READ, Scope.SEND))]
Sender = Annotated[Principal, Depends(require(Scope.SEND))]


def service() -> ReminderService:
    d = deps()
    return ReminderService(d.table, d.clock, message_service(), TemplateService(d.table, d.clock))


class ReminderPlanList(BaseModel):
    items: list[ReminderPlan]
    cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last")


@router.post("/reminders", summary="Plan reminders for an event", tags=["reminders"])
def create_plan(body: NewReminderPlan, principal: Sender) -> tuple[dict[str, Any], int]:
    """201 with the plan: each reminder `scheduled` (with its message id) or `skipped` (past, after the
    event starts, or at the same instant as another). 422 when every one would be skipped. With
    `Idempotency-Key`, a retry returns the first answer instead of planning everything twice."""
    return idempotency.run_once(router, principal.tenant_id, body.model_dump(mode="json"), _create), 201


@router.get("/reminders", summary="List reminder plans (newest first)", tags=["reminders"])
def list_plans(
    principal: Viewer,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> ReminderPlanList:
    items, next_cursor = service().list(principal.tenant_id, limit=limit, cursor=cursor)
    return ReminderPlanList(items=items, cursor=next_cursor)


@router.get("/reminders/<plan_id>", summary="Get a reminder plan", tags=["reminders"])
def get_plan(plan_id: str, principal: Viewer) -> ReminderPlan:
    """With each reminder's `message_status` (scheduled, sent, delivered, read, failed, cancelled...)."""
    return service().get(principal.tenant_id, plan_id)


@router.patch("/reminders/<plan_id>", summary="Move the event", tags=["reminders"])
def move_plan(plan_id: str, body: MoveReminderPlan, principal: Sender) -> ReminderPlanChange:
    """Reminders not sent yet follow the event; `changes` says what moved, was cancelled (now past),
    was added (no longer past) or was left alone (already sent). Safe to repeat after an error."""
    return service().move(principal.tenant_id, plan_id, body)


@router.delete("/reminders/<plan_id>", summary="Cancel the plan", tags=["reminders"])
def cancel_plan(plan_id: str, principal: Sender) -> ReminderPlanChange:
    """Cancels every reminder not sent yet; `changes` lists them, and those already on their way."""
    return service().cancel(principal.tenant_id, plan_id)


def _create(request: dict[str, Any]) -> dict[str, Any]:
    plan = service().create(request["tenant"], NewReminderPlan.model_validate(request["body"]))
    return plan.model_dump(mode="json")
