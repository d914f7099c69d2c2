"""Claims on message rows: which connector sends a message, under which session fence, on which try.

A claim is one transaction on the message row (wagate/store/messages.py) plus a check that the session
lease is still ours at our fence and not marked suspended (its tenant is: services/operator.py):

    queued  ──claim──►  sending   attempts + 1, claimed_by, claim_fence (session lease fence),
                                  claim_command (the command's id), claimed_at
It is a compare-and-set on (status, attempts) as read, so it races safely with `cancel` (queued →
cancelled: whichever commits first wins, the other's condition fails) and with the events consumer.

Who may claim a row found in `sending`:
    claim_fence < our fence                    its connector lost the session (crashed, or moved): take
                                               it over and re-send with the same WhatsApp id
    same command, claim_fence == our fence     our own next try after a transient failure
    anyone else                                a duplicate command: the one that claimed it finishes it
Rows already sent, delivered, read, failed or cancelled are never claimed: their command is a duplicate.
A transient failure is written back to the claimed row (`failures` + 1, `last_error`), so the count of
tries survives a crash; claims without an outcome (a connector killed mid-send) count in `attempts` only.

    sending ──put back──► queued   a try WhatsApp throttled (connector/held_back_sends.py waits out the hold):
                                   `throttled` + 1 and `last_error`, under our claim. The message is
                                   waiting, not being sent: the API shows it queued and it may be
                                   cancelled meanwhile; the next try claims it again. Tries put back
                                   ended with an outcome, so they do not count as crashed claims.
"""

from __future__ import annotations

import enum
from typing import Any

from connector.leases import Lease
from wagate.conditions import Attr, Condition
from wagate.domain.messages import MessageStatus
from wagate.ports import Item, Table
from wagate.store import keys
from wagate.store.messages import MessageRepository


@enum.unique
class Verdict(enum.StrEnum):
    CLAIMABLE = "claimable"
    DUPLICATE = "duplicate"  # done, cancelled, or someone else's claim: drop the command
    MISSING = "missing"  # no such message: drop the command


def assess(row: Item | None, command_id: str, fence: int | None) -> Verdict:
    """What a send command may do with this row. With `fence` None (not connected yet) every `sending`
    row that might become ours counts as claimable; the claim itself decides."""
    if row is None:
        return Verdict.MISSING
    status = row.get("status")
    if status == MessageStatus.QUEUED:
        return Verdict.CLAIMABLE
    if status != MessageStatus.SENDING:
        return Verdict.DUPLICATE
    claimed_fence = int(row.get("claim_fence", 0))
    if fence is None:
        return Verdict.CLAIMABLE
    if claimed_fence < fence or (row.get("claim_command") == command_id and claimed_fence == fence):
        return Verdict.CLAIMABLE
    return Verdict.DUPLICATE


def _as_read(row: Item) -> Condition:
    attempts = Attr("attempts").eq(row["attempts"]) if "attempts" in row else Attr("attempts").not_exists()
    return Attr("status").eq(row["status"]) & attempts


def claim(table: Table, row: Item, *, lease: Lease, owner: str, command_id: str, now: float) -> int:
    """Claim a row judged CLAIMABLE at `lease.fence`; returns the new attempt number.
    Raises ConflictError (the row changed since it was read, the lease is no longer ours, or its tenant is
    suspended: `suspended` tells which)."""
    changes: dict[str, Any] = {
        "status": MessageStatus.SENDING.value,
        "claimed_by": owner,
        "claim_fence": lease.fence,
        "claim_command": command_id,
        "claimed_at": now,
        "updated_at": now,
    }
    update = MessageRepository(table).change(
        str(row["tenant_id"]), str(row["id"]), set=changes, add={"attempts": 1}, condition=_as_read(row)
    )
    table.transact_write([update, lease.send_check()])
    return int(row.get("attempts", 0)) + 1


def record_failure(
    table: Table,
    tenant_id: str,
    message_id: str,
    *,
    fence: int,
    command_id: str,
    error: dict[str, Any],
    now: float,
) -> int:
    """A transient failure of our claimed try; returns how many tries have failed so far.
    Raises ConflictError when the row is no longer our claim."""
    item = MessageRepository(table).update(
        tenant_id,
        message_id,
        set={"last_error": error, "updated_at": now},
        add={"failures": 1},
        condition=_ours(fence, command_id),
    )
    return int(item.get("failures", 0))


def _ours(fence: int, command_id: str) -> Condition:
    return (
        Attr("status").eq(MessageStatus.SENDING.value)
        & Attr("claim_fence").eq(fence)
        & Attr("claim_command").eq(command_id)
    )


def put_back(
    table: Table,
    tenant_id: str,
    message_id: str,
    *,
    fence: int,
    command_id: str,
    error: dict[str, Any],
    now: float,
) -> None:
    """Our claimed try was throttled: the row is queued again until the next try claims it.
    Raises ConflictError when the row is no longer our claim."""
    MessageRepository(table).update(
        tenant_id,
        message_id,
        set={"status": MessageStatus.QUEUED.value, "last_error": error, "updated_at": now},
        add={"throttled": 1},
        condition=_ours(fence, command_id),
    )


def bounded_claims(row: Item, attempts: int) -> int:
    """The claims of this row (`attempts`, counting the one just made) that count against the bound on
    claims that never finish: all but the tries put back after WhatsApp throttled them."""
    return attempts - int(row.get("throttled", 0))


def suspended(table: Table, tenant_id: str, session_id: str) -> bool:
    """Whether the session's lease row carries its tenant's suspension (read only after a refused claim)."""
    row = table.get(*keys.session_lease(tenant_id, session_id))
    return row is not None and row.get("suspended_at") is not None


def read(table: Table, tenant_id: str, message_id: str) -> Item | None:
    return MessageRepository(table).row(tenant_id, message_id)
