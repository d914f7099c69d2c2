"""End to end: the dashboard in headless Chromium (Debian's package) against `wagate serve` (sandbox engine).

A user's path through every page: sign in, link a sandbox number (QR modal, rotation, simulated scan),
chat with Ana (ticks that move to "read", her reply arriving live, unread counts), schedule a message and
cancel it, cancel a reminder plan, write a template with its live preview, see the API's own error
messages, use it at 375 px and from the keyboard, and survive a server restart. Screenshots of each page
go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.chromium import launch, shot
from tests.support.serve import Server, wait_for
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

    Opener = Callable[..., Page]

pytestmark = pytest.mark.e2e
sync_api = pytest.importorskip("playwright.sync_api", reason="the Python package playwright is not installed")
expect = sync_api.expect

ANA = "+15550100001"  # the sandbox contact who reads and answers every message
BEN = "+15550100002"  # reads, never answers
FAST_SANDBOX = {
    "WAGATE_SANDBOX_QR_FIRST_SECONDS": "2",
    "WAGATE_SANDBOX_QR_NEXT_SECONDS": "2",
    "WAGATE_SANDBOX_QR_LIMIT": "0",
    "WAGATE_SANDBOX_DELIVERED_SECONDS": "0.3",
    "WAGATE_SANDBOX_READ_SECONDS": "0.4",
    "WAGATE_SANDBOX_REPLY_SECONDS": "0.3",
    "WAGATE_REALTIME_TOKEN_SECONDS": "10",  # shorter than the dashboard's margin: each connect gets a new one
}
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 740}
ORDER = ["queued", "sending", "sent", "delivered", "read"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("dashboard"), env=FAST_SANDBOX) as running:
        yield running


@pytest.fixture(autouse=True)
def _patience() -> None:
    expect.set_options(timeout=15_000)


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Opener]:
    """Opens pages in fresh browser contexts (own sessionStorage); closes them after the test, so no
    dashboard socket holds a server's drain open."""
    contexts: list[BrowserContext] = []
    uncaught: list[str] = []

    def opener(viewport: dict[str, int] = DESKTOP) -> Page:
        context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda error: uncaught.append(str(error)))
        return page

    yield opener
    for context in contexts:
        context.close()
    assert not uncaught, f"the dashboard threw: {uncaught}"


