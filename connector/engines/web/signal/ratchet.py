"""The Double Ratchet on one session (Double Ratchet specification, rev. 1, sections 3.4-3.5 and 5.2).

`encrypt` advances the sending chain. `decrypt` works out everything first — a DH ratchet step when the
message carries a new ratchet key, the keys it skips, the MAC, the plaintext — and changes the state only
once all of that succeeded, so a forged or broken message leaves the session exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.engines.web.crypto import curve
from connector.engines.web.errors import InvalidKey
from connector.engines.web.signal.chains import MAX_SKIP, drop_oldest, seed_for
from connector.engines.web.signal.errors import InvalidMessage, TooFarAhead
from connector.engines.web.signal.messages import SignalMessage
from connector.engines.web.signal.session import ReceivingChain, SendingChain, SessionState
from connector.engines.web.signal.symmetric import (
    DecryptFailed,
    chain_step,
    decrypt_cbc,
    derive_root,
    encrypt_cbc,
    message_keys,
)

_MAX_COUNTER = 0xFFFFFFFF  # counters travel as uint32


def encrypt(state: SessionState, plaintext: bytes) -> SignalMessage:
    """Encrypt with the next key of the sending chain (spec 3.4 RatchetEncrypt)."""
    sending = state.sending
    if sending.index > _MAX_COUNTER:
        raise InvalidMessage("sending chain exhausted: the session must be renewed")
    seed, next_chain_key = chain_step(sending.chain_key)
    keys = message_keys(seed)
    message = SignalMessage.build(
        ratchet_key=sending.ratchet.public,
        counter=sending.index,
        previous_counter=state.previous_counter,
        ciphertext=encrypt_cbc(keys.cipher_key, keys.iv, plaintext),
        mac_key=keys.mac_key,
        sender_identity=state.local_identity,
        receiver_identity=state.remote_identity,
    )
    sending.chain_key = next_chain_key
    sending.index += 1
    return message


@dataclass(slots=True)
class _Step:
    """A DH ratchet step (spec 3.5 DHRatchet), computed but not yet applied."""

    root_key: bytes
    receiving: ReceivingChain
    sending: SendingChain


def has_chain(state: SessionState, message: SignalMessage) -> bool:
    """Whether `message` belongs to a chain this session already receives on (no DH step needed)."""
    return state.receiving_chain(message.ratchet_key) is not None


def decrypt(state: SessionState, message: SignalMessage) -> bytes:
    """Decrypt and, on success only, advance the state (spec 3.5 RatchetDecrypt).

    Raises InvalidMessage (bad MAC, padding or keys), DuplicateMessage (counter already used), TooFarAhead.
    """
    chain = state.receiving_chain(message.ratchet_key)
    step: _Step | None = None
    if chain is None:
        if message.counter > MAX_SKIP:  # refuse before paying for the DH step
            raise TooFarAhead(f"message {message.counter} of a new chain skips more than {MAX_SKIP} keys")
        step = _ratchet_step(state, message.ratchet_key)
        chain = step.receiving
    seed, advance = seed_for(chain.chain_key, chain.index, chain.skipped, message.counter)
    keys = message_keys(seed)
    if not message.verify_mac(keys.mac_key, state.remote_identity, state.local_identity):
        raise InvalidMessage("bad MAC")
    try:
        plaintext = decrypt_cbc(keys.cipher_key, keys.iv, message.ciphertext)
    except DecryptFailed as exc:
        raise InvalidMessage(str(exc)) from exc
    # Everything checked: apply.
    if step is not None:
        state.root_key = step.root_key
        state.previous_counter = state.sending.index  # PN = Ns (spec 3.5)
        state.sending = step.sending
        state.add_receiving_chain(step.receiving)
    if advance is None:
        del chain.skipped[message.counter]
    else:
        chain.skipped.update(advance.skipped)
        drop_oldest(chain.skipped, len(chain.skipped) - MAX_SKIP)
        chain.chain_key = advance.chain_key
        chain.index = message.counter + 1
    state.pending = None  # the peer has the session: stop sending PreKeySignalMessages
    return plaintext


def _ratchet_step(state: SessionState, their_ratchet_key: bytes) -> _Step:
    try:
        root_key, receiving_chain_key = derive_root(
            state.root_key, curve.shared_secret(state.sending.ratchet.private, their_ratchet_key)
        )
        ours = curve.KeyPair.generate()
        dh_output = curve.shared_secret(ours.private, their_ratchet_key)
        root_key, sending_chain_key = derive_root(root_key, dh_output)
    except InvalidKey as exc:
        raise InvalidMessage(f"ratchet key: {exc.message}") from exc
    return _Step(
        root_key,
        ReceivingChain(their_ratchet_key, receiving_chain_key, 0),
        SendingChain(ours, sending_chain_key, 0),
    )
