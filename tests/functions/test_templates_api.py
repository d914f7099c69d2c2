"""Templates over the API: built-ins, CRUD, validation that names the problem, preview, scopes, tenants."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.domain.tenants import Scope
from wagate.services import tenants


def key_with(local_deps: wiring.Deps, admin_key: str, *scopes: Scope) -> str:
    tenant_id = tenants.authenticate(local_deps.table, admin_key).tenant_id
    return tenants.create_key(local_deps.table, local_deps.clock, tenant_id, "crm", scopes)[1]


def own(call: ApiCaller, key: str) -> list[dict[str, Any]]:
    status, body, _ = call("GET", "/v1/templates", key, query="builtin=false")
    assert status == 200
    return list(body["items"])


def create(call: ApiCaller, key: str, **body: Any) -> dict[str, Any]:
    payload = {"name": "welcome", "language": "es", "body": "Hola {nombre}, bienvenido", **body}
    status, template, _ = call("POST", "/v1/templates", key, body=payload)
    assert status == 201, template
    return dict(template)


def preview(call: ApiCaller, key: str, name: str, **body: Any) -> tuple[int, Any]:
    status, answer, _ = call("POST", f"/v1/templates/{name}/preview", key, body=body)
    return status, answer


def test_every_tenant_sees_the_built_in_templates(call: ApiCaller, key: str) -> None:
    status, listing, _ = call("GET", "/v1/templates", key)
    assert status == 200
    found = {(t["name"], t["language"]) for t in listing["items"]}
    names = ("appointment_confirmation", "appointment_reminder", "follow_up", "custom")
    assert found == {(n, lang) for n in names for lang in ("es", "en")}
    assert all(t["builtin"] and not t["warnings"] for t in listing["items"])
    status, reminder, _ = call("GET", "/v1/templates/appointment_reminder", key, query="language=es")
    assert status == 200
    assert reminder["placeholders"] == ["nombre_cliente", "fecha_cita", "hora_cita", "direccion"]
    assert own(call, key) == []


def test_create_get_update_delete(call: ApiCaller, key: str) -> None:
    created = create(
        call,
        key,
        description="first message",
        variables=[{"name": "nombre", "description": "client", "default": "amigo"}],
    )
    assert created["placeholders"] == ["nombre"] and created["version"] == 1 and not created["builtin"]
    status, fetched, _ = call("GET", "/v1/templates/welcome", key)
    assert status == 200 and fetched["body"] == "Hola {nombre}, bienvenido"

    status, updated, _ = call(
        "PATCH", "/v1/templates/welcome", key, query="language=es", body={"body": "¡Hola {nombre}!"}
    )
    assert status == 200, updated
    assert updated["body"] == "¡Hola {nombre}!" and updated["version"] == 2
    assert updated["variables"][0]["default"] == "amigo" and updated["description"] == "first message"
    assert preview(call, key, "welcome")[1]["text"] == "¡Hola amigo!"

    assert call("DELETE", "/v1/templates/welcome", key, query="language=es")[0] == 204
    assert call("GET", "/v1/templates/welcome", key)[0] == 404
    assert call("DELETE", "/v1/templates/welcome", key, query="language=es")[0] == 404


def test_same_name_and_language_is_409_other_language_is_fine(call: ApiCaller, key: str) -> None:
    create(call, key)
    status, error, _ = call(
        "POST", "/v1/templates", key, body={"name": "welcome", "language": "ES", "body": "Otro {x}"}
    )
    assert status == 409 and error["error"]["code"] == "template_exists"
    assert "PATCH /v1/templates/welcome?language=es" in error["error"]["message"]
    create(call, key, language="en", body="Hi {nombre}")
    # Two languages: a request without one cannot guess.
    status, error = preview(call, key, "welcome", variables={"nombre": "Ana"})
    assert status == 422 and error["error"]["code"] == "template_language_needed"
    assert error["error"]["details"]["languages"] == ["en", "es"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"body": "Hola {nombre"}, "the { at character 6 is never closed"),
        ({"body": "Hola nombre}"}, "the } at character 12 closes nothing"),
        ({"body": "Precio {a{b}"}, "not closed before the next {"),
        ({"body": "Hola {}"}, "empty placeholder"),
        ({"body": "Hola {1nombre}"}, "'1nombre' is not a variable name"),
        ({"body": "Hola {nombre cliente}"}, "'nombre cliente' is not a variable name"),
        ({"body": "Hola {x}", "variables": [{"name": "y"}]}, "variables[0].name: y is declared but"),
        ({"body": "Hola {x}", "variables": [{"name": "x"}, {"name": "x"}]}, "declared twice"),
        ({"body": "Hola {x}", "variables": [{"name": "bad name"}]}, "'bad name' is not a variable name"),
        ({"language": "español"}, "language"),
        ({"name": "Welcome Message"}, "name"),
        ({"body": ""}, "body"),
    ],
)
def test_bad_templates_are_422_naming_the_problem_and_store_nothing(
    call: ApiCaller, key: str, body: dict[str, Any], needle: str
) -> None:
    payload = {"name": "welcome", "language": "es", "body": "Hola {nombre}", **body}
    status, error, _ = call("POST", "/v1/templates", key, body=payload)
    assert status == 422, error
    assert needle in str(error["error"]), error
    assert own(call, key) == []


def test_a_bad_update_changes_nothing(call: ApiCaller, key: str) -> None:
    create(call, key)
    status, error, _ = call("PATCH", "/v1/templates/welcome", key, body={"body": "Hola {nombre"})
    assert status == 422 and "never closed" in error["error"]["message"]
    status, error, _ = call("PATCH", "/v1/templates/welcome", key, body={"variables": [{"name": "apellido"}]})
    assert status == 422 and "apellido is declared but" in error["error"]["message"]
    assert own(call, key)[0]["body"] == "Hola {nombre}, bienvenido" and own(call, key)[0]["version"] == 1


def test_built_ins_are_overridden_per_language_and_come_back(call: ApiCaller, key: str) -> None:
    status, error, _ = call("PATCH", "/v1/templates/custom", key, query="language=es", body={"body": "x"})
    assert status == 409 and error["error"]["code"] == "builtin_template"
    assert call("DELETE", "/v1/templates/custom", key, query="language=en")[0] == 409

    create(call, key, name="appointment_reminder", body="Recuerda: {fecha_cita} a las {hora_cita}")
    status, listing, _ = call("GET", "/v1/templates", key, query="language=es")
    reminders = [t for t in listing["items"] if t["name"] == "appointment_reminder"]
    assert len(reminders) == 1 and reminders[0]["builtin"] is False
    values = {"fecha_cita": "lunes", "hora_cita": "10:00"}
    status, shown = preview(call, key, "appointment_reminder", variables=values, language="es")
    assert shown["text"] == "Recuerda: lunes a las 10:00" and shown["builtin"] is False
    # With no language, the tenant's only own version wins over the two built-in ones.
    assert preview(call, key, "appointment_reminder", variables=values)[1]["language"] == "es"
    # English is still the built-in one.
    status, shown = preview(
        call,
        key,
        "appointment_reminder",
        language="en",
        variables={
            "client_name": "Ann",
            "appointment_date": "Monday",
            "appointment_time": "10:00 AM",
            "address": "1 Main St",
        },
    )
    assert status == 200 and shown["builtin"] is True and shown["text"].startswith("Hi Ann, this is a")

    assert call("DELETE", "/v1/templates/appointment_reminder", key, query="language=es")[0] == 204
    status, shown = preview(call, key, "appointment_reminder", variables=values, language="es")
    assert status == 422 and shown["error"]["details"]["missing"] == ["nombre_cliente", "direccion"]


def test_preview_renders_escapes_and_defaults(call: ApiCaller, key: str) -> None:
    create(
        call,
        key,
        name="offer",
        body="{{precio}} = {precio} € para {nombre}}}",
        variables=[{"name": "nombre", "default": "ti"}],
    )
    status, shown = preview(call, key, "offer", variables={"precio": "{10}"})
    assert status == 200 and shown["text"] == "{precio} = {10} € para ti}"
    assert shown == {**shown, "name": "offer", "language": "es", "builtin": False}


def test_preview_names_each_missing_and_unknown_variable(call: ApiCaller, key: str) -> None:
    status, error = preview(
        call,
        key,
        "appointment_confirmation",
        language="es",
        variables={"nombre_cliente": "Ana", "fecha": "x"},
    )
    assert status == 422
    details = error["error"]["details"]
    assert details["missing"] == ["nombre_asesor", "fecha_cita", "hora_cita"]
    assert details["unknown"] == ["fecha"]
    for name in ("nombre_asesor", "fecha_cita", "hora_cita", "fecha"):
        assert name in error["error"]["message"]


def test_preview_of_an_unknown_template_or_language(call: ApiCaller, key: str) -> None:
    status, error = preview(call, key, "nope")
    assert status == 404 and "nope does not exist" in error["error"]["message"]
    assert "appointment_reminder" in error["error"]["message"]  # points at the built-ins
    status, error = preview(call, key, "custom", language="fr", variables={"x": "y"})
    assert status == 404 and "no fr version" in error["error"]["message"]
    # A regional variant falls back to its base language.
    status, shown = preview(
        call, key, "custom", language="es-MX", variables={"mensaje_personalizado": "Hola"}
    )
    assert status == 200 and shown["language"] == "es" and shown["text"] == "Hola"
    status, error = preview(call, key, "custom", language="x1")
    assert status == 422 and "language" in error["error"]["message"]


def test_double_braces_warn_that_they_are_literal(call: ApiCaller, key: str) -> None:
    created = create(call, key, body="Hola {{nombre}}")
    assert created["placeholders"] == [] and "{{nombre}}" in created["warnings"][0]
    assert preview(call, key, "welcome")[1]["text"] == "Hola {nombre}"


def test_scopes(call: ApiCaller, key: str, local_deps: wiring.Deps) -> None:
    reader = key_with(local_deps, key, Scope.READ)
    sender = key_with(local_deps, key, Scope.SEND)
    for scoped in (reader, sender):
        assert call("GET", "/v1/templates", scoped)[0] == 200
        assert call("GET", "/v1/templates/custom", scoped, query="language=en")[0] == 200
        status, _ = preview(call, scoped, "custom", language="en", variables={"custom_message": "hi"})
        assert status == 200
        status, error, _ = call(
            "POST", "/v1/templates", scoped, body={"name": "a", "language": "en", "body": "x"}
        )
        assert status == 403 and error["error"]["details"]["required"] == "admin"
    admin_only = key_with(local_deps, key, Scope.ADMIN)
    status, error, _ = call("GET", "/v1/templates", admin_only)
    assert status == 403 and error["error"]["details"]["required"] == ["read", "send"]


def test_another_tenants_template_is_404(call: ApiCaller, key: str, local_deps: wiring.Deps) -> None:
    create(call, key)
    other = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    assert call("GET", "/v1/templates/welcome", other)[0] == 404
    assert call("PATCH", "/v1/templates/welcome", other, body={"body": "x"})[0] == 404
    assert call("DELETE", "/v1/templates/welcome", other)[0] == 404
    assert preview(call, other, "welcome", variables={"nombre": "x"})[0] == 404
    assert own(call, other) == []
    assert call("GET", "/v1/templates/welcome", key)[0] == 200


def test_sending_a_template_renders_it(call: ApiCaller, key: str) -> None:
    create(call, key)
    status, session, _ = call("POST", "/v1/sessions", key, body={"name": "S", "provider": "sandbox"})
    assert status == 201
    send = {"session_id": session["id"], "to": "+34600123456"}
    status, message, _ = call(
        "POST",
        "/v1/messages",
        key,
        body={**send, "template": {"name": "welcome", "variables": {"nombre": "Ana"}}},
    )
    assert status == 202, message
    assert message["text"] == "Hola Ana, bienvenido" and message["kind"] == "template"
    status, error, _ = call(
        "POST", "/v1/messages", key, body={**send, "template": {"name": "welcom", "variables": {}}}
    )
    assert (
        status == 422
        and error["error"]["code"] == "unknown_template"
        and "welcom" in error["error"]["message"]
    )
    status, error, _ = call("POST", "/v1/messages", key, body={**send, "template": {"name": "welcome"}})
    assert status == 422 and error["error"]["details"]["missing"] == ["nombre"]
    assert len(call("GET", "/v1/messages", key)[1]["items"]) == 1
