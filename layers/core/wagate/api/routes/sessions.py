"""/v1/sessions: link WhatsApp numbers, watch their status, act on them, and fetch the current QR code."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wagate import compose, qr
from wagate.api.auth import check_session, require
from wagate.cloud.sessions import (
    AccessToken,
    AppSecret,
    CloudCredentials,
    CloudSessionService,
    GraphId,
    VerifyToken,
)
from wagate.cloud.templates import CloudTemplateService
from wagate.domain.cloud_templates import CloudTemplates
from wagate.domain.errors import InvalidInput
from wagate.domain.sessions import Provider, Session, SessionName
from wagate.domain.tenants import Principal, Scope
from wagate.ports import Clock
from wagate.services.erasure import ErasureService
from wagate.services.sessions import SessionService

router = APIGatewayHttpRouter()
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
Sessions = Annotated[SessionService, Depends(compose.session_service)]
CloudSessions = Annotated[CloudSessionService, Depends(compose.cloud_session_service)]
Now = Annotated[Clock, Depends(compose.clock)]
Erasure = Annotated[ErasureService, Depends(compose.erasure_service)]


class NewSession(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: SessionName
    provider: Provider = Field(
        description="web (QR-linked WhatsApp), cloud (Meta's Cloud API) or sandbox (simulated, for testing)"
    )
    phone: str | None = Field(None, description="The number you expect to link, E.164 (+34600123456)")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free JSON, returned as given")
    # provider cloud only (cloud/sessions.py): no QR code; the token is checked instead.
    phone_number_id: GraphId | None = Field(None, description="cloud: the number's id in Meta")
    business_account_id: GraphId | None = Field(None, description="cloud: the WhatsApp Business Account id")
    access_token: AccessToken | None = None
    app_secret: AppSecret | None = None
    verify_token: VerifyToken | None = None

    @model_validator(mode="after")
    def _cloud_fields(self) -> NewSession:
        given = [name for name in _CLOUD_FIELDS if getattr(self, name) is not None]
        if self.provider == Provider.CLOUD:
            missing = [name for name in _CLOUD_FIELDS[:3] if getattr(self, name) is None]
            if missing:
                raise ValueError(f"provider cloud needs {', '.join(missing)}")
        elif given:
            raise ValueError(f"{', '.join(given)}: only for provider cloud")
        return self

    def cloud_credentials(self) -> CloudCredentials:
        return CloudCredentials.model_validate({name: getattr(self, name) for name in _CLOUD_FIELDS})


_CLOUD_FIELDS = ("phone_number_id", "business_account_id", "access_token", "app_secret", "verify_token")


class SessionList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Session]
    cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last")


class QrCode(BaseModel):
    model_config = ConfigDict(defer_build=True)

    qr: str = Field(description="The text inside the QR code")
    data_url: str
    expires_at: str
    expires_in: float = Field(description="Seconds until WhatsApp rotates it")


@router.post("/sessions", summary="Create a session (link a number)", tags=["sessions"])
def create_session(
    body: NewSession, principal: Admin, service: Sessions, cloud: CloudSessions
) -> tuple[dict[str, Any], int]:
    if body.provider == Provider.CLOUD:
        session = cloud.create(
            principal.tenant_id,
            name=body.name,
            phone=body.phone,
            metadata=body.metadata,
            credentials=body.cloud_credentials(),
        )
        return session.model_dump(mode="json"), 201
    session = service.create(
        principal.tenant_id, name=body.name, provider=body.provider, phone=body.phone, metadata=body.metadata
    )
    return session.model_dump(mode="json"), 201


class CloudSecrets(BaseModel):
    model_config = ConfigDict(defer_build=True)

    access_token: AccessToken
    app_secret: AppSecret | None = Field(None, description="Omit to keep the current one")
    verify_token: VerifyToken | None = Field(None, description="Omit to keep the current one")


@router.put(
    "/sessions/<session_id>/cloud-secrets",
    summary="Give a Cloud API session a new token (and secrets); checks it again",
    tags=["sessions"],
)
def replace_cloud_secrets(
    session_id: str, body: CloudSecrets, principal: Admin, cloud: CloudSessions
) -> tuple[dict[str, Any], int]:
    check_session(principal, session_id)
    session = cloud.replace_secrets(
        principal.tenant_id,
        session_id,
        access_token=body.access_token,
        app_secret=body.app_secret,
        verify_token=body.verify_token,
    )
    return session.model_dump(mode="json"), 202


@router.get("/sessions", summary="List sessions", tags=["sessions"])
def list_sessions(
    principal: Reader,
    service: Sessions,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> SessionList:
    items, next_cursor = service.list(principal.tenant_id, limit=limit, cursor=cursor)
    return SessionList(items=[s for s in items if principal.sees(s.id)], cursor=next_cursor)


@router.get("/sessions/<session_id>", summary="Get a session", tags=["sessions"])
def get_session(session_id: str, principal: Reader, service: Sessions) -> Session:
    check_session(principal, session_id)
    return service.show(principal.tenant_id, session_id)


@router.delete(
    "/sessions/<session_id>", summary="Delete a session (logs out, wipes its keys)", tags=["sessions"]
)
def delete_session(
    session_id: str,
    principal: Admin,
    service: Sessions,
    erasure: Erasure,
    erase_messages: Annotated[
        bool, Query(description="Also erase every message of this number, its conversations and media")
    ] = False,
) -> Response[str]:
    check_session(principal, session_id)
    service.show(principal.tenant_id, session_id)  # 404 before erasing anything
    if erase_messages:
        erasure.erase_session_messages(principal.tenant_id, session_id)
    service.delete(principal.tenant_id, session_id)
    return Response(204, None, "")


class ConnectRequest(BaseModel):
    model_config = ConfigDict(defer_build=True)

    phone: str | None = Field(
        None,
        description="web: link by phone number. The session then shows an 8-character pairing_code "
        "(in the session and its qr_code event) to type on this phone instead of a QR code",
    )


@router.post("/sessions/<session_id>/connect", summary="Connect (start) a session", tags=["sessions"])
def connect_session(
    session_id: str, principal: Admin, service: Sessions, body: ConnectRequest | None = None
) -> tuple[dict[str, Any], int]:
    check_session(principal, session_id)
    if body is None and router.current_event.body:
        # Powertools reads some non-object bodies (`[null, null]`) as "no body": refuse them here.
        if router.current_event.json_body is not None:
            raise InvalidInput("the body is a JSON object, or absent", details={"field": "body"})
    phone = body.phone if body is not None else None
    session = service.connect(principal.tenant_id, session_id, link_phone=phone, choose_link=True)
    return session.model_dump(mode="json"), 202


@router.post("/sessions/<session_id>/reconnect", summary="Close and reopen the socket", tags=["sessions"])
def reconnect_session(session_id: str, principal: Admin, service: Sessions) -> tuple[dict[str, Any], int]:
    check_session(principal, session_id)
    return service.connect(principal.tenant_id, session_id, restart=True).model_dump(mode="json"), 202


@router.post("/sessions/<session_id>/disconnect", summary="Disconnect, keeping the link", tags=["sessions"])
def disconnect_session(session_id: str, principal: Admin, service: Sessions) -> tuple[dict[str, Any], int]:
    check_session(principal, session_id)
    return service.disconnect(principal.tenant_id, session_id).model_dump(mode="json"), 202


@router.post(
    "/sessions/<session_id>/logout", summary="Unlink the device and wipe its keys", tags=["sessions"]
)
def logout_session(session_id: str, principal: Admin, service: Sessions) -> tuple[dict[str, Any], int]:
    check_session(principal, session_id)
    return service.logout(principal.tenant_id, session_id).model_dump(mode="json"), 202


@router.get(
    "/sessions/<session_id>/cloud-templates",
    summary="The Cloud number's Meta templates (status, components)",
    tags=["sessions"],
)
def cloud_templates(
    session_id: str,
    principal: Reader,
    service: Annotated[CloudTemplateService, Depends(compose.cloud_template_service)],
    refresh: Annotated[bool, Query(description="Read them from Meta now (else: the last sync)")] = False,
) -> CloudTemplates:
    """The WhatsApp Business Account's templates as the last sync saw them. The first call (or
    `refresh=true`) queues a sync from Meta and answers `syncing: true`: read again in a moment. A Meta
    template send is checked against them: 422 `template_mismatch` (not APPROVED, another language, the
    wrong number of parameters). 422 `not_cloud` for other sessions."""
    check_session(principal, session_id)
    return service.list(principal.tenant_id, session_id, refresh=refresh)


@router.get("/sessions/<session_id>/qr", summary="The current QR code to scan", tags=["sessions"])
# No return annotation on purpose: Powertools would validate a PNG body as text.
def session_qr(  # type: ignore[no-untyped-def]
    session_id: str,
    principal: Reader,
    service: Sessions,
    clock: Now,
    format: Annotated[qr.QrFormat, Query(description="png, svg, data_url (JSON) or terminal")] = "data_url",
):
    """404 `no_qr_code` when the session is not waiting for a scan. `Expires` says when the code rotates."""
    check_session(principal, session_id)
    text, expires_at = service.current_qr(principal.tenant_id, session_id)
    expires = dt.datetime.fromtimestamp(expires_at, dt.UTC)
    headers = {"Expires": expires.strftime("%a, %d %b %Y %H:%M:%S GMT"), "Cache-Control": "no-store"}
    if format == "png":
        return Response(200, "image/png", qr.png(text), headers=headers)
    if format == "svg":
        return Response(200, "image/svg+xml", qr.svg(text), headers=headers)
    if format == "terminal":
        return Response(200, "text/plain; charset=utf-8", qr.terminal(text), headers=headers)
    body = QrCode(
        qr=text,
        data_url=qr.data_url(text),
        expires_at=expires.isoformat().replace("+00:00", "Z"),
        expires_in=round(max(0.0, expires_at - clock.now()), 3),
    )
    return Response(200, "application/json", body.model_dump_json(), headers=headers)
