"""WhatsApp's query throttling on one connection: recognise it, hold that kind of query back, report it.

What the server answers (facts from the anchors, not their code): an iq it throttles comes back as
`<iq type=error><error code=429 text=rate-overlimit/></iq>` (whatsmeow errors.go lists it among the
common iq errors as ErrIQRateOverLimit; Baileys' generic-utils.ts assertNodeErrorFree turns the `<error>`
child into an error with that text and code, and its issue threads #795, #1061, #1261 show it on group
metadata queries, including the ones a group send makes; number checks over usync get it too).
`rate-overlimit` is common enough to sit in the binary token dictionary (Baileys WABinary/constants.ts,
whatsmeow binary/token). Neither anchor backs off: both hand the error to the caller. Message acks carry
no throttling code in either anchor: 463 is the privacy-token restriction and 479 is `smax-invalid`, a
malformed or stale stanza (Baileys decode-wa-message.ts SERVER_ERROR_CODES, whatsmeow client.go), so
only iq answers are read here.

What the engine does with it:
- The query fails with `RateLimited` (code `rate_limited`, not transient; a `HeldBack` with `retry_in`)
  to its caller: a number check fails with that error; a send whose device-list, prekey or group lookup
  was refused raises it too, and the connector's send path keeps that message queued and tries it again
  when the hold ends (connector/held_back_sends.py), within `throttled_send_max_age_seconds`.
- That kind of query (number_check, device_list, group_metadata, ...: `request_of`) is held back: asked
  again before the hold ends, it fails at once without reaching WhatsApp. The hold starts at
  `rate_limit_hold_seconds` (60 s) and doubles, up to `rate_limit_max_hold_seconds` (15 min), each time
  WhatsApp refuses the first query let through after a hold. Why: the server's budget is per window of a
  length nobody publishes; asking again at once spends it again and keeps the number over the limit (and
  repeated abuse is what bans are made of), while doubling finds the window in a few steps without
  leaving the number mute for long.
- One `Throttled` event per episode (the number is `connected`, reason `rate_limited`, `detail` naming
  the request), and one `ThrottleEnded` when it ends: at the first query of a held kind WhatsApp answers
  after its hold (proof the window reset), or, when nothing asks, once no refusal came for
  `rate_limit_quiet_seconds` (10 min) and the hold is over, so a number is not shown throttled for days
  because a CRM stopped asking. Answers that are errors other than 429 count as answers. The hold lives
  with the connection: a reconnect starts clean (its `connected` report ends the episode too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from connector.engines.events import Emit, Throttled, ThrottleEnded
from connector.engines.web.binary.node import Node
from connector.engines.web.errors import IqError, RateLimited

log = logging.getLogger(__name__)

OVERLIMIT_CODE = 429
OVERLIMIT_TEXT = "rate-overlimit"

Spawn = Callable[[Awaitable[None], str], object]

_USYNC_CONTEXTS = {"interactive": "number_check", "message": "device_list"}


def request_of(node: Node) -> str:
    """The kind of query an iq is, as held back and reported (`number_check`, `group_metadata`, ...)."""
    xmlns = node.str_attr("xmlns") or ""
    first = node.children[0] if node.children else None
    if xmlns == "usync" and first is not None:
        context = first.str_attr("context") or ""
        return _USYNC_CONTEXTS.get(context, f"usync_{context}")
    if xmlns == "w:g2":
        if node.str_attr("type") == "set" or (first is not None and first.tag == "invite"):
            return "group_change"
        return "group_list" if first is not None and first.tag == "participating" else "group_metadata"
    if xmlns == "encrypt" and first is not None and first.tag == "key":
        return "prekey_bundle"
    return f"{xmlns}/{first.tag}" if first is not None else xmlns


def _details(request: str, retry_in: float) -> dict[str, object]:
    return {"code": OVERLIMIT_CODE, "text": OVERLIMIT_TEXT, "request": request, "retry_in": retry_in}


def is_overlimit(error: IqError) -> bool:
    details = error.details if isinstance(error.details, dict) else {}
    return details.get("code") == OVERLIMIT_CODE or details.get("text") == OVERLIMIT_TEXT


@dataclass
class _Hold:
    seconds: float  # the current hold's length
    until: float  # held back until then
    refused_at: float  # WhatsApp's last refusal of this kind

    def over(self, now: float, quiet: float) -> bool:
        """Nothing of this kind was refused for the quiet period, and the hold is over."""
        return now >= max(self.until, self.refused_at + quiet)


class Throttle:
    def __init__(
        self,
        emit: Emit,
        spawn: Spawn,
        clock: Callable[[], float],
        *,
        label: str,
        hold_seconds: float,
        max_hold_seconds: float,
        quiet_seconds: float,
    ) -> None:
        self._emit = emit
        self._label = label  # tenant/session, for logs
        self._spawn = spawn
        self._clock = clock
        self._hold_seconds = hold_seconds
        self._max_hold_seconds = max(max_hold_seconds, hold_seconds)
        self._quiet_seconds = quiet_seconds
        self._holds: dict[str, _Hold] = {}
        self._episode = 0  # counts episodes, so a watcher of an ended one stops
        self._active = False

    def check(self, node: Node) -> str:
        """The iq's kind, when it may be asked now. Raises RateLimited while that kind is held back."""
        request = request_of(node)
        hold = self._holds.get(request)
        now = self._clock()
        if hold is not None and now < hold.until:
            retry_in = round(hold.until - now, 1)
            raise RateLimited(
                f"WhatsApp is rate-limiting this number's {request} queries (429 rate-overlimit); "
                f"not asked again for {retry_in:g} s",
                details={
                    "code": OVERLIMIT_CODE,
                    "text": OVERLIMIT_TEXT,
                    "request": request,
                    "retry_in": retry_in,
                },
            )
        return request

    async def refused(self, request: str, error: IqError) -> RateLimited:
        """WhatsApp answered a query of this kind with 429: hold the kind back; the error for the caller."""
        now = self._clock()
        hold = self._holds.get(request)
        if hold is None:
            hold = self._holds[request] = _Hold(self._hold_seconds, now + self._hold_seconds, now)
        elif now >= hold.until:  # the first query let through after the hold was refused again: double it
            seconds = min(hold.seconds * 2, self._max_hold_seconds)
            hold.seconds, hold.until = seconds, now + seconds
        hold.refused_at = now  # else: asked before the hold began (in flight together): same hold
        retry_in = round(hold.until - now, 1)
        detail = (
            f"WhatsApp refused {request} queries with 429 rate-overlimit; wagate holds them back for "
            f"{retry_in:g} s"
        )
        log.warning("%s: %s", self._label, detail)
        if not self._active:
            self._active = True
            self._episode += 1
            await self._emit(Throttled(request, detail, retry_in))
            self._spawn(self._watch(self._episode), "rate-limit watch")
        return RateLimited(
            f"{detail} ({error.message})",
            details={
                "code": OVERLIMIT_CODE,
                "text": OVERLIMIT_TEXT,
                "request": request,
                "retry_in": retry_in,
            },
        )

    async def answered(self, request: str) -> None:
        """WhatsApp answered a query of this kind (a result, or an error other than 429)."""
        if self._holds.pop(request, None) is None:
            return
        if self._active and not self._holds:
            await self._end(f"WhatsApp answered {request} queries again")

    async def _watch(self, episode: int) -> None:
        """Ends the episode once every held kind was quiet long enough (nothing asked, nothing refused)."""
        while self._active and self._episode == episode and self._holds:
            now = self._clock()
            for request, hold in list(self._holds.items()):
                if hold.over(now, self._quiet_seconds):
                    del self._holds[request]
            if not self._holds:
                break
            due = min(max(h.until, h.refused_at + self._quiet_seconds) for h in self._holds.values())
            await asyncio.sleep(max(due - now, 0.01))
        if self._active and self._episode == episode and not self._holds:
            await self._end(f"no refusal from WhatsApp for {self._quiet_seconds:g} s")

    async def _end(self, detail: str) -> None:
        self._active = False
        log.info("%s: rate limit over: %s", self._label, detail)
        await self._emit(ThrottleEnded(detail))
