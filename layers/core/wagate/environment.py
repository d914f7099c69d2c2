"""Reads the settings tree (`wagate.settings`) from environment variables, refusing what it does not know.

pydantic-settings (typed env parsing with aliases, instead of the four hand-written readers there were)
finds each field's variable: the section's prefix + the field's name, or the field's aliases, case as
written or not, an empty value counting as unset. The tree's own models then check the values, and a
refusal is re-raised naming the variable. Imported only when settings are read, never at a handler's import.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from wagate.settings import READ_ELSEWHERE, ROOT, Section, SettingsError

M = TypeVar("M", bound=BaseModel)


class _Naming(BaseSettings):
    """Only its configuration is used: how variables are named and matched."""

    # An aliased field is read from its aliases only (TABLE_NAME, not a WAGATE_ name).
    model_config = SettingsConfigDict(case_sensitive=False, env_ignore_empty=True, validate_by_name=False)


class _Variables(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (the process's, or a test's)."""

    def __init__(self, prefix: str, env: Mapping[str, str]) -> None:
        self._given = env
        super().__init__(_Naming, env_prefix=prefix)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._given, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )

    def names(self, field: FieldInfo, name: str, section: Section) -> list[str]:
        """The variables of one field, first match wins."""
        aliases = dict(section.aliases).get(name)
        if aliases is not None:
            return [alias.lower() for alias in aliases] + [(section.prefix + name).lower()]
        return [variable for _, variable, _ in self._extract_field_info(field, name)]


def read_settings(model: type[M], env: Mapping[str, str]) -> M:
    """Raises SettingsError: an unknown WAGATE_* variable, or a value the tree refuses (naming it)."""
    known = set(variables(model))
    unknown = sorted(
        name
        for name in env
        if name.upper().startswith("WAGATE_") and name.upper() not in known | READ_ELSEWHERE
    )
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name.upper(), known, n=1)
            hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
        raise SettingsError(
            f"unknown variable {', '.join(hints)}: not a wagate setting (README: Configuration)"
        )
    return _read(model, env, ROOT)


def variables(model: type[BaseModel], section: Section = ROOT) -> dict[str, FieldInfo]:
    """Every variable of the tree (upper case) → its field. A variable owned twice is a bug: ValueError."""
    owners: dict[str, FieldInfo] = {}
    for _, variable, field, _ in _walk(model, section, _Variables(section.prefix, {})):
        if variable in owners:
            raise ValueError(f"{variable} names two settings")
        owners[variable] = field
    return owners


def _walk(
    model: type[BaseModel], section: Section, source: _Variables
) -> Iterator[tuple[str, str, FieldInfo, type[BaseModel]]]:
    """(field name, variable, field, model) of every leaf, depth first."""
    for name, field in model.model_fields.items():
        nested = _section(field)
        if nested is not None:
            yield from _walk(_model(field), nested, _Variables(nested.prefix, {}))
            continue
        for variable in source.names(field, name, section):
            yield name, variable.upper(), field, model


def _read(model: type[M], env: Mapping[str, str], section: Section, problems: list[str] | None = None) -> M:
    """Raises SettingsError listing every refused variable of the tree, not only the first."""
    own: list[str] = [] if problems is None else problems
    source = _Variables(section.prefix, env)
    values: dict[str, Any] = {}
    used: dict[str, str] = {}
    for name, field in model.model_fields.items():
        nested = _section(field)
        if nested is not None:
            try:
                values[name] = _read(_model(field), env, nested, own)
            except SettingsError:
                pass  # listed in `own`; the parent still checks its own fields
            continue
        for variable in source.names(field, name, section):
            value = source.env_vars.get(variable)
            if value is not None:
                values[name], used[name] = value, variable.upper()
                break
    before = len(own)
    try:
        result = model.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            field_name = str(error["loc"][0]) if error["loc"] else ""
            variable = used.get(field_name, f"{section.prefix}*")
            secret = (
                "Secret" in repr(model.model_fields[field_name].annotation) if field_name in used else True
            )
            got = "" if secret else f" (got {values[field_name]!r})"
            own.append(f"{variable}: {error['msg']}{got}")
    if len(own) > before or (problems is None and own):
        raise SettingsError("; ".join(own))
    return result


def _section(field: FieldInfo) -> Section | None:
    return next((meta for meta in field.metadata if isinstance(meta, Section)), None)


def _model(field: FieldInfo) -> type[BaseModel]:
    annotation = field.annotation
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        raise TypeError(f"a Section must annotate a model, not {annotation!r}")
    return annotation


def markdown_table(model: type[BaseModel]) -> str:
    """README's Configuration table: one row per setting, its variables, default and meaning."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    seen: dict[int, list[str]] = {}
    fields: dict[int, FieldInfo] = {}
    for variable, field in variables(model).items():
        seen.setdefault(id(field), []).append(variable)
        fields[id(field)] = field
    for key, names in seen.items():
        field = fields[key]
        shown = " / ".join(f"`{name}`" for name in names)
        rows.append(f"| {shown} | {_default(field)} | {(field.description or '').replace('|', '/')} |")
    return "\n".join(rows)


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


if __name__ == "__main__":  # python -m wagate.environment: the table README's Configuration shows
    from wagate.settings import Settings

    print(markdown_table(Settings))  # noqa: T201
