"""Rules every Queue adapter applies the same way: SQS's limits, and what SQS would refuse, checked first.

The SQLite adapter must enforce them itself; the SQS adapter checks them before calling SQS so that both
refuse the same things and a batch is all or nothing (SQS alone would send the valid entries of a batch).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from wagate.domain.errors import InvalidInput, ItemTooLarge
from wagate.ports import OutgoingMessage

MAX_BATCH = 10
MAX_RECEIVE = 10
MAX_WAIT_SECONDS = 20
MAX_DELAY_SECONDS = 900
MAX_VISIBILITY_TIMEOUT = 43_200
# SQS now takes 1 MiB, but older queues (and the SQLite adapter) stop at 256 KiB: one limit for both.
MAX_BODY_BYTES = 256 * 1024

# SQS accepts only these characters in a body; refusing the rest here keeps both adapters identical.
# Kept as a pattern for `re`'s cache: compiling this range takes ~3 ms, better paid by the first send
# than by every cold start of a function that only reads the limits above.
_BODY_FORBIDDEN = "[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
_TOKEN = re.compile(r"[!-~]{1,128}")


def validate_batch(messages: Sequence[OutgoingMessage], *, fifo: bool) -> None:
    """Checks every message before any is sent. Raises InvalidInput, ItemTooLarge."""
    if len(messages) > MAX_BATCH:
        raise InvalidInput(f"a batch holds at most {MAX_BATCH} messages, not {len(messages)}")
    for message in messages:
        validate_outgoing(message, fifo=fifo)


def validate_outgoing(message: OutgoingMessage, *, fifo: bool) -> None:
    if not isinstance(message.body, str) or not message.body:
        raise InvalidInput("a message body must be a non-empty string")
    if re.search(_BODY_FORBIDDEN, message.body):
        raise InvalidInput("the message body contains characters SQS does not accept")
    size = len(message.body.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise ItemTooLarge(f"message body is {size} bytes; the limit is {MAX_BODY_BYTES}")
    if not 0 <= message.delay_seconds <= MAX_DELAY_SECONDS:
        raise InvalidInput(f"delay_seconds must be between 0 and {MAX_DELAY_SECONDS}")
    for label, value in (("group_id", message.group_id), ("dedup_id", message.dedup_id)):
        if value is not None and not _TOKEN.fullmatch(value):
            raise InvalidInput(f"{label} must be 1-128 printable ASCII characters")
    if fifo:
        if message.group_id is None:
            raise InvalidInput("a FIFO queue needs a group_id on every message")
        if message.delay_seconds:
            raise InvalidInput("a FIFO queue does not take a per-message delay")


def validate_receive(max_messages: int, wait_seconds: float, visibility_timeout: int | None) -> None:
    if not 1 <= max_messages <= MAX_RECEIVE:
        raise InvalidInput(f"max_messages must be between 1 and {MAX_RECEIVE}")
    if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
        raise InvalidInput(f"wait_seconds must be between 0 and {MAX_WAIT_SECONDS}")
    if visibility_timeout is not None:
        validate_visibility(visibility_timeout)


def validate_visibility(timeout: int) -> None:
    if not 0 <= timeout <= MAX_VISIBILITY_TIMEOUT:
        raise InvalidInput(f"a visibility timeout must be between 0 and {MAX_VISIBILITY_TIMEOUT} seconds")
