"""Errors of the `web` engine: one family, so callers catch by meaning and no library error leaks out.

    EngineError (connector.engines.base)   message, code, details; is_transient
    └── WebEngineError               anything the web engine raises on purpose
        ├── InvalidKey               key material of the wrong size or shape (a bug or corrupt creds)
        ├── HandshakeError           the Noise handshake failed: bad message, bad MAC, wrong state
        │   └── CertificateError     the server's certificate chain does not check out (never retry blindly)
        ├── FrameError               a transport frame is truncated, garbled, too large or undecryptable
        └── ConnectionLost           the socket closed, timed out or never opened (is_transient)

Retryable vs permanent is a type: only ConnectionLost is transient. A FrameError or HandshakeError means
this connection's byte stream can no longer be trusted; the engine drops the socket and decides.
"""

from __future__ import annotations

from typing import Any

from connector.engines.base import EngineError


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