def sign_in(page: Page, server: Server, key: str) -> None:
    page.goto(server.url + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Accounts", level=1)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


def linked_sandbox(server: Server, key: str, name: str) -> str:
    """A connected sandbox session made over the API (for the tests that are not about linking)."""
    with server.client(key) as http:
        session_id = str(http.post("/v1/sessions", json={"name": name, "provider": "sandbox"}).json()["id"])
        wait_for(lambda: http.get(f"/v1/sessions/{session_id}").json()["status"] == "qr")
        assert http.post(f"/v1/sandbox/sessions/{session_id}/scan").status_code == 202
        wait_for(lambda: http.get(f"/v1/sessions/{session_id}").json()["status"] == "connected")
    return session_id


def record_statuses(page: Page, text: str) -> None:
    """Starts recording every delivery status the bubble containing `text` shows (window.__statuses)."""
    page.evaluate(
        """(text) => {
          window.__statuses = [];
          const seen = () => {
            const bubble = [...document.querySelectorAll('.message.out')]
              .find((item) => item.textContent.includes(text));
            const status = bubble && bubble.dataset.status;
            if (status && window.__statuses.at(-1) !== status) window.__statuses.push(status);
          };
          const everything = {subtree: true, childList: true, attributes: true};
          new MutationObserver(seen).observe(document.body, everything);
        }""",
        text,
    )


def test_link_a_sandbox_number_and_chat_live(open_page: Opener, server: Server) -> None:
    key = server.create_tenant("Dashboard")
    page = open_page()
    page.goto(server.url + "/")
    expect(page.get_by_label("API key")).to_be_focused()
    shot(page, "01-sign-in")
    sign_in(page, server, key)
    expect(page.get_by_text("No accounts yet.")).to_be_visible()

    page.get_by_role("button", name="Add account").click()
    dialog = page.get_by_role("dialog", name="Add account")
    expect(dialog.get_by_label("Name", exact=True)).to_be_focused()
    dialog.get_by_label("Name", exact=True).fill("Front desk")
    dialog.get_by_role("radio", name=re.compile("^Sandbox")).check()
    shot(page, "02-add-account")
    dialog.get_by_role("button", name="Add account").click()

    qr = page.get_by_role("dialog", name="Link Front desk")
    code = qr.get_by_role("img", name="QR code to link Front desk")
    expect(code).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(qr.get_by_text("sandbox", exact=True)).to_be_visible()
    first = code.get_attribute("src")
    expect(code).not_to_have_attribute("src", first or "")  # rotated by a qr_code event
    shot(page, "03-qr-modal")
    qr.get_by_role("button", name="Simulate scan").click()
    expect(qr.get_by_role("status")).to_contain_text("Connected as +1555")
    expect(qr.get_by_role("button", name="Done")).to_be_focused()
    qr.get_by_role("button", name="Done").click()
    expect(qr).to_have_count(0)
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Front desk"))
    expect(card.locator(".status")).to_have_text("Connected")
    expect(card.get_by_text("sandbox", exact=True)).to_be_visible()
    shot(page, "04-accounts")

    # A first message starts the conversation; its reply arrives while the chat is open.
    page.get_by_role("navigation").get_by_role("link", name="Conversations").click()
    page.get_by_role("link", name="New message").click()
    page.get_by_label("To", exact=True).fill(ANA)
    page.get_by_label("Message", exact=True).fill("Hola from the dashboard")
    page.get_by_role("button", name="Send").click()
    log = page.get_by_role("log")
    expect(log.locator(".message.out").filter(has_text="Hola from the dashboard")).to_be_visible()
    expect(log.locator(".message.in").filter(has_text="got “Hola from the dashboard”")).to_be_visible()
    expect(page.locator(".inbox-chat .badge-sandbox")).to_have_text("sandbox")

    # A second one from the open chat: its ticks and the reply can only come over the socket.
    record_statuses(page, "Second message")
    page.get_by_label("Message", exact=True).fill("Second message")
    page.get_by_label("Message", exact=True).press("Enter")
    second = log.locator(".message.out").filter(has_text="Second message")
    expect(second.get_by_role("img", name="Read")).to_be_visible()
    expect(log.locator(".message.in").filter(has_text="got “Second message”")).to_be_visible()
    seen: list[str] = page.evaluate("window.__statuses")
    assert seen[-1] == "read" and len(seen) >= 2, seen  # it moved while on screen
    assert [ORDER.index(s) for s in seen] == sorted(ORDER.index(s) for s in seen), seen  # never back
    expect(second.locator(".tick")).to_have_class(re.compile("tone-read"))
    shot(page, "05-chat")

    # An incoming message for another conversation shows up in the list, unread.
    page.get_by_label("Message", exact=True).fill("x")  # a draft does not get in the way
    with server.client(key) as http:
        session_id = str(http.get("/v1/sessions").json()["items"][0]["id"])
        http.post("/v1/messages", json={"session_id": session_id, "to": BEN, "text": "Hi Ben"})
        ben = page.get_by_role("link", name=re.compile(re.escape(BEN)))
        expect(ben).to_be_visible()
        ben.click()
        expect(page.get_by_role("heading", name=BEN)).to_be_visible()
        http.post(f"/v1/sandbox/sessions/{session_id}/reply", json={"text": "Are you there?"})
    ana = page.locator(".conversation").filter(has_text="Ana (sandbox)")
    expect(ana.locator(".unread")).to_have_text("1")
    expect(ana).to_contain_text("Are you there?")
    shot(page, "06-conversations-unread")
    ana.click()
    expect(log.locator(".message.in").filter(has_text="Are you there?")).to_be_visible()
    expect(ana.locator(".unread")).to_have_count(0)  # opening it marked it read


def test_schedule_a_message_and_cancel_it_and_cancel_a_plan(open_page: Opener, server: Server) -> None:
    key = server.create_tenant("Scheduling")
    session_id = linked_sandbox(server, key, "Reminders")
    with server.client(key) as http:
        plan = http.post(
            "/v1/reminders",
            json={
                "session_id": session_id,
                "to": BEN,
                "event_at": time.time() + 3 * 24 * 3600,
                "time_zone": "Europe/Madrid",
                "template": {
                    "name": "appointment_reminder",
                    "language": "en",
                    "variables": {"client_name": "Ben", "address": "Main St 1"},
                },
                "offsets": ["-1d@09:00", "-1h"],
            },
        )
        assert plan.status_code == 201, plan.text
    page = open_page()
    sign_in(page, server, key)
    page.goto(f"{server.url}/#/conversations/{session_id}/new")
    page.get_by_label("To", exact=True).fill(ANA)
    page.get_by_label("Message", exact=True).fill("See you tomorrow")
    page.get_by_label("Send later").check()
    expect(page.get_by_label("Send at")).to_be_focused()
    expect(page.get_by_label("Send at")).not_to_have_value("")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status").filter(has_text="Scheduled for")).to_be_visible()
    waiting = page.get_by_role("log").locator(".message.out").filter(has_text="See you tomorrow")
    expect(waiting.get_by_role("img", name="Scheduled")).to_be_visible()  # the chat shows it, dashed

    page.get_by_role("navigation").get_by_role("link", name="Scheduled").click()
    item = page.locator(".scheduled-item").filter(has_text="See you tomorrow")
    expect(item).to_contain_text(ANA)
    expect(item).to_contain_text("Reminders (sandbox)")
    plan_item = page.locator(".plan").filter(has_text=BEN)
    expect(plan_item.get_by_text("Active")).to_be_visible()
    shot(page, "07-scheduled")

    item.get_by_role("button", name=re.compile("^Cancel the message to")).click()
    confirm = page.get_by_role("dialog", name="Cancel this message?")
    expect(confirm.get_by_role("button", name="Cancel", exact=True)).to_be_focused()  # the safe choice
    confirm.get_by_role("button", name="Cancel message").click()
    expect(item).to_have_count(0)
    with server.client(key) as http:
        scheduled = http.get("/v1/messages", params={"status": "cancelled"}).json()["items"]
        assert [m["text"] for m in scheduled] == ["See you tomorrow"]

    plan_item.get_by_role("button", name="Cancel plan").click()
    confirm = page.get_by_role("dialog", name="Cancel these reminders?")
    confirm.get_by_role("button", name="Cancel plan").click()
    expect(page.locator(".plan").filter(has_text=BEN).get_by_text("Cancelled", exact=True)).to_be_visible()
    with server.client(key) as http:
        assert http.get(f"/v1/reminders/{plan.json()['id']}").json()["status"] == "cancelled"


def test_the_audit_log_page_lists_and_filters_what_was_done(open_page: Opener, server: Server) -> None:
    key = server.create_tenant("Audited")
    with server.client(key) as http:
        made = http.post("/v1/keys", json={"name": "crm", "scopes": ["read"]}).json()
        assert http.delete(f"/v1/keys/{made['key']['id']}").status_code == 204
        session_id = http.post("/v1/sessions", json={"name": "Desk", "provider": "sandbox"}).json()["id"]
    page = open_page()
    sign_in(page, server, key)
    page.get_by_role("navigation").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    rows = page.locator(".audit-entry")
    # The dashboard's own realtime token request is an entry too.
    expect(rows.filter(has_text="key.revoked")).to_have_count(1)
    expect(rows.filter(has_text="key.created")).to_contain_text(made["key"]["id"])
    expect(rows.filter(has_text="POST /v1/sessions")).to_contain_text(session_id)
    expect(rows.first).to_contain_text("127.0.0.1")
    expect(page.get_by_text(made["secret"])).to_have_count(0)
    shot(page, "11-audit")

    page.get_by_label("Target").fill(session_id)
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("POST /v1/sessions")
    page.get_by_label("Target").fill("ses_nobody")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("Nothing recorded matches.")).to_be_visible()


