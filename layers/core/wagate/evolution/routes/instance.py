"""Evolution's instance router (instance.router.ts): an instance is a wagate session of the caller's tenant.

create -> SessionService.create (+ a session-scoped key as the instance token), connect ->
SessionService.connect, restart -> a reconnect, logout -> SessionService.logout, delete ->
SessionService.delete (+ the token revoked). Statuses and bodies are Evolution's.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from wagate import compose
from wagate.cloud.sessions import CloudCredentials, CloudSessionService
from wagate.domain.errors import WagateError
from wagate.domain.phones import normalise_phone
from wagate.domain.sessions import Provider, Session
from wagate.evolution import instances
from wagate.evolution.access import Caller, Need, instance, is_global, require_global, sessions_named
from wagate.evolution.errors import EvolutionError
from wagate.evolution.webhooks import CreateWebhook, delete_webhook, set_webhook
from wagate.services.sessions import SessionService
from wagate.store.evolution import EvolutionInstances

router = APIGatewayHttpRouter()
Sessions = Annotated[SessionService, Depends(compose.session_service)]
CloudSessions = Annotated[CloudSessionService, Depends(compose.cloud_session_service)]


class InstanceSettings(BaseModel):
    """Evolution's per-instance settings, echoed back as given (wagate does not apply them: say so)."""

    rejectCall: StrictBool = False
    msgCall: StrictStr = ""
    groupsIgnore: StrictBool = False
    alwaysOnline: StrictBool = False
    readMessages: StrictBool = False
    readStatus: StrictBool = False
    syncFullHistory: StrictBool = False
    wavoipToken: StrictStr = ""


