"""End to end: the Insights page in headless Chromium against `wagate serve` (sandbox): messages sent to
Ana (who reads and answers) show up in the totals, the charts draw (uPlot canvases), the account filter and
hour buckets work, and the days are the browser's time zone's until another is chosen. Screenshot:
tests/artifacts/dashboard-12-insights.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.e2e.chromium import launch, shot
from tests.e2e.test_dashboard import ANA, BEN, DESKTOP, FAST_SANDBOX, linked_sandbox, sign_in
from tests.support.serve import Server, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.e2e
sync_api = pytest.importorskip("playwright.sync_api", reason="the Python package playwright is not installed")
expect = sync_api.expect


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("insights"), env=FAST_SANDBOX) as running:
        yield running


def test_the_insights_page_charts_what_was_sent(browser: Browser, server: Server) -> None:
    expect.set_options(timeout=15_000)
    key = server.create_tenant("Charted")
    desk = linked_sandbox(server, key, "Desk")
    mobile = linked_sandbox(server, key, "Mobile")
    with server.client(key) as http:
        sent = [
            http.post("/v1/messages", json={"session_id": desk, "to": ANA, "text": f"Hola {n}"}).json()["id"]
            for n in range(3)
        ]
        sent.append(
            http.post("/v1/messages", json={"session_id": mobile, "to": BEN, "text": "Hi"}).json()["id"]
        )
        for message_id in sent:
            wait_for(
                lambda m=message_id: http.get(f"/v1/messages/{m}").json()["status"] == "read", timeout=30
            )

        def counted() -> bool:  # the journal is folded every few seconds (WAGATE_INSIGHTS_FOLD_SECONDS)
            totals = http.get("/v1/insights").json()["totals"]
            return bool(totals["sent"] == 4 and totals["read"] == 4 and totals["replied"] >= 1)

        wait_for(counted, timeout=30)

    # A browser in Mexico City (UTC-6): the page asks for its days, not UTC's.
    context: BrowserContext = browser.new_context(viewport=DESKTOP, timezone_id="America/Mexico_City")  # type: ignore[arg-type]
    errors: list[str] = []
    try:
        page: Page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        sign_in(page, server, key)
        page.get_by_role("navigation").get_by_role("link", name="Insights").click()
        expect(page.get_by_role("heading", name="Insights", level=1)).to_be_visible()
        cards = page.get_by_role("list", name="Totals")
        expect(cards.locator("[data-metric='Sent'] strong")).to_have_text("4")
        expect(cards.locator("[data-metric='Read']")).to_contain_text("100.0 %")
        expect(page.locator("#insights-volume .uplot canvas")).to_have_count(1)
        expect(page.locator("#insights-rates .uplot canvas")).to_have_count(1)
        expect(page.locator("#insights-volume .u-legend")).to_contain_text("Delivered")
        expect(page.locator(".insights-account")).to_have_count(2)
        expect(page.get_by_label("Time zone", exact=True)).to_have_value("America/Mexico_City")
        expect(page.locator("main")).to_have_attribute("data-tz", "America/Mexico_City")
        shot(page, "12-insights")

        page.get_by_label("Account", exact=True).select_option(label="Mobile")
        page.get_by_label("Buckets", exact=True).select_option("hour")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("main")).to_have_attribute("data-loaded", "hour:720")  # 30 days of hours
        expect(cards.locator("[data-metric='Sent'] strong")).to_have_text("1")
        expect(page.locator(".insights-account")).to_have_count(1)

        # One broadcast's own figures: its one message to Ana, read, and nothing else.
        with server.client(key) as http:
            body = {"name": "Taller", "session_id": desk, "text": "Hola", "recipients": [{"to": ANA}]}
            created = http.post("/v1/broadcasts", json=body)
            assert created.status_code == 202, created.text
            only = {"broadcast_id": created.json()["id"]}
            wait_for(lambda: http.get("/v1/insights", params=only).json()["totals"]["read"] == 1, timeout=30)
        page.reload()
        expect(page.get_by_role("heading", name="Insights", level=1)).to_be_visible()
        page.get_by_label("Broadcast", exact=True).select_option(label="Taller")
        page.get_by_role("button", name="Show").click()
        expect(cards.locator("[data-metric='Sent'] strong")).to_have_text("1")
        expect(cards.locator("[data-metric='Read']")).to_contain_text("100.0 %")
        expect(page.locator(".insights-account")).to_have_count(0)  # a broadcast has no uptime of its own

        # Madrid's days (30, the dates as chosen); Newfoundland's (UTC-3:30) have none: the 422 is shown.
        page.get_by_label("Time zone", exact=True).select_option("Europe/Madrid")
        page.get_by_label("Buckets", exact=True).select_option("day")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("main")).to_have_attribute("data-tz", "Europe/Madrid")
        expect(page.locator("main")).to_have_attribute("data-loaded", "day:30")
        expect(cards.locator("[data-metric='Sent'] strong")).to_have_text("1")
        page.get_by_label("Time zone", exact=True).select_option("America/St_Johns")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_text("whole-hour offset")).to_be_visible()
    finally:
        context.close()
    assert not errors, f"the dashboard threw: {errors}"
