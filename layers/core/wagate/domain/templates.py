"""Message templates: the `{variable}` syntax, its checks and rendering, and the models the API shows.

Syntax: `{name}` is a placeholder; `{{` and `}}` are a literal `{` and `}` (as in Python's str.format).
A variable name is an identifier: letters (accents welcome: `{dirección}`), digits and `_`, not starting
with a digit. Anything else between braces, or a brace that opens or closes nothing, is refused when the
template is saved, with the character where it happens, so a CRM developer sees the mistake at once
rather than a customer seeing a half-rendered message. Values are inserted as given, never re-parsed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from wagate.domain.errors import InvalidInput

MAX_TEXT = 4096  # WhatsApp's limit for one text message
MAX_VARIABLE_NAME = 64
TEMPLATE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # part of a storage key: never a '#'
_TOKEN = re.compile(r"\{\{|\}\}|[{}]")
_LANGUAGE = re.compile(r"([A-Za-z]{2,3})(?:[-_]([A-Za-z]{2}))?")
# `{{nombre}}` is how Meta's and Mustache templates write a variable; here it is a literal "{nombre}".
_DOUBLE_BRACED = re.compile(r"\{\{\s*([^\W\d]\w*)\s*\}\}")


def normalise_language(raw: str, *, field: str = "language") -> str:
    """'ES' → 'es', 'es_mx' → 'es-MX'. Raises InvalidInput naming `field`."""
    match = _LANGUAGE.fullmatch(raw.strip())
    if match is None:
        raise InvalidInput(
            f"{field}: {raw!r} is not a language code; use e.g. es, en or pt-BR",
            details={"field": field, "value": raw},
        )
    base, region = match.group(1).lower(), match.group(2)
    return f"{base}-{region.upper()}" if region else base


def _language(value: str) -> str:
    try:
        return normalise_language(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from exc


TemplateName = Annotated[
    str,
    Field(
        pattern=f"^{TEMPLATE_NAME.pattern}$",
        description="Lower-case letters, digits, _ and -, e.g. appointment_reminder",
    ),
]
Language = Annotated[
    str,
    Field(min_length=2, max_length=6, description="A language code: es, en, pt-BR ..."),
    AfterValidator(_language),
]
TemplateBody = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TEXT, description="The text, with {variable} placeholders"),
]


def is_variable_name(name: str) -> bool:
    return name.isidentifier() and len(name) <= MAX_VARIABLE_NAME


@dataclass(frozen=True)
class Placeholder:
    name: str


Part = str | Placeholder


def parse(body: str, *, field: str = "body") -> tuple[Part, ...]:
    """Splits a template into literal text and placeholders. Raises InvalidInput naming the character."""
    parts: list[Part] = []
    literal: list[str] = []
    position = 0
    while (token := _TOKEN.search(body, position)) is not None:
        start = token.start()
        literal.append(body[position:start])
        position = token.end()
        if token.group() in ("{{", "}}"):
            literal.append(token.group()[0])
            continue
        if token.group() == "}":
            raise _syntax(field, "}", start, "closes nothing; write }} for a literal }")
        close = body.find("}", start + 1)
        reopen = body.find("{", start + 1)
        if close == -1:
            raise _syntax(field, "{", start, "is never closed; write {{ for a literal {")
        if reopen != -1 and reopen < close:
            raise _syntax(field, "{", start, "is not closed before the next {; write {{ for a literal {")
        name = body[start + 1 : close]
        if not name:
            raise _syntax(field, "{", start, "opens an empty placeholder {}; write {{}} for literal braces")
        if not is_variable_name(name):
            raise _syntax(
                field,
                "{",
                start,
                f"opens {{{name}}}, and {name!r} is not a variable name: use letters, digits and _, "
                "not starting with a digit (e.g. {client_name}); write {{ for a literal {",
            )
        if "".join(literal):
            parts.append("".join(literal))
        literal = []
        parts.append(Placeholder(name))
        position = close + 1
    literal.append(body[position:])
    if "".join(literal):
        parts.append("".join(literal))
    return tuple(parts)


def _syntax(field: str, brace: str, index: int, problem: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: the {brace} at character {index + 1} {problem}",
        details={"field": field, "character": index + 1},
    )


def placeholders(parts: Sequence[Part]) -> list[str]:
    """The variable names a template uses, in order of first use."""
    return list(dict.fromkeys(p.name for p in parts if isinstance(p, Placeholder)))


def escape(text: str) -> str:
    """Literal text as a template body that renders back to exactly `text`."""
    return text.replace("{", "{{").replace("}", "}}")


def fill(parts: Sequence[Part], values: Mapping[str, str]) -> str:
    """Joins the parts with the values (every placeholder must have one: see `Template.render`)."""
    return "".join(p if isinstance(p, str) else values[p.name] for p in parts)


class Variable(BaseModel):
    """A declared variable: optional, to describe it for dashboards or to give it a default."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str = Field(min_length=1, max_length=MAX_VARIABLE_NAME, description="As used in {name}")
    description: str | None = Field(None, max_length=500)
    default: str | None = Field(None, max_length=1024, description="Used when a send gives no value")


