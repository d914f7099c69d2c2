"""Points in time as the API takes them: epoch seconds, or RFC 3339 / ISO 8601 with an offset.

Every time the API returns is epoch seconds (a number, UTC); every time it takes may be either form, so a
CRM can echo what it read or send `2026-12-07T09:00:00-03:00` as it has it. Never NaN or infinite.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

EARLIEST = 0.0  # 1970-01-01T00:00:00Z: ids and indexes are built from times after it
LATEST = 253402300799.0  # 9999-12-31T23:59:59Z, the last second ISO 8601 can write with four digits
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")


def parse_instant(value: Any) -> float:
    """Epoch seconds from a number, a numeric string, or an ISO 8601 date-time with an offset.

    Raises ValueError saying which forms are accepted (pydantic names the field)."""
    if isinstance(value, bool):
        raise ValueError("give epoch seconds or an ISO 8601 date-time with an offset")
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _iso_seconds(value.strip())
    else:
        raise ValueError("give epoch seconds or an ISO 8601 date-time with an offset")
    if not math.isfinite(seconds) or not EARLIEST <= seconds <= LATEST:
        raise ValueError("the time must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
    return seconds


def _iso_seconds(text: str) -> float:
    example = "e.g. 2026-12-07T09:00:00-03:00 or 2026-12-07T12:00:00Z"
    leap = re.fullmatch(r"(.*T\d\d:\d\d):60(.*)", text)  # RFC 3339 allows a leap second; Python does not
    try:
        parsed = dt.datetime.fromisoformat(f"{leap.group(1)}:59{leap.group(2)}" if leap else text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time ({example}), nor epoch seconds") from None
    if "T" not in text.upper() or parsed.tzinfo is None:
        raise ValueError(f"an ISO 8601 time needs a date, a time and an offset ({example})")
    return parsed.timestamp() + (1 if leap else 0)


Instant = Annotated[
    float,
    BeforeValidator(parse_instant),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": EARLIEST, "maximum": LATEST},
                {"type": "string", "format": "date-time"},
            ],
            "description": "Epoch seconds, or RFC 3339 / ISO 8601 with an offset (2026-12-07T09:00:00-03:00)",
        },
        mode="validation",
    ),
]
"""A time the API takes: validated to finite epoch seconds. Responses give epoch seconds."""
