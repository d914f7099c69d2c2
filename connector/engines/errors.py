"""What an engine's calls raise, by meaning:

EngineError                      is_transient says whether a later retry may succeed
├── NotConnected                 no live connection right now (transient)
├── SendRejected                 WhatsApp refused this message (e.g. the number is not on WhatsApp)
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


class SendRejected(EngineError):
    pass


class Unsupported(EngineError):
    pass
