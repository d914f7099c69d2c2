"""/v1/insights: sent, delivered, read, failed, replies, latencies, uptime per day or hour, from rollups;
/v1/settings/insights: the tenant's default time zone for them."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from wagate import compose
from wagate.api.auth import check_session, require
from wagate.domain.errors import Forbidden, InvalidInput
from wagate.domain.insights import BreakdownList, Granularity, InsightsSettings, Report
from wagate.domain.instants import Instant
from wagate.domain.sessions import Session
from wagate.domain.templates import TemplateName
from wagate.domain.tenants import Principal, Scope
from wagate.services.insights import Insights
from wagate.services.sessions import SessionService

router = APIGatewayHttpRouter()
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
Service = Annotated[Insights, Depends(compose.insights_service)]
Sessions = Annotated[SessionService, Depends(compose.session_service)]
DEFAULT_DAYS = {Granularity.DAY: 30, Granularity.HOUR: 2}
From = Annotated[
    Instant | None,
    Query(
        alias="from", description="Start (epoch seconds or ISO 8601); default: 30 days (hour: 2) before `to`"
    ),
]
To = Annotated[Instant | None, Query(description="End, exclusive (epoch seconds or ISO 8601); default: now")]
Tz = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="IANA time zone of the days (e.g. Europe/Madrid); default: the tenant's "
        "(/v1/settings/insights), else UTC. Days are local days "
        "(23 to 25 h across DST); hours stay UTC hours, labelled in local time with their offset. A zone "
        "whose days do not start on a whole UTC hour (Asia/Kolkata) is refused for days: 422",
    ),
]


@router.get(
    "/insights", summary="Message and session insights over a range, per day or hour", tags=["insights"]
)
def insights(
    principal: Reader,
    service: Service,
    sessions: Sessions,
    start: From = None,
    to: To = None,
    granularity: Annotated[
        Granularity, Query(description="day (at most 400) or hour (at most 744 buckets)")
    ] = Granularity.DAY,
    session_id: Annotated[str | None, Query(max_length=64)] = None,
    template: Annotated[TemplateName | None, Query()] = None,
    broadcast_id: Annotated[
        str | None, Query(pattern=r"^bc_[0-9A-Za-z]{1,40}$", description="One broadcast's messages")
    ] = None,
    tz: Tz = None,
) -> Report:
    if sum(x is not None for x in (session_id, template, broadcast_id)) > 1:
        raise InvalidInput("give one of session_id, template or broadcast_id", details={"field": "template"})
    if session_id is not None:
        check_session(principal, session_id)
    if (template is not None or broadcast_id is not None) and principal.sessions is not None:
        raise Forbidden(
            "templates and broadcasts are counted across the tenant's numbers: a session-scoped key cannot "
            "see them"
        )
    zone = service.zone(principal.tenant_id, tz)
    if broadcast_id is not None:
        compose.broadcast_service().get(principal.tenant_id, broadcast_id)  # NotFound for an unknown one
    begin, end = _range(service, start, to, granularity)
    visible = _sessions(principal, sessions)
    if session_id is not None and session_id not in {s.id for s in visible}:
        visible = [sessions.get(principal.tenant_id, session_id)]  # NotFound for an unknown one
    return service.report(
        principal.tenant_id,
        start=begin,
        end=end,
        granularity=granularity,
        sessions=visible,
        whole_tenant=principal.sessions is None,
        session_id=session_id,
        template=template,
        broadcast_id=broadcast_id,
        zone=zone,
    )


@router.get("/insights/sessions", summary="Insights per session over a range", tags=["insights"])
def by_session(
    principal: Reader, service: Service, sessions: Sessions, start: From = None, to: To = None, tz: Tz = None
) -> BreakdownList:
    zone = service.zone(principal.tenant_id, tz)
    begin, end = _range(service, start, to, Granularity.DAY)
    return service.by_session(
        principal.tenant_id, start=begin, end=end, sessions=_sessions(principal, sessions), zone=zone
    )


@router.get("/insights/templates", summary="Insights per template over a range", tags=["insights"])
def by_template(
    principal: Reader, service: Service, start: From = None, to: To = None, tz: Tz = None
) -> BreakdownList:
    if principal.sessions is not None:
        raise Forbidden(
            "templates are counted across the tenant's numbers: a session-scoped key cannot see them"
        )
    zone = service.zone(principal.tenant_id, tz)
    begin, end = _range(service, start, to, Granularity.DAY)
    return service.by_template(principal.tenant_id, start=begin, end=end, zone=zone)


@router.get("/settings/insights", summary="The tenant's insights settings", tags=["settings"])
def get_insights_settings(principal: Reader, service: Service) -> InsightsSettings:
    return service.settings(principal.tenant_id)


@router.put("/settings/insights", summary="Set the tenant's insights settings", tags=["settings"])
def put_insights_settings(body: InsightsSettings, principal: Admin, service: Service) -> InsightsSettings:
    """The time zone of the tenant's reports when a request names none. A zone whose days do not start on
    a whole UTC hour (Asia/Kolkata) is refused: its days cannot be cut from the hour rows (422)."""
    return service.replace_settings(principal.tenant_id, body)


def _range(
    service: Insights, start: float | None, end: float | None, granularity: Granularity
) -> tuple[float, float]:
    end = service.clock.now() if end is None else end
    start = end - DEFAULT_DAYS[granularity] * 86_400 if start is None else start
    return start, end


def _sessions(principal: Principal, sessions: SessionService) -> list[Session]:
    """The tenant's sessions this key sees."""
    found: list[Session] = []
    cursor = None
    while True:
        page, cursor = sessions.list(principal.tenant_id, limit=100, cursor=cursor)
        found.extend(s for s in page if principal.sees(s.id))
        if cursor is None:
            return found