class CreateInstance(InstanceSettings):
    """instance/create's body (InstanceDto); fields wagate has no use for are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    instanceName: StrictStr = Field(min_length=1, max_length=120)
    integration: StrictStr = "WHATSAPP-BAILEYS"
    qrcode: StrictBool = False
    token: StrictStr | None = None
    number: StrictStr | None = Field(None, max_length=40)
    businessId: StrictStr | None = Field(None, max_length=40)
    webhook: CreateWebhook | None = None

    def settings(self) -> dict[str, Any]:
        given = self.model_dump(include=set(InstanceSettings.model_fields))
        return InstanceSettings.model_validate(given).model_dump()


@router.post("/instance/create")
def create_instance(
    body: CreateInstance, principal: Caller, service: Sessions, cloud: CloudSessions
) -> tuple[dict[str, Any], int]:
    require_global(principal, "instance/create")
    provider = instances.INTEGRATIONS.get(body.integration)
    if provider is None:
        raise EvolutionError(400, "Invalid integration")
    existing = sessions_named(principal.tenant_id)
    if any(s.name == body.instanceName for s in existing):
        raise EvolutionError(403, f'This name "{body.instanceName}" is already in use.')
    instances.forget_gone(principal.tenant_id, {s.id for s in existing})
    if body.webhook is not None and body.webhook.url:
        compose.webhook_service().check(body.webhook.url)  # before anything is made (Evolution undoes)
    link_phone = None
    if body.number and provider == Provider.WEB:  # Evolution asks for a pairing code for this number
        link_phone = normalise_phone("+" + body.number.lstrip("+"), field="number")
    if provider == Provider.CLOUD:
        session = _create_cloud(principal.tenant_id, body, cloud)
    else:
        # Started once its webhook exists: a connector that shows the first QR code at once must find it.
        session = service.create(
            principal.tenant_id,
            name=body.instanceName,
            provider=provider,
            phone=None,
            metadata={},
            start=False,
        )
    try:
        if not instances.claim_name(session):  # another create of this name won the race
            raise EvolutionError(403, f'This name "{body.instanceName}" is already in use.')
        # Evolution's `token` is Meta's access token on a WHATSAPP-BUSINESS instance, not a chosen key.
        token = instances.make_token(session, None if provider == Provider.CLOUD else body.token)
    except (WagateError, EvolutionError):
        _undo(session)  # no instance without its name and token
        raise
    settings = body.settings()
    EvolutionInstances(compose.ports().table).put(
        principal.tenant_id, session.id, token=token, settings=settings
    )
    webhook: dict[str, Any] = {
        "webhookUrl": None,
        "webhookHeaders": None,
        "webhookByEvents": None,
        "webhookBase64": None,
    }
    if body.webhook is not None and body.webhook.url:
        try:
            _, secret = set_webhook(session, body.webhook)
        except WagateError:
            _undo(session)
            raise
        webhook = {
            "webhookUrl": body.webhook.url,
            "webhookHeaders": body.webhook.headers,
            "webhookByEvents": body.webhook.by_events,
            "webhookBase64": body.webhook.inline_base64,
            "webhookSecret": secret,  # wagate's: verify the signature of each call with it
        }
    if link_phone is not None:
        session = service.connect(principal.tenant_id, session.id, link_phone=link_phone, choose_link=True)
    elif provider != Provider.CLOUD:
        session = service.connect(principal.tenant_id, session.id)
    qrcode = None
    if body.qrcode and provider != Provider.CLOUD:
        qrcode = instances.qr_object(service, session, wait=instances.QR_WAIT_SECONDS)
    answer = {
        "instance": {
            "instanceName": session.name,
            "instanceId": session.id,
            "integration": body.integration,
            "webhookWaBusiness": None,
            "accessTokenWaBusiness": "",
            "status": instances.session_state(service, session),
        },
        "hash": token,
        "webhook": webhook,
        "websocket": {"enabled": None},
        "rabbitmq": {"enabled": None},
        "nats": {"enabled": None},
        "sqs": {"enabled": None},
        "settings": settings,
        "qrcode": qrcode,
    }
    return answer, 201


def _create_cloud(tenant_id: str, body: CreateInstance, cloud: CloudSessionService) -> Session:
    """WHATSAPP-BUSINESS: Evolution's `token` is Meta's access token, `number` the phone number id and
    `businessId` the WhatsApp Business Account id; the instance token is a new wagate key."""
    missing = [name for name in ("token", "number", "businessId") if not getattr(body, name)]
    if missing:
        raise EvolutionError(400, f"{missing[0]} is required")
    try:
        credentials = CloudCredentials.model_validate(
            {
                "phone_number_id": body.number,
                "business_account_id": body.businessId,
                "access_token": body.token,
            }
        )
    except ValidationError as exc:
        names = {"phone_number_id": "number", "business_account_id": "businessId", "access_token": "token"}
        raise EvolutionError(
            400, *(f"{names.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors())
        ) from exc
    return cloud.create(tenant_id, name=body.instanceName, phone=None, metadata={}, credentials=credentials)


def _undo(session: Session) -> None:
    """An instance whose create failed half-way is not left behind (Evolution deletes it too)."""
    compose.session_service().delete(session.tenant_id, session.id)
    instances.revoke_tokens(session)
    kept = EvolutionInstances(compose.ports().table)
    kept.delete(session.tenant_id, session.id)
    kept.release(session.tenant_id, session.name, session.id)


@router.get("/instance/connect/<instanceName>")
def connect_instance(
    instanceName: str,
    principal: Caller,
    service: Sessions,
    number: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """Open: the connection state. Otherwise the QR object: at once while connecting; after starting a
    closed instance (or, with `?number=`, linking a web one by a code typed on that phone), once the
    first code is there (up to QR_WAIT_SECONDS)."""
    session = instance(principal, instanceName, Need.MANAGE)
    current = instances.session_state(service, session)
    if current == "open":
        return {"instance": {"instanceName": session.name, "state": "open"}}
    if session.provider == Provider.CLOUD:  # no QR code: (re)check the token and say where it stands
        if current == "close":
            session = service.connect(principal.tenant_id, session.id)
        return {
            "instance": {"instanceName": session.name, "state": instances.session_state(service, session)}
        }
    phone = None
    if number:
        phone = number if number.startswith("+") else "+" + number
    if current == "close" or phone is not None:
        session = service.connect(principal.tenant_id, session.id, link_phone=phone, choose_link=True)
        return instances.qr_object(service, session, wait=instances.QR_WAIT_SECONDS)
    # Already connecting: the current code at once (CRMs poll this route while the QR rotates).
    return instances.qr_object(service, session)


@router.get("/instance/connectionState/<instanceName>")
def connection_state(instanceName: str, principal: Caller, service: Sessions) -> dict[str, Any]:
    session = instance(principal, instanceName, Need.READ)
    return {"instance": {"instanceName": session.name, "state": instances.session_state(service, session)}}


@router.get("/instance/fetchInstances")
def fetch_instances(
    principal: Caller,
    service: Sessions,
    instanceName: Annotated[str | None, Query(max_length=120)] = None,
    instanceId: Annotated[str | None, Query(max_length=120)] = None,
    number: Annotated[str | None, Query(max_length=40)] = None,
) -> list[dict[str, Any]]:
    """Every instance of the tenant for the global key; the token's own instance for an instance token
    (401 when the filters leave it none). 404 `Instance "x" not found` for a filter matching nothing
    (an empty filter is no filter). `number`: the linked number, digits (with or without `+`)."""
    found = [s for s in sessions_named(principal.tenant_id) if principal.sees(s.id)]
    if instanceName:
        found = [s for s in found if s.name == instanceName]
    if instanceId:
        found = [s for s in found if s.id == instanceId]
    if number:
        found = [s for s in found if s.phone and s.phone.lstrip("+") == number.lstrip("+")]
    if not found:
        if not is_global(principal) and principal.sessions is not None:
            raise EvolutionError(401)
        if instanceName or instanceId or number:
            raise EvolutionError(404, f'Instance "{instanceName or instanceId or number}" not found')
    items = []
    kept = EvolutionInstances(compose.ports().table)
    for session in found:
        record = service.record(principal.tenant_id, session.id)
        extra = kept.get(principal.tenant_id, session.id) or {}
        item = instances.record(service.honest(record.session), record.desired, extra.get("settings"))
        item["token"] = extra.get("token")
        items.append(item)
    return items


@router.post("/instance/restart/<instanceName>")
def restart_instance(instanceName: str, principal: Caller, service: Sessions) -> dict[str, Any]:
    """Evolution refuses a closed instance (400 not connected); otherwise reopens the socket and answers
    as instance/connect would."""
    session = instance(principal, instanceName, Need.MANAGE)
    if instances.session_state(service, session) == "close":
        raise EvolutionError(400, f'The "{instanceName}" instance is not connected')
    service.connect(principal.tenant_id, session.id, restart=True)
    return {"instance": {"instanceName": session.name, "state": instances.session_state(service, session)}}


@router.delete("/instance/logout/<instanceName>")
def logout_instance(instanceName: str, principal: Caller, service: Sessions) -> dict[str, Any]:
    session = instance(principal, instanceName, Need.MANAGE)
    if instances.session_state(service, session) == "close":
        raise EvolutionError(400, f'The "{instanceName}" instance is not connected')
    service.logout(principal.tenant_id, session.id)
    return {"status": "SUCCESS", "error": False, "response": {"message": "Instance logged out"}}


@router.delete("/instance/delete/<instanceName>")
def delete_instance(instanceName: str, principal: Caller, service: Sessions) -> dict[str, Any]:
    session = instance(principal, instanceName, Need.MANAGE)
    service.delete(principal.tenant_id, session.id)
    instances.revoke_tokens(session)
    delete_webhook(session)
    kept = EvolutionInstances(compose.ports().table)
    kept.delete(principal.tenant_id, session.id)
    kept.release(principal.tenant_id, session.name, session.id)
    return {"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}}
