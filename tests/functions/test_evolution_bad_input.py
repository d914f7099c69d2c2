"""Every Evolution route, fed what a careless or hostile client sends: never a 5xx, always Evolution's shape.

The routes come from the resolver itself (instance, webhook, message, chat, group: whatever ROUTERS
registers), so a route added later is covered without touching this file.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.evolution import EvolutionCaller
from wagate.evolution import ROUTE_PREFIX, instances
from wagate.evolution.resolver import build_resolver

ROUTES = sorted(
    {
        (route.method, route.path[len(ROUTE_PREFIX) :])
        for route in build_resolver()._static_routes + build_resolver()._dynamic_routes
        if route.path.startswith(ROUTE_PREFIX + "/")
    }
)
BODIES: list[str | None] = [
    None,
    "",
    "{",
    "[]",
    "null",
    "42",
    '"text"',
    "{}",
    '{"number": {"$gt": ""}, "text": ["a"], "instanceName": null}',
    '{"webhook": [], "message": {"key": 7}, "where": "all"}',
    json.dumps({"number": "1" * 5000, "text": "x" * 70_000}),
    '{"number": "34600111222", "text": "\\u0000\\ud800"}',
]
QUERIES = ["", "instanceName=%00", "groupJid=", "getParticipants=maybe", "number=" + "9" * 100, "page=-1"]


@pytest.fixture(autouse=True)
def no_qr_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instances, "QR_WAIT_SECONDS", 0.0)


def evolution_shaped(status: int, body: Any) -> bool:
    return (
        isinstance(body, dict)
        and body.get("status") == status
        and isinstance(body.get("error"), str)
        and isinstance(body.get("response"), dict)
        and "message" in body["response"]
    )


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_no_route_answers_5xx_to_bad_input(evo: EvolutionCaller, key: str, method: str, path: str) -> None:
    created = evo(
        "POST", "/instance/create", key, body={"instanceName": "ana", "integration": "WAGATE-SANDBOX"}
    )
    assert created[0] == 201, created
    for name in ("ana", "nobody", "x" * 300, "%2F..%2F"):
        concrete = re.sub(r"<\w+>", name, path)
        for body in BODIES:
            for query in QUERIES if body is None else [""]:
                status, answer, _ = evo(method, concrete, key, raw_body=body, query=query)
                assert status < 500, (method, concrete, body, query, answer)
                if status >= 400:
                    assert evolution_shaped(status, answer), (method, concrete, body, query, answer)
        # Without a key, or with a wrong one: Evolution's 401, whatever else is wrong.
        for apikey in (None, "wrong"):
            status, answer, _ = evo(method, concrete, apikey, raw_body="{")
            assert status in (401, 404) and evolution_shaped(status, answer), (method, concrete, answer)