def test_account_actions_groups_disconnect_connect_log_out(open_page: Opener, server: Server) -> None:
    key = server.create_tenant("Actions")
    session_id = linked_sandbox(server, key, "Workshops")
    page = open_page()
    sign_in(page, server, key)
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Workshops"))
    status = card.locator(".status")
    expect(status).to_have_text("Connected")

    card.get_by_role("button", name="Sync groups").click()
    expect(page.get_by_role("status").filter(has_text="Asked Workshops for its groups")).to_be_visible()
    summary = card.locator("summary")
    expect(summary).to_have_text("Groups (2)")  # the count came with the groups_synced event
    summary.click()  # a disclosure: loads the groups as last synced
    expect(card.get_by_text("Sandbox workshop")).to_be_visible()
    expect(card.get_by_text("Sandbox announcements")).to_be_visible()
    # a group created through the API shows up in the open list (its group_updated event reloads it)
    http = server.client(key)
    body = {"subject": "Taller de junio", "participants": ["+15550100001"]}
    assert http.post(f"/v1/sessions/{session_id}/groups", json=body).status_code == 202
    http.close()
    expect(card.get_by_text("Taller de junio")).to_be_visible()
    expect(summary).to_have_text("Groups (3)")

    card.get_by_role("button", name="Disconnect").click()
    expect(status).to_have_text("Disconnected")
    expect(card.get_by_role("heading", name="Workshops")).to_be_focused()  # its button went away
    card.get_by_role("button", name="Connect").click()
    expect(status).to_have_text("Connected")  # the stored keys: no new QR code
    card.get_by_role("button", name="Reconnect").click()
    expect(status).to_have_text("Connected")
    shot(page, "12-account-actions")

    card.get_by_role("button", name="Log out").click()
    page.get_by_role("dialog", name="Log out Workshops?").get_by_role("button", name="Log out").click()
    expect(status).to_have_text("Logged out")
    expect(card.get_by_role("button", name="Link again")).to_be_visible()


