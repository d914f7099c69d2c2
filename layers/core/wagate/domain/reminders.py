"""Reminder plans as data: the plan and its reminders, offsets from an event, event times in a zone.

Offsets (strings, case-insensitive):
    -6h, -30m, -1d, -1h30m, +2h     a duration before (-) or after (+) the event start, in real time:
                                    -6h is six hours before even when the clocks change in between
    0 / start                       at the event start
    @18:00, -1d@09:00, +1d@10:00    a local clock time on the event day (or N days before/after)
    morning                         @09:00 on the event day (the plan's `morning_at`)
A clock time that does not exist that day (clocks jump forward) moves forward by the jump; one that
happens twice (clocks go back) is the first of the two. A same-day clock reminder that would land after
the event has started is skipped (`after_event`), and so is a reminder at the same instant as an earlier
one in the list (`duplicate`): the event at 10:00 makes "morning" and "-1h" the same message.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain.errors import InvalidInput
from wagate.domain.messages import MessageStatus

DEFAULT_OFFSETS = ("morning", "-6h", "-1h", "-30m", "0")
MAX_OFFSETS = 20
MAX_OFFSET_DAYS = 366

_DURATION = re.compile(r"([+-])(?:(\d{1,3})d)?(?:(\d{1,4})h)?(?:(\d{1,6})m)?")
_CLOCK = re.compile(r"(?:([+-]\d{1,3})d)?@(\d{1,2}):(\d{2})")
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")


@enum.unique
class ReminderState(enum.StrEnum):
    PENDING = "pending"  # planned; its message is not created yet (only seen while a plan is created)
    SCHEDULED = "scheduled"  # a message exists: see its message_status for what became of it
    SKIPPED = "skipped"  # no message: see reason (past, after_event, duplicate)
    CANCELLED = "cancelled"  # the plan cancelled its message: see reason


@enum.unique
class PlanStatus(enum.StrEnum):
    CREATING = "creating"  # being created; stays so only if the process died meanwhile (DELETE it)
    ACTIVE = "active"
    INCOMPLETE = "incomplete"  # creating failed and some messages could not be cancelled: DELETE it
    CANCELLED = "cancelled"


class Reminder(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    offset: str
    template: str = Field(description="The template this reminder sends")
    at: float = Field(description="When it is (or was) due, epoch seconds")
    local: str = Field(description="`at` in the plan's time zone, ISO 8601")
    state: ReminderState
    reason: str | None = Field(
        None,
        description="Why skipped or cancelled: past, after_event, duplicate, plan_cancelled, plan_failed",
    )
    message_id: str | None = None
    message_status: MessageStatus | None = Field(None, description="The message's status (single GET)")


class PlanTemplate(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    language: str = Field(description="The language the template was resolved to when planned")
    variables: dict[str, str] = Field(default_factory=dict)


class PlanOffset(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    offset: str
    template: PlanTemplate | None = Field(None, description="Overrides the plan's template")


class ReminderPlan(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    tenant_id: str
    session_id: str
    to: str
    event_at: float
    event_local: str = Field(description="The event in its time zone, ISO 8601")
    time_zone: str
    morning_at: str
    template: PlanTemplate
    offsets: list[PlanOffset]
    reminders: list[Reminder]
    status: PlanStatus
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: float
    updated_at: float
    version: int


class ReminderChange(BaseModel):
    """What a PATCH or DELETE did to one reminder."""

    model_config = ConfigDict(defer_build=True)

    offset: str
    action: Literal["moved", "cancelled", "added", "untouched"]
    at: float
    local: str
    message_id: str | None = None
    replaces: str | None = Field(None, description="The message this one replaces (its text changed)")
    reason: str | None = Field(None, description="cancelled: why; untouched: the message's status")

    @classmethod
    def of(
        cls,
        reminder: Reminder,
        action: Literal["moved", "cancelled", "added", "untouched"],
        *,
        reason: str | None = None,
        replaces: str | None = None,
    ) -> ReminderChange:
        return cls(
            offset=reminder.offset,
            action=action,
            at=reminder.at,
            local=reminder.local,
            message_id=reminder.message_id,
            replaces=replaces,
            reason=reason,
        )


class ReminderPlanChange(ReminderPlan):
    """A plan after a PATCH or DELETE, with what changed."""

    changes: list[ReminderChange] = Field(default_factory=list)


# ---- time zones and event times ----------------------------------------------------------------------


def load_zone(name: str, *, field: str = "time_zone") -> zoneinfo.ZoneInfo:
    """An IANA zone such as Europe/Madrid. Raises InvalidInput naming `field`."""
    problem = InvalidInput(
        f"{field}: {name!r} is not an IANA time zone; use a name such as Europe/Madrid or America/Bogota",
        details={"field": field, "value": name},
    )
    if not _ZONE.fullmatch(name):
        raise problem
    try:
        return zoneinfo.ZoneInfo(name)
    except (KeyError, ValueError, OSError) as exc:  # unknown, malformed, or not a zone file
        raise problem from exc


def parse_event_at(value: float | str, zone: zoneinfo.ZoneInfo, *, field: str = "event_at") -> dt.datetime:
    """Epoch seconds, ISO 8601 with an offset, or ISO 8601 without one (read in `zone`).

    Raises InvalidInput for anything else, and for a local time that does not exist or happens twice
    in `zone` (the clocks change then: only an offset says which instant is meant).
    """
    example = (
        "ISO 8601 with an offset (2025-10-26T19:00:00+01:00), without one to read it in time_zone "
        "(2025-10-26T19:00), or epoch seconds"
    )
    if isinstance(value, str) and re.fullmatch(r"\d{9,11}(\.\d+)?", value.strip()):
        value = float(value)
    if not isinstance(value, str):
        if not math.isfinite(value) or not 0 < value < 253402300799:
            raise InvalidInput(f"{field}: {value} is not a time; give {example}", details={"field": field})
        return dt.datetime.fromtimestamp(value, zone)
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or len(text) < 16:  # a date alone parses as midnight: refuse, a time is needed
        raise InvalidInput(
            f"{field}: {value!r} is not a date and time; give {example}",
            details={"field": field, "value": value},
        )
    if parsed.tzinfo is not None:
        return parsed.astimezone(zone)
    local, problem = localise(parsed, zone)
    if problem is not None:
        raise InvalidInput(
            f"{field}: {text} {problem} in {zone.key} because the clocks change; give it with an offset",
            details={"field": field, "value": value},
        )
    return local


def localise(naive: dt.datetime, zone: zoneinfo.ZoneInfo) -> tuple[dt.datetime, str | None]:
    """The instant a wall-clock time means in `zone`, and what is odd about it, if anything.

    A time in a spring-forward gap comes out moved forward by the gap; one in an autumn overlap is the
    first occurrence. The second value says which happened ("does not exist", "happens twice").
    """
    first = naive.replace(tzinfo=zone, fold=0)
    if first.utcoffset() == naive.replace(tzinfo=zone, fold=1).utcoffset():
        return first, None
    back = first.astimezone(dt.UTC).astimezone(zone)
    if back.replace(tzinfo=None) != naive:
        return back, "does not exist"
    return first, "happens twice"


def iso_local(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


# ---- offsets ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offset:
    text: str
    seconds: int = 0  # a duration from the event start
    days: int = 0  # or a clock time, `days` after the event day
    clock: dt.time | None = None

    def at(self, event: dt.datetime) -> dt.datetime:
        zone = event.tzinfo
        assert isinstance(zone, zoneinfo.ZoneInfo)
        if self.clock is None:
            return (event.astimezone(dt.UTC) + dt.timedelta(seconds=self.seconds)).astimezone(zone)
        day = event.date() + dt.timedelta(days=self.days)
        return localise(dt.datetime.combine(day, self.clock), zone)[0]


def parse_offset(raw: str, *, morning_at: str, field: str) -> Offset:
    """One offset (see the module docstring). Raises InvalidInput naming `field`."""
    text = raw.strip().lower()
    if text in ("0", "start", "+0", "-0"):
        return Offset("0")
    if text == "morning":
        return Offset(text, clock=parse_clock(morning_at, field="morning_at"))
    clock = _CLOCK.fullmatch(text)
    if clock is not None:
        days = int(clock.group(1) or 0)
        if abs(days) > MAX_OFFSET_DAYS:
            raise _bad_offset(field, raw, f"at most {MAX_OFFSET_DAYS} days away")
        return Offset(text, days=days, clock=parse_clock(f"{clock.group(2)}:{clock.group(3)}", field=field))
    duration = _DURATION.fullmatch(text)
    if duration is None or not any(duration.groups()[1:]):
        hint = (
            " (it needs a sign: -6h is before the event, +6h after)"
            if _DURATION.fullmatch("-" + text)
            else ""
        )
        raise _bad_offset(field, raw, f"write -6h, -30m, -1d, 0, @18:00, -1d@09:00 or morning{hint}")
    sign = -1 if duration.group(1) == "-" else 1
    days, hours, minutes = (int(g or 0) for g in duration.groups()[1:])
    seconds = sign * (days * 86400 + hours * 3600 + minutes * 60)
    if abs(seconds) > MAX_OFFSET_DAYS * 86400:
        raise _bad_offset(field, raw, f"at most {MAX_OFFSET_DAYS} days away")
    return Offset(text, seconds=seconds)


def parse_offsets(texts: Sequence[str], *, morning_at: str) -> list[Offset]:
    """The plan's offsets, each named by its index when wrong; the same one twice is refused."""
    offsets = [parse_offset(t, morning_at=morning_at, field=f"offsets[{i}]") for i, t in enumerate(texts)]
    seen: dict[str, int] = {}
    for index, offset in enumerate(offsets):
        if offset.text in seen:
            raise InvalidInput(
                f"offsets[{index}]: {offset.text} is already offsets[{seen[offset.text]}]",
                details={"field": f"offsets[{index}]", "value": texts[index]},
            )
        seen[offset.text] = index
    return offsets


