"""What an engine's calls raise, by meaning:

EngineError                      is_transient says whether a later retry may succeed
├── NotConnected                 no live connection right now (transient)
├── HeldBack                     WhatsApp throttles a lookup this needs: ask again after `retry_in` seconds
├── SendRejected                 WhatsApp refused this message (e.g. the number is not on WhatsApp)
├── GroupRefused                 WhatsApp refused a group change (not an admin, not in the group, ...)
└── Unsupported                  this engine cannot do that (e.g. a sandbox action on the web engine)
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    is_transient = False

    def __init__(self, message: str, *, code: str = "engine_error", details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details


class NotConnected(EngineError):
    is_transient = True


class HeldBack(EngineError):
    """WhatsApp throttles a kind of query the call needs (web: 429 rate-overlimit, web/throttle.py), and
    the engine holds that kind back for `retry_in` seconds. Not transient: asked again before then it
    fails the same way without reaching WhatsApp; after then it may pass (connector/held_back_sends.py
    waits)."""

    @property
    def retry_in(self) -> float:
        details = self.details if isinstance(self.details, dict) else {}
        value = details.get("retry_in")
        return float(value) if isinstance(value, int | float) and value > 0 else 0.0


class SendRejected(EngineError):
    pass


class GroupRefused(EngineError):
    """`code` by meaning (GROUP_REFUSALS), `details` = {"status": the server's code, "text": its word}."""


# The server's answer to a w:g2 set/get, by meaning (whatsmeow group.go; Baileys groups.ts).
GROUP_REFUSALS = {
    400: "group_bad_request",
    401: "not_group_admin",  # not-authorized: only admins may do that
    403: "not_in_group",  # forbidden: this number is not a participant
    404: "group_not_found",  # item-not-found: no such group
    406: "group_change_not_acceptable",  # not-acceptable: e.g. a subject too long or empty
    409: "group_conflict",
    419: "group_full",  # resource-limit
    429: "rate_limited",  # rate-overlimit: WhatsApp throttles this number's group queries (web/throttle.py)
}


class Unsupported(EngineError):
    pass
