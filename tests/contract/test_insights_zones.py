"""Insights in a time zone over both Table adapters: local days cut from the UTC day and hour rows match a
brute-force count by local date of every counted change, across both of Madrid's DST days (23 and 25
hours), in zones west and east of UTC and in one that jumps over midnight; hours keep UTC's rows with
local labels; a zone whose days start off the hour is refused for days, with a clear message."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from tests.contract.test_table_contract import table  # noqa: F401 (the fixture, by name)
from wagate.domain.errors import InvalidInput
from wagate.domain.insights import Granularity, span_terms
from wagate.ports import Table
from wagate.services.insights import Insights
from wagate.store import keys
from wagate.store.insights import Counted, InsightsJournal, journal_entry

HOUR, DAY = 3_600, 86_400
MADRID = ZoneInfo("Europe/Madrid")


class Clock:
    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


def counted_history(store: Table, times: list[float], tenant_id: str = "ten_z") -> None:
    """One sent (and every third one delivered, on session ses_a) at each time, folded into the rollups."""
    store.put({"pk": keys.tenant(tenant_id).pk, "sk": keys.tenant(tenant_id).sk, "id": tenant_id})
    for n, at in enumerate(times):
        counters = {"sent": 1, "delivered": 1} if n % 3 == 0 else {"sent": 1}
        store.transact_write(journal_entry(tenant_id, [Counted(at, counters, "ses_a")], at))
    journal = InsightsJournal(store)
    while journal.fold():
        pass
    assert journal.pending() == 0


def by_local_date(times: list[float], zone: ZoneInfo) -> Counter[str]:
    return Counter(dt.datetime.fromtimestamp(at, zone).date().isoformat() for at in times)


@pytest.mark.parametrize(
    "zone_name, first_day, days",
    [
        ("Europe/Madrid", dt.date(2026, 3, 27), 5),  # 29 March: 23 hours
        ("Europe/Madrid", dt.date(2026, 10, 23), 5),  # 25 October: 25 hours
        ("America/Mexico_City", dt.date(2026, 3, 1), 3),  # UTC-6: more than half a UTC day
        ("Pacific/Auckland", dt.date(2026, 4, 3), 4),  # +13 → +12 on 5 April
        ("America/Havana", dt.date(2026, 3, 7), 3),  # DST starts at 00:00: 8 March begins at 01:00
        ("Pacific/Fiji", dt.date(2026, 7, 1), 3),  # +12: every UTC day split in halves
    ],
)
def test_local_days_match_a_brute_force_count(
    table: Table,  # noqa: F811
    zone_name: str,
    first_day: dt.date,
    days: int,
) -> None:
    zone = ZoneInfo(zone_name)
    start = dt.datetime.combine(first_day, dt.time(), zone).timestamp()
    end = dt.datetime.combine(first_day + dt.timedelta(days=days), dt.time(), zone).timestamp()
    rng = random.Random(zone_name + str(first_day))
    times = [start - 2 * DAY + rng.random() * (end - start + 4 * DAY) for _ in range(150)]
    times += [start, end - 0.5, start - 0.5, end]  # on the edges: in, in, out, out
    counted_history(table, times)
    insights = Insights(table, Clock(end + DAY))
    report = insights.report(
        "ten_z", start=start, end=end, granularity=Granularity.DAY, sessions=[], whole_tenant=True, zone=zone
    )
    expected = by_local_date([t for t in times if start <= t < end], zone)
    assert report.tz == zone_name
    assert [p.bucket for p in report.series] == sorted(expected)
    assert {p.bucket: p.sent for p in report.series} == expected
    assert report.totals.sent == sum(expected.values())
    lengths = [b.start - a.start for a, b in zip(report.series, report.series[1:], strict=False)]
    assert all(length in (23 * HOUR, 24 * HOUR, 25 * HOUR) for length in lengths)
    # A session's rows and the breakdown give the same days.
    one = insights.report(
        "ten_z",
        start=start,
        end=end,
        granularity=Granularity.DAY,
        sessions=[],
        whole_tenant=False,
        session_id="ses_a",
        zone=zone,
    )
    assert {p.bucket: p.sent for p in one.series} == expected
    delivered = by_local_date([t for n, t in enumerate(times) if n % 3 == 0 and start <= t < end], zone)
    assert {p.bucket: p.delivered for p in one.series if p.delivered} == delivered
    templates = insights.by_template("ten_z", start=start, end=end, zone=zone)
    assert templates.tz == zone_name and templates.items == []


def test_madrid_dst_days_are_23_and_25_hours_long(table: Table) -> None:  # noqa: F811
    # One message in each UTC hour from Friday to Tuesday around each change.
    for first in (dt.date(2026, 3, 27), dt.date(2026, 10, 23)):
        start = dt.datetime.combine(first, dt.time(), MADRID).timestamp()
        times = [start + h * HOUR + 60 for h in range(4 * 24)]
        tenant_id = f"ten_{first.month}"
        counted_history(table, times, tenant_id)
        insights = Insights(table, Clock(start + 10 * DAY))
        report = insights.report(
            tenant_id,
            start=start,
            end=start + 4 * DAY,
            granularity=Granularity.DAY,
            sessions=[],
            whole_tenant=True,
            zone=MADRID,
        )
        sent = {p.bucket: p.sent for p in report.series}
        if first.month == 3:  # Sunday 29 March has 23 hours; the 96 hours end at 01:00 on Tuesday
            assert sent == {
                "2026-03-27": 24,
                "2026-03-28": 24,
                "2026-03-29": 23,
                "2026-03-30": 24,
                "2026-03-31": 1,
            }
        else:  # Sunday 25 October has 25 hours; the 96 hours end at 23:00 on Monday
            assert sent == {"2026-10-23": 24, "2026-10-24": 24, "2026-10-25": 25, "2026-10-26": 23}
        # Hours keep the UTC rows, labelled in Madrid time with the offset of each.
        hours = insights.report(
            tenant_id,
            start=start + 2 * DAY - 2 * HOUR,
            end=start + 2 * DAY + 4 * HOUR,
            granularity=Granularity.HOUR,
            sessions=[],
            whole_tenant=True,
            zone=MADRID,
        )
        labels = [p.bucket for p in hours.series]
        if first.month == 3:  # 02:00 does not exist
            assert labels[2:6] == [
                "2026-03-29T00:00+01:00",
                "2026-03-29T01:00+01:00",
                "2026-03-29T03:00+02:00",
                "2026-03-29T04:00+02:00",
            ]
        else:  # 02:00 happens twice
            assert labels[3:6] == [
                "2026-10-25T01:00+02:00",
                "2026-10-25T02:00+02:00",
                "2026-10-25T02:00+01:00",
            ]
        assert [p.sent for p in hours.series] == [1] * 6 and hours.tz == "Europe/Madrid"


def test_a_zone_off_the_whole_hour_is_refused_for_days_and_labelled_for_hours(table: Table) -> None:  # noqa: F811
    start = utc(2026, 12, 1)
    counted_history(table, [start + 60, start + 5 * HOUR + 45 * 60])
    insights = Insights(table, Clock(start + 10 * DAY))
    for name in ("Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"):
        with pytest.raises(InvalidInput) as refused:
            insights.report(
                "ten_z",
                start=start,
                end=start + 2 * DAY,
                granularity=Granularity.DAY,
                sessions=[],
                whole_tenant=True,
                zone=ZoneInfo(name),
            )
        assert refused.value.details["field"] == "tz" and "whole-hour offset" in str(refused.value)
        with pytest.raises(InvalidInput):
            insights.by_session("ten_z", start=start, end=start + DAY, sessions=[], zone=ZoneInfo(name))
    assert refused.value.details["utc_offset"] == "-03:30"  # St John's, in December
    hours = insights.report(
        "ten_z",
        start=start,
        end=start + 6 * HOUR,
        granularity=Granularity.HOUR,
        sessions=[],
        whole_tenant=True,
        zone=ZoneInfo("Asia/Kolkata"),
    )
    assert [p.bucket for p in hours.series][:2] == ["2026-12-01T05:30+05:30", "2026-12-01T06:30+05:30"]
    assert [p.sent for p in hours.series] == [1, 0, 0, 0, 0, 1]


def test_span_terms_add_up_to_the_hours_of_the_span() -> None:
    rng = random.Random(5)
    day0 = utc(2026, 3, 1)
    for _ in range(300):
        low = day0 + rng.randrange(0, 24 * 6) * HOUR
        high = low + rng.randrange(1, 24 * 4) * HOUR
        terms = span_terms(low, high)
        weight: Counter[float] = Counter()
        for granularity, at, sign in terms:
            size = DAY if granularity is Granularity.DAY else HOUR
            for h in range(int(at), int(at + size), HOUR):
                weight[h] += sign
        assert {h for h, w in weight.items() if w} == set(range(int(low), int(high), HOUR))
        assert all(w in (0, 1) for w in weight.values())
        partial_days = {int(at // DAY) for g, at, _ in terms if g is Granularity.HOUR}
        for day in partial_days:  # never more than half a day of hour rows for one UTC day
            assert sum(1 for g, at, _ in terms if g is Granularity.HOUR and at // DAY == day) <= 12
    assert span_terms(day0 - HOUR, day0 + DAY - HOUR) == [
        (Granularity.HOUR, day0 - HOUR, 1),
        (Granularity.DAY, day0, 1),
        (Granularity.HOUR, day0 + DAY - HOUR, -1),
    ]
    # Split in halves (UTC+12): both local days use the later half of the UTC day, added to one and taken
    # from the day row for the other, so those 12 hour rows are read once for both.
    later_half = [(Granularity.HOUR, float(h), -1) for h in range(int(day0 + DAY / 2), int(day0 + DAY), HOUR)]
    assert span_terms(day0 - DAY / 2, day0 + DAY / 2) == [
        *[(Granularity.HOUR, float(h), 1) for h in range(int(day0 - DAY / 2), int(day0), HOUR)],
        (Granularity.DAY, day0, 1),
        *later_half,
    ]
    assert span_terms(day0 + DAY / 2, day0 + 1.5 * DAY)[:12] == [(g, at, 1) for g, at, _ in later_half]
    with pytest.raises(ValueError):
        span_terms(day0 + 60, day0 + DAY)


def test_legacy_slots_add_up_in_local_days(table: Table) -> None:  # noqa: F811
    """Rows written before the journal (slots 1..3) are summed in the day and hour rows a local day is cut
    from, as in UTC reports."""
    counted_history(table, [utc(2026, 6, 1, 21, 30)])  # 23:30 in Madrid: 1 June
    for granularity, bucket in (("D", "2026-06-01"), ("H", "2026-06-01T22")):  # 00:30 on 2 June in Madrid
        row = keys.insights_row("ten_z", granularity, keys.INSIGHTS_ALL, bucket, 2)
        table.put({"pk": row.pk, "sk": row.sk, "sent": 2})
    insights = Insights(table, Clock(utc(2026, 6, 10)))
    report = insights.report(
        "ten_z",
        start=utc(2026, 5, 31, 22),
        end=utc(2026, 6, 2, 22),
        granularity=Granularity.DAY,
        sessions=[],
        whole_tenant=True,
        zone=MADRID,
    )
    assert {p.bucket: p.sent for p in report.series} == {"2026-06-01": 1, "2026-06-02": 2}
