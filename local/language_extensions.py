"""Expands `Fn::ForEach` (the AWS::LanguageExtensions transform) the way CloudFormation does, for local use.

`Fn::ForEach::Name: [Identifier, [values...], {"Key${Identifier}": template}]` becomes one copy of the
template per value, with `${Identifier}` replaced in keys and strings and `{"Ref": Identifier}` replaced
by the value. Collections given as a `Ref` to a CommaDelimitedList parameter use its override, if given,
else its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIX = "Fn::ForEach::"


def expand_for_each(
    section: Mapping[str, Any],
    parameters: Mapping[str, Any] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A template section (e.g. Resources) with every `Fn::ForEach::*` entry expanded. Raises ValueError."""
    expanded: dict[str, Any] = {}
    for key, value in section.items():
        if not str(key).startswith(PREFIX):
            expanded[str(key)] = value
            continue
        if not isinstance(value, list) or len(value) != 3 or not isinstance(value[2], Mapping):
            raise ValueError(f"{key}: expected [identifier, collection, {{outputs}}]")
        identifier, collection, outputs = (
            str(value[0]),
            _collection(key, value[1], parameters or {}, overrides or {}),
            value[2],
        )
        for item in collection:
            for out_key, out_value in expand_for_each(outputs, parameters, overrides).items():
                name = out_key.replace("${" + identifier + "}", item).replace("&{" + identifier + "}", item)
                if name in expanded:
                    raise ValueError(f"{key}: {name} is defined twice")
                expanded[name] = _substitute(out_value, identifier, item)
    return expanded


def _collection(key: str, raw: Any, parameters: Mapping[str, Any], overrides: Mapping[str, str]) -> list[str]:
    if isinstance(raw, list):
        return [str(v) for v in raw]
    if isinstance(raw, Mapping) and "Ref" in raw:
        param = parameters.get(str(raw["Ref"]))
        default = param.get("Default") if isinstance(param, Mapping) else None
        if str(raw["Ref"]) in overrides and isinstance(param, Mapping):
            default = overrides[str(raw["Ref"])]
        if isinstance(default, str):
            return [v.strip() for v in default.split(",") if v.strip()]
        if isinstance(default, list):
            return [str(v) for v in default]
    raise ValueError(f"{key}: the collection must be a list or a Ref to a list parameter with a default")


def _substitute(value: Any, identifier: str, item: str) -> Any:
    if isinstance(value, str):
        return value.replace("${" + identifier + "}", item).replace("&{" + identifier + "}", item)
    if isinstance(value, list):
        return [_substitute(v, identifier, item) for v in value]
    if isinstance(value, Mapping):
        if set(value) == {"Ref"} and value["Ref"] == identifier:
            return item
        done = {str(k): _substitute(v, identifier, item) for k, v in value.items()}
        if set(done) == {"Fn::Sub"} and isinstance(done["Fn::Sub"], str) and "${" not in done["Fn::Sub"]:
            return done["Fn::Sub"]  # `!GetAtt [!Sub "Dlq${Shard}", Arn]` names a resource: plain text now
        return done
    return value
