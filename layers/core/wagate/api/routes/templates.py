"""/v1/templates: a tenant's message templates (and the built-in ones): manage, list, fetch and preview.

Scopes: reading and previewing take `read` or `send` (a key that may send a template may see what it
would send); creating, changing and deleting take `admin`.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import require, require_any
from wagate.domain.templates import Template
from wagate.domain.tenants import Principal, Scope
from wagate.services.templates import NewTemplate, TemplateChanges, TemplateService

router = APIGatewayHttpRouter()
Templates = Annotated[TemplateService, Depends(compose.template_service)]
Viewer = Annotated[Principal, Depends(require_any(Scope.READ, Scope.SEND))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
LanguageQuery = Annotated[
    str | None, Query(max_length=8, description="es, en, pt-BR...; needed when the name exists in several")
]


class TemplateList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Template]


class PreviewRequest(BaseModel):
    model_config = ConfigDict(defer_build=True)

    variables: dict[str, str] = Field(default_factory=dict, description="Values for its {placeholders}")
    language: str | None = Field(None, max_length=8, description="Needed when the name exists in several")


class Preview(BaseModel):
    model_config = ConfigDict(defer_build=True)

    text: str = Field(description="The message exactly as it would be sent")
    name: str
    language: str = Field(description="The language that was used")
    builtin: bool


@router.post("/templates", summary="Create a template", tags=["templates"])
def create_template(body: NewTemplate, principal: Admin, service: Templates) -> tuple[dict[str, Any], int]:
    """422 names what is wrong with the body; 409 `template_exists` when the name and language are taken.
    Using the name and language of a built-in template overrides it for this tenant."""
    return service.create(principal.tenant_id, body).model_dump(mode="json"), 201


@router.get("/templates", summary="List templates (yours and the built-in ones)", tags=["templates"])
def list_templates(
    principal: Viewer,
    service: Templates,
    language: Annotated[str | None, Query(max_length=8, description="Only this language")] = None,
    builtin: Annotated[bool, Query(description="Include built-in templates you have not overridden")] = True,
) -> TemplateList:
    return TemplateList(items=service.list(principal.tenant_id, language=language, builtin=builtin))


@router.get("/templates/<name>", summary="Get a template", tags=["templates"])
def get_template(
    name: str, principal: Viewer, service: Templates, language: LanguageQuery = None
) -> Template:
    """The template a send with this name (and language) would use: yours, or the built-in one."""
    return service.get(principal.tenant_id, name, language)


@router.patch("/templates/<name>", summary="Change a template", tags=["templates"])
def update_template(
    name: str, body: TemplateChanges, principal: Admin, service: Templates, language: LanguageQuery = None
) -> Template:
    """Only the fields given change. 409 `builtin_template` for a built-in one: create your own instead."""
    return service.update(principal.tenant_id, name, language, body)


@router.delete("/templates/<name>", summary="Delete a template", tags=["templates"])
def delete_template(
    name: str, principal: Admin, service: Templates, language: LanguageQuery = None
) -> Response[str]:
    """A built-in template of the same name and language, if any, is used again afterwards."""
    service.delete(principal.tenant_id, name, language)
    return Response(204, None, "")


@router.post("/templates/<name>/preview", summary="Render a template without sending", tags=["templates"])
def preview_template(name: str, body: PreviewRequest, principal: Viewer, service: Templates) -> Preview:
    """The text a send would get, or the same 422 a send would (missing or unknown variables)."""
    template, text = service.preview(principal.tenant_id, name, body.variables, body.language)
    return Preview(text=text, name=template.name, language=template.language, builtin=template.builtin)
