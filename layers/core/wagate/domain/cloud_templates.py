"""Meta templates of a Cloud number: what a sync saw (status, components), and whether a send fits one.

Meta renders a template itself; wagate only checks, at accept time, what it can know from the last sync:
the template exists in that language, is APPROVED, and the send gives as many body parameters as the
body has placeholders (`{{1}}`… or `{{name}}`), a header parameter when the header is a media or has a
placeholder, and a parameter for each URL button with a placeholder. No sync yet: nothing is checked
(Meta then answers for itself, and the failure reaches the CRM as a `failed` status).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


class CloudTemplate(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str | None = None
    name: str
    language: str
    status: str = Field(description="APPROVED, PENDING, REJECTED, PAUSED, DISABLED…")
    category: str | None = None
    components: list[dict[str, Any]] = Field(default_factory=list, description="As Meta returns them")
    body_parameters: list[str] = Field(
        default_factory=list, description="The body's placeholders, in order (1, 2… or names)"
    )


class CloudTemplates(BaseModel):
    """A session's templates as of `synced_at`."""

    templates: list[CloudTemplate]
    synced_at: float | None = Field(None, description="When they were last read from Meta (epoch seconds)")
    syncing: bool = Field(False, description="A sync from Meta is queued: read again in a moment")
    sync_error: str | None = Field(None, description="Why the last sync failed (the templates are older)")


def parse_template(raw: Mapping[str, Any]) -> CloudTemplate | None:
    """One entry of Graph's `/{waba}/message_templates`; None when it lacks a name or language."""
    name, language = raw.get("name"), raw.get("language")
    if not isinstance(name, str) or not isinstance(language, str) or not name or not language:
        return None
    components = [dict(c) for c in raw.get("components") or [] if isinstance(c, Mapping)]
    body = next((c for c in components if str(c.get("type", "")).upper() == "BODY"), {})
    text = str(body.get("text") or "")
    return CloudTemplate(
        id=str(raw["id"]) if raw.get("id") is not None else None,
        name=name,
        language=language,
        status=str(raw.get("status") or "UNKNOWN"),
        category=str(raw["category"]) if raw.get("category") else None,
        components=components,
        body_parameters=list(dict.fromkeys(PLACEHOLDER.findall(text))),
    )


def problems(
    template: CloudTemplate, variables: Mapping[str, str], components: Sequence[Mapping[str, Any]]
) -> list[str]:
    """What keeps a send of `template` with these parameters from being accepted by Meta (empty: fine)."""
    found: list[str] = []
    if template.status != "APPROVED":
        found.append(f"template {template.name} ({template.language}) is {template.status}, not APPROVED")
    given_body = [c for c in components if c.get("type") == "body"]
    body_count = len(variables) + sum(len(c.get("parameters") or []) for c in given_body)
    if body_count != len(template.body_parameters):
        wanted = ", ".join(template.body_parameters) or "none"
        found.append(
            f"the body has {len(template.body_parameters)} parameters ({wanted}); {body_count} given"
        )
    header = next((c for c in template.components if str(c.get("type", "")).upper() == "HEADER"), None)
    if header is not None:
        media = str(header.get("format", "TEXT")).upper() in ("IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
        placeholder = bool(PLACEHOLDER.search(str(header.get("text") or "")))
        given = any(c.get("type") == "header" for c in components)
        if (media or placeholder) and not given:
            what = str(header.get("format", "text")).lower()
            found.append(f"the header needs a {what} parameter (components: type header)")
    buttons = next((c for c in template.components if str(c.get("type", "")).upper() == "BUTTONS"), None)
    for index, button in enumerate((buttons or {}).get("buttons") or []):
        dynamic = str(button.get("type", "")).upper() == "URL" and PLACEHOLDER.search(str(button.get("url")))
        given = any(c.get("type") == "button" and c.get("index") == index for c in components)
        if dynamic and not given:
            found.append(f"button {index} has a URL placeholder: give a button component with index {index}")
    return found
