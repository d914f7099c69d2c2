"""GET /v1/links/wa-me: a click-to-chat link (wa.me) that opens a chat with a number, text pre-filled.

Scope: `read` or `send`. Nothing is stored or sent: the link is built from the query alone.
"""

from __future__ import annotations

import urllib.parse
from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate.api.auth import require_any
from wagate.domain.phones import normalise_phone
from wagate.domain.tenants import Principal, Scope

router = APIGatewayHttpRouter()
Viewer = Annotated[Principal, Depends(require_any(Scope.READ, Scope.SEND))]
MAX_TEXT = 2000  # long wa.me links break in some browsers and QR codes; WhatsApp itself takes 4096


class WaMeLink(BaseModel):
    model_config = ConfigDict(defer_build=True)

    url: str = Field(description="https://wa.me/<number>?text=<text>: put it behind a button or a QR code")
    phone: str = Field(description="The number, E.164")


@router.get("/links/wa-me", summary="A click-to-chat link", tags=["links"])
def wa_me_link(
    principal: Viewer,
    phone: Annotated[str, Query(min_length=1, max_length=32, description="E.164, e.g. +34600123456")],
    text: Annotated[str | None, Query(max_length=MAX_TEXT, description="Message to pre-fill")] = None,
) -> WaMeLink:
    """422 naming `phone` when it is not an international number."""
    number = normalise_phone(phone)
    url = f"https://wa.me/{number.lstrip('+')}"
    if text:
        # quote, not quote_plus: every client reads %20 as a space; not every one reads '+' as one.
        url += "?text=" + urllib.parse.quote(text, safe="")
    return WaMeLink(url=url, phone=number)
