"""Errors of the Signal layer, by what the engine should do about them (all permanent for that message).

    WebEngineError (connector.engines.web.errors)
    └── SignalError                    anything the Signal layer raises on purpose
        ├── InvalidMessage             malformed, wrong version, bad MAC or signature, bad padding
        ├── InvalidBundle              a prekey bundle whose signed prekey is not signed by its identity
        ├── NoSession                  nothing to encrypt or decrypt a `msg` with: fetch a bundle / ask again
        │   └── SessionCorrupt         the stored record was unreadable and has been reset
        ├── MissingPreKey              a pkmsg names a (signed) prekey we no longer have
        ├── DuplicateMessage           that counter/iteration was already decrypted (or its key aged out)
        ├── TooFarAhead                more than MAX_SKIP messages skipped in one chain: refused, not stored
        └── NoSenderKey                a group message from a sender (or key id) we have no distribution for
            └── SenderKeyCorrupt       the stored sender key record was unreadable and has been reset

What the engine does: a DuplicateMessage is acknowledged and dropped; every other decrypt error is
acknowledged and answered with a retry receipt (the sender re-encrypts, with our fresh keys when asked).
"""

from __future__ import annotations

from connector.engines.web.errors import WebEngineError


class SignalError(WebEngineError):
    code = "web_signal_error"


class InvalidMessage(SignalError):
    code = "web_signal_invalid_message"


class InvalidBundle(SignalError):
    code = "web_signal_invalid_bundle"


class NoSession(SignalError):
    code = "web_signal_no_session"


class SessionCorrupt(NoSession):
    """The stored session record could not be read; it was deleted so the next exchange starts afresh."""

    code = "web_signal_session_corrupt"


class MissingPreKey(SignalError):
    code = "web_signal_missing_pre_key"


class DuplicateMessage(SignalError):
    code = "web_signal_duplicate_message"


class TooFarAhead(SignalError):
    code = "web_signal_too_far_ahead"


class NoSenderKey(SignalError):
    code = "web_signal_no_sender_key"


class SenderKeyCorrupt(NoSenderKey):
    """The stored sender key record could not be read; it was deleted (the sender must redistribute)."""

    code = "web_signal_sender_key_corrupt"