def parse_clock(raw: str, *, field: str) -> dt.time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", raw.strip())
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise InvalidInput(
            f"{field}: {raw!r} is not a time of day; use HH:MM, e.g. 09:00", details={"field": field}
        )
    return dt.time(int(match.group(1)), int(match.group(2)))


def _bad_offset(field: str, raw: str, hint: str) -> InvalidInput:
    return InvalidInput(f"{field}: {raw!r} is not an offset; {hint}", details={"field": field, "value": raw})


@dataclass(frozen=True)
class Slot:
    """Where one offset lands for one event time, and why it will not be sent, if so."""

    at: dt.datetime
    skip: str | None = None


def place(offsets: Sequence[Offset], event: dt.datetime, now: float) -> list[Slot]:
    """Each offset's time for this event, marking those past, after the event, or at a taken instant."""
    start = event.timestamp()
    taken: set[float] = set()
    slots = []
    for offset in offsets:
        at = offset.at(event)
        when = at.timestamp()
        if offset.clock is not None and offset.days == 0 and when > start:
            slots.append(Slot(at, "after_event"))
        elif when <= now:
            slots.append(Slot(at, "past"))
        elif when in taken:
            slots.append(Slot(at, "duplicate"))
        else:
            taken.add(when)
            slots.append(Slot(at))
    return slots


def check_slots(slots: Sequence[Slot], *, now: float, max_ahead: float, hint: str = "") -> None:
    """Raises InvalidInput (naming event_at) when no reminder would be sent, or one is too far ahead."""
    if all(slot.skip is not None for slot in slots):
        raise InvalidInput(
            "event_at: every reminder of this plan would be in the past (or after the event starts), "
            f"so none would be sent{hint}",
            code="all_reminders_past",
            details={
                "field": "event_at",
                "reminders": [{"at": iso_local(s.at), "reason": s.skip} for s in slots],
            },
        )
    if any(s.skip is None and s.at.timestamp() > now + max_ahead for s in slots):
        raise InvalidInput(
            "event_at: a reminder would be more than a year ahead; messages can be scheduled up to a year "
            "in advance",
            details={"field": "event_at"},
        )
