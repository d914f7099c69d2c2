"""DynamoDB's item size rule written out plainly: the code of items.approximate_size before its fast
paths, one recursive call per value with isinstance checks in order. The reference the property tests
(tests/unit/test_item_size.py) and the side-by-side benchmark (bench/item_size.py) hold the fast code to."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from wagate.domain.errors import InvalidInput


def reference_size(value: Any) -> int:
    if isinstance(value, Mapping):
        return sum(len(str(k).encode()) + reference_size(v) for k, v in value.items()) + 3
    if isinstance(value, list | tuple):
        return sum(reference_size(v) + 1 for v in value) + 3
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput("numbers must be finite")
        return 21
    raise InvalidInput(f"unsupported value type {type(value).__name__}")
