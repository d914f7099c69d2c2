"""/v1/contacts/{phone}: erase or export everything about one person (admin scope; services/erasure.py)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from wagate import compose
from wagate.api.auth import require
from wagate.domain.tenants import Principal, Scope
from wagate.services.erasure import ContactExport, ErasureReceipt, ErasureService

router = APIGatewayHttpRouter()
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
Erasure = Annotated[ErasureService, Depends(compose.erasure_service)]


@router.delete("/contacts/<phone>", summary="Erase everything about one person", tags=["data protection"])
def erase_contact(phone: str, principal: Admin, erasure: Erasure) -> ErasureReceipt:
    """Every message (sent, received, scheduled), media file, conversation, contact row and reminder plan
    for this number, on all the tenant's numbers, and the copies held for CRM delivery. A late copy of an
    erased message (a receipt or an inbound retry) recreates nothing. Safe to repeat. `phone` is E.164
    (`+34600123456`, the `+` may be sent as `%2B`). The audit log records the receipt id, not the number."""
    return erasure.erase(principal.tenant_id, unquote(phone))


@router.get(
    "/contacts/<phone>/export", summary="Everything held about one person, as JSON", tags=["data protection"]
)
def export_contact(phone: str, principal: Admin, erasure: Erasure) -> ContactExport:
    """Their contact row, conversations, messages, reminder plans and media (links valid for an hour)."""
    return erasure.export(principal.tenant_id, unquote(phone))