class Template(BaseModel):
    """A template as the API shows it: a tenant's own, or a built-in one (`builtin`)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    language: str
    body: str
    description: str | None = None
    variables: list[Variable] = Field(default_factory=list)
    placeholders: list[str] = Field(default_factory=list, description="Every {variable} the body uses")
    builtin: bool = False
    warnings: list[str] = Field(default_factory=list, description="Things that are allowed but look wrong")
    created_at: float | None = None
    updated_at: float | None = None
    version: int = 0

    def render(self, values: Mapping[str, str]) -> str:
        """The text for these values (declared defaults fill the gaps).

        Raises InvalidInput naming every missing and every unknown variable, or when the text comes out
        empty or longer than WhatsApp allows.
        """
        parts = parse(self.body)
        used = placeholders(parts)
        defaults = {v.name: v.default for v in self.variables if v.default is not None}
        unknown = sorted(name for name in values if name not in used)
        missing = [name for name in used if name not in values and name not in defaults]
        label = f"template {self.name} ({self.language})"
        if missing or unknown:
            problems = []
            if missing:
                problems.append("missing variables: " + ", ".join(missing))
            if unknown:
                problems.append("unknown variables: " + ", ".join(unknown))
            raise InvalidInput(
                f"{label}: {'; '.join(problems)}. It uses: {', '.join(used) or 'no variables'}",
                code="template_variables",
                details={
                    "template": self.name,
                    "language": self.language,
                    "missing": missing,
                    "unknown": unknown,
                    "expected": used,
                },
            )
        text = fill(parts, {**defaults, **values})
        if not text.strip():
            raise InvalidInput(f"{label} renders to empty text with these values", code="template_empty_text")
        if len(text) > MAX_TEXT:
            raise InvalidInput(
                f"{label} renders to {len(text)} characters; a WhatsApp text takes at most {MAX_TEXT}",
                code="template_text_too_long",
                details={"length": len(text), "limit": MAX_TEXT},
            )
        return text


def check(body: str, variables: Sequence[Variable]) -> tuple[list[str], list[str]]:
    """Checks a template before it is saved. Returns (placeholders, warnings).

    Raises InvalidInput for a syntax error, a bad or repeated declared variable name, or a declared
    variable the body never uses (almost always a typo on one side or the other).
    """
    used = placeholders(parse(body))
    seen: set[str] = set()
    for index, variable in enumerate(variables):
        where = f"variables[{index}].name"
        if not is_variable_name(variable.name):
            raise InvalidInput(
                f"{where}: {variable.name!r} is not a variable name: use letters, digits and _, "
                "not starting with a digit",
                details={"field": where, "value": variable.name},
            )
        if variable.name in seen:
            raise InvalidInput(
                f"{where}: {variable.name} is declared twice",
                details={"field": where, "value": variable.name},
            )
        seen.add(variable.name)
        if variable.name not in used:
            raise InvalidInput(
                f"{where}: {variable.name} is declared but the body never uses {{{variable.name}}}",
                details={"field": where, "value": variable.name, "placeholders": used},
            )
    warnings = [
        f"{match.group()} renders as the literal text {{{match.group(1)}}}: a variable is written "
        f"with single braces, {{{match.group(1)}}}"
        for match in _DOUBLE_BRACED.finditer(body)
    ]
    return used, warnings
