"""Meta templates of a Cloud number: synced from Graph through the Cloud queue (every page) and kept; a
refresh reads new statuses; a template send is checked against them at accept time (422
`template_mismatch`); other sessions 422; a sync Meta refuses says why."""

from __future__ import annotations

from typing import Any

from tests.fakes.graph import FakeGraph
from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    WABA,
    call_fixture,
    functions_fixture,
    graph_fixture,
    key_fixture,
    run_cloud_queue,
    session_fixture,
)
from tests.support.lambdas import ApiCaller


def _template(name: str, language: str, status: str = "APPROVED", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{abs(hash((name, language))) % 10**15}",
        "name": name,
        "language": language,
        "status": status,
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hola {{1}}, tu cita es el {{2}}."}],
        **extra,
    }


REMINDER_WITH_HEADER = _template(
    "cita_con_foto",
    "es",
    components=[
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "Hola {{nombre}}"},
        {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Ver", "url": "https://x.example/c/{{1}}"}]},
    ],
)


def test_templates_are_listed_from_every_page_and_kept(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    graph.templates[WABA] = [_template(f"t{n:03d}", "es") for n in range(130)] + [
        _template("recordatorio", "es"),
        _template("recordatorio", "en_US", status="PENDING"),
    ]
    status, listed, _ = call("GET", f"/v1/sessions/{session['id']}/cloud-templates", key)
    assert status == 200 and listed["syncing"] is True and listed["templates"] == [], listed
    assert not [r for r in graph.requests if r.url.path.endswith("/message_templates")]  # not in the API
    run_cloud_queue(functions)
    listed = call("GET", f"/v1/sessions/{session['id']}/cloud-templates", key)[1]
    assert len(listed["templates"]) == 132 and listed["synced_at"] and not listed["syncing"]
    pages = [r for r in graph.requests if r.url.path.endswith("/message_templates")]
    assert (
        len(pages) == 2
        and pages[0].url.params["fields"]
        == "id,name,language,status,category,components,quality_score,rejected_reason"
    )
    found = {(t["name"], t["language"]): t for t in listed["templates"]}
    assert found[("recordatorio", "en_US")]["status"] == "PENDING"
    assert found[("recordatorio", "es")]["body_parameters"] == ["1", "2"]
    # Kept: a second read does not call Meta; a refresh does, and sees a new status.
    call("GET", f"/v1/sessions/{session['id']}/cloud-templates", key)
    assert len([r for r in graph.requests if r.url.path.endswith("/message_templates")]) == 2
    graph.templates[WABA][-1]["status"] = "APPROVED"
    queued = call("GET", f"/v1/sessions/{session['id']}/cloud-templates", key, query="refresh=true")[1]
    assert queued["syncing"] is True and len(queued["templates"]) == 132  # the older list meanwhile
    run_cloud_queue(functions)
    again = call("GET", f"/v1/sessions/{session['id']}/cloud-templates", key)[1]
    assert {(t["name"], t["language"]): t["status"] for t in again["templates"]}[
        ("recordatorio", "en_US")
    ] == "APPROVED"


def test_a_template_send_is_checked_against_the_sync(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    def send(template: dict[str, Any]) -> tuple[int, Any]:
        body = {"session_id": session["id"], "to": "+34600123456", "template": template}
        status, answer, _ = call("POST", "/v1/messages", key, body=body)
        return status, answer

    # Before any sync nothing can be checked: Meta answers for itself.
    assert send({"name": "whatever", "language": "es"})[0] == 202
    graph.templates[WABA] = [
        _template("recordatorio", "es"),
        _template("pausada", "es", status="PAUSED"),
        REMINDER_WITH_HEADER,
    ]
    call("GET", f"/v1/sessions/{session['id']}/cloud-templates", key)
    run_cloud_queue(functions)
    ok = send({"name": "recordatorio", "language": "es", "variables": {"1": "Ana", "2": "martes"}})
    assert ok[0] == 202, ok
    cases = [
        ({"name": "recordatorio", "language": "en_US", "variables": {"1": "a", "2": "b"}}, "has it in es"),
        ({"name": "recordatorio", "language": "es", "variables": {"1": "Ana"}}, "2 parameters"),
        ({"name": "pausada", "language": "es", "variables": {"1": "a", "2": "b"}}, "PAUSED"),
        ({"name": "cita_con_foto", "language": "es", "variables": {"nombre": "Ana"}}, "header needs a image"),
    ]
    for template, needle in cases:
        status, error = send(template)
        assert status == 422 and error["error"]["code"] == "template_mismatch", error
        assert needle in error["error"]["message"], error
    full = {
        "name": "cita_con_foto",
        "language": "es",
        "variables": {"nombre": "Ana"},
        "components": [
            {"type": "header", "parameters": [{"type": "image", "link": "https://cdn.example.com/a.jpg"}]},
            {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "c1"}]},
        ],
    }
    assert send(full)[0] == 202


def test_other_sessions_are_422_and_a_refused_sync_says_why(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    sandbox = call("POST", "/v1/sessions", key, body={"name": "Demo", "provider": "sandbox"})[1]
    status, error, _ = call("GET", f"/v1/sessions/{sandbox['id']}/cloud-templates", key)
    assert (status, error["error"]["code"]) == (422, "not_cloud")
    call("GET", f"/v1/sessions/{session['id']}/cloud-templates", key)
    graph.fail_next(200, message="(#200) Permissions error")
    run_cloud_queue(functions)
    listed = call("GET", f"/v1/sessions/{session['id']}/cloud-templates", key)[1]
    assert not listed["syncing"] and "Permissions error" in listed["sync_error"], listed
