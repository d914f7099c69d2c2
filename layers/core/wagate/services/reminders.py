"""Reminder plans: one event, several scheduled messages around it, moved or cancelled as one.

Rows: store/reminders.py (keys and access patterns: store/keys.py). A plan holds the event, zone,
recipient, template(s), offsets and, per reminder, its time, state and message id; a version and a short
lease guard writes.
The reminders are ordinary scheduled messages (services/messages.py, due index and all); their metadata
carries `reminder_plan_id` and `reminder_offset`, so webhooks tell the CRM which reminder is which.

Partial failure: the messages cannot be written in one transaction with the plan (MessageService writes
each one itself), so changes happen in steps, each saved as it is done.
  - Create writes the plan FIRST (`creating`), then creates each message and saves its id on the plan
    at once. If a step fails, the messages made so far are cancelled and the plan row is deleted: the
    caller gets the error and nothing is left, so a retry starts clean. If a cancel fails as well, the
    plan stays `incomplete`, listing what is left for a DELETE. If the process dies midway, the plan
    stays `creating` with the ids saved so far, for a DELETE; only the message being created at that
    instant can be unlisted, and its metadata names the plan. Cancelling alone (without writing the plan
    first) would lose track of everything already created when the process itself dies.
  - PATCH and DELETE first claim the plan (the lease, under a version condition, so two requests never
    interleave), then act on one message at a time and save each outcome. Every step aims at a target,
    so when one fails the same request sent again finishes the job instead of repeating it.
Moving the event re-renders the text: a message whose text would change (it shows the date) is replaced
(cancelled, then created anew: its id changes and the change says which it replaces); one whose text
stays the same is rescheduled in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain.errors import ConflictError, NotFound
from wagate.domain.ids import new_id
from wagate.domain.messages import MessageStatus
from wagate.domain.reminders import (
    DEFAULT_OFFSETS,
    MAX_OFFSETS,
    PlanOffset,
    PlanStatus,
    PlanTemplate,
    Reminder,
    ReminderChange,
    ReminderPlan,
    ReminderPlanChange,
    ReminderState,
    Slot,
    check_slots,
    iso_local,
    load_zone,
    parse_clock,
    parse_event_at,
    parse_offsets,
    place,
)
from wagate.observability import logger
from wagate.ports import Clock, Table
from wagate.services.messages import (
    MAX_SCHEDULE_AHEAD,
    MessageService,
    SendRequest,
    TemplateRef,
    normalise_recipient,
)
from wagate.services.reminder_texts import Send, plan_templates, render_all
from wagate.services.templates import TemplateService
from wagate.store.reminders import PlanStore, to_plan


class OffsetSpec(BaseModel):
    model_config = ConfigDict(defer_build=True)

    offset: str = Field(min_length=1, max_length=24, description="-6h, -30m, 0, @18:00, -1d@09:00, morning")
    template: TemplateRef | None = Field(None, description="Send another template at this offset")


class NewReminderPlan(BaseModel):
    model_config = ConfigDict(defer_build=True)

    session_id: str = Field(min_length=1, max_length=64, description="The session (number) to send from")
    to: str = Field(min_length=3, max_length=64, description="E.164 phone or a group id (…@g.us)")
    event_at: float | str = Field(
        description="Epoch seconds, or ISO 8601: with an offset, or without one to read it in time_zone"
    )
    time_zone: str = Field(min_length=1, max_length=64, description="IANA zone, e.g. Europe/Madrid")
    template: TemplateRef = Field(
        description="What to send. {event_date} and {event_time} (also {appointment_date}/"
        "{appointment_time}, {fecha_cita}/{hora_cita}) are filled from event_at unless given"
    )
    offsets: list[str | OffsetSpec] = Field(
        default_factory=lambda: list[str | OffsetSpec](DEFAULT_OFFSETS),
        min_length=1,
        max_length=MAX_OFFSETS,
        description="When to remind; default: morning, -6h, -1h, -30m, 0",
    )
    morning_at: str = Field("09:00", max_length=5, description="The local time 'morning' means (HH:MM)")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Copied into every message")


class MoveReminderPlan(BaseModel):
    model_config = ConfigDict(defer_build=True)

    event_at: float | str = Field(description="The new event time (same formats as at creation)")
    time_zone: str | None = Field(None, min_length=1, max_length=64, description="A new zone, if it moved")


def _ref(template: PlanTemplate) -> TemplateRef:
    return TemplateRef(name=template.name, language=template.language, variables=template.variables)


class ReminderService:
    """The use cases behind /v1/reminders, on top of MessageService (which does the sending)."""

    def __init__(self, table: Table, clock: Clock, messages: MessageService, templates: TemplateService):
        self.table = table
        self.clock = clock
        self.messages = messages
        self.templates = templates
        self.plans = PlanStore(table, clock)

    # ---- reads --------------------------------------------------------------------------------------

    def get(self, tenant_id: str, plan_id: str) -> ReminderPlan:
        """The plan, with what became of each reminder's message."""
        plan = to_plan(self.plans.item(tenant_id, plan_id))
        reminders = []
        for reminder in plan.reminders:
            status = None
            if reminder.message_id is not None:
                try:
                    status = self.messages.get(tenant_id, reminder.message_id).status
                except NotFound:
                    status = None
            reminders.append(reminder.model_copy(update={"message_status": status}))
        return plan.model_copy(update={"reminders": reminders})

    # ---- create -------------------------------------------------------------------------------------

    def create(self, tenant_id: str, new: NewReminderPlan) -> ReminderPlan:
        """Plans and schedules the reminders. Everything a caller can get wrong is checked (422/404)
        before anything is stored; past offsets are skipped, and if all are, that is a 422."""
        now = self.clock.now()
        zone = load_zone(new.time_zone)
        event = parse_event_at(new.event_at, zone)
        to = normalise_recipient(new.to)
        parse_clock(new.morning_at, field="morning_at")
        specs = [s if isinstance(s, OffsetSpec) else OffsetSpec(offset=s) for s in new.offsets]
        offsets = parse_offsets([s.offset for s in specs], morning_at=new.morning_at)
        plan_template, overrides, pieces = plan_templates(
            self.templates, tenant_id, new.template, [s.template for s in specs]
        )
        slots = place(offsets, event, now)
        sends = render_all(pieces, event, now)
        check_slots(slots, now=now, max_ahead=MAX_SCHEDULE_AHEAD)
        self.messages.sessions.get(tenant_id, new.session_id)  # an unknown session: 404, nothing stored
        plan = ReminderPlan(
            id=new_id("rem", now),
            tenant_id=tenant_id,
            session_id=new.session_id,
            to=to,
            event_at=event.timestamp(),
            event_local=iso_local(event),
            time_zone=zone.key,
            morning_at=new.morning_at,
            template=plan_template,
            offsets=[
                PlanOffset(offset=offset.text, template=override)
                for offset, override in zip(offsets, overrides, strict=True)
            ],
            reminders=[
                Reminder(
                    offset=offset.text,
                    template=piece.template.name,
                    at=slot.at.timestamp(),
                    local=iso_local(slot.at),
                    state=ReminderState.SKIPPED if slot.skip else ReminderState.PENDING,
                    reason=slot.skip,
                )
                for offset, slot, piece in zip(offsets, slots, pieces, strict=True)
            ],
            status=PlanStatus.CREATING,
            metadata=new.metadata,
            created_at=now,
            updated_at=now,
            version=1,
        )
        self.plans.add(plan)
        reminders, version = list(plan.reminders), plan.version
        try:
            for index, reminder in enumerate(reminders):
                if reminder.state == ReminderState.PENDING:
                    message = self.messages.accept(tenant_id, self._request(plan, index, reminder.at, sends))
                    reminders[index] = reminder.model_copy(
                        update={
                            "state": ReminderState.SCHEDULED,
                            "message_id": message.id,
                            "message_status": message.status,  # shown in the answer, never stored
                        }
                    )
                    version = self.plans.save(plan, version, reminders=reminders)
        except Exception:
            self._abandon(plan, version, reminders)
            raise
        version = self.plans.save(plan, version, release=True, reminders=reminders, status=PlanStatus.ACTIVE)
        return plan.model_copy(
            update={"reminders": reminders, "status": PlanStatus.ACTIVE, "version": version}
        )

    def _abandon(self, plan: ReminderPlan, version: int, reminders: list[Reminder]) -> None:
        """Undoes a failed create: cancels what was scheduled, then forgets the plan (or keeps what is
        left as `incomplete`). Never raises: the caller re-raises the error that got us here."""
        left = []
        for index, reminder in enumerate(reminders):
            if reminder.state != ReminderState.SCHEDULED or reminder.message_id is None:
                continue
            try:
                self.messages.cancel(plan.tenant_id, reminder.message_id)
                reminders[index] = reminder.model_copy(
                    update={"state": ReminderState.CANCELLED, "reason": "plan_failed"}
                )
            except Exception:
                left.append(reminder.message_id)
        try:
            if left:
                self.plans.save(
                    plan, version, release=True, reminders=reminders, status=PlanStatus.INCOMPLETE
                )
            else:
                self.plans.forget(plan, version)
        except Exception:
            logger.exception("could not clean up a failed reminder plan", extra={"plan_id": plan.id})
        if left:
            logger.error("reminder plan left incomplete", extra={"plan_id": plan.id, "messages": left})

    # ---- move and cancel ----------------------------------------------------------------------------

    def move(self, tenant_id: str, plan_id: str, change: MoveReminderPlan) -> ReminderPlanChange:
        """Moves the event: scheduled reminders follow it (re-rendered), ones now past are cancelled,
        ones that were past and no longer are get created; sent ones are left alone."""
        now = self.clock.now()
        item = self.plans.item(tenant_id, plan_id)
        plan = to_plan(item)
        if plan.status != PlanStatus.ACTIVE:
            raise ConflictError(
                f"reminder plan {plan_id} is {plan.status.value}: only active plans can be moved"
                + ("; DELETE it and create it again" if plan.status != PlanStatus.CANCELLED else ""),
                code="plan_not_active",
                details={"status": plan.status.value},
            )
        zone = load_zone(change.time_zone or plan.time_zone)
        event = parse_event_at(change.event_at, zone)
        offsets = parse_offsets([o.offset for o in plan.offsets], morning_at=plan.morning_at)
        overrides = [_ref(o.template) if o.template else None for o in plan.offsets]
        _, _, pieces = plan_templates(self.templates, tenant_id, _ref(plan.template), overrides)
        slots = place(offsets, event, now)
        sends = render_all(pieces, event, now)
        hint = f"; to stop the plan, DELETE /v1/reminders/{plan_id}"
        check_slots(slots, now=now, max_ahead=MAX_SCHEDULE_AHEAD, hint=hint)
        moved = plan.model_copy(
            update={"event_at": event.timestamp(), "event_local": iso_local(event), "time_zone": zone.key}
        )
        version = self.plans.claim(
            item, event_at=moved.event_at, event_local=moved.event_local, time_zone=moved.time_zone
        )
        reminders, changes = list(plan.reminders), list[ReminderChange]()
        try:
            for index, slot in enumerate(slots):
                version, change_made = self._move_one(moved, version, reminders, index, slot, sends)
                changes.extend(change_made)
        except Exception:
            self.plans.release(moved, version, reminders)
            raise
        self.plans.save(moved, version, release=True, reminders=reminders)
        return ReminderPlanChange(**self.get(tenant_id, plan_id).model_dump(), changes=changes)

    def _move_one(
        self,
        plan: ReminderPlan,
        version: int,
        reminders: list[Reminder],
        index: int,
        slot: Slot,
        sends: Sequence[Send],
    ) -> tuple[int, list[ReminderChange]]:
        """Brings one reminder to where the moved event wants it, saving each step on the plan."""
        tenant_id, reminder = plan.tenant_id, reminders[index]
        at, local = slot.at.timestamp(), iso_local(slot.at)
        replaces = None
        if reminder.state == ReminderState.SCHEDULED and reminder.message_id is not None:
            message = self.messages.get(tenant_id, reminder.message_id)
            if message.status != MessageStatus.SCHEDULED:
                untouched = ReminderChange.of(reminder, "untouched", reason=message.status.value)
                return version, [untouched]
            text_changes = message.text != sends[index].text
            if slot.skip is None and not text_changes:
                if message.scheduled_at == at:
                    return version, []
                if not self._try(self.messages.reschedule, tenant_id, message.id, at):
                    return version, [ReminderChange.of(reminder, "untouched", reason="sending")]
                reminders[index] = reminder.model_copy(update={"at": at, "local": local})
                return self.plans.save(plan, version, reminders=reminders), [
                    ReminderChange.of(reminders[index], "moved")
                ]
            if not self._try(self.messages.cancel, tenant_id, message.id):
                return version, [ReminderChange.of(reminder, "untouched", reason="sending")]
            reason = slot.skip or "replaced"
            reminder = reminders[index] = reminder.model_copy(
                update={"state": ReminderState.CANCELLED, "reason": reason, "at": at, "local": local}
            )
            version = self.plans.save(plan, version, reminders=reminders)
            if slot.skip is not None:
                return version, [ReminderChange.of(reminder, "cancelled", reason=slot.skip)]
            replaces = message.id
        elif reminder.state == ReminderState.SCHEDULED:
            return version, []
        if slot.skip is not None:  # still no message to send: just note where it would be now
            update: dict[str, Any] = {"at": at, "local": local}
            if reminder.state != ReminderState.CANCELLED:
                update.update(state=ReminderState.SKIPPED, reason=slot.skip)
            reminders[index] = reminder.model_copy(update=update)
            return (
                self.plans.save(plan, version, reminders=reminders)
                if reminders[index] != reminder
                else version
            ), []
        message = self.messages.accept(tenant_id, self._request(plan, index, at, sends))
        reminders[index] = reminder.model_copy(
            update={
                "state": ReminderState.SCHEDULED,
                "reason": None,
                "message_id": message.id,
                "at": at,
                "local": local,
            }
        )
        action: Literal["moved", "added"] = "moved" if replaces else "added"
        return self.plans.save(plan, version, reminders=reminders), [
            ReminderChange.of(reminders[index], action, replaces=replaces)
        ]

    def cancel(self, tenant_id: str, plan_id: str) -> ReminderPlanChange:
        """Cancels every reminder not sent yet and marks the plan cancelled. Cancelling twice is fine."""
        item = self.plans.item(tenant_id, plan_id)
        plan = to_plan(item)
        if plan.status == PlanStatus.CANCELLED:
            return ReminderPlanChange(**self.get(tenant_id, plan_id).model_dump())
        version = self.plans.claim(item)
        reminders, changes = list(plan.reminders), []
        try:
            for index, reminder in enumerate(reminders):
                if reminder.state != ReminderState.SCHEDULED or reminder.message_id is None:
                    continue
                message_id = reminder.message_id
                if not self._try(self.messages.cancel, tenant_id, message_id):
                    status = self.messages.get(tenant_id, message_id).status.value
                    changes.append(ReminderChange.of(reminder, "untouched", reason=status))
                    continue
                reminders[index] = reminder.model_copy(
                    update={"state": ReminderState.CANCELLED, "reason": "plan_cancelled"}
                )
                version = self.plans.save(plan, version, reminders=reminders)
                changes.append(ReminderChange.of(reminders[index], "cancelled", reason="plan_cancelled"))
        except Exception:
            self.plans.release(plan, version, reminders)
            raise
        self.plans.save(plan, version, release=True, reminders=reminders, status=PlanStatus.CANCELLED)
        return ReminderPlanChange(**self.get(tenant_id, plan_id).model_dump(), changes=changes)

    # ---- plumbing -----------------------------------------------------------------------------------

    @staticmethod
    def _request(plan: ReminderPlan, index: int, at: float, sends: Sequence[Send]) -> SendRequest:
        metadata = {
            **plan.metadata,
            "reminder_plan_id": plan.id,
            "reminder_offset": plan.offsets[index].offset,
        }
        return SendRequest(
            session_id=plan.session_id,
            to=plan.to,
            template=sends[index].ref,
            scheduled_at=at,
            metadata=metadata,
        )

    @staticmethod
    def _try(action: Callable[..., object], *args: Any) -> bool:
        """Runs a message change; False when the message moved on meanwhile (being sent, or sent)."""
        try:
            action(*args)
        except ConflictError:
            return False
        return True

    # Last in the class: its name would hide the builtin `list` in the annotations below it.
    def list(
        self, tenant_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[ReminderPlan], str | None]:
        """Newest first."""
        return self.plans.page(tenant_id, limit=limit, cursor=cursor)
