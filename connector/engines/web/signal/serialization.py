"""Session and sender key records as deterministic, versioned JSON (the KeyStore values).

Sorted keys, no spaces, base64 bytes, `"format": 1`: the same state always gives the same bytes. Skipped
message keys are packed into one base64 string per chain (4-byte big-endian number ‖ 32-byte seed each,
oldest first) so that a full record (2000 keys) stays near 100 kB. Public halves of key pairs are stored
next to the private ones: deriving them on every load would cost an X25519 operation per message.

    session record   {"format": 1, "current": S | null, "archived": [S, ...]}            newest archived first
      S              {"base_key", "local_identity", "remote_identity", "registration_id", "root_key",
                      "sending": {"private", "public", "chain_key", "index"}, "previous_counter",
                      "receiving": [{"ratchet_key", "chain_key", "index", "skipped"}, ...],  oldest first
                      "pending": {"pre_key_id": n | null, "signed_pre_key_id", "base_key"} | null}
    sender key record {"format": 1, "states": [{"key_id", "iteration", "chain_key", "signing_public",
                      "signing_private"?, "skipped"}, ...]}                                      oldest first

Readers raise RecordCorrupt (a ValueError) for anything else; the repository then resets that record.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Mapping
from typing import Any

from connector.engines.web.crypto import curve
from connector.engines.web.signal.record import SessionRecord
from connector.engines.web.signal.sender_keys import SenderKeyRecord, SenderKeyState
from connector.engines.web.signal.session import PendingPreKey, ReceivingChain, SendingChain, SessionState

FORMAT = 1
_KEY = 32
_UINT32 = 0xFFFFFFFF
_ENTRY = struct.Struct(">I32s")


class RecordCorrupt(ValueError):
    """A stored record that cannot be read (internal: the repository resets it and reports why)."""


def _dumps(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def _loads(data: bytes) -> Mapping[str, Any]:
    try:
        record = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise RecordCorrupt(f"not JSON: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise RecordCorrupt("unknown record format")
    return record


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _bytes(value: object, size: int | None = _KEY) -> bytes:
    if not isinstance(value, str):
        raise RecordCorrupt("expected base64 text")
    try:
        data = base64.b64decode(value, validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise RecordCorrupt(f"bad base64: {exc}") from exc
    if size is not None and len(data) != size:
        raise RecordCorrupt(f"expected {size} bytes, got {len(data)}")
    return data


def _int(value: object, high: int = _UINT32) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
        raise RecordCorrupt(f"expected an integer in 0..{high}")
    return value


def _map(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RecordCorrupt("expected an object")
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise RecordCorrupt("expected a list")
    return value


def _pack(skipped: dict[int, bytes]) -> str:
    return _b64(b"".join(_ENTRY.pack(index, seed) for index, seed in skipped.items()))


def _unpack(value: object) -> dict[int, bytes]:
    data = _bytes(value, None)
    if len(data) % _ENTRY.size:
        raise RecordCorrupt("skipped keys are not whole entries")
    return {index: seed for index, seed in _ENTRY.iter_unpack(data)}


# ---- session records ---------------------------------------------------------------------------------


def session_record_to_bytes(record: SessionRecord) -> bytes:
    return _dumps(
        {
            "format": FORMAT,
            "current": None if record.current is None else _state(record.current),
            "archived": [_state(state) for state in record.archived],
        }
    )


def session_record_from_bytes(data: bytes) -> SessionRecord:
    """Raises RecordCorrupt."""
    record = _loads(data)
    try:
        current = record["current"]
        return SessionRecord(
            current=None if current is None else _read_state(current),
            archived=[_read_state(state) for state in _list(record["archived"])],
        )
    except KeyError as exc:
        raise RecordCorrupt(f"missing field {exc}") from exc


def _state(state: SessionState) -> dict[str, Any]:
    pending = state.pending
    return {
        "base_key": _b64(state.base_key),
        "local_identity": _b64(state.local_identity),
        "remote_identity": _b64(state.remote_identity),
        "registration_id": state.remote_registration_id,
        "root_key": _b64(state.root_key),
        "sending": {
            "private": _b64(state.sending.ratchet.private),
            "public": _b64(state.sending.ratchet.public),
            "chain_key": _b64(state.sending.chain_key),
            "index": state.sending.index,
        },
        "previous_counter": state.previous_counter,
        "receiving": [
            {
                "ratchet_key": _b64(chain.ratchet_key),
                "chain_key": _b64(chain.chain_key),
                "index": chain.index,
                "skipped": _pack(chain.skipped),
            }
            for chain in state.receiving
        ],
        "pending": None
        if pending is None
        else {
            "pre_key_id": pending.pre_key_id,
            "signed_pre_key_id": pending.signed_pre_key_id,
            "base_key": _b64(pending.base_key),
        },
    }


def _read_state(value: object) -> SessionState:
    state = _map(value)
    sending = _map(state["sending"])
    pending = state["pending"]
    return SessionState(
        local_identity=_bytes(state["local_identity"]),
        remote_identity=_bytes(state["remote_identity"]),
        remote_registration_id=_int(state["registration_id"]),
        base_key=_bytes(state["base_key"]),
        root_key=_bytes(state["root_key"]),
        sending=SendingChain(
            curve.KeyPair(private=_bytes(sending["private"]), public=_bytes(sending["public"])),
            _bytes(sending["chain_key"]),
            _int(sending["index"], _UINT32 + 1),
        ),
        receiving=[_read_chain(chain) for chain in _list(state["receiving"])],
        previous_counter=_int(state["previous_counter"], _UINT32 + 1),
        pending=None if pending is None else _read_pending(pending),
    )


def _read_chain(value: object) -> ReceivingChain:
    chain = _map(value)
    return ReceivingChain(
        ratchet_key=_bytes(chain["ratchet_key"]),
        chain_key=_bytes(chain["chain_key"]),
        index=_int(chain["index"], _UINT32 + 1),
        skipped=_unpack(chain["skipped"]),
    )


def _read_pending(value: object) -> PendingPreKey:
    pending = _map(value)
    pre_key_id = pending["pre_key_id"]
    return PendingPreKey(
        pre_key_id=None if pre_key_id is None else _int(pre_key_id),
        signed_pre_key_id=_int(pending["signed_pre_key_id"]),
        base_key=_bytes(pending["base_key"]),
    )


# ---- sender key records ------------------------------------------------------------------------------


def sender_key_record_to_bytes(record: SenderKeyRecord) -> bytes:
    return _dumps({"format": FORMAT, "states": [_sender_state(state) for state in record.states]})


def sender_key_record_from_bytes(data: bytes) -> SenderKeyRecord:
    """Raises RecordCorrupt."""
    record = _loads(data)
    try:
        return SenderKeyRecord([_read_sender_state(state) for state in _list(record["states"])])
    except KeyError as exc:
        raise RecordCorrupt(f"missing field {exc}") from exc


def _sender_state(state: SenderKeyState) -> dict[str, Any]:
    value: dict[str, Any] = {
        "key_id": state.key_id,
        "iteration": state.iteration,
        "chain_key": _b64(state.chain_key),
        "signing_public": _b64(state.signing_public),
        "skipped": _pack(state.skipped),
    }
    if state.signing_private is not None:
        value["signing_private"] = _b64(state.signing_private)
    return value


def _read_sender_state(value: object) -> SenderKeyState:
    state = _map(value)
    private = state.get("signing_private")
    return SenderKeyState(
        key_id=_int(state["key_id"]),
        iteration=_int(state["iteration"], _UINT32 + 1),
        chain_key=_bytes(state["chain_key"]),
        signing_public=_bytes(state["signing_public"]),
        signing_private=None if private is None else _bytes(private),
        skipped=_unpack(state["skipped"]),
    )
