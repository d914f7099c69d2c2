"""Numbers as JSON has them: `true`/`false` are booleans, never 1 and 0 (pydantic's lax mode would say so)."""

from __future__ import annotations

from typing import Any

from pydantic import BeforeValidator


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    return value


NotBoolean = BeforeValidator(_not_a_boolean)
"""Put in an `Annotated[int | float, ...]` that the API takes from JSON."""


def _not_a_number(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("expected true or false, not a number")
    return value


NotNumber = BeforeValidator(_not_a_number)
"""Put in an `Annotated[bool, ...]` that the API takes from JSON (0 and 1 are numbers, not booleans)."""
