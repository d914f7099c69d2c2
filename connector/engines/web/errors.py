"""Errors of the `web` engine: one family, so callers catch by meaning and no library error leaks out.

    EngineError (connector.engines.errors) message, code, details; is_transient
    └── WebEngineError               anything the web engine raises on purpose
        ├── InvalidKey               key material of the wrong size or shape (a bug or corrupt creds)
        ├── HandshakeError           the Noise handshake failed: bad message, bad MAC, wrong state
        │   └── CertificateError     the server's certificate chain does not check out (never retry blindly)
        ├── FrameError               a transport frame is truncated, garbled, too large or undecryptable
        ├── ConnectionLost           the socket closed, timed out or never opened (is_transient)
        ├── ProtocolError            a well-formed stanza that breaks the protocol (missing child, bad attr)
        ├── PairingError             pair-success failed its checks (HMAC, account signature, shape)
        ├── CredentialsError         stored credentials are missing fields or corrupt (re-pair)
        ├── IqError                  the edge answered an iq with type=error (details: code, text)
        │   └── RateLimited          WhatsApp throttles this kind of query (429 rate-overlimit): throttle.py;
        │                            also a HeldBack (connector.engines.errors), which the send path waits out
        ├── IqTimeout                no answer to an iq in time (is_transient)
        ├── AckTimeout               the edge did not acknowledge a message in time (is_transient)
        ├── SendFailed               the edge answered a message with a server error (is_transient)
        └── SignalError              signal/errors.py: what a decrypt or encrypt failure means

Retryable vs permanent is a type: ConnectionLost, IqTimeout, AckTimeout and SendFailed are transient (a
message re-sent after one keeps its id, so the recipient sees it once). A FrameError,
HandshakeError or ProtocolError means this connection's byte stream can no longer be trusted; the engine
drops the socket and decides.
"""

from __future__ import annotations

from typing import Any

from connector.engines.errors import EngineError, HeldBack


class WebEngineError(EngineError):
    """Base of every error the web engine raises; `code` is per class."""

    code = "web_engine_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message, code=type(self).code, details=details)


class InvalidKey(WebEngineError):
    code = "web_invalid_key"


class HandshakeError(WebEngineError):
    code = "web_handshake_failed"


class CertificateError(HandshakeError):
    """The edge's certificate chain failed verification: wrong root, serials, validity or key."""

    code = "web_certificate_invalid"


class FrameError(WebEngineError):
    code = "web_frame_invalid"


class ConnectionLost(WebEngineError):
    """The WebSocket is gone (closed, timed out, refused): reconnecting may help."""

    code = "web_connection_lost"
    is_transient = True


class ProtocolError(WebEngineError):
    """The edge sent a decodable stanza that does not follow the protocol (the connection is dropped)."""

    code = "web_protocol_violation"


class PairingError(WebEngineError):
    """A pair-success stanza did not check out; `details` holds the (code, text) sent back to the edge."""

    code = "web_pairing_failed"


class CredentialsError(WebEngineError):
    """The stored credentials cannot be read: a bug or corruption, and only a new pairing fixes it."""

    code = "web_credentials_invalid"


class IqError(WebEngineError):
    """The edge refused a query: `details` is {"code": int | None, "text": str}."""

    code = "web_iq_error"


class RateLimited(IqError, HeldBack):
    """WhatsApp answered this kind of query with 429 `rate-overlimit`, or wagate holds the kind back after
    such an answer (throttle.py). Not transient: asking again soon is what the server refuses; `details`
    has code, text, request (the kind) and retry_in (seconds until the hold ends: HeldBack.retry_in)."""

    code = "rate_limited"


class IqTimeout(WebEngineError):
    """No answer to a query in time: the link may be dead (reconnecting may help)."""

    code = "web_iq_timeout"
    is_transient = True


class AckTimeout(WebEngineError):
    """A message went out but its `<ack>` did not come back in time: it may or may not have been routed."""

    code = "web_ack_timeout"
    is_transient = True


class SendFailed(WebEngineError):
    """The edge acknowledged a message with a server-side error (5xx): sending it again may work."""

    code = "web_send_failed"
    is_transient = True
