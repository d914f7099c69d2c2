"""Insights: time buckets (UTC, or days and hours of a time zone), the counters a rollup row holds,
latency histograms and the report models.

Rollup rows are kept per UTC day and per UTC hour. A day of another zone is cut from them: whole UTC days
inside it plus, for each UTC day it shares with the next or previous local day, either its hours inside
(when they are at most half of it) or the UTC day minus its hours outside (`span_terms`). So a Madrid day
reads about one day row and two hour rows, whatever the range, and a 23- or 25-hour day (DST) is exact.
A zone whose days do not start on a whole UTC hour (Asia/Kolkata, +05:30) cannot be cut from hour rows:
its days are refused (`local_days`), its hours are the UTC hours labelled in local time.

Counters are grouped by the message's *send cohort*: a message's delivered, read, failed and replied
counts, and its latencies, go to the bucket (day, hour) in which it was sent (failed unsent: when it
failed), so a bucket's delivery, read and reply rates are exact fractions of what it sent (never over
100 %), whenever the receipts arrive.

Latencies are fixed log-scale histograms: bucket 0 holds up to 1 s, bucket i (1..MAX_BUCKET) holds
(2^((i-1)/4), 2^(i/4)] seconds, four buckets per doubling, the last open-ended (about 19 days and over).
Why this sketch: a histogram is a set of counters, so it is written with the same atomic ADD as every
other counter (no read-modify-write, commutative, so receipts in any order give the same row), merges by
addition across slots, sessions, templates and buckets, and has a fixed bound on its size; a percentile
read from it is within one bucket, and interpolating inside the bucket on the log scale keeps the error
under ±9 % (the bucket's half-width, 2^(1/8)). t-digest or KLL would be smaller for wide ranges but need a
read-modify-write of a serialised sketch, which a concurrent writer can lose.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wagate.domain.errors import InvalidInput
from wagate.domain.reminders import load_zone

# Counter names (attributes of a rollup row; tests/vulture_whitelist.py lists the report fields).
SENT = "sent"
DELIVERED = "delivered"
READ = "read"
FAILED = "failed"
REPLIED = "replied"
INBOUND = "inbound"
CREATED = "sessions_created"
LINKED = "sessions_linked"
DISCONNECTS = "disconnects"
FAILED_BY = "failed_by."  # + reason code
TEMPLATE_SENT = "template_sent."  # + template name: usage, kept in every scope's rows
TO_DELIVERED = "ttd."  # + histogram bucket: seconds from sent to delivered
TO_READ = "ttr."  # + bucket: seconds from sent to read
FIRST_REPLY = "frt."  # + bucket: seconds from an inbound message to our first answer after it

STEPS_PER_DOUBLING = 4
MAX_BUCKET = 4 * 21  # 2^21 s ≈ 24 days: the last bucket holds everything slower

_REASON = re.compile(r"[^a-z0-9_]+")


class Granularity(enum.StrEnum):
    DAY = "day"
    HOUR = "hour"

    @property
    def seconds(self) -> int:
        return 86_400 if self is Granularity.DAY else 3_600

    @property
    def code(self) -> str:
        """The letter in the rollup row's key."""
        return "D" if self is Granularity.DAY else "H"


def bucket_of(at: float, granularity: Granularity) -> str:
    """The UTC bucket label of a time: `2026-12-07` (day) or `2026-12-07T09` (hour). Labels sort in time
    order, which is what the rollup rows' sort keys rely on."""
    when = dt.datetime.fromtimestamp(at, dt.UTC)
    return when.strftime("%Y-%m-%d" if granularity is Granularity.DAY else "%Y-%m-%dT%H")


def bucket_start(at: float, granularity: Granularity) -> float:
    """The epoch second the bucket holding `at` starts."""
    return float(math.floor(at / granularity.seconds) * granularity.seconds)


def buckets_between(start: float, end: float, granularity: Granularity) -> list[float]:
    """The starts of every bucket that overlaps [start, end)."""
    first = bucket_start(start, granularity)
    return [
        float(b)
        for b in range(
            int(first), int(math.ceil(end / granularity.seconds) * granularity.seconds), granularity.seconds
        )
    ]


# ---- time zones ---------------------------------------------------------------------------------------

UTC = "UTC"
HOUR = 3_600
DAY = 86_400


def time_zone(name: str) -> zoneinfo.ZoneInfo:
    """An IANA zone (`tz=`); InvalidInput (422) for a name that is not one."""
    return load_zone(name, field="tz")


def is_utc(zone: zoneinfo.ZoneInfo) -> bool:
    """UTC itself: its buckets are the rollup rows, with the labels reports always had."""
    return zone.key == UTC