def test_failures_templates_and_history_pages(open_page: Opener, server: Server) -> None:
    key = server.create_tenant("History")
    session_id = linked_sandbox(server, key, "Archive")
    page = open_page()
    sign_in(page, server, key)
    page.get_by_role("navigation").get_by_role("link", name="Conversations").click()

    # +15550109999 is "not on WhatsApp" in the sandbox: the send fails, and the bubble says why.
    page.get_by_role("link", name="New message").click()
    page.get_by_label("To", exact=True).fill("+15550109999")
    page.get_by_label("Message", exact=True).fill("Anyone there?")
    page.get_by_role("button", name="Send").click()
    log = page.get_by_role("log")
    failed = log.locator(".message.out").filter(has_text="Anyone there?")
    expect(failed.get_by_role("img", name="Failed")).to_be_visible()
    expect(failed).to_contain_text("Not sent:")

    # A template, with its preview rendered by the API as the value is typed.
    page.get_by_role("link", name="New message").click()
    page.get_by_label("To", exact=True).fill(BEN)
    page.get_by_role("group", name="Message type").get_by_text("Template").click()
    page.get_by_label("Template to send").select_option(label="custom (en) · built-in")
    page.get_by_label("custom_message", exact=True).fill("Your order is ready")
    expect(page.locator(".composer .preview-text")).to_have_text("Your order is ready")
    page.get_by_role("button", name="Send").click()
    sent = log.locator(".message.out").filter(has_text="Your order is ready")
    expect(sent.get_by_role("img", name="Read")).to_be_visible()

    with server.client(key) as http:
        for n in range(1, 33):  # one page is 30
            http.post("/v1/messages", json={"session_id": session_id, "to": BEN, "text": f"Note {n}"})
    # Sent through the API (a CRM): each shows up here once sent (pacing spaces them out).
    expect(log.locator(".message.out").filter(has_text="Note 1").first).to_be_visible()
    page.reload()  # a fresh history: the first page, then the older ones
    expect(log.locator(".message")).to_have_count(30)
    expect(log.locator(".message").last).to_contain_text("Note 32")
    older = page.get_by_role("button", name="Load older messages")
    older.click()
    expect(log.locator(".message")).to_have_count(33)
    expect(log.locator(".message").first).to_contain_text("Your order is ready")
    expect(older).to_be_hidden()
    expect(log).to_be_focused()  # the button went away; focus stays in the history


