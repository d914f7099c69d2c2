"""Broadcasts: accept up to 10,000 recipients at once, then turn them into ordinary messages only as fast
as the number sends them, so pausing or cancelling takes effect at once and pacing stays in charge.

    create():  validate every recipient (422 naming them), store them in parts, queue the first step
    step():    (the dispatcher, from the delay queue) accept messages while fewer than `window` of the
               broadcast's are queued; then come back later (`poll_seconds`), or at once if it could do
               more; the last step completes the broadcast and drops its parts
    pause():   no more steps; its still-queued messages are taken back (cancelled, to be queued again)
    resume():  steps again, the taken-back recipients first
A suspension of the tenant pauses its running broadcasts (status_reason `tenant_suspended`) and its
resume resumes them (pause_all / resume_all, from services/operator.py).
    cancel():  no more steps; its still-queued messages are cancelled

Each recipient's message is accepted with an idempotency key of (broadcast, position), so a step retried
after a crash, or two copies of one step, never send twice; the broadcast row's `next_index` only moves
forward under a condition. The window follows what the number really sends: it is twice the messages
settled since the previous step, within [window_min, window_max].
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from typing import Any

from wagate.conditions import Attr
from wagate.domain.broadcasts import (
    FINAL,
    Broadcast,
    BroadcastRequest,
    BroadcastStatus,
    Recipient,
)
from wagate.domain.errors import ConflictError, Forbidden, InvalidInput, NotFound, WagateError
from wagate.domain.ids import new_id
from wagate.domain.templates import Part, fill, parse, placeholders
from wagate.domain.tenants import SUSPENDED_CODE
from wagate.observability import logger
from wagate.ports import Clock, OutgoingMessage, Queues, Table
from wagate.services.due_index import DISPATCH_QUEUE, MAX_DELAY_SECONDS
from wagate.services.messages import MessageService, SendRequest, TemplateRef, normalise_recipient
from wagate.services.pools import PoolService
from wagate.services.sessions import SessionService
from wagate.store.broadcasts import PART_SIZE, BroadcastRepository, to_broadcast

MAX_REPORTED = 20  # bad recipients named in one 422
MAX_REJECTIONS = 100  # refusals kept on the row
IN_FLIGHT_KEPT = 1_000  # (position, message id) of the latest messages: what pause and cancel take back
STOPS_BROADCAST = frozenset({"session_not_connected", "no_connected_number", SUSPENDED_CODE})


class BroadcastService:
    def __init__(
        self,
        table: Table,
        queues: Queues,
        clock: Clock,
        messages: MessageService,
        sessions: SessionService,
        pools: PoolService,
        *,
        window_min: int = 20,
        window_max: int = 500,
        per_step: int = 100,
        poll_seconds: int = 10,
    ) -> None:
        self.rows = BroadcastRepository(table)
        self.queues = queues
        self.clock = clock
        self.messages = messages
        self.sessions = sessions
        self.pools = pools
        self.window_min, self.window_max = window_min, window_max
        self.per_step, self.poll_seconds = per_step, poll_seconds

    # ---- the API's side ------------------------------------------------------------------------------

    def create(self, tenant_id: str, request: BroadcastRequest) -> Broadcast:
        """Stores the broadcast and queues its first step. Raises InvalidInput naming bad recipients,
        NotFound for an unknown session or pool; nothing is stored then."""
        if request.session_id is not None:
            self.sessions.get(tenant_id, request.session_id)
        else:
            assert request.pool is not None
            self.pools.get(tenant_id, request.pool)
        parts = parse(request.text, field="text") if request.text is not None else ()
        needed = placeholders(parts)
        unique: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        problems: list[dict[str, Any]] = []
        duplicates: list[dict[str, Any]] = []
        for index, recipient in enumerate(request.recipients):
            try:
                to = _phone(recipient)
            except InvalidInput as exc:
                problems.append({"index": index, "field": f"recipients[{index}].to", "message": exc.message})
                continue
            missing = [
                name for name in needed if name not in recipient.variables and name not in request.variables
            ]
            if missing:
                problems.append(
                    {
                        "index": index,
                        "field": f"recipients[{index}].variables",
                        "message": f"no value for {', '.join('{' + m + '}' for m in missing)}",
                    }
                )
                continue
            if to in seen:
                duplicates.append(
                    {
                        "index": index,
                        "to": to,
                        "code": "duplicate_recipient",
                        "message": f"as recipient {seen[to]}",
                    }
                )
                continue
            seen[to] = index
            unique.append({"i": index, "to": to, "v": recipient.variables, "m": recipient.metadata})
        if problems:
            raise InvalidInput(
                f"{len(problems)} of {len(request.recipients)} recipients cannot be sent to; "
                f"the first: recipient {problems[0]['index']}: {problems[0]['message']}",
                code="invalid_recipients",
                details={"recipients": problems[:MAX_REPORTED], "count": len(problems)},
            )
        now = self.clock.now()
        broadcast_id = new_id("bc", now)
        row: dict[str, Any] = {
            "id": broadcast_id,
            "tenant_id": tenant_id,
            "name": request.name,
            "session_id": request.session_id,
            "pool": request.pool,
            "kind": "text" if request.text is not None else "template",
            "text": request.text,
            "template": request.template.model_dump(exclude_none=True) if request.template else None,
            "variables": request.variables,
            "metadata": request.metadata,
            "status": BroadcastStatus.RUNNING.value,
            "n_recipients": len(request.recipients),
            "n_unique": len(unique),
            "n_rejected": len(duplicates),
            "rejections": duplicates[:MAX_REJECTIONS],
            "next_index": 0,
            "generation": 0,
            "window": self.window_min,
            "created_at": now,
            "updated_at": now,
        }
        chunks = [unique[start : start + PART_SIZE] for start in range(0, len(unique), PART_SIZE)]
        self.rows.create({k: v for k, v in row.items() if v is not None}, chunks)
        self._schedule_step(tenant_id, broadcast_id, 0)
        logger.info("broadcast accepted", extra={"broadcast_id": broadcast_id, "recipients": len(unique)})
        return self.get(tenant_id, broadcast_id)

    def get(self, tenant_id: str, broadcast_id: str) -> Broadcast:
        row = self.rows.row(tenant_id, broadcast_id)
        if row is None or "id" not in row:
            raise NotFound(f"broadcast {broadcast_id} does not exist")
        return to_broadcast(row)

    def list(
        self, tenant_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Broadcast], str | None]:
        return self.rows.page(tenant_id, limit=limit, cursor=cursor)

    def pause(self, tenant_id: str, broadcast_id: str, *, reason: str = "requested") -> Broadcast:
        """No new messages; its queued ones are taken back and go out on resume. 409 unless running."""
        row = self._move(tenant_id, broadcast_id, BroadcastStatus.RUNNING, BroadcastStatus.PAUSED, reason)
        taken = self._withdraw(tenant_id, row, taken_back=True)
        if taken:
            redo = sorted({*row.get("redo", []), *taken})
            self.rows.update(tenant_id, broadcast_id, set={"redo": redo, "in_flight": []})
        return self.get(tenant_id, broadcast_id)

    def resume(self, tenant_id: str, broadcast_id: str) -> Broadcast:
        """Steps again from where it stopped, the taken-back recipients first. 409 unless paused."""
        self._move(tenant_id, broadcast_id, BroadcastStatus.PAUSED, BroadcastStatus.RUNNING, None)
        self._schedule_step(tenant_id, broadcast_id, 0)
        return self.get(tenant_id, broadcast_id)

    def cancel(self, tenant_id: str, broadcast_id: str) -> Broadcast:
        """Stops it for good and cancels its queued messages. 409 once completed or cancelled."""
        row = self.rows.row(tenant_id, broadcast_id)
        if row is None or "id" not in row:
            raise NotFound(f"broadcast {broadcast_id} does not exist")
        status = BroadcastStatus(row["status"])
        if status in FINAL:
            raise ConflictError(
                f"broadcast {broadcast_id} is {status.value}: there is nothing left to cancel",
                code="broadcast_not_cancellable",
                details={"status": status.value},
            )
        row = self._move(tenant_id, broadcast_id, status, BroadcastStatus.CANCELLED, "requested")
        self._withdraw(tenant_id, row, taken_back=False)
        self.rows.drop_parts(row)
        return self.get(tenant_id, broadcast_id)

    def pause_all(self, tenant_id: str, reason: str) -> builtins.list[str]:
        """Pauses every running broadcast of the tenant for `reason` (a suspension); their ids."""
        paused = []
        for broadcast in self._all(tenant_id, BroadcastStatus.RUNNING):
            try:
                self.pause(tenant_id, broadcast.id, reason=reason)
            except (ConflictError, NotFound):
                continue  # finished, paused or cancelled meanwhile
            paused.append(broadcast.id)
        return paused

    def resume_all(self, tenant_id: str, reason: str) -> builtins.list[str]:
        """Resumes the tenant's broadcasts paused for `reason` (not those it paused itself); their ids."""
        resumed = []
        for broadcast in self._all(tenant_id, BroadcastStatus.PAUSED):
            if broadcast.status_reason != reason:
                continue
            try:
                self.resume(tenant_id, broadcast.id)
            except (ConflictError, NotFound):
                continue
            resumed.append(broadcast.id)
        return resumed

    def _all(self, tenant_id: str, status: BroadcastStatus) -> builtins.list[Broadcast]:
        found: list[Broadcast] = []
        cursor: str | None = None
        while True:
            page, cursor = self.rows.page(tenant_id, limit=100, cursor=cursor)
            found.extend(b for b in page if b.status == status)
            if cursor is None:
                return found

    # ---- the dispatcher's side ----------------------------------------------------------------------

    def step(self, tenant_id: str, broadcast_id: str) -> int:
        """Turns the next recipients into messages, as many as the window allows; schedules the next step.
        Returns how many messages it accepted. Raises only on infrastructure errors (the queue retries)."""
        row = self.rows.row(tenant_id, broadcast_id)
        if row is None or row.get("status") != BroadcastStatus.RUNNING:
            return 0
        window = self._window(row)
        queued = int(row.get("n_accepted") or 0) - int(row.get("n_settled") or 0)
        room = min(window - queued, self.per_step)
        start, unique, redo = int(row["next_index"]), int(row["n_unique"]), list(row.get("redo") or [])
        if room <= 0:
            self._remember_window(tenant_id, row, window)
            self._schedule_step(tenant_id, broadcast_id, self.poll_seconds)
            return 0
        todo = [(position, True) for position in redo[:room]]
        first_time = list(range(start, min(unique, start + room - len(todo))))
        todo += [(position, False) for position in first_time]
        parts: dict[int, list[dict[str, Any]]] = {}
        text = parse(row["text"], field="text") if row["kind"] == "text" else ()
        in_flight: list[list[Any]] = list(row.get("in_flight") or [])
        rejections: list[dict[str, Any]] = []
        stop: WagateError | None = None
        done = 0
        for position, again in todo:
            number = position // PART_SIZE
            if number not in parts:
                parts[number] = self.rows.part(tenant_id, broadcast_id, number)
            recipient = parts[number][position % PART_SIZE]
            if recipient.get("erased"):
                rejections.append({**_ERASED, "index": recipient["i"]})
                done += 1
                continue
            key = f"broadcast:{broadcast_id}:{position}" + (f":again{row['generation']}" if again else "")
            try:
                message = self.messages.accept(
                    tenant_id, self._request(row, text, recipient), request_key=key, broadcast_id=broadcast_id
                )
            except ConflictError as exc:
                if exc.code in STOPS_BROADCAST:
                    stop = exc
                    break
                rejections.append(_rejection(recipient, exc))
            except Forbidden as exc:  # its tenant was suspended meanwhile: paused, resumed with it
                if exc.code in STOPS_BROADCAST:
                    stop = exc
                    break
                rejections.append(_rejection(recipient, exc))
            except (InvalidInput, NotFound) as exc:
                rejections.append(_rejection(recipient, exc))
            else:
                in_flight.append([position, message.id])
            done += 1
        redone = sum(1 for _, again in todo[:done] if again)
        fresh = done - redone
        changes: dict[str, Any] = {
            "next_index": start + fresh,
            "redo": redo[redone:],
            "in_flight": in_flight[-IN_FLIGHT_KEPT:],
            "window": window,
            "settled_at_last_step": int(row.get("n_settled") or 0),
            "updated_at": self.clock.now(),
        }
        if rejections:
            changes["rejections"] = [*(row.get("rejections") or []), *rejections][:MAX_REJECTIONS]
        finished = stop is None and start + fresh >= unique and not redo[redone:]
        if finished:
            changes.update(status=BroadcastStatus.COMPLETED.value, completed_at=self.clock.now())
        try:
            self.rows.update(
                tenant_id,
                broadcast_id,
                set=changes,
                add={"n_rejected": len(rejections)},
                condition=Attr("status").eq(BroadcastStatus.RUNNING.value)
                & Attr("next_index").eq(start)
                & Attr("generation").eq(row["generation"]),
            )
        except ConflictError:
            # Paused, cancelled or stepped meanwhile: whoever moved it carries on from there. Messages
            # this step accepted keep their keys, so a later step finds them rather than sending twice.
            return done
        if stop is not None:
            self._pause_for(tenant_id, broadcast_id, stop)
        elif finished:
            self.rows.drop_parts(row)
            logger.info("broadcast completed", extra={"broadcast_id": broadcast_id})
        else:
            more = start + fresh < unique and done == self.per_step
            self._schedule_step(tenant_id, broadcast_id, 0 if more else self.poll_seconds)
        return done - len(rejections)

    # ---- helpers --------------------------------------------------------------------------------------

    def _request(self, row: dict[str, Any], text: Sequence[Part], recipient: dict[str, Any]) -> SendRequest:
        """One recipient's send; `text`: the broadcast's text, parsed once per step."""
        variables = {**(row.get("variables") or {}), **(recipient.get("v") or {})}
        metadata = {**(row.get("metadata") or {}), **(recipient.get("m") or {}), "broadcast_id": row["id"]}
        target: dict[str, Any] = (
            {"session_id": row["session_id"]} if row.get("session_id") else {"pool": row["pool"]}
        )
        if row["kind"] == "text":
            body = fill(text, variables)
            return SendRequest(to=recipient["to"], text=body, metadata=metadata, **target)
        template = dict(row["template"])
        template["variables"] = {**template.get("variables", {}), **variables}
        return SendRequest(
            to=recipient["to"], template=TemplateRef.model_validate(template), metadata=metadata, **target
        )

    def _window(self, row: dict[str, Any]) -> int:
        """Twice what settled since the previous step: as many as the number gets through meanwhile."""
        settled = int(row.get("n_settled") or 0) - int(row.get("settled_at_last_step") or 0)
        return max(self.window_min, min(self.window_max, 2 * settled))

    def _remember_window(self, tenant_id: str, row: dict[str, Any], window: int) -> None:
        try:
            self.rows.update(
                tenant_id,
                row["id"],
                set={"window": window, "settled_at_last_step": int(row.get("n_settled") or 0)},
                condition=Attr("status").eq(BroadcastStatus.RUNNING.value)
                & Attr("next_index").eq(row["next_index"]),
            )
        except ConflictError:
            pass  # moved on meanwhile: its own step keeps count

    def _move(
        self,
        tenant_id: str,
        broadcast_id: str,
        old: BroadcastStatus,
        new: BroadcastStatus,
        reason: str | None,
    ) -> dict[str, Any]:
        changes: dict[str, Any] = {"status": new.value, "updated_at": self.clock.now()}
        add = {"generation": 1} if new is BroadcastStatus.RUNNING else {}
        remove = ["status_reason"] if reason is None else []
        if reason is not None:
            changes["status_reason"] = reason
        try:
            return self.rows.update(
                tenant_id,
                broadcast_id,
                set=changes,
                add=add,
                remove=remove,
                condition=Attr("status").eq(old.value),
            )
        except ConflictError as exc:
            row = self.rows.row(tenant_id, broadcast_id)
            if row is None or "id" not in row:
                raise NotFound(f"broadcast {broadcast_id} does not exist") from exc
            raise ConflictError(
                f"broadcast {broadcast_id} is {row['status']}, not {old.value}",
                code="broadcast_state",
                details={"status": row["status"]},
            ) from exc

    def _withdraw(self, tenant_id: str, row: dict[str, Any], *, taken_back: bool) -> builtins.list[int]:
        """Cancels the broadcast's messages still queued; the positions of those it cancelled."""
        taken: list[int] = []
        for position, message_id in row.get("in_flight") or []:
            try:
                self.messages.cancel(tenant_id, message_id, taken_back=taken_back)
            except (ConflictError, NotFound):
                continue  # claimed by the connector already (or gone): it goes out or went
            taken.append(int(position))
        return taken

    def _pause_for(self, tenant_id: str, broadcast_id: str, error: WagateError) -> None:
        logger.warning("broadcast paused", extra={"broadcast_id": broadcast_id, "reason": error.code})
        try:
            self.pause(tenant_id, broadcast_id, reason=error.code)
        except ConflictError:
            pass

    def _schedule_step(self, tenant_id: str, broadcast_id: str, delay: int) -> None:
        body = json.dumps({"broadcast_id": broadcast_id, "tenant_id": tenant_id})
        message = OutgoingMessage(body=body, delay_seconds=min(MAX_DELAY_SECONDS, delay))
        self.queues.get(DISPATCH_QUEUE).send_batch([message])


_ERASED = {"to": "", "code": "erased", "message": "erased with its contact (DELETE /v1/contacts)"}


def is_step(body: dict[str, Any]) -> bool:
    """A delay-queue message that is a broadcast's step (the others are scheduled messages)."""
    return "broadcast_id" in body


def _phone(recipient: Recipient) -> str:
    to = normalise_recipient(recipient.to)
    if "@" in to:
        raise InvalidInput("a broadcast goes to phone numbers, not groups", details={"field": "to"})
    return to


def _rejection(recipient: dict[str, Any], error: WagateError) -> dict[str, Any]:
    return {"index": recipient["i"], "to": recipient["to"], "code": error.code, "message": error.message}