def check_zone_range(start: float, end: float, zone: zoneinfo.ZoneInfo) -> None:
    """InvalidInput when the range's local days or hours in `zone` fall past what a date can hold (a range
    ending at 9999-12-31 read in a zone east of UTC)."""
    try:
        dt.datetime.fromtimestamp(start - DAY, zone)
        dt.datetime.fromtimestamp(end + DAY, zone)
    except (OverflowError, ValueError, OSError):
        raise InvalidInput(
            f"tz: the range's days in {zone.key} run past the year 9999", details={"field": "tz"}
        ) from None


def local_days(start: float, end: float, zone: zoneinfo.ZoneInfo) -> list[float]:
    """The starts of the local days overlapping [start, end), and the end of the last one (so one more
    than the days). A day starts at local midnight (or when the clock jumps over it, as DST does in some
    zones); it is 23, 24 or 25 hours long. InvalidInput when a day does not start on a whole UTC hour."""
    day = dt.datetime.fromtimestamp(start, zone).date()
    bounds = [_midnight(day, zone)]
    while bounds[-1] < end:
        day += dt.timedelta(days=1)
        bounds.append(_midnight(day, zone))
    for at in bounds:
        if at % HOUR:
            local = dt.datetime.fromtimestamp(at, zone)
            raise InvalidInput(
                f"tz: {zone.key} is UTC{_offset(local)} on {local.date()}: its days start at "
                f"{dt.datetime.fromtimestamp(at, dt.UTC):%H:%M} UTC, and rollups are kept per UTC hour, so "
                "they cannot be cut at its midnight; ask granularity=hour (UTC hours, labelled in local "
                "time) or a zone with a whole-hour offset",
                details={"field": "tz", "value": zone.key, "utc_offset": _offset(local)},
            )
    return bounds


def _midnight(day: dt.date, zone: zoneinfo.ZoneInfo) -> float:
    # fold=0: a midnight the clock skips (DST starting at 00:00) is read with the offset before the jump,
    # which is the instant of the jump: the day starts when its clock does.
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def _offset(local: dt.datetime) -> str:
    return local.isoformat()[-6:]


def local_label(at: float, granularity: Granularity, zone: zoneinfo.ZoneInfo) -> str:
    """A bucket's label in a zone other than UTC: the local date (`2026-03-29`) for a day, the local time
    with its offset for an hour (`2026-03-29T03:00+02:00`: ISO 8601, unambiguous on the repeated hour)."""
    local = dt.datetime.fromtimestamp(at, zone)
    return local.date().isoformat() if granularity is Granularity.DAY else local.isoformat(timespec="minutes")


def bounds_between(start: float, end: float, granularity: Granularity) -> list[float]:
    """The starts of the UTC buckets overlapping [start, end), and the end of the last one."""
    starts = buckets_between(start, end, granularity)
    return [*starts, (starts[-1] if starts else bucket_start(start, granularity)) + granularity.seconds]


Term = tuple[Granularity, float, int]  # a rollup row (granularity, bucket start) and +1 or -1