def test_templates_create_edit_and_preview_live(open_page: Opener, server: Server) -> None:
    key = server.create_tenant("Templates")
    page = open_page()
    sign_in(page, server, key)
    page.get_by_role("navigation").get_by_role("link", name="Templates").click()
    page.get_by_role("button", name="New template", exact=True).click()
    editor = page.locator(".template-editor")
    editor.get_by_label("Name", exact=True).fill("Bad Name")
    editor.get_by_label("Text", exact=True).fill("Hi {name}, welcome to {place}!")
    editor.get_by_role("button", name="Create template").click()
    expect(editor.get_by_role("alert")).to_contain_text("invalid fields: name")  # the API's message
    expect(editor.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")

    editor.get_by_label("Name", exact=True).fill("welcome")
    editor.get_by_role("button", name="Create template").click()
    expect(page.get_by_role("heading", name="Edit: welcome (en)")).to_be_focused()
    preview = editor.locator(".preview-text")
    expect(preview).to_contain_text("missing variables")
    editor.get_by_label("name", exact=True).fill("Ana")
    editor.get_by_label("place", exact=True).fill("wagate")
    expect(preview).to_have_text("Hi Ana, welcome to wagate!")
    shot(page, "08-templates")

    editor.get_by_label("Text", exact=True).fill("Hello {name}!")
    expect(editor.get_by_text("save to preview your changes")).to_be_visible()
    editor.get_by_role("button", name="Save changes").click()
    expect(editor.get_by_label("place", exact=True)).to_have_count(0)  # the saved text's placeholders
    editor.get_by_label("name", exact=True).fill("Ben")
    expect(preview).to_have_text("Hello Ben!")
    with server.client(key) as http:
        assert http.get("/v1/templates/welcome", params={"language": "en"}).json()["body"] == "Hello {name}!"


def test_api_errors_are_shown_in_the_users_words(open_page: Opener, server: Server) -> None:
    key = server.create_tenant("Errors")
    page = open_page()
    sign_in(page, server, key)
    page.get_by_role("button", name="Add account").click()
    dialog = page.get_by_role("dialog", name="Add account")
    dialog.get_by_label("Name", exact=True).fill("Office")
    dialog.get_by_label("Phone number (optional)").fill("abc")
    dialog.get_by_role("button", name="Add account").click()
    # Letters are refused as written, never read as keypad digits (the API's message, verbatim).
    expect(dialog.get_by_role("alert")).to_have_text(
        re.compile(r"^phone may contain only digits after an optional '\+'")
    )
    expect(dialog.get_by_label("Phone number (optional)")).to_have_attribute("aria-invalid", "true")

    # Cloud API numbers: whatever the API says about these (wrong) credentials is what the user reads.
    dialog.get_by_label("Phone number (optional)").fill("")
    dialog.get_by_role("radio", name=re.compile("^Cloud API")).check()
    dialog.get_by_label("Phone number ID").fill("123")
    dialog.get_by_label("WhatsApp Business account ID").fill("456")
    dialog.get_by_label("Access token").fill("short")
    body: dict[str, Any] = {
        "name": "Office",
        "provider": "cloud",
        "phone_number_id": "123",
        "business_account_id": "456",
        "access_token": "short",
    }
    with server.client(key) as http:
        refusal = http.post("/v1/sessions", json=body)
    assert refusal.status_code in (400, 422), refusal.text
    dialog.get_by_role("button", name="Add account").click()
    expect(dialog.get_by_role("alert")).to_have_text(refusal.json()["error"]["message"])
    expect(dialog.get_by_label("Phone number ID")).to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_label("Phone number ID")).to_be_focused()
    shot(page, "09-api-error")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("button", name="Add account")).to_be_focused()


