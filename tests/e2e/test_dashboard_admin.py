"""End to end in headless Chromium against `wagate serve` (sandbox): the Broadcasts page starts a broadcast
from a pasted list (bad lines named, nothing sent), shows its progress to the end, pauses and cancels; the
Settings page creates and revokes a limited API key (secret shown once, and it works), adds a webhook and
replays a delivery, makes a pool, saves the tenant's pacing and its reports' time zone — each checked
through the API.
Screenshots: tests/artifacts/dashboard-13-broadcasts.png, dashboard-14-settings.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.chromium import launch, shot
from tests.e2e.test_dashboard import DESKTOP, FAST_SANDBOX, linked_sandbox, sign_in
from tests.support.crm_receiver import crm_receiver
from tests.support.serve import Server, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.e2e
sync_api = pytest.importorskip("playwright.sync_api", reason="the Python package playwright is not installed")
expect = sync_api.expect
ENV = {**FAST_SANDBOX, "WAGATE_WEBHOOKS_ALLOW_HTTP": "true", "WAGATE_WEBHOOKS_ALLOW_PRIVATE": "true"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("admin"), env=ENV) as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the dashboard threw: {errors}"


def test_a_broadcast_from_the_dashboard(page: Page, server: Server) -> None:
    expect.set_options(timeout=20_000)
    key = server.create_tenant("Broadcaster")
    desk = linked_sandbox(server, key, "Desk")
    sign_in(page, server, key)
    page.get_by_role("navigation").get_by_role("link", name="Broadcasts").click()
    expect(page.get_by_role("heading", name="Broadcasts", level=1)).to_be_visible()
    expect(page.get_by_label("From account")).to_have_value(desk)

    page.get_by_label("Name", exact=True).fill("Taller")
    page.get_by_label("Text", exact=True).fill("Hola {name}")
    page.get_by_label("Recipients").fill("+1 555 010 0001, Ana\nnot a number, Bea\n")
    page.get_by_role("button", name="Start broadcast").click()
    expect(page.locator(".broadcast-form .form-error")).to_contain_text("cannot be sent to")
    expect(
        page.locator("#" + page.get_by_label("Recipients").get_attribute("id") + "-error")
    ).to_contain_text("line 2")
    with server.client(key) as http:
        assert http.get("/v1/broadcasts").json()["items"] == []  # nothing was stored

    page.get_by_label("Recipients").fill("+1 555 010 0001, Ana\n+1 555 010 0002, Ben\n")
    page.get_by_role("button", name="Start broadcast").click()
    row = page.locator("tr.broadcast").first
    expect(row).to_have_attribute("data-status", "completed")
    expect(row.locator("[data-count=read]")).to_have_text("2")  # the sandbox contacts read it
    shot(page, "13-broadcasts")
    with server.client(key) as http:
        [made] = http.get("/v1/broadcasts").json()["items"]
        texts = {
            m["to"]: m["text"] for m in http.get("/v1/messages").json()["items"] if m.get("broadcast_id")
        }
    assert made["name"] == "Taller" and texts == {"+15550100001": "Hola Ana", "+15550100002": "Hola Ben"}

    # A long one (paced: 20 at a time) to pause, resume and cancel from the page.
    people = "\n".join(f"+1 555 02{n:05d}" for n in range(60))
    page.get_by_label("Text", exact=True).fill("Aviso")
    page.get_by_label("Recipients").fill(people)
    page.get_by_role("button", name="Start broadcast").click()
    running = page.locator("tr.broadcast").first
    running.get_by_role("button", name="Pause").click()
    expect(running).to_have_attribute("data-status", "paused")
    running.get_by_role("button", name="Resume").click()
    expect(running).to_have_attribute("data-status", "running")
    running.get_by_role("button", name="Cancel").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel broadcast").click()
    expect(running).to_have_attribute("data-status", "cancelled")


def test_settings_keys_webhooks_pools_and_pacing(page: Page, server: Server) -> None:
    expect.set_options(timeout=20_000)
    key = server.create_tenant("Agency")
    desk = linked_sandbox(server, key, "Desk")
    linked_sandbox(server, key, "Mobile")
    sign_in(page, server, key)
    page.get_by_role("navigation").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()

    # An advisor's key: read and send, on the Desk number only. Its secret is shown once, and works.
    keys = page.locator("#settings-keys")
    keys.get_by_label("Key name").fill("advisor")
    keys.get_by_role("group", name="Accounts").get_by_label("Desk").check()
    keys.get_by_role("button", name="Create key").click()
    secret = keys.get_by_label("API key advisor").input_value()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {secret}"}) as advisor:
        assert [s["id"] for s in advisor.get("/v1/sessions").json()["items"]] == [desk]
    row = keys.locator("tr.api-key", has_text="advisor")
    expect(row).to_contain_text("Desk")
    row.get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(row).to_have_count(0)
    with server.client(key) as http:  # revoked (refused within a minute: tests/functions cover that)
        assert [k["name"] for k in http.get("/v1/keys").json()["items"] if k["name"] == "advisor"] == []

    # A webhook: its secret shown once; a delivery arrives and can be replayed.
    with crm_receiver() as crm:
        hooks = page.locator("#settings-webhooks")
        hooks.get_by_label("URL").fill(crm.url("/crm"))
        hooks.get_by_role("button", name="Add webhook").click()
        crm.secret("/crm", hooks.get_by_label("Signing secret").input_value())
        with server.client(key) as http:
            http.post("/v1/messages", json={"session_id": desk, "to": "+15550100001", "text": "Hola"})
        assert crm.wait_for(lambda: len(crm.received) > 0, timeout=30)
        hooks.locator("tr.webhook").get_by_role("button", name="Deliveries").click()
        delivered = hooks.locator("tr.delivery[data-status=delivered]").first
        expect(delivered).to_be_visible()
        before = len(crm.received)
        delivered.get_by_role("button", name="Replay").click()
        assert crm.wait_for(lambda: len(crm.received) > before, timeout=30)
        assert all(r.verified for r in crm.received), [r.problem for r in crm.received]

    # A pool of both numbers, and the tenant's pacing.
    pools = page.locator("#settings-pools")
    pools.get_by_label("Pool name").fill("front")
    pools.get_by_role("group", name="Accounts").get_by_label("Desk").check()
    pools.get_by_role("group", name="Accounts").get_by_label("Mobile").check()
    pools.get_by_role("button", name="Create pool").click()
    made = pools.locator("tr.pool", has_text="front")
    expect(made).to_contain_text("Desk")
    expect(made).to_contain_text("Mobile")

    pacing = page.locator("#settings-pacing")
    pacing.get_by_label("Messages per minute").fill("12")
    pacing.get_by_role("button", name="Save pacing").click()
    with server.client(key) as http:
        wait_for(lambda: http.get("/v1/settings/pacing").json()["effective"]["rate_per_minute"] == 12)
    pacing.get_by_label("Messages per minute").fill("0")  # the API's own rule, shown by the field
    pacing.get_by_role("button", name="Save pacing").click()
    expect(pacing.locator(".form-error")).to_be_visible()

    # The time zone of the tenant's reports: saved and used; one off the whole hour refused, and said.
    reports = page.locator("#settings-reports")
    expect(reports.get_by_label("Time zone")).to_have_value("UTC")
    reports.get_by_label("Time zone").select_option("America/Bogota")
    reports.get_by_role("button", name="Save time zone").click()
    with server.client(key) as http:
        wait_for(lambda: http.get("/v1/settings/insights").json()["time_zone"] == "America/Bogota")
        assert http.get("/v1/insights").json()["tz"] == "America/Bogota"
    reports.get_by_label("Time zone").select_option("America/St_Johns")
    reports.get_by_role("button", name="Save time zone").click()
    expect(reports.locator(".form-error")).to_contain_text("whole")
    shot(page, "14-settings")