def span_terms(start: float, end: float) -> list[Term]:
    """The rollup rows whose signed sum is exactly [start, end) (both on whole UTC hours): each UTC day
    it covers whole, and for a UTC day it covers in part, its hours inside when they are fewer than 12,
    else the day minus its hours outside. At most 12 hour rows per partial day. A UTC day split by a local
    midnight gives its smaller part (at 12 and 12: the later) as hours to one local day and subtracted
    from the day row to the other: the same hour rows serve both."""
    if start % HOUR or end % HOUR:
        raise ValueError("a span of rollup rows starts and ends on whole UTC hours")
    terms: list[Term] = []
    for day in range(int(start // DAY) * DAY, int(math.ceil(end / DAY)) * DAY, DAY):
        low, high = max(start, day), min(end, day + DAY)
        if high <= low:
            continue
        inside = int(high - low) // HOUR
        if inside == 24:
            terms.append((Granularity.DAY, float(day), 1))
        elif inside < 12 or (inside == 12 and low > day):
            terms.extend((Granularity.HOUR, float(h), 1) for h in range(int(low), int(high), HOUR))
        else:
            terms.append((Granularity.DAY, float(day), 1))
            outside = [*range(day, int(low), HOUR), *range(int(high), day + DAY, HOUR)]
            terms.extend((Granularity.HOUR, float(h), -1) for h in outside)
    return terms


def latency_bucket(seconds: float) -> int:
    """The histogram bucket of a latency (negative clock skew counts as 0)."""
    if seconds <= 1:
        return 0
    return min(MAX_BUCKET, math.ceil(math.log2(seconds) * STEPS_PER_DOUBLING - 1e-9))


def bucket_bounds(index: int) -> tuple[float, float]:
    """(low, high] of a histogram bucket in seconds; the last bucket's high is its low doubled."""
    if index <= 0:
        return 0.0, 1.0
    low = 2 ** ((index - 1) / STEPS_PER_DOUBLING)
    high = 2 ** (index / STEPS_PER_DOUBLING) if index < MAX_BUCKET else low * 2
    return low, high


def percentile(histogram: Mapping[int, int | float], q: float) -> float | None:
    """The q-quantile (0 < q < 1) of a histogram, interpolated inside its bucket on the log scale (linear in
    bucket 0); None when it is empty."""
    return percentiles(histogram, (q,))[0]


def percentiles(histogram: Mapping[int, int | float], qs: Sequence[float]) -> list[float | None]:
    """`percentile` of each of `qs` (ascending), with one sort and one walk over the histogram."""
    total = sum(histogram.values())
    if total <= 0:
        return [None for _ in qs]
    found: list[float | None] = []
    ranks = iter([q * total for q in qs])
    rank = next(ranks, None)
    seen = 0.0
    for index in sorted(histogram):
        count = histogram[index]
        if count <= 0:
            continue
        while rank is not None and seen + count >= rank:
            low, high = bucket_bounds(index)
            fraction = (rank - seen) / count
            found.append(round(high * fraction if index == 0 else float(low * (high / low) ** fraction), 3))
            rank = next(ranks, None)
        if rank is None:
            return found
        seen += count
    last = round(bucket_bounds(max(histogram))[1], 3)
    return found + [last] * (len(qs) - len(found))


def reason_code(code: str | None) -> str:
    """A failure reason as a counter name: lower-case letters, digits and _ (at most 48)."""
    cleaned = _REASON.sub("_", (code or "unknown").lower()).strip("_")[:48]
    return cleaned or "unknown"


def rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


# ---- the report ---------------------------------------------------------------------------------------


class Latency(BaseModel):
    model_config = ConfigDict(defer_build=True)

    count: int = Field(description="How many samples")
    p50: float | None = Field(None, description="Median, seconds (log-scale histogram: within ±9 %)")
    p90: float | None = Field(None, description="90th percentile, seconds (within ±9 %)")


class Metrics(BaseModel):
    """Counts of one bucket or of the whole range, by send cohort (see README: Insights)."""

    model_config = ConfigDict(defer_build=True)

    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    failed_by_reason: dict[str, int] = Field(default_factory=dict)
    replied: int = Field(0, description="Sent messages the contact answered (once per turn of ours)")
    inbound: int = Field(0, description="Messages received")
    delivery_rate: float | None = Field(None, description="delivered / sent")
    read_rate: float | None = Field(None, description="read / sent")
    reply_rate: float | None = Field(None, description="replied / sent")
    time_to_delivered: Latency
    time_to_read: Latency
    first_reply_time: Latency = Field(description="From a contact's message to our first answer after it")
    sessions_created: int = 0
    sessions_linked: int = 0
    connection_rate: float | None = Field(None, description="sessions linked / sessions created")
    disconnects: int = Field(0, description="Times a connected session dropped (lost, logged out, failed)")
    connected_seconds: float = Field(0.0, description="Seconds sessions were connected, summed")
    templates: dict[str, int] = Field(default_factory=dict, description="Messages sent per template")


class Point(Metrics):
    bucket: str = Field(
        description="The bucket. In UTC: 2026-12-07 or 2026-12-07T09 (hour); in another zone the local "
        "date (2026-03-29) or the local hour with its offset (2026-03-29T03:00+02:00)"
    )
    start: float = Field(description="When the bucket starts (epoch seconds); a local day lasts 23 to 25 h")


class SessionUptime(BaseModel):
    model_config = ConfigDict(defer_build=True)

    session_id: str
    name: str | None = None
    status: str | None = None
    connected_seconds: float
    uptime: float | None = Field(None, description="Connected share of the range since the session existed")
    disconnects: int


class Report(BaseModel):
    model_config = ConfigDict(defer_build=True)

    start: float = Field(description="`from`, as asked (epoch seconds)")
    end: float = Field(description="`to`, as asked (epoch seconds)")
    granularity: Granularity
    tz: str = Field(UTC, description="The IANA time zone of the buckets (`tz`, else the tenant's, else UTC)")
    session_id: str | None = None
    template: str | None = None
    broadcast_id: str | None = None
    totals: Metrics
    series: list[Point] = Field(description="One point per bucket in the range, empty ones included")
    sessions: list[SessionUptime] = Field(description="Uptime of each session in view")


class InsightsSettings(BaseModel):
    """A tenant's insights settings (GET/PUT /v1/settings/insights)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    time_zone: str = Field(
        UTC,
        min_length=1,
        max_length=64,
        description="IANA zone of the tenant's reports when a request names none (`tz`), e.g. Europe/Madrid",
    )

    @field_validator("time_zone")
    @classmethod
    def _known(cls, name: str) -> str:
        try:
            return time_zone(name).key
        except InvalidInput as exc:
            raise ValueError(exc.message) from exc


class Breakdown(BaseModel):
    model_config = ConfigDict(defer_build=True)

    key: str = Field(description="The session id or template name")
    name: str | None = Field(None, description="The session's name")
    metrics: Metrics


class BreakdownList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    start: float
    end: float
    tz: str = Field(UTC, description="The time zone whose days the range is widened to")
    by: str = Field(description="session or template")
    items: list[Breakdown]


def metrics_of(counters: Mapping[str, float], connected_seconds: float = 0.0) -> Metrics:
    """A Metrics from merged rollup counters."""
    return Metrics(**metric_fields(counters, connected_seconds))


def metric_fields(counters: Mapping[str, float], connected_seconds: float = 0.0) -> dict[str, Any]:
    """The fields of a Metrics (or Point) from merged rollup counters (one pass over them: a 90-day
    report reads this for every bucket)."""
    to_delivered: dict[int, float] = {}
    to_read: dict[int, float] = {}
    first_reply: dict[int, float] = {}
    failed_by: dict[str, float] = {}
    templates: dict[str, float] = {}
    parts = (to_delivered, to_read, first_reply, failed_by, templates)
    known = _PART_OF.get
    for name, value in counters.items():
        if value:
            where = known(name) or _part_of(name)
            if where[0] >= 0:
                parts[where[0]][where[1]] = value  # type: ignore[index]
    get = counters.get
    sent, delivered, read = int(get(SENT, 0)), int(get(DELIVERED, 0)), int(get(READ, 0))
    replied, created, linked = int(get(REPLIED, 0)), int(get(CREATED, 0)), int(get(LINKED, 0))
    return {
        "sent": sent,
        "delivered": delivered,
        "read": read,
        "failed": int(get(FAILED, 0)),
        "failed_by_reason": _ranked(failed_by),
        "replied": replied,
        "inbound": int(get(INBOUND, 0)),
        "delivery_rate": rate(delivered, sent),
        "read_rate": rate(read, sent),
        "reply_rate": rate(replied, sent),
        "time_to_delivered": _latency(to_delivered),
        "time_to_read": _latency(to_read),
        "first_reply_time": _latency(first_reply),
        "sessions_created": created,
        "sessions_linked": linked,
        "connection_rate": rate(linked, created),
        "disconnects": int(get(DISCONNECTS, 0)),
        "connected_seconds": round(connected_seconds, 3),
        "templates": _ranked(templates),
    }


# Which part of a Metrics a counter name is (index in _PARTS, key in it; -1: none), kept per name: a report
# reads the same ~120 names in every bucket. Bounded: template names and reasons vary between tenants.
_PARTS = (TO_DELIVERED, TO_READ, FIRST_REPLY, FAILED_BY, TEMPLATE_SENT)
_PART_OF: dict[str, tuple[int, int | str]] = {}
_MAX_KNOWN_NAMES = 20_000


def _part_of(name: str) -> tuple[int, int | str]:
    head, dot, tail = name.partition(".")
    where: tuple[int, int | str] = (-1, "")
    if dot and head + dot in _PARTS:
        index = _PARTS.index(head + dot)
        where = (index, int(tail) if index < 3 else tail)
    if len(_PART_OF) < _MAX_KNOWN_NAMES:
        _PART_OF[name] = where
    return where


def _latency(histogram: dict[int, float]) -> Latency:
    p50, p90 = percentiles(histogram, (0.5, 0.9))
    return Latency(count=int(sum(histogram.values())), p50=p50, p90=p90)


def _ranked(counts: dict[str, float]) -> dict[str, int]:
    """As whole numbers, most first, then by name."""
    whole = [(name, int(count)) for name, count in counts.items()]
    return dict(sorted(whole, key=lambda kv: (-kv[1], kv[0])) if len(whole) > 1 else whole)


def merge(into: dict[str, float], counters: Mapping[str, object], sign: int = 1) -> None:
    """Adds a row's counters (numbers only; keys, stamps and the 0-valued scope marks are skipped);
    `sign` -1 subtracts them (a UTC day minus the hours outside a local day)."""
    get = into.get
    for name, value in counters.items():
        if value and type(value) in _NUMBERS and name not in _NOT_COUNTERS:
            into[name] = get(name, 0) + value * sign  # type: ignore[operator]


_NUMBERS = (int, float)  # exact types: a bool is not a counter
_NOT_COUNTERS = frozenset({"pk", "sk", "expires_at", "updated_at"})
