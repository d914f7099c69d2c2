"""Templates: a tenant's own message templates, the built-in ones, and rendering either into text.

Rows: store/templates.py (keys and access patterns: store/keys.py).
Built-in templates (seed 004: appointment confirmation, reminder, follow-up, custom; in es and en) live
in code below, are the same for every tenant and are never stored. A tenant's template with the same name
and language hides the built-in one; deleting it brings the built-in back.

Which language a send gets: the one asked for, else its base language (es-MX → es), looking at the
tenant's own templates before the built-ins. With no language, the name must exist in one language only
(among the tenant's own if it has any, else among the built-ins); otherwise the send is refused, because
guessing would send someone a message in a language they may not read.
"""

from __future__ import annotations

import functools

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain.errors import ConflictError, InvalidInput, NotFound
from wagate.domain.templates import (
    TEMPLATE_NAME,
    Language,
    Template,
    TemplateBody,
    TemplateName,
    Variable,
    check,
    normalise_language,
)
from wagate.ports import Clock, Table
from wagate.services.messages import TemplateRef
from wagate.store.templates import TemplateRepository

MAX_VARIABLES = 50


class NewTemplate(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: TemplateName
    language: Language
    body: TemplateBody
    description: str | None = Field(None, max_length=500)
    variables: list[Variable] = Field(
        default_factory=list,
        max_length=MAX_VARIABLES,
        description="Optional: describe variables, or give them defaults. Undeclared ones are required",
    )


class TemplateChanges(BaseModel):
    """A PATCH: only the fields given change; `variables`, when given, replaces the whole list."""

    model_config = ConfigDict(defer_build=True)

    body: TemplateBody | None = None
    description: str | None = Field(None, max_length=500)
    variables: list[Variable] | None = Field(None, max_length=MAX_VARIABLES)


def _built_in(name: str, language: str, description: str, body: str, **variables: str) -> Template:
    declared = [Variable(name=key, description=text) for key, text in variables.items()]
    used, warnings = check(body, declared)
    return Template(
        name=name,
        language=language,
        body=body,
        description=description,
        variables=declared,
        placeholders=used,
        builtin=True,
        warnings=warnings,
    )


_ES = {
    "nombre_cliente": "Nombre del cliente",
    "nombre_asesor": "Tu nombre, tal como lo verá el cliente",
    "fecha_cita": "Fecha de la cita, p. ej. martes 28 de octubre",
    "hora_cita": "Hora de la cita, p. ej. 17:30",
    "direccion": "Dónde es la cita",
    "mensaje_personalizado": "Tu mensaje",
}
_EN = {
    "client_name": "The client's name",
    "advisor_name": "Your name, as the client will see it",
    "appointment_date": "The appointment's date, e.g. Tuesday, October 28",
    "appointment_time": "The appointment's time, e.g. 5:30 PM",
    "address": "Where the appointment is",
    "custom_message": "Your message",
}


def _pick(names: dict[str, str], *keys: str) -> dict[str, str]:
    return {key: names[key] for key in keys}


@functools.cache
def built_in_templates() -> dict[tuple[str, str], Template]:
    """The built-in templates by (name, language), built at first use: validating them at import was
    most of the API's templates import time (bench/cold_start.py)."""
    return {
        (t.name, t.language): t
        for t in (
            _built_in(
                "appointment_confirmation",
                "es",
                "Se envía al confirmar una reserva",
                "Hola {nombre_cliente}, tu cita con {nombre_asesor} queda confirmada para el {fecha_cita} "
                "a las {hora_cita}. Si necesitas cambiarla, responde a este mensaje.",
                **_pick(_ES, "nombre_cliente", "nombre_asesor", "fecha_cita", "hora_cita"),
            ),
            _built_in(
                "appointment_confirmation",
                "en",
                "Sent when a booking is confirmed",
                "Hi {client_name}, your appointment with {advisor_name} is confirmed for {appointment_date} "
                "at {appointment_time}. If you need to change it, just reply to this message.",
                **_pick(_EN, "client_name", "advisor_name", "appointment_date", "appointment_time"),
            ),
            _built_in(
                "appointment_reminder",
                "es",
                "Recordatorio antes de la cita (p. ej. 24 horas antes)",
                "Hola {nombre_cliente}, te recordamos tu cita del {fecha_cita} a las {hora_cita} en "
                "{direccion}. Si no puedes venir, avísanos respondiendo a este mensaje. ¡Te esperamos!",
                **_pick(_ES, "nombre_cliente", "fecha_cita", "hora_cita", "direccion"),
            ),
            _built_in(
                "appointment_reminder",
                "en",
                "A reminder before the appointment (e.g. 24 hours before)",
                "Hi {client_name}, this is a reminder of your appointment on {appointment_date} at "
                "{appointment_time} at {address}. If you can't make it, please let us know by replying to "
                "this message. See you soon!",
                **_pick(_EN, "client_name", "appointment_date", "appointment_time", "address"),
            ),
            _built_in(
                "follow_up",
                "es",
                "Seguimiento después de la consulta",
                "Hola {nombre_cliente}, soy {nombre_asesor}. Gracias por tu visita."
                "\n\n{mensaje_personalizado}\n\nSi te surge cualquier duda, escríbeme por aquí.",
                **_pick(_ES, "nombre_cliente", "nombre_asesor", "mensaje_personalizado"),
            ),
            _built_in(
                "follow_up",
                "en",
                "A check-in after the consultation",
                "Hi {client_name}, it's {advisor_name}. Thank you for coming in.\n\n{custom_message}\n\n"
                "If any questions come up, just write to me here.",
                **_pick(_EN, "client_name", "advisor_name", "custom_message"),
            ),
            _built_in(
                "custom",
                "es",
                "Un mensaje libre. Crea tu propia plantilla «custom» para fijar su texto y sus variables",
                "{mensaje_personalizado}",
                **_pick(_ES, "mensaje_personalizado"),
            ),
            _built_in(
                "custom",
                "en",
                "A free-form message. Create your own 'custom' template to set its text and variables",
                "{custom_message}",
                **_pick(_EN, "custom_message"),
            ),
        )
    }


def _built_in_languages(name: str) -> list[str]:
    return sorted(language for (built_in, language) in built_in_templates() if built_in == name)


class TemplateService:
    """The use cases behind /v1/templates, and the renderer `MessageService` uses for template sends."""

    def __init__(self, table: Table, clock: Clock) -> None:
        self.table = table
        self.clock = clock
        self.rows = TemplateRepository(table)

    # ---- reads --------------------------------------------------------------------------------------

    def get(self, tenant_id: str, name: str, language: str | None = None) -> Template:
        """The template a send with this name and language would use. NotFound, or InvalidInput when the
        language is needed to choose."""
        return self.resolve(tenant_id, name, language)

    def resolve(
        self, tenant_id: str, name: str, language: str | None, *, field: str = "language"
    ) -> Template:
        if not TEMPLATE_NAME.fullmatch(name):
            raise self._unknown(name)
        if language is None:
            own = self.rows.languages_of(tenant_id, name)
            if len(own) == 1:
                return own[0]
            languages = sorted(t.language for t in own) if own else _built_in_languages(name)
            if len(languages) == 1:
                return built_in_templates()[(name, languages[0])]
            if not languages:
                raise self._unknown(name)
            raise InvalidInput(
                f"template {name} exists in {', '.join(languages)}: say which with {field}",
                code="template_language_needed",
                details={"field": field, "languages": languages},
            )
        wanted = normalise_language(language, field=field)
        for candidate in dict.fromkeys([wanted, wanted.split("-")[0]]):
            found = self.rows.find(tenant_id, name, candidate)
            if found is not None:
                return found
            if (name, candidate) in built_in_templates():
                return built_in_templates()[(name, candidate)]
        languages = sorted(
            {t.language for t in self.rows.languages_of(tenant_id, name)} | set(_built_in_languages(name))
        )
        if not languages:
            raise self._unknown(name)
        raise NotFound(
            f"template {name} has no {wanted} version; it exists in {', '.join(languages)}",
            details={"field": field, "languages": languages},
        )

    def preview(
        self, tenant_id: str, name: str, variables: dict[str, str], language: str | None
    ) -> tuple[Template, str]:
        """The template a send would use and its text. NotFound for an unknown name; else as `render`."""
        template = self.resolve(tenant_id, name, language)
        return template, template.render(variables)

    def render(self, tenant_id: str, ref: TemplateRef) -> str:
        """The text of a template send. Raises InvalidInput naming an unknown template or language, and
        every missing or unknown variable."""
        try:
            template = self.resolve(tenant_id, ref.name, ref.language, field="template.language")
        except NotFound as exc:
            raise InvalidInput(exc.message, code="unknown_template", details=exc.details) from exc
        return template.render(ref.variables)

    # ---- writes -------------------------------------------------------------------------------------

    def create(self, tenant_id: str, new: NewTemplate) -> Template:
        """Raises InvalidInput for a bad body or variables, ConflictError when the name and language are
        taken (a built-in of the same name and language is not "taken": the new one overrides it)."""
        used, warnings = check(new.body, new.variables)
        now = self.clock.now()
        template = Template(
            **new.model_dump(),
            placeholders=used,
            warnings=warnings,
            created_at=now,
            updated_at=now,
            version=1,
        )
        try:
            self.rows.create(tenant_id, template)
        except ConflictError as exc:
            raise ConflictError(
                f"template {new.name} ({new.language}) already exists; change it with "
                f"PATCH /v1/templates/{new.name}?language={new.language}",
                code="template_exists",
            ) from exc
        return template

    def update(self, tenant_id: str, name: str, language: str | None, changes: TemplateChanges) -> Template:
        """Applies the fields given in the PATCH. ConflictError if the template changed meanwhile."""
        current = self._own(tenant_id, name, language)
        given = changes.model_fields_set
        body = changes.body if "body" in given and changes.body is not None else current.body
        variables = (
            changes.variables
            if "variables" in given and changes.variables is not None
            else list(current.variables)
        )
        description = changes.description if "description" in given else current.description
        used, warnings = check(body, variables)
        template = Template(
            name=name,
            language=current.language,
            body=body,
            description=description,
            variables=variables,
            placeholders=used,
            warnings=warnings,
            created_at=current.created_at,
            updated_at=self.clock.now(),
            version=int(current.version) + 1,
        )
        try:
            self.rows.replace(tenant_id, template, read_version=int(current.version))
        except ConflictError as exc:
            raise ConflictError(
                f"template {name} ({current.language}) changed or was deleted meanwhile; fetch it again",
                code="template_changed",
            ) from exc
        return template

    def delete(self, tenant_id: str, name: str, language: str | None) -> None:
        current = self._own(tenant_id, name, language)
        try:
            self.rows.delete(tenant_id, name, current.language)
        except ConflictError:
            pass  # deleted meanwhile: the outcome the caller wanted

    # ---- plumbing -----------------------------------------------------------------------------------

    def _own(self, tenant_id: str, name: str, language: str | None) -> Template:
        """The tenant's own template, exactly (no fallback: a PATCH of es-MX must not change es)."""
        if not TEMPLATE_NAME.fullmatch(name):
            raise NotFound(f"template {name} does not exist")
        if language is None:
            own = self.rows.languages_of(tenant_id, name)
            if len(own) > 1:
                languages = sorted(t.language for t in own)
                raise InvalidInput(
                    f"template {name} exists in {', '.join(languages)}: say which with ?language=",
                    code="template_language_needed",
                    details={"field": "language", "languages": languages},
                )
            item = own[0] if own else None
            built_in = _built_in_languages(name)
            label = name
        else:
            wanted = normalise_language(language)
            item = self.rows.find(tenant_id, name, wanted)
            built_in = [wanted] if (name, wanted) in built_in_templates() else []
            label = f"{name} ({wanted})"
        if item is not None:
            return item
        if built_in:
            raise ConflictError(
                f"template {label} is built in and cannot be changed or deleted; to use your own text, "
                f"create a template with the same name and language (POST /v1/templates)",
                code="builtin_template",
                details={"languages": built_in},
            )
        raise NotFound(f"template {label} does not exist")

    @staticmethod
    def _unknown(name: str) -> NotFound:
        return NotFound(
            f"template {name} does not exist; create it with POST /v1/templates or use a built-in one: "
            + ", ".join(sorted({n for n, _ in built_in_templates()})),
            details={"field": "template.name", "value": name},
        )

    # Last in the class: its name would hide the builtin `list` in the annotations below it.
    def list(self, tenant_id: str, *, language: str | None = None, builtin: bool = True) -> list[Template]:
        """The tenant's templates and the built-ins it has not overridden, by name then language."""
        wanted = normalise_language(language) if language else None
        found: dict[tuple[str, str], Template] = {}
        for template in self.rows.all(tenant_id):
            found[(template.name, template.language)] = template
        if builtin:
            for key, template in built_in_templates().items():
                found.setdefault(key, template)
        return [found[key] for key in sorted(found) if wanted is None or key[1] == wanted]
