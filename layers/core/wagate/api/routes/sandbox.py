"""/v1/sandbox: drive a simulated session (scan its QR, drop it, ban it, make a contact reply)."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import check_session, require
from wagate.domain.content import Content
from wagate.domain.phones import normalise_phone
from wagate.domain.tenants import Principal, Scope
from wagate.services.sessions import SessionService

router = APIGatewayHttpRouter()
Sessions = Annotated[SessionService, Depends(compose.session_service)]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


@enum.unique
class SandboxAction(enum.StrEnum):
    SCAN = "scan"  # the simulated phone scans the current QR code
    DROP = "drop"  # the connection drops (transient): the connector reconnects
    LOGOUT = "logout"  # the simulated phone unlinks the device
    BAN = "ban"  # WhatsApp bans the number (permanent)
    TEMP_BAN = "temp_ban"  # WhatsApp bans the number for a while (402; body: expire seconds, code)
    RESTRICT = "restrict"  # WhatsApp's 463: new chats refused until the next connection
    RATE_LIMIT = "rate_limit"  # WhatsApp's 429 on lookups for `expire` seconds (60): sends to strangers wait
    REPLY = "reply"  # a simulated contact sends a message


class SandboxRequest(BaseModel):
    model_config = ConfigDict(defer_build=True)

    contact: str | None = Field(None, description="reply: the contact (E.164) who writes")
    text: str | None = Field(None, max_length=4096, description="reply: what they write")
    content: Content | None = Field(
        None, description="reply: a typed kind instead of text (location, contacts, a button reply…)"
    )
    expire: int | None = Field(
        None, ge=1, le=30 * 86400, description="temp_ban, rate_limit: how long, in seconds"
    )
    code: int | None = Field(None, ge=100, le=199, description="temp_ban: WhatsApp's reason code (101-106)")


@router.post(
    "/sandbox/sessions/<session_id>/<action>", summary="Simulate something (sandbox)", tags=["sandbox"]
)
def simulate(
    session_id: str,
    action: SandboxAction,
    principal: Admin,
    service: Sessions,
    body: SandboxRequest | None = None,
) -> tuple[dict[str, Any], int]:
    check_session(principal, session_id)
    request = body or SandboxRequest()
    data: dict[str, Any] = {"text": request.text} if request.text else {}
    if request.content is not None:
        data["content"] = request.content.model_dump(mode="json", exclude_none=True)
    if request.expire is not None:
        data["expire"] = request.expire
    if request.code is not None:
        data["code"] = request.code
    if request.contact:
        data["from"] = normalise_phone(request.contact, field="contact")  # the engine's name for the writer
    session = service.sandbox(principal.tenant_id, session_id, action.value, data)
    return {"session_id": session.id, "action": action.value, "sandbox": True}, 202
