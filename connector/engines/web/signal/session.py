"""One Signal session's state: root key, the sending chain, the receiving chains and their skipped keys.

The Double Ratchet specification (section 3.2) names the variables; this is where they live:

    root_key                 RK
    sending                  DHs (our ratchet key pair), CKs and Ns
    previous_counter         PN: the length of our previous sending chain
    receiving                CKr and Nr per ratchet key of the peer: the newest chain and up to
                             MAX_RECEIVING_CHAINS - 1 older ones, so messages delayed across a ratchet step
                             still decrypt (the spec's MKSKIPPED are kept per chain, in `skipped`)
    pending                  what turns our messages into PreKeySignalMessages until the peer answers

Bounds: a message may skip at most chains.MAX_SKIP keys of its chain (more -> TooFarAhead, nothing
stored); a chain keeps at most that many skipped keys, and record.py caps them per record (oldest first).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.engines.web.crypto import curve

MAX_RECEIVING_CHAINS = 5


@dataclass(slots=True)
class ReceivingChain:
    ratchet_key: bytes  # the peer's ratchet public key for this chain (32 bytes)
    chain_key: bytes
    index: int  # the counter the chain key derives next
    skipped: dict[int, bytes] = field(default_factory=dict)  # counter -> message key seed, oldest first


@dataclass(slots=True)
class SendingChain:
    ratchet: curve.KeyPair
    chain_key: bytes
    index: int


@dataclass(frozen=True, slots=True)
class PendingPreKey:
    """The X3DH parameters our PreKeySignalMessages repeat until the responder's first message arrives."""

    pre_key_id: int | None
    signed_pre_key_id: int
    base_key: bytes


@dataclass(slots=True)
class SessionState:
    local_identity: bytes  # our identity public key (32 bytes)
    remote_identity: bytes
    remote_registration_id: int
    base_key: bytes  # the initiator's X3DH ephemeral: names the session on both sides
    root_key: bytes
    sending: SendingChain
    receiving: list[ReceivingChain] = field(default_factory=list)  # oldest first
    previous_counter: int = 0
    pending: PendingPreKey | None = None

    def receiving_chain(self, ratchet_key: bytes) -> ReceivingChain | None:
        for chain in reversed(self.receiving):
            if chain.ratchet_key == ratchet_key:
                return chain
        return None

    def add_receiving_chain(self, chain: ReceivingChain) -> None:
        self.receiving.append(chain)
        # The oldest chain goes with its skipped keys: its messages are older than MAX_RECEIVING_CHAINS
        # ratchet turns, and keeping every chain forever would grow the record without bound.
        del self.receiving[:-MAX_RECEIVING_CHAINS]

    def skipped_count(self) -> int:
        return sum(len(chain.skipped) for chain in self.receiving)