def test_phone_width_keyboard_and_sign_out(open_page: Opener, server: Server) -> None:
    key = server.create_tenant("Phone")
    session_id = linked_sandbox(server, key, "Mobile")
    with server.client(key) as http:
        http.post("/v1/messages", json={"session_id": session_id, "to": ANA, "text": "From the phone"})
        wait_for(lambda: http.get("/v1/conversations").json()["items"])
    page = open_page(PHONE)
    sign_in(page, server, key)
    expect(page.get_by_role("heading", name="Mobile")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "10-phone-accounts")

    # The modal from the keyboard: focus moves in, Escape closes it, focus comes back.
    add = page.get_by_role("button", name="Add account")
    add.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Add account").get_by_label("Name", exact=True)).to_be_focused()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.keyboard.press("Escape")
    expect(add).to_be_focused()

    page.get_by_role("navigation").get_by_role("link", name="Conversations").click()
    conversation = page.locator(".conversation").first
    expect(conversation).to_be_visible()
    conversation.click()
    expect(page.get_by_role("log").locator(".message.out").filter(has_text="From the phone")).to_be_visible()
    expect(page.locator(".inbox-list")).to_be_hidden()  # one pane at a time
    back = page.get_by_role("link", name="All conversations")
    expect(back).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "11-phone-chat")
    back.click()
    expect(page.locator(".inbox-list")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_the_socket_comes_back_when_dropped(open_page: Opener, server: Server) -> None:
    key = server.create_tenant("Reconnect")
    session_id = linked_sandbox(server, key, "Survivor")
    page = open_page()
    sign_in(page, server, key)
    with server.client(key) as http:
        tenant_id = str(http.get(f"/v1/sessions/{session_id}").json()["tenant_id"])
    before = dashboard_sockets(server, tenant_id)
    assert len(before) == 1
    # What API Gateway does at its 2-hour limit: the server closes the socket (the @connections API).
    # The dashboard's token is too close to expiry by then (10 s here), so it asks for a fresh one.
    with page.expect_request(lambda request: request.url.endswith("/v1/realtime/token")):
        assert drop_dashboard_sockets(server, tenant_id) == 1
    expect(page.locator("#live-status")).to_have_text("Live")
    after = dashboard_sockets(server, tenant_id)
    assert len(after) == 1 and after != before
    with server.client(key) as http:
        http.post(f"/v1/sessions/{session_id}/disconnect")
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Survivor"))
    expect(card.locator(".status")).to_have_text("Disconnected")  # an event over the new socket


def dashboard_sockets(server: Server, tenant_id: str) -> list[str]:
    """The tenant's open dashboard connections, as the WebSocket function registered them."""
    table = SqliteTable(Settings.from_env({"WAGATE_DATA_DIR": str(server.data_dir)}).table_path)
    return [str(item["gsi1sk"]) for item in table.query(f"T#{tenant_id}#WS", index="gsi1").items]


def drop_dashboard_sockets(server: Server, tenant_id: str) -> int:
    connections = dashboard_sockets(server, tenant_id)
    for connection_id in connections:
        gone = httpx.delete(f"{server.url}/ws/@connections/{quote(connection_id, safe='')}")
        assert gone.status_code == 204, gone.text
    return len(connections)


def test_typed_messages_show_what_they_are(open_page: Opener, server: Server) -> None:
    """A location, contact card and poll show their details; a reaction sits under its message, an edit
    is marked, a delete leaves "This message was deleted" (README: Content model)."""
    key = server.create_tenant("Kinds")
    session_id = linked_sandbox(server, key, "Kinds")
    base = {"session_id": session_id, "to": BEN}

    def sent(http: Any, body: dict[str, Any]) -> dict[str, Any]:
        answer = http.post("/v1/messages", json={**base, **body})
        assert answer.status_code == 202, answer.text
        message_id = answer.json()["id"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = http.get(f"/v1/messages/{message_id}").json()
            if got["status"] in ("sent", "delivered", "read"):
                return dict(got)
            time.sleep(0.2)
        raise AssertionError(f"{message_id} was not sent")

    with server.client(key) as http:
        note = sent(http, {"text": "Nos vemos el lunes"})
        sent(http, {"location": {"latitude": 40.4168, "longitude": -3.7038, "name": "Taller"}})
        sent(http, {"contacts": [{"name": "Ana Pérez", "phones": [{"phone": "+34600123456"}]}]})
        sent(http, {"poll": {"name": "¿Qué día?", "options": ["lunes", "martes"]}})
        sent(http, {"reaction": {"target_id": note["id"], "emoji": "👍"}})
        sent(http, {"edit": {"target_id": note["id"], "body": "Nos vemos el martes"}})
        gone = sent(http, {"text": "borrar esto"})
        sent(http, {"delete": {"target_id": gone["id"]}})
    page = open_page()
    sign_in(page, server, key)
    page.get_by_role("navigation").get_by_role("link", name="Conversations").click()
    page.get_by_role("link", name=re.compile(re.escape(BEN))).click()
    log = page.get_by_role("log")
    edited = log.locator(".message.out").filter(has_text="Nos vemos el martes")
    expect(edited.locator(".message-edited")).to_be_visible()
    expect(edited.get_by_label("Reactions: 👍")).to_be_visible()
    expect(log.get_by_role("link", name="Map: 40.4168,-3.7038")).to_be_visible()
    expect(log.locator(".contact-cards")).to_contain_text("Ana Pérez +34600123456")
    expect(log.locator(".poll-options li")).to_have_text(["lunes", "martes"])
    expect(log.locator(".message-deleted")).to_have_text("This message was deleted")
    expect(log.locator(".message").filter(has_text="borrar esto")).to_have_count(0)
    shot(page, "12-typed-messages")


def png(width: int = 40, height: int = 30) -> bytes:
    """A real PNG (the API sniffs the bytes: a name is never trusted)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes((200, 80, 40)) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A real WAV (silence) that Chromium can play."""
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


def jpeg_data_url() -> str:
    import base64
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 18), (30, 140, 60)).save(out, format="JPEG", quality=50)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


POSTER = jpeg_data_url()


