"""`wagate canary`: the check a person runs against the real WhatsApp before a release (README: Releasing).

With internet access and a spare WhatsApp number it links a `web` engine (QR code, or an 8-character code
typed on the phone with `--link-phone`), sends a text to another phone (`--to`), waits for its delivery
receipt, asks the person to reply from that phone and waits for the reply, unlinks, and writes a short
report (text on stdout, JSON to `--report`). It catches what no test here can: WhatsApp moving its
version, its policies or its addressing. It needs a person and WhatsApp's servers, so CI never runs it;
tests run `run_canary` against the fake edge only.

The engine keeps its keys in memory (`InMemoryKeyStore`): every run links a new device and unlinks it at
the end (`--keep-linked` leaves it on the phone's list, for looking at it there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from connector.engines.base import SessionInfo, to_jid
from connector.engines.events import (
    Connected,
    EngineEvent,
    IncomingMessage,
    PairingCode,
    QrCode,
    Receipt,
)
from connector.engines.exits import Exit, Retry
from connector.engines.memory_keys import InMemoryKeyStore
from connector.engines.web.engine import WebEngine
from connector.engines.web.settings import WebSettings

E = TypeVar("E")
MAX_RESTARTS = 3
Say = Callable[[str], None]


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class CanaryReport:
    """What happened, step by step; `ok` only when every step passed."""

    started_at: float
    version: str = ""
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def add(self, name: str, ok: bool, detail: str, since: float) -> bool:
        self.steps.append(Step(name, ok, detail, round(time.monotonic() - since, 2)))
        return ok

    def text(self) -> str:
        lines = [f"wagate canary {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime(self.started_at))}"]
        if self.version:
            lines.append(f"WhatsApp Web version claimed: {self.version}")
        for step in self.steps:
            mark = "PASS" if step.ok else "FAIL"
            lines.append(f"  {mark}  {step.name:<10} {step.seconds:>7.2f} s  {step.detail}")
        lines.append("result: " + ("PASS" if self.ok else "FAIL: do not release before this is understood"))
        return "\n".join(lines)

    def to_json(self) -> str:
        data = {"ok": self.ok, **asdict(self)}
        return json.dumps(data, indent=2, ensure_ascii=False)


class _Events:
    def __init__(self) -> None:
        self.seen: list[EngineEvent] = []
        self._changed = asyncio.Event()

    async def emit(self, event: EngineEvent) -> None:
        self.seen.append(event)
        self._changed.set()

    async def first(
        self, match: Callable[[EngineEvent], bool], timeout: float, task: asyncio.Task[Any]
    ) -> Any:
        """The first event that matches; None when the time is up or the engine ended first."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((event for event in self.seen if match(event)), None)
            if found is not None or task.done():
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))


async def run_canary(
    settings: WebSettings,
    *,
    to: str,
    say: Say,
    link_phone: str | None = None,
    timeout: float = 180.0,
    keep_linked: bool = False,
    clock: Callable[[], float] = time.time,
) -> CanaryReport:
    """Link, send, see it delivered, receive a reply, unlink. Never raises for what WhatsApp does: each
    outcome is a step of the report."""
    report = CanaryReport(started_at=clock())
    session = SessionInfo("canary", "canary", "web", phone=link_phone, link_by_code=link_phone is not None)
    events = _Events()
    keys = InMemoryKeyStore("canary", "canary")
    shown: set[str] = set()

    def show_link(event: EngineEvent) -> bool:
        if isinstance(event, QrCode) and event.qr not in shown:
            shown.add(event.qr)
            say(
                f"Scan with the spare phone (WhatsApp > Linked devices > Link a device):\n{qr_text(event.qr)}"
            )
        elif isinstance(event, PairingCode) and event.code not in shown:
            shown.add(event.code)
            say(
                f"On the spare phone: WhatsApp > Linked devices > Link a device > Link with phone number "
                f"instead, and type {event.code}"
            )
        return isinstance(event, Connected)

    def start() -> tuple[WebEngine, asyncio.Task[Exit]]:
        engine = WebEngine(session, keys, events.emit, settings=settings, clock=clock)
        return engine, asyncio.get_running_loop().create_task(engine.run())

    engine, task = start()
    try:
        since = time.monotonic()
        connected = None
        for _ in range(MAX_RESTARTS):  # pairing ends with the restart WhatsApp asks for (515)
            connected = await events.first(show_link, timeout, task)
            if connected is not None or not task.done() or task.cancelled() or task.exception():
                break
            if task.result().retry is not Retry.NOW:
                break
            engine, task = start()
        report.version = ".".join(map(str, engine._profile.version))
        if not report.add("link", connected is not None, _link_detail(connected, task), since):
            return report
        since = time.monotonic()
        text = (
            f"wagate canary {time.strftime('%H:%M:%S', time.gmtime(clock()))}: please reply to this message"
        )
        try:
            sent = await engine.send_text(to, text, f"canary_{int(clock())}")
        except Exception as exc:  # the report says what WhatsApp answered; nothing is retried
            report.add("send", False, f"{type(exc).__name__}: {exc}", since)
            return report
        report.add("send", True, f"{sent.provider_message_id} to {sent.to_jid}", since)

        since = time.monotonic()
        receipt = await events.first(
            lambda e: isinstance(e, Receipt) and sent.provider_message_id in e.provider_message_ids,
            timeout,
            task,
        )
        status = receipt.status.value if receipt is not None else None
        report.add("delivered", receipt is not None, status or "no receipt (is the phone online?)", since)

        since = time.monotonic()
        say(f"Now reply to the canary's message from {to}.")
        chat = to_jid(to)
        reply = await events.first(
            lambda e: isinstance(e, IncomingMessage) and not e.from_me and e.chat_jid == chat, timeout, task
        )
        detail = f"{reply.provider_message_id}: {reply.text!r}" if reply is not None else "no reply arrived"
        if reply is not None and reply.sender_phone is None:
            detail += " (no phone number for the sender: LID without a mapping)"
            report.add("receive", False, detail, since)
        else:
            report.add("receive", reply is not None, detail, since)
    finally:
        since = time.monotonic()
        if keep_linked or not engine.connected:
            await engine.stop()
        else:
            await engine.logout()
        with contextlib.suppress(Exception):
            outcome = await asyncio.wait_for(task, 30)
            if report.steps and report.steps[0].ok:
                report.add("unlink", True, "kept linked" if keep_linked else outcome.detail, since)
    return report


def qr_text(data: str) -> str:
    """The QR code in the terminal (half blocks), and its text for any other QR tool."""
    try:
        import io

        import qrcode

        code = qrcode.QRCode(border=2)
        code.add_data(data)
        out = io.StringIO()
        code.print_ascii(out=out, invert=True)
        return f"{out.getvalue()}\n{data}"
    except ImportError:  # pragma: no cover - qrcode is a dependency; this only keeps the canary usable
        return data


def _link_detail(connected: Connected | None, task: asyncio.Task[Any]) -> str:
    if connected is not None:
        return f"connected as {connected.phone or connected.jid}"
    if task.done() and not task.cancelled() and task.exception() is None:
        outcome = task.result()
        return f"the engine ended: {outcome.reason.value} ({outcome.detail})"
    return "not linked in time"
