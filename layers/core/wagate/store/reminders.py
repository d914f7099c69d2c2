"""Reminder plan rows: kept under the tenant, written only under a version check and a short lease.

A row holds a reminder plan (its fields: domain/reminders.py `ReminderPlan`) plus `busy_until`, the
lease of the request changing it, if any (keys and access patterns: store/keys.py).
Every write names the version it read, so a request that lost its lease (it ran too long, another took
over) fails instead of overwriting; the lease keeps two requests from working on one plan at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wagate.conditions import Attr, SortKey, item_absent
from wagate.domain.errors import ConflictError, NotFound
from wagate.domain.reminders import PlanStatus, Reminder, ReminderPlan
from wagate.observability import logger
from wagate.ports import Clock, Item, Table
from wagate.store import keys

LEASE_SECONDS = 60  # longer than any API request may run (API Gateway stops waiting at 30 s)
_PLAN_FIELDS = set(ReminderPlan.model_fields)


def to_plan(item: Item) -> ReminderPlan:
    return ReminderPlan.model_validate({k: v for k, v in item.items() if k in _PLAN_FIELDS})


class PlanStore:
    def __init__(self, table: Table, clock: Clock) -> None:
        self.table = table
        self.clock = clock

    def add(self, plan: ReminderPlan) -> None:
        """Stores a new plan, leased to the request creating it."""
        pk, sk = keys.reminder_plan(plan.tenant_id, plan.id)
        item = {
            "pk": pk,
            "sk": sk,
            **plan.model_dump(mode="json", exclude={"reminders"}),
            "reminders": _dump(plan.reminders),
            "busy_until": self.clock.now() + LEASE_SECONDS,
        }
        self.table.put(item, condition=item_absent())

    def item(self, tenant_id: str, plan_id: str) -> Item:
        item = self.table.get(*keys.reminder_plan(tenant_id, plan_id))
        if item is None:
            raise NotFound(f"reminder plan {plan_id} does not exist")
        return item

    def page(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[ReminderPlan], str | None]:
        """Newest first (plan ids are ULIDs)."""
        page = self.table.query(
            keys.tenant_partition(tenant_id),
            sk=SortKey.prefix(keys.REMINDER_PREFIX),
            forward=False,
            limit=limit,
            cursor=cursor,
        )
        return [to_plan(item) for item in page.items], page.cursor

    def claim(self, item: Item, **changes: Any) -> int:
        """Takes the plan's lease, with any changes to the plan itself; returns the version now held.
        ConflictError (409 `plan_busy`) while another request holds it."""
        now = self.clock.now()
        busy = ConflictError(
            f"reminder plan {item['id']} is being changed by another request; retry in a few seconds",
            code="plan_busy",
        )
        if float(item.get("busy_until") or 0) > now:
            raise busy
        version = int(item["version"])
        try:
            self.table.update(
                *keys.reminder_plan(str(item["tenant_id"]), str(item["id"])),
                set={**changes, "busy_until": now + LEASE_SECONDS, "version": version + 1, "updated_at": now},
                condition=Attr("version").eq(version),
            )
        except ConflictError as exc:
            raise busy from exc
        return version + 1

    def save(
        self,
        plan: ReminderPlan,
        version: int,
        *,
        reminders: Sequence[Reminder],
        release: bool = False,
        status: PlanStatus | None = None,
    ) -> int:
        """Saves the reminders (and status) under the version held; returns the next one.
        ConflictError if the lease was lost meanwhile."""
        changes: dict[str, Any] = {
            "reminders": _dump(reminders),
            "version": version + 1,
            "updated_at": self.clock.now(),
        }
        if status is not None:
            changes["status"] = status.value
        try:
            self.table.update(
                *keys.reminder_plan(plan.tenant_id, plan.id),
                set=changes,
                remove=["busy_until"] if release else (),
                condition=Attr("version").eq(version),
            )
        except ConflictError as exc:
            raise ConflictError(
                f"reminder plan {plan.id} was changed by another request meanwhile; fetch it and retry",
                code="plan_busy",
            ) from exc
        return version + 1

    def release(self, plan: ReminderPlan, version: int, reminders: Sequence[Reminder]) -> None:
        """After a failed step: saves what was done and lets the next request in at once. Never raises
        (the caller is already handling an error; an unreleased lease simply expires)."""
        try:
            self.save(plan, version, release=True, reminders=reminders)
        except Exception:
            logger.exception("could not release a reminder plan", extra={"plan_id": plan.id})

    def forget(self, plan: ReminderPlan, version: int) -> None:
        self.table.delete(*keys.reminder_plan(plan.tenant_id, plan.id), condition=Attr("version").eq(version))


def _dump(reminders: Sequence[Reminder]) -> list[dict[str, Any]]:
    # message_status is read from the message when shown, never stored: it would go stale at once.
    return [r.model_dump(mode="json", exclude={"message_status"}) for r in reminders]