def test_attach_files_and_see_media_reactions_live(open_page: Opener, server: Server) -> None:
    """A file picked or dropped on the chat is uploaded (POST /v1/media) and sent by its id; images show,
    documents open in a new tab, voice notes and videos play — all through the signed link GET
    /v1/media/{id} answers; a reaction that arrives live sits under the message it is on."""
    key = server.create_tenant("Files")
    session_id = linked_sandbox(server, key, "Files")
    with server.client(key) as http:
        assert (
            http.post(
                "/v1/messages", json={"session_id": session_id, "to": BEN, "text": "Hola Ben"}
            ).status_code
            == 202
        )
    page = open_page()
    sign_in(page, server, key)
    page.get_by_role("navigation").get_by_role("link", name="Conversations").click()
    page.get_by_role("link", name=re.compile(re.escape(BEN))).click()
    log = page.get_by_role("log")
    expect(log.locator(".message.out").filter(has_text="Hola Ben")).to_be_visible()

    # A picked image with a caption.
    page.locator("input[type=file][name=file]").set_input_files(
        {"name": "taller.png", "mimeType": "image/png", "buffer": png()}
    )
    expect(page.locator(".attachment")).to_contain_text("taller.png")
    expect(page.locator(".attachment img.attachment-preview")).to_be_visible()
    page.get_by_label("Caption").fill("El taller por dentro")
    page.get_by_role("button", name="Send").click()
    image = log.locator(".message.out").filter(has_text="El taller por dentro")
    expect(image.locator(".media-image[data-state=shown] img")).to_be_visible()
    expect(page.locator(".attachment")).to_be_hidden()
    src = image.locator(".media-image img").get_attribute("src") or ""
    assert "/media-files/" in src, src  # the signed local link, not a WhatsApp URL
    with server.client(key) as http:
        sent = http.get("/v1/messages", params={"session_id": session_id, "limit": 5}).json()["items"]
        [stored] = [m for m in sent if m["kind"] == "image"]
        assert stored["content"]["caption"] == "El taller por dentro"
        assert stored["content"]["media"]["mime"] == "image/png" and stored["content"]["media"]["id"]
        assert http.get(src.replace(server.url, "")).content == png()

    # A PDF dropped on the chat: sent as a document, opened in a new tab through its link.
    page.evaluate(
        """() => {
          const pane = document.querySelector('.inbox-chat');
          const data = new DataTransfer();
          const bytes = ['%PDF-1.4\\n% presupuesto\\n'];
          const file = new File(bytes, 'presupuesto.pdf', {type: 'application/pdf'});
          data.items.add(file);
          for (const type of ['dragenter', 'dragover', 'drop']) {
            pane.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
          }
        }"""
    )
    expect(page.locator(".attachment")).to_contain_text("presupuesto.pdf")
    page.get_by_role("button", name="Send").click()
    document = log.get_by_role("link", name=re.compile("presupuesto.pdf"))
    expect(document).to_contain_text("PDF")
    signed = page.context.expect_event("request", predicate=lambda r: "/media-files/" in r.url)
    with page.context.expect_page() as opened, signed as request:
        document.click()
    assert request.value.frame.page == opened.value  # the new tab asked for the link the API signed
    opened.value.close()

    # A file over what one multipart request takes goes through POST /v1/uploads, a PUT to the signed
    # link and .../complete (what S3 presigned PUTs are on AWS), then is sent the same way.
    with page.expect_request(lambda r: r.method == "PUT" and "/media-files/" in r.url):
        page.evaluate(
            """() => {
              const big = new Uint8Array(4_300_000);
              big.set(new TextEncoder().encode('%PDF-1.7\\n'));
              const data = new DataTransfer();
              data.items.add(new File([big], 'planos.pdf', {type: 'application/pdf'}));
              const pane = document.querySelector('.inbox-chat');
              for (const type of ['dragenter', 'dragover', 'drop']) {
                const init = {dataTransfer: data, bubbles: true, cancelable: true};
                pane.dispatchEvent(new DragEvent(type, init));
              }
            }"""
        )
        page.get_by_role("button", name="Send").click()
    expect(log.get_by_role("link", name=re.compile("planos.pdf"))).to_contain_text("4.3 MB")

    # Ben sends a voice note and a video (the sandbox delivers a file stored beforehand).
    with server.client(key) as http:
        voice = http.post("/v1/media", files={"file": ("nota.wav", wav(), "audio/wav")}).json()
        clip = http.post(
            "/v1/media",
            files={"file": ("clip.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200, "video/mp4")},
        ).json()
        for content in (
            {"type": "audio", "voice": True, "media": voice},
            # with the small JPEG preview WhatsApp puts inside a video message (shown before it is opened)
            {"type": "video", "caption": "Mira esto", "media": {**clip, "thumbnail": POSTER}},
        ):
            answer = http.post(
                f"/v1/sandbox/sessions/{session_id}/reply", json={"contact": BEN, "content": content}
            )
            assert answer.status_code == 202, answer.text
    note = log.locator(".message.in .media-audio")
    note.get_by_role("button", name=re.compile("Play voice message")).click()
    expect(note.locator("audio")).to_have_attribute("src", re.compile("/media-files/"))
    page.wait_for_function(
        "() => document.querySelector('.message.in .media-audio audio')?.readyState >= 1"
    )  # Chromium read the file through the link
    video = log.locator(".message.in").filter(has_text="Mira esto")
    expect(video.locator("img.media-poster")).to_have_attribute("src", POSTER)
    video.get_by_role("button", name=re.compile("Play video")).click()
    expect(video.locator("video")).to_have_attribute("src", re.compile("/media-files/"))

    # Ben reacts to the image: the reaction sits under it (no bubble of its own), and survives a reload.
    # He names it by its WhatsApp id, which the message carries once it is sent (not yet when listed
    # just after the send, on a busy machine).
    with server.client(key) as http:
        stored = wait_for(
            lambda: (m := http.get(f"/v1/messages/{stored['id']}").json())["provider_message_id"] and m
        )
        answer = http.post(
            f"/v1/sandbox/sessions/{session_id}/reply",
            json={
                "contact": BEN,
                "content": {
                    "type": "reaction",
                    "target_provider_id": stored["provider_message_id"],
                    "emoji": "❤️",
                },
            },
        )
        assert answer.status_code == 202, answer.text
    expect(image.get_by_label("Reactions: ❤️")).to_be_visible()
    expect(log.locator(".message-change")).to_have_count(0)
    shot(page, "13-media")
    page.reload()
    # The whole app and the chat's history load again (slow when the shared machine is busy).
    expect(log.locator(".message.out").filter(has_text="El taller por dentro")).to_be_visible(timeout=45_000)
    expect(
        log.locator(".message.out").filter(has_text="El taller por dentro").get_by_label("Reactions: ❤️")
    ).to_be_visible()
    expect(log.locator(".message-change")).to_have_count(0)

    # Ben corrects one message and takes another back, live: the bubbles change in place.
    with server.client(key) as http:
        reply = f"/v1/sandbox/sessions/{session_id}/reply"
        for text in ("Llego a las 9", "ups, otro chat"):
            assert http.post(reply, json={"contact": BEN, "text": text}).status_code == 202
        expect(log.locator(".message.in").filter(has_text="ups, otro chat")).to_be_visible()
        inbound = http.get("/v1/messages", params={"session_id": session_id, "direction": "inbound"}).json()
        ids = {m["text"]: m["provider_message_id"] for m in inbound["items"]}
        changes = (
            {"type": "edit", "target_provider_id": ids["Llego a las 9"], "body": "Llego a las 10"},
            {"type": "delete", "target_provider_id": ids["ups, otro chat"]},
        )
        for content in changes:
            assert http.post(reply, json={"contact": BEN, "content": content}).status_code == 202
    corrected = log.locator(".message.in").filter(has_text="Llego a las 10")
    expect(corrected.locator(".message-edited")).to_be_visible()
    expect(log.locator(".message.in").filter(has_text="Llego a las 9")).to_have_count(0)
    expect(log.locator(".message.in .message-deleted")).to_have_text("This message was deleted")
    expect(log.locator(".message.in").filter(has_text="ups, otro chat")).to_have_count(0)
    expect(log.locator(".message-change")).to_have_count(0)


def test_account_health_and_ban_signals_on_the_accounts_page(open_page: Opener, server: Server) -> None:
    """Each account shows its health; a 463 restriction shows as its reason and lowers its score (the
    pacing slow-down says so); a temporary ban shows as such, live."""
    key = server.create_tenant("Health")
    session_id = linked_sandbox(server, key, "Clinic")
    page = open_page()
    sign_in(page, server, key)
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Clinic"))
    health = card.get_by_role("region", name="Health of Clinic")
    expect(health.locator(".risk")).to_have_text("Healthy")
    expect(health.locator(".health-score")).to_have_text("100/100")
    expect(health.locator("meter")).to_have_attribute("value", "100")

    with server.client(key) as http:
        assert http.post(f"/v1/sandbox/sessions/{session_id}/restrict").status_code == 202
        sent = http.post(
            "/v1/messages", json={"session_id": session_id, "to": "+15550188888", "text": "Oferta"}
        )
        message_id = sent.json()["id"]
        wait_for(lambda: http.get(f"/v1/messages/{message_id}").json()["status"] == "failed")
    expect(card.locator("dd[data-reason]")).to_have_text("Restricted: WhatsApp refuses new chats (463)")
    expect(card.locator(".status")).to_have_text("Connected")  # still connected: restricted, not down
    expect(health.locator(".risk")).to_have_text("At risk")
    expect(health.locator(".health-slowdown")).to_contain_text("×0.5")
    expect(health).to_contain_text("1 refused with 463")
    expect(health.locator(".health-reasons")).to_contain_text("463")
    shot(page, "14-account-health")

    with server.client(key) as http:
        body = {"expire": 7200, "code": 102}
        assert http.post(f"/v1/sandbox/sessions/{session_id}/temp_ban", json=body).status_code == 202
    expect(card.locator(".status")).to_have_text("Failed")
    expect(card.locator("dd[data-reason]")).to_have_text("Temporarily banned by WhatsApp")
    expect(card).to_contain_text("code 102")
