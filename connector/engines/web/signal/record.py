"""A peer device's session record: the current session plus archived ones, and which one a message needs.

A peer that reinstalls (or simply starts over) sends a PreKeySignalMessage with a new base key: that
becomes the current session and the old one is archived, so messages still in flight on it decrypt. We
encrypt only with the current session. A late message decrypted by an archived session does not make it
current again: the newest session is the one the peer started last (and after an identity change the
archived sessions belong to a device that no longer exists). Simultaneous initiation still works: each
side decrypts the other's messages with its archived copy.

Bounds: MAX_ARCHIVED sessions, and MAX_SKIPPED_KEYS skipped message keys across the whole record — the
oldest go first (archived sessions before the current one), so a record stays well under a DynamoDB item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from connector.engines.web.signal import ratchet
from connector.engines.web.signal.chains import drop_oldest
from connector.engines.web.signal.errors import NoSession, SignalError
from connector.engines.web.signal.messages import PreKeySignalMessage, SignalMessage
from connector.engines.web.signal.session import SessionState

MAX_ARCHIVED = 10
MAX_SKIPPED_KEYS = 2000

MessageType = Literal["pkmsg", "msg"]


@dataclass(slots=True)
class SessionRecord:
    current: SessionState | None = None
    archived: list[SessionState] = field(default_factory=list)  # newest first

    def states(self) -> list[SessionState]:
        return ([self.current] if self.current is not None else []) + self.archived

    def install(self, state: SessionState) -> None:
        """Make `state` current; the previous current session is archived."""
        if self.current is not None:
            self.archived.insert(0, self.current)
            del self.archived[MAX_ARCHIVED:]
        self.current = state

    def find_by_base_key(self, base_key: bytes) -> SessionState | None:
        for state in self.states():
            if state.base_key == base_key:
                return state
        return None

    def encrypt(self, plaintext: bytes, our_registration_id: int) -> tuple[MessageType, bytes]:
        """Encrypt with the current session: a pkmsg until the peer has answered, then a msg.

        Raises NoSession.
        """
        state = self.current
        if state is None:
            raise NoSession("no session to encrypt with")
        message = ratchet.encrypt(state, plaintext)
        pending = state.pending
        if pending is None:
            return "msg", message.serialized
        wrapped = PreKeySignalMessage.build(
            registration_id=our_registration_id,
            pre_key_id=pending.pre_key_id,
            signed_pre_key_id=pending.signed_pre_key_id,
            base_key=pending.base_key,
            identity_key=state.local_identity,
            message=message,
        )
        return "pkmsg", wrapped.serialized

    def decrypt(self, message: SignalMessage) -> tuple[bytes, SessionState]:
        """Decrypt with whichever session the message belongs to; returns the plaintext and that session.

        Sessions already receiving on the message's ratchet key are tried first (no DH needed, and a
        ratchet key belongs to one session only, so their verdict stands); the others by recency.
        Raises NoSession, InvalidMessage, DuplicateMessage, TooFarAhead.
        """
        states = self.states()
        if not states:
            raise NoSession("no session to decrypt with")
        owners = [state for state in states if ratchet.has_chain(state, message)]
        if owners:
            return ratchet.decrypt(owners[0], message), owners[0]
        errors: list[SignalError] = []
        for state in states:
            try:
                return ratchet.decrypt(state, message), state
            except SignalError as exc:
                errors.append(exc)
        raise errors[0]  # the current session's verdict (or the newest archived one's)

    def enforce_bounds(self) -> None:
        """Drop the oldest skipped message keys until the record holds at most MAX_SKIPPED_KEYS."""
        excess = sum(state.skipped_count() for state in self.states()) - MAX_SKIPPED_KEYS
        if excess <= 0:
            return
        for state in reversed(self.states()):  # oldest archived session first, the current one last
            for chain in state.receiving:  # oldest chain first
                excess -= drop_oldest(chain.skipped, excess)
