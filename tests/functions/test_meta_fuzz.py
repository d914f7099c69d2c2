"""Property test: real Meta webhook bodies (../shared/fixtures/cloud), one value anywhere replaced by any
JSON value, are read without raising and, signed, never answer a 5xx (Meta would retry them for days)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    FIXTURES,
    PNID,
    call_fixture,
    create_cloud,
    functions_fixture,
    graph_fixture,
    key_fixture,
    post_webhook,
    run_cloud_queue,
    session_fixture,
)
from wagate.cloud.notifications import parse_notification

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/cloud is not here")
GROUPS = ("inbound", "statuses", "echoes", "calls", "account", "template-updates", "user-preferences")


def bodies() -> list[Any]:
    """Every webhook body among the fixtures, routed to our test number."""
    if not FIXTURES.is_dir():
        return []
    found = []
    for group in GROUPS:
        for path in sorted((FIXTURES / group).glob("*.json")):
            body = json.loads(path.read_bytes())
            for entry in body.get("entry") or []:
                for change in entry.get("changes") or []:
                    metadata = (change.get("value") or {}).get("metadata")
                    if isinstance(metadata, dict):
                        metadata["phone_number_id"] = PNID
            found.append(body)
    return found


def paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (the root excluded)."""
    found = [at] if at else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += paths(v, (*at, i))
    return found


def replaced(document: Any, at: tuple[Any, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(document))
    target = copy
    for step in at[:-1]:
        target = target[step]
    target[at[-1]] = new
    return copy


ODD_STRINGS = st.sampled_from(
    [
        "",
        "1e20",
        "1e400",
        "-1",
        "nan",
        "inf",
        "²",
        "٣",
        "\x00",
        "\ud7ff",
        "x" * 5000,
        "0" * 400,
        "wamid." + "A" * 2000,
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.integers(0, 9)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | ODD_STRINGS
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


MESSAGE_PARTS = {"messages", "statuses", "contacts", "errors"}


@st.composite
def mutations(draw: st.DrawFn, pool: list[Any] | None = None) -> Any:
    """A fixture body with one to three values replaced, mostly inside messages and statuses (where a
    reader does the most work)."""
    document = draw(st.sampled_from(pool or BODIES))
    for _ in range(draw(st.integers(1, 3))):
        every = paths(document)
        inner = [p for p in every if MESSAGE_PARTS & set(map(str, p))]
        where = draw(st.sampled_from(inner if inner and draw(st.integers(0, 4)) else every))
        document = replaced(document, where, draw(VALUES))
    return document


BODIES = bodies()
# The bodies that carry messages or statuses: what gets stored, and then formatted for CRMs and dashboards
STORED = [b for b in BODIES if any(p[-1] in ("messages", "statuses") for p in paths(b))]


@settings(max_examples=1500, derandomize=True, deadline=None)
@given(mutations())
def test_the_parser_never_raises(document: Any) -> None:
    result = parse_notification(document, received_at=1_700_000_000.0)
    for number in result.numbers.values():
        for _, data in number.events:
            at = data.get("timestamp", data.get("at"))
            assert isinstance(at, float) and math.isfinite(at) and 0 <= at <= 253402300799.0


@settings(
    max_examples=80,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=mutations(STORED))
def test_signed_mutations_never_answer_5xx(
    document: Any, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    status, _ = post_webhook(functions, json.dumps(document).encode())
    assert status < 500
