"""How a connection ended: the `Exit` an engine's `run()` returns, the reconnect decision as data.

Retry NOW (e.g. the restart WhatsApp asks for after pairing), after a BACKOFF (a transient drop), or NEVER
(logged out, banned, replaced). The supervisor turns it into the one event that reports the end.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@enum.unique
class Retry(enum.StrEnum):
    NOW = "now"  # reconnect at once (WhatsApp asked for a restart)
    BACKOFF = "backoff"  # transient: reconnect after backoff()
    NEVER = "never"  # permanent: stay down until someone connects the session again


@enum.unique
class ExitReason(enum.StrEnum):
    STOPPED = "stopped"  # stop() was called
    RESTART_REQUIRED = "restart_required"  # e.g. right after pairing
    CONNECTION_LOST = "connection_lost"  # network drop, server closed the stream, keepalive timeout
    REPLACED = "replaced"  # another socket for the same device took over
    LOGGED_OUT = "logged_out"  # unlinked from the phone, or logout() was called
    BANNED = "banned"  # the number is banned for good
    TEMPORARILY_BANNED = "temporarily_banned"  # banned until `expires_in` (WhatsApp's 402): stays down
    VERSION_REFUSED = "version_refused"  # WhatsApp refused our client version (405): refetched, retried
    QR_TIMEOUT = "qr_timeout"  # nobody scanned the QR codes in time
    PASSKEY_REQUIRED = "passkey_required"  # WhatsApp wants the account's passkey to link: a person must act
    FAILED = "failed"  # something the connector cannot fix by retrying (bad configuration, no engine)
    CRASHED = "crashed"  # the engine raised (a bug): retried with backoff


@dataclass(frozen=True)
class Exit:
    reason: ExitReason
    retry: Retry
    logged_out: bool = False  # the device is unlinked: the supervisor wipes the keys
    detail: str = ""
    expires_in: float | None = None  # a temporary ban: seconds until WhatsApp lifts it, when it said

    @classmethod
    def stopped(cls) -> Exit:
        return cls(ExitReason.STOPPED, Retry.NEVER)

    @classmethod
    def lost(cls, detail: str = "") -> Exit:
        return cls(ExitReason.CONNECTION_LOST, Retry.BACKOFF, detail=detail)

    @classmethod
    def restart(cls, detail: str = "") -> Exit:
        return cls(ExitReason.RESTART_REQUIRED, Retry.NOW, detail=detail)

    @classmethod
    def logged_out_(cls, detail: str = "") -> Exit:
        return cls(ExitReason.LOGGED_OUT, Retry.NEVER, logged_out=True, detail=detail)

    @classmethod
    def banned(cls, detail: str = "") -> Exit:
        return cls(ExitReason.BANNED, Retry.NEVER, detail=detail)

    @classmethod
    def temporarily_banned(cls, detail: str, expires_in: float | None) -> Exit:
        return cls(ExitReason.TEMPORARILY_BANNED, Retry.NEVER, detail=detail, expires_in=expires_in)

    @classmethod
    def replaced(cls, detail: str = "") -> Exit:
        return cls(ExitReason.REPLACED, Retry.NEVER, detail=detail)

    @classmethod
    def failed(cls, detail: str) -> Exit:
        return cls(ExitReason.FAILED, Retry.NEVER, detail=detail)
