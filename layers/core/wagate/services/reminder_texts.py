"""What each reminder of a plan says: its template, its share of the variables, and the event in words.

A plan has one template and, optionally, another per offset (a "we are live" message at the start). The
plan's variables go to every template that uses them, and each must be used by at least one (a typo is
a 422, as for a single send); an offset's own variables go to its template alone. The event's date and
time fill these placeholders when a template uses them and the caller gave no value:
    {event_date} {appointment_date} {fecha_cita}      e.g. martes 28 de octubre / Tuesday, October 28
    {event_time} {appointment_time} {hora_cita}       e.g. 19:00 / 7:00 PM
written in the template's language (es, en; ISO 8601 for others) and the plan's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from wagate.domain.errors import InvalidInput, NotFound
from wagate.domain.reminders import PlanTemplate
from wagate.domain.templates import Template
from wagate.services.messages import TemplateRef
from wagate.services.templates import TemplateService

DATE_VARIABLES = ("event_date", "appointment_date", "fecha_cita")
TIME_VARIABLES = ("event_time", "appointment_time", "hora_cita")


@dataclass(frozen=True)
class Piece:
    """One reminder's template and the variables the caller gave it (before the event's own)."""

    template: Template
    given: dict[str, str]


@dataclass(frozen=True)
class Send:
    """One reminder as MessageService will send it, and the text that will come out."""

    ref: TemplateRef
    text: str


def plan_templates(
    templates: TemplateService,
    tenant_id: str,
    default: TemplateRef,
    overrides: Sequence[TemplateRef | None],
) -> tuple[PlanTemplate, list[PlanTemplate | None], list[Piece]]:
    """Resolves the plan's template and each offset's own, and shares out the variables.

    Returns what the plan stores (languages resolved, so a later move renders the same versions) and
    one Piece per offset. Raises InvalidInput naming an unknown template or an unused variable.
    """
    base = _resolve(templates, tenant_id, default, "template")
    pieces: list[Piece] = []
    saved: list[PlanTemplate | None] = []
    used: set[str] = set()
    for index, override in enumerate(overrides):
        template, own, stored = base, dict[str, str](), None
        if override is not None:
            field = f"offsets[{index}].template"
            template, own = _resolve(templates, tenant_id, override, field), override.variables
            unknown = sorted(set(own) - set(template.placeholders))
            if unknown:
                raise InvalidInput(
                    f"{field}.variables: template {template.name} does not use {', '.join(unknown)}; "
                    f"it uses: {', '.join(template.placeholders) or 'nothing'}",
                    code="template_variables",
                    details={"field": f"{field}.variables", "unknown": unknown},
                )
            stored = PlanTemplate(name=template.name, language=template.language, variables=own)
        used.update(template.placeholders)
        shared = {k: v for k, v in default.variables.items() if k in template.placeholders}
        pieces.append(Piece(template, {**shared, **own}))
        saved.append(stored)
    unknown = sorted(set(default.variables) - used)
    if unknown:
        raise InvalidInput(
            f"template.variables: unknown variables: {', '.join(unknown)}; the plan's templates use: "
            f"{', '.join(sorted(used)) or 'nothing'}",
            code="template_variables",
            details={"field": "template.variables", "unknown": unknown},
        )
    plan_template = PlanTemplate(name=base.name, language=base.language, variables=default.variables)
    return plan_template, saved, pieces


def render_all(pieces: Sequence[Piece], event: dt.datetime, now: float) -> list[Send]:
    """Every reminder's text for this event time. Rendering all of them first surfaces every 422
    (a missing variable, a text too long) before anything is stored."""
    assert event.tzinfo is not None
    today = dt.datetime.fromtimestamp(now, event.tzinfo).date()
    sends = []
    for piece in pieces:
        template = piece.template
        values = {**piece.given, **event_variables(template, piece.given, event, today=today)}
        ref = TemplateRef(name=template.name, language=template.language, variables=values)
        sends.append(Send(ref, template.render(values)))
    return sends


def event_variables(
    template: Template, given: dict[str, str], event: dt.datetime, *, today: dt.date
) -> dict[str, str]:
    """The event's date and time for the placeholders the template uses and the caller left empty."""
    found: dict[str, str] = {}
    for name in template.placeholders:
        if name in given:
            continue
        if name in DATE_VARIABLES:
            found[name] = format_date(event, template.language, today=today)
        elif name in TIME_VARIABLES:
            found[name] = format_time(event, template.language)
    return found


def _resolve(templates: TemplateService, tenant_id: str, ref: TemplateRef, field: str) -> Template:
    try:
        return templates.resolve(tenant_id, ref.name, ref.language, field=f"{field}.language")
    except NotFound as exc:
        raise InvalidInput(exc.message, code="unknown_template", details=exc.details) from exc


_WEEKDAYS = {
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "es": (
        "enero", "febrero", "marzo", "abril", "mayo", "junio",
        "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip


def format_date(moment: dt.datetime, language: str, *, today: dt.date) -> str:
    """'martes 28 de octubre', 'Tuesday, October 28' (en, en-US) or 'Tuesday 28 October' (other en-*);
    the year only when it is not this year. Other languages get ISO 8601 (2025-10-28)."""
    base, _, region = language.partition("-")
    if base not in _WEEKDAYS:
        return moment.date().isoformat()
    weekday, month = _WEEKDAYS[base][moment.weekday()], _MONTHS[base][moment.month - 1]
    other_year = moment.year != today.year
    if base == "es":
        return f"{weekday} {moment.day} de {month}" + (f" de {moment.year}" if other_year else "")
    if region in ("", "US"):
        return f"{weekday}, {month} {moment.day}" + (f", {moment.year}" if other_year else "")
    return f"{weekday} {moment.day} {month}" + (f" {moment.year}" if other_year else "")


def format_time(moment: dt.datetime, language: str) -> str:
    """'17:30' (es: '9:00'), or '5:30 PM' for en and en-US."""
    base, _, region = language.partition("-")
    if base == "en" and region in ("", "US"):
        return f"{moment.hour % 12 or 12}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"
    if base == "es":
        return f"{moment.hour}:{moment.minute:02d}"
    return f"{moment.hour:02d}:{moment.minute:02d}"
