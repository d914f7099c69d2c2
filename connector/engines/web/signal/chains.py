"""Receiving along a symmetric-key chain: the key for a message number, and the keys it skips (bounded).

Shared by the Double Ratchet's receiving chains and by sender keys, which step their chains the same way
(Double Ratchet specification section 5.2, KDF_CK). Section 4 of that specification advises a limit on
how many keys one message may skip: beyond MAX_SKIP the message is refused (TooFarAhead) before anything
is derived or stored.
"""

from __future__ import annotations

from typing import NamedTuple

from connector.engines.web.signal.errors import DuplicateMessage, TooFarAhead
from connector.engines.web.signal.symmetric import chain_step

MAX_SKIP = 2000


class Advance(NamedTuple):
    """How a chain moves on once the message is verified: its new key and the keys it skipped."""

    chain_key: bytes
    skipped: dict[int, bytes]


def seed_for(
    chain_key: bytes, next_index: int, stored: dict[int, bytes], index: int
) -> tuple[bytes, Advance | None]:
    """The message key seed for message `index` of a chain that derives `next_index` next.

    Returns the seed and the chain's advance, or None when the seed is a stored skipped key (which the
    caller then deletes). Nothing is changed here. Raises DuplicateMessage, TooFarAhead.
    """
    if index < next_index:
        seed = stored.get(index)
        if seed is None:
            raise DuplicateMessage(f"message {index} was already decrypted (or its key expired)")
        return seed, None
    if index - next_index > MAX_SKIP:
        raise TooFarAhead(f"message {index} skips {index - next_index} keys of its chain (max {MAX_SKIP})")
    skipped: dict[int, bytes] = {}
    for skipped_index in range(next_index, index):
        skipped[skipped_index], chain_key = chain_step(chain_key)
    seed, chain_key = chain_step(chain_key)
    return seed, Advance(chain_key, skipped)


def drop_oldest(stored: dict[int, bytes], count: int) -> int:
    """Drop up to `count` of the oldest stored keys (dicts keep insertion order); returns how many went."""
    doomed = list(stored)[: max(count, 0)]
    for index in doomed:
        del stored[index]
    return len(doomed)
