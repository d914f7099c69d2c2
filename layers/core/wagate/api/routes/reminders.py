"""/v1/reminders: reminder plans (an event and scheduled messages around it): create, list, move, cancel.

Scopes: creating, moving and cancelling take `send` (they schedule and cancel messages); reading takes
`read` or `send`.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import check_session, require, require_any
from wagate.api.idempotency import idempotent
from wagate.domain.errors import NotFound
from wagate.domain.reminders import ReminderPlan, ReminderPlanChange
from wagate.domain.tenants import Principal, Scope
from wagate.services.reminders import MoveReminderPlan, NewReminderPlan, ReminderService

router = APIGatewayHttpRouter()
Viewer = Annotated[Principal, Depends(require_any(Scope.READ, Scope.SEND))]
Sender = Annotated[Principal, Depends(require(Scope.SEND))]
Reminders = Annotated[ReminderService, Depends(compose.reminder_service)]


class ReminderPlanList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[ReminderPlan]
    cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last")


@router.post("/reminders", summary="Plan reminders for an event", tags=["reminders"])
def create_plan(body: NewReminderPlan, principal: Sender, service: Reminders) -> tuple[dict[str, Any], int]:
    """201 with the plan: each reminder `scheduled` (with its message id) or `skipped` (past, after the
    event starts, or at the same instant as another). 422 when every one would be skipped. With
    `Idempotency-Key`, a retry returns the first answer instead of planning everything twice."""

    check_session(principal, body.session_id)

    def create(tenant_id: str, new: NewReminderPlan, _key: str | None) -> ReminderPlan:
        return service.create(tenant_id, new)

    plan = idempotent(router, create, ReminderPlan)(principal.tenant_id, body)
    return plan.model_dump(mode="json"), 201


@router.get("/reminders", summary="List reminder plans (newest first)", tags=["reminders"])
def list_plans(
    principal: Viewer,
    service: Reminders,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> ReminderPlanList:
    items, next_cursor = service.list(principal.tenant_id, limit=limit, cursor=cursor)
    return ReminderPlanList(items=[p for p in items if principal.sees(p.session_id)], cursor=next_cursor)


@router.get("/reminders/<plan_id>", summary="Get a reminder plan", tags=["reminders"])
def get_plan(plan_id: str, principal: Viewer, service: Reminders) -> ReminderPlan:
    """With each reminder's `message_status` (scheduled, sent, delivered, read, failed, cancelled...)."""
    return _seen(principal, service, plan_id)


@router.patch("/reminders/<plan_id>", summary="Move the event", tags=["reminders"])
def move_plan(
    plan_id: str, body: MoveReminderPlan, principal: Sender, service: Reminders
) -> ReminderPlanChange:
    """Reminders not sent yet follow the event; `changes` says what moved, was cancelled (now past),
    was added (no longer past) or was left alone (already sent). Safe to repeat after an error."""
    _seen(principal, service, plan_id)
    return service.move(principal.tenant_id, plan_id, body)


@router.delete("/reminders/<plan_id>", summary="Cancel the plan", tags=["reminders"])
def cancel_plan(plan_id: str, principal: Sender, service: Reminders) -> ReminderPlanChange:
    """Cancels every reminder not sent yet; `changes` lists them, and those already on their way."""
    _seen(principal, service, plan_id)
    return service.cancel(principal.tenant_id, plan_id)


def _seen(principal: Principal, service: ReminderService, plan_id: str) -> ReminderPlan:
    """The plan, if the key sees its session: to a session-scoped key, others do not exist."""
    plan = service.get(principal.tenant_id, plan_id)
    if not principal.sees(plan.session_id):
        raise NotFound(f"reminder plan {plan_id} does not exist")
    return plan
