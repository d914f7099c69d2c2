"""/v1/contacts/{phone}: one contact by phone or WhatsApp id, and the CRM's fields on it (external id, tags,
metadata); /v1/contacts/check: which numbers are on WhatsApp (services/contacts.py, services/number_check.py).
Contacts are the tenant's, across its numbers: a session-scoped key reaches them through its conversations."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from wagate import compose
from wagate.api.auth import check_session, require, require_any
from wagate.domain.conversations import Contact
from wagate.domain.errors import Forbidden
from wagate.domain.tenants import Principal, Scope
from wagate.services.contacts import ContactService
from wagate.services.number_check import MAX_NUMBERS, CheckStatus, NumberCheck, NumberChecks

router = APIGatewayHttpRouter()
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Writer = Annotated[Principal, Depends(require_any(Scope.SEND, Scope.ADMIN))]
Contacts = Annotated[ContactService, Depends(compose.contact_service)]
Checks = Annotated[NumberChecks, Depends(compose.number_checks)]
Checker = Annotated[Principal, Depends(require_any(Scope.SEND, Scope.ADMIN))]
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
MAX_METADATA_BYTES = 16 * 1024
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class ContactPatch(BaseModel):
    """The CRM's fields; those given replace what is there (null clears external_id)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    external_id: ExternalId | None = Field(
        None, description="The CRM's id for this person (visible ASCII); null clears it"
    )
    tags: list[Tag] | None = Field(None, max_length=50, description="Replaces the tags (up to 50)")
    metadata: dict[str, Any] | None = Field(None, description="Replaces the CRM's free JSON (up to 16 KiB)")

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, default=str)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is over {MAX_METADATA_BYTES} bytes as JSON")
        return value


def _tenant_wide(principal: Principal) -> None:
    if principal.sessions is not None:
        raise Forbidden("a session-scoped key reaches its contacts through GET /v1/conversations")


@router.get("/contacts/<phone>", summary="A contact, by phone (E.164) or WhatsApp id", tags=["contacts"])
def get_contact(phone: str, principal: Reader, contacts: Contacts) -> Contact:
    """`phone`: E.164 (`+34600123456`), a WhatsApp id (`34600123456@s.whatsapp.net`) or a LID (`…@lid`,
    which also finds the contact it was merged into once the phone was learned)."""
    _tenant_wide(principal)
    return contacts.get(principal.tenant_id, unquote(phone))


@router.patch("/contacts/<phone>", summary="Set the CRM's external id, tags, metadata", tags=["contacts"])
def patch_contact(phone: str, body: ContactPatch, principal: Writer, contacts: Contacts) -> Contact:
    _tenant_wide(principal)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if "tags" in changes and changes["tags"] is None:
        changes["tags"] = []
    if "metadata" in changes and changes["metadata"] is None:
        changes["metadata"] = {}
    return contacts.patch(principal.tenant_id, unquote(phone), changes)


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    session_id: SessionId = Field(description="The number to ask through (web or sandbox; cloud: unknown)")
    numbers: list[Annotated[str, StringConstraints(min_length=1, max_length=40)]] = Field(
        min_length=1, max_length=MAX_NUMBERS, description="Up to 50 phone numbers, E.164"
    )


@router.post("/contacts/check", summary="Which numbers are on WhatsApp (up to 50)", tags=["contacts"])
def check_numbers(body: CheckRequest, principal: Checker, checks: Checks) -> tuple[dict[str, Any], int]:
    """200 with the results, or 202 while the connector has not answered yet (then GET
    /v1/contacts/checks/{id}). Rate-limited per tenant (429 `number_check_rate_limited`)."""
    check_session(principal, body.session_id)
    check = checks.start(principal.tenant_id, body.session_id, body.numbers)
    return check.model_dump(mode="json"), 202 if check.status == CheckStatus.PENDING else 200


@router.get("/contacts/checks/<check_id>", summary="A number check's results", tags=["contacts"])
def get_check(check_id: str, principal: Reader, checks: Checks) -> NumberCheck:
    check = checks.get(principal.tenant_id, check_id)
    check_session(principal, check.session_id, "number check")
    return check
