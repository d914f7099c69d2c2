"""Insights: the counters each applied change owes, and the reports read from the rollups.

Writes. A message's status move, a stored message that came from WhatsApp and a session's status change
each hand the counters they owe to the transaction that applies them, as one journal entry
(`status_ops`, `inbound_ops`, `session_ops`, `created_ops`; store/insights.py folds the journal into the
rollup rows): the change is applied once (monotonic statuses, provider-id deduplication, status guards
and fences), so it is counted once, whatever is redelivered or arrives late. Replies and first-reply
times follow the conversation's turn, read before the change and moved in its transaction, as two marks
on the conversation row: `ins_out_at` (our latest send not answered yet: their next message is its
reply) and `ins_in_at` (their first message we have not answered yet: our next send is the first reply).
A reply may be applied before the report of the send it answers (the two race from the connector): the
late send then finds their message after it and counts as replied, unless that message was counted as
another send's reply already (`ins_in_replied`: the time of the last message counted as a reply).

Reads. A report is one query per scope and granularity over the range's buckets (store/insights.py),
plus each session's connection periods for uptime: O(buckets + sessions + periods), never O(messages).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from wagate.conditions import Attr
from wagate.domain import insights as ins
from wagate.domain.conversations import conversation_id
from wagate.domain.errors import InvalidInput
from wagate.domain.insights import Granularity
from wagate.domain.messages import Direction, Message, MessageStatus, implied_steps
from wagate.domain.sessions import Session, SessionStatus
from wagate.domain.templates import TEMPLATE_NAME
from wagate.ports import Update
from wagate.store import keys
from wagate.store.insights import Counted, InsightsJournal, InsightsRows, journal_entry

if TYPE_CHECKING:
    from wagate.ports import Clock, Table, TransactOp

MAX_BUCKETS = {Granularity.DAY: 400, Granularity.HOUR: 24 * 31}
MAX_TEMPLATES = 50
SHORT_RUN = 2 * ins.HOUR  # hour runs this short are read by key in one batch (see Insights._runs)
Part = tuple[Granularity, float, float, int]  # a day row or a run of hour rows: [low, high), and its sign
# On the conversation row: when our latest unanswered send went out (and its template), and since when
# the contact has been waiting for our answer.
OUT_MARK, OUT_TEMPLATE, OUT_BROADCAST, IN_MARK = "ins_out_at", "ins_out_tpl", "ins_out_bc", "ins_in_at"
REPLY_MARK = "ins_in_replied"  # the time of their latest message counted as a reply to one of our sends


def template_of(message: Message) -> str | None:
    """The template a message was sent with (a name that is safe in a key), or None."""
    name = getattr(message.content, "name", None) if message.kind == "template" else None
    if name is None and isinstance(message.template, dict):
        name = message.template.get("name")
    return name if isinstance(name, str) and TEMPLATE_NAME.fullmatch(name) else None


class Insights:
    def __init__(self, table: Table, clock: Clock) -> None:
        self.table = table
        self.clock = clock
        self.rows = InsightsRows(table)
        self.journal = InsightsJournal(table)

    def fold(self) -> int:
        """Adds what the journal holds to the rollup rows (the sweeper; `wagate serve` more often)."""
        return self.journal.fold()

    # ---- counters committed with the change -----------------------------------------------------------

    def status_ops(self, message: Message, previous: MessageStatus) -> list[TransactOp]:
        """What an outbound message's move from `previous` to its status adds, in its send cohort; when
        it is the answer the contact was waiting for, the first-reply time too (and the wait ends)."""
        if message.direction != Direction.OUTBOUND:
            return []
        counters: dict[str, int] = {}
        ops: list[TransactOp] = []
        template = template_of(message)
        sent_at = message.sent_at
        for step in [*implied_steps(previous, message.status), message.status]:
            if step == MessageStatus.SENT:
                counters[ins.SENT] = 1
                if template:
                    counters[ins.TEMPLATE_SENT + template] = 1
                if sent_at is not None:
                    ops.extend(self._answered(message, sent_at, counters))
            elif step == MessageStatus.DELIVERED:
                counters[ins.DELIVERED] = 1
                if sent_at is not None and message.delivered_at is not None:
                    bucket = ins.latency_bucket(message.delivered_at - sent_at)
                    counters[f"{ins.TO_DELIVERED}{bucket}"] = 1
            elif step == MessageStatus.READ:
                counters[ins.READ] = 1
                if sent_at is not None and message.read_at is not None:
                    counters[f"{ins.TO_READ}{ins.latency_bucket(message.read_at - sent_at)}"] = 1
            elif step == MessageStatus.FAILED:
                counters[ins.FAILED] = 1
                reason = message.error.code if message.error is not None else None
                counters[ins.FAILED_BY + ins.reason_code(reason)] = 1
        cohort = sent_at if sent_at is not None else message.updated_at
        counted = Counted(cohort, counters, message.session_id, template, message.broadcast_id)
        return [*ops, *journal_entry(message.tenant_id, [counted], self.clock.now())]

    def inbound_ops(
        self, message: Message, activity: Update | None
    ) -> tuple[list[TransactOp], Update | None]:
        """What a newly stored message adds (committed with it: provider-id deduplication makes it once),
        and its conversation's `activity` update with the turn moved. An incoming message counts as
        `inbound` and, when one of our sends was waiting, as that send's reply (in its send cohort); the
        contact then waits for us. One typed on the account's phone counts as `sent` (and as the first
        reply when the contact was waiting)."""
        conv = None
        if activity is not None and not message.chat.endswith("@g.us"):
            conv = self.table.get(*_conversation_key(message))
        at = message.created_at
        now = self.clock.now()
        if message.direction == Direction.OUTBOUND:  # typed on the phone
            counters: dict[str, int] = {ins.SENT: 1}
            if activity is not None and conv is not None:
                activity = _with(activity, **self._turn_to_us(conv, at, None, counters))
            return [*journal_entry(message.tenant_id, [_counted(message, at, counters)], now)], activity
        groups = [_counted(message, at, {ins.INBOUND: 1})]
        if activity is None or message.chat.endswith("@g.us"):
            return [*journal_entry(message.tenant_id, groups, now)], activity
        out_at = conv.get(OUT_MARK) if conv is not None else None
        turn: dict[str, Any] = {}
        marks: dict[str, Any] = {}
        if out_at is not None and float(out_at) <= at:
            assert conv is not None
            template = str(conv.get(OUT_TEMPLATE) or "") or None
            broadcast = str(conv.get(OUT_BROADCAST) or "") or None
            groups.append(Counted(float(out_at), {ins.REPLIED: 1}, message.session_id, template, broadcast))
            turn["remove"] = [OUT_MARK, OUT_TEMPLATE, OUT_BROADCAST]
            marks[REPLY_MARK] = at
        if conv is None or conv.get(IN_MARK) is None:
            marks[IN_MARK] = at  # their turn starts with this message
        if marks:
            turn["set"] = marks
        ops = journal_entry(message.tenant_id, groups, now)
        return [*ops], _with(activity, **turn) if turn else activity

    def created_ops(self, session: Session) -> list[TransactOp]:
        counted = Counted(session.created_at, {ins.CREATED: 1}, session.id)
        return [*journal_entry(session.tenant_id, [counted], self.clock.now())]

    def session_ops(self, old: Session, new: Session, at: float) -> list[TransactOp]:
        """A status change's counters and connection period (the status guard makes it happen once)."""
        was, now = old.status == SessionStatus.CONNECTED, new.status == SessionStatus.CONNECTED
        tenant_id, session_id = new.tenant_id, new.id
        ops: list[TransactOp] = []
        groups: list[Counted] = []
        if now and not was:
            since = new.connected_at or at
            ops.append(self.rows.period_start(tenant_id, session_id, since))
            if old.connected_at is None:  # never linked before
                groups.append(Counted(since, {ins.LINKED: 1}, session_id))
        elif was and not now:
            if old.connected_at is not None:
                ops.append(self.rows.period_end(tenant_id, session_id, old.connected_at, at))
            groups.append(Counted(at, {ins.DISCONNECTS: 1}, session_id))
        return [*ops, *journal_entry(tenant_id, groups, self.clock.now())]

    # ---- the conversation's turn ----------------------------------------------------------------------

    def _answered(self, message: Message, sent_at: float, counters: dict[str, int]) -> list[TransactOp]:
        """Our message went out: it is the send a reply will answer, and if the contact was waiting, how
        long is one first-reply sample. Conditional on the conversation as read (a lost race retries the
        whole move, which reads it again)."""
        if message.chat.endswith("@g.us"):
            return []
        key = _conversation_key(message)
        conv = self.table.get(*key)
        if conv is None:
            return []
        turn = self._turn_to_us(conv, sent_at, message, counters)
        if not turn["set"] and not turn["remove"]:
            return []
        guard = Attr("pk").exists()
        for name in (OUT_MARK, IN_MARK, REPLY_MARK):
            guard = guard & (
                Attr(name).eq(conv[name]) if conv.get(name) is not None else Attr(name).not_exists()
            )
        return [Update(*key, set=turn["set"], remove=turn["remove"], condition=guard)]

    @staticmethod
    def _turn_to_us(
        conv: dict[str, Any], at: float, sent: Message | None, counters: dict[str, int]
    ) -> dict[str, Any]:
        """The conversation's marks once we answered at `at` (set and remove), and the first-reply sample
        added to `counters` when the contact was waiting since before. `sent`: our message (None when typed
        on the phone): its template and broadcast get the reply."""
        turn: dict[str, Any] = {"set": {}, "remove": []}
        waiting = conv.get(IN_MARK)
        if sent is not None and waiting is not None and float(waiting) > at:
            # Their message after this send was applied first (a reply can overtake the send's report):
            # the send was answered, and counts as replied unless that message counted for another send.
            replied = conv.get(REPLY_MARK)
            if replied is None or float(replied) <= at:
                counters[ins.REPLIED] = 1
                turn["set"] = {REPLY_MARK: waiting}
            return turn
        out_at = conv.get(OUT_MARK)
        if out_at is None or float(out_at) <= at:  # an older send reported late leaves the newer one
            broadcast = sent.broadcast_id if sent is not None else None
            template = template_of(sent) if sent is not None else None
            turn["set"] = {OUT_MARK: at, OUT_TEMPLATE: template or "", OUT_BROADCAST: broadcast or ""}
        if waiting is not None and float(waiting) <= at:
            counters[f"{ins.FIRST_REPLY}{ins.latency_bucket(at - float(waiting))}"] = 1
            turn["remove"] = [IN_MARK]
        return turn

    # ---- the tenant's time zone -----------------------------------------------------------------------

    def settings(self, tenant_id: str) -> ins.InsightsSettings:
        return ins.InsightsSettings(time_zone=self.rows.time_zone(tenant_id) or ins.UTC)

    def replace_settings(self, tenant_id: str, settings: ins.InsightsSettings) -> ins.InsightsSettings:
        """Sets the tenant's default zone. One whose days do not start on a whole UTC hour now (Asia/Kolkata)
        is refused: every daily report without `tz` would be a 422."""
        now = self.clock.now()
        ins.local_days(now, now + 1, ZoneInfo(settings.time_zone))
        self.rows.set_time_zone(tenant_id, settings.time_zone, now)
        return settings

    def zone(self, tenant_id: str, tz: str | None) -> ZoneInfo:
        """The zone of a request: `tz` if given (InvalidInput for an unknown one), else the tenant's."""
        return ins.time_zone(tz if tz is not None else self.rows.time_zone(tenant_id) or ins.UTC)

    # ---- reports --------------------------------------------------------------------------------------

    def report(
        self,
        tenant_id: str,
        *,
        start: float,
        end: float,
        granularity: Granularity,
        sessions: Sequence[Session],
        whole_tenant: bool,
        session_id: str | None = None,
        template: str | None = None,
        broadcast_id: str | None = None,
        zone: ZoneInfo | None = None,
    ) -> ins.Report:
        """The range's totals, its series (one point per bucket: UTC days or hours, or the days of `zone`,
        or UTC hours labelled in it) and the uptime of `sessions`. `whole_tenant`: the caller sees every
        session (else the sessions' own rows are summed). Raises InvalidInput for a range that is empty or
        too long for the granularity, or days of a zone that do not start on a whole UTC hour."""
        zone = zone or ZoneInfo(ins.UTC)
        _check_range(start, end, granularity)
        if not ins.is_utc(zone):
            ins.check_zone_range(start, end, zone)
        if broadcast_id is not None:
            scopes = [keys.insights_scope_broadcast(broadcast_id)]
        elif template is not None:
            scopes = [keys.insights_scope_template(template)]
        elif session_id is not None:
            scopes = [keys.insights_scope_session(session_id)]
        elif whole_tenant:
            scopes = [keys.INSIGHTS_ALL]
        else:
            scopes = [keys.insights_scope_session(s.id) for s in sessions]
        utc = ins.is_utc(zone)
        if granularity is Granularity.DAY and not utc:
            bounds = ins.local_days(start, end, zone)
            counted = self._local_days(tenant_id, scopes, bounds)
        else:  # UTC buckets are the rows themselves (an hour elsewhere is the UTC hour, labelled locally)
            bounds = ins.bounds_between(start, end, granularity)
            by_bucket = self._buckets(tenant_id, granularity, scopes, start, end)
            counted = [by_bucket.get(ins.bucket_of(at, granularity), {}) for at in bounds[:-1]]
        by_number = template is None and broadcast_id is None  # uptime: of the numbers in view
        shown = [s for s in sessions if session_id in (None, s.id)] if by_number else []
        connected = self._connected(tenant_id, shown, start, end, bounds)
        series: list[ins.Point] = []
        totals: dict[str, float] = {}
        for bucket_at, counters in zip(bounds, counted, strict=False):
            if utc:
                label = ins.bucket_of(bucket_at, granularity)
            else:
                label = ins.local_label(bucket_at, granularity, zone)
            ins.merge(totals, counters)
            seconds = sum(c.get(bucket_at, 0.0) for c, _ in connected.values())
            series.append(ins.Point(bucket=label, start=bucket_at, **ins.metric_fields(counters, seconds)))
        uptimes = [
            self._uptime(s, per_bucket, drops, start, end)
            for s, (per_bucket, drops) in zip(shown, connected.values(), strict=True)
        ]
        connected_total = sum(u.connected_seconds for u in uptimes)
        return ins.Report(
            start=start,
            end=end,
            granularity=granularity,
            tz=zone.key,
            session_id=session_id,
            template=template,
            broadcast_id=broadcast_id,
            totals=ins.metrics_of(totals, connected_total),
            series=series,
            sessions=uptimes,
        )

    def by_session(
        self,
        tenant_id: str,
        *,
        start: float,
        end: float,
        sessions: Sequence[Session],
        zone: ZoneInfo | None = None,
    ) -> ins.BreakdownList:
        """Each session's totals over the days (UTC, or of `zone`) overlapping [start, end)."""
        zone = zone or ZoneInfo(ins.UTC)
        _check_range(start, end, Granularity.DAY, limit=False)
        span = _day_span(start, end, zone)
        items = []
        connected = self._connected(tenant_id, sessions, start, end, [start, end])
        for session in sessions:
            counters = self._total(tenant_id, keys.insights_scope_session(session.id), span, zone)
            seconds = sum(connected[session.id][0].values())
            items.append(
                ins.Breakdown(key=session.id, name=session.name, metrics=ins.metrics_of(counters, seconds))
            )
        return ins.BreakdownList(start=start, end=end, tz=zone.key, by="session", items=items)

    def by_template(
        self, tenant_id: str, *, start: float, end: float, zone: ZoneInfo | None = None
    ) -> ins.BreakdownList:
        """Each template's totals (the 50 most used) over the days (UTC, or of `zone`) of the range."""
        zone = zone or ZoneInfo(ins.UTC)
        _check_range(start, end, Granularity.DAY, limit=False)
        span = _day_span(start, end, zone)
        whole = self._total(tenant_id, keys.INSIGHTS_ALL, span, zone)
        usage = ins.metric_fields(whole)["templates"]
        items = []
        for name in list(usage)[:MAX_TEMPLATES]:  # most used first
            counters = self._total(tenant_id, keys.insights_scope_template(name), span, zone)
            items.append(ins.Breakdown(key=name, metrics=ins.metrics_of(counters)))
        return ins.BreakdownList(start=start, end=end, tz=zone.key, by="template", items=items)

    # ---- inside ---------------------------------------------------------------------------------------

    def _buckets(
        self, tenant_id: str, granularity: Granularity, scopes: Sequence[str], start: float, end: float
    ) -> dict[str, dict[str, float]]:
        first, last = _labels(start, end, granularity)
        if len(scopes) == 1:
            return self.rows.buckets(tenant_id, granularity, scopes[0], first, last)
        merged: dict[str, dict[str, float]] = {}
        for scope in scopes:
            for bucket, counters in self.rows.buckets(tenant_id, granularity, scope, first, last).items():
                ins.merge(merged.setdefault(bucket, {}), counters)
        return merged

    def _local_days(
        self, tenant_id: str, scopes: Sequence[str], bounds: Sequence[float]
    ) -> list[dict[str, float]]:
        """The counters of each local day bounds[i]..bounds[i+1], cut from the UTC day and hour rows
        (ins.span_terms): the day rows in one query, the hours a day adds or takes as runs (`_runs`). A
        Madrid day's edge is one or two hours: 90 days read 90 day rows and 91 hour rows, not 2,160. A
        run is summed once and serves both local days that share it."""
        plans = [_parts(ins.span_terms(low, high)) for low, high in itertools.pairwise(bounds)]
        days = sorted({low for plan in plans for g, low, _, _ in plan if g is Granularity.DAY})
        rows = self._buckets(tenant_id, Granularity.DAY, scopes, days[0], days[-1] + ins.DAY) if days else {}
        run = self._runs(tenant_id, scopes, [part for plan in plans for part in plan])
        return [_signed_sum(plan, rows, run) for plan in plans]

    def _runs(
        self, tenant_id: str, scopes: Sequence[str], parts: Sequence[Part]
    ) -> Callable[[float, float], dict[str, float]]:
        """The sum of the hour rows [low, high) in `scopes`, for the hour runs among `parts`, each summed
        once. Short runs (a Madrid day's edge) are read by key, all in one batch: on DynamoDB a few
        BatchGetItem calls instead of a Query round trip per day; longer ones with a query each."""
        short = sorted(
            {
                hour
                for g, low, high, _ in parts
                if g is Granularity.HOUR and high - low <= SHORT_RUN
                for hour in range(int(low), int(high), ins.HOUR)
            }
        )
        by_key = self.rows.hour_rows(tenant_id, scopes, [ins.bucket_of(h, Granularity.HOUR) for h in short])
        found: dict[tuple[float, float], dict[str, float]] = {}

        def run(low: float, high: float) -> dict[str, float]:
            if (low, high) not in found:
                total: dict[str, float] = {}
                if high - low <= SHORT_RUN:
                    for hour in range(int(low), int(high), ins.HOUR):
                        for item in by_key.get(ins.bucket_of(hour, Granularity.HOUR), ()):
                            ins.merge(total, item)
                else:
                    first, last = _labels(low, high, Granularity.HOUR)
                    for scope in scopes:
                        ins.merge(total, self.rows.total(tenant_id, Granularity.HOUR, scope, first, last))
                found[(low, high)] = total
            return found[(low, high)]

        return run

    def _total(
        self, tenant_id: str, scope: str, span: tuple[float, float], zone: ZoneInfo
    ) -> dict[str, float]:
        """One scope's counters over `span` (whole days of `zone`, `_day_span`), summed (a breakdown needs
        no series)."""
        if ins.is_utc(zone):
            return self.rows.total(tenant_id, Granularity.DAY, scope, *_labels(*span, Granularity.DAY))
        plan = _parts(ins.span_terms(*span))
        rows = self._buckets(tenant_id, Granularity.DAY, [scope], plan[0][1], plan[-1][2])
        return _signed_sum(plan, rows, self._runs(tenant_id, [scope], plan))

    def _connected(
        self, tenant_id: str, sessions: Sequence[Session], start: float, end: float, bounds: Sequence[float]
    ) -> dict[str, tuple[dict[float, float], int]]:
        """Per session: connected seconds in each bucket (by bucket start) of [start, end), the buckets
        being bounds[i]..bounds[i+1] (their lengths may differ: a local day of 23 or 25 hours), and how
        many connected periods ended in the range (its disconnects)."""
        now = self.clock.now()
        found: dict[str, tuple[dict[float, float], int]] = {}
        for session in sessions:
            per_bucket: dict[float, float] = {}
            drops = 0
            for began, ended in self.rows.periods(tenant_id, session.id, start, end):
                if ended is not None and start <= ended < end:
                    drops += 1
                if ended is None:  # still open: connected until now if the session still says so
                    ended = now if session.status == SessionStatus.CONNECTED else began
                low, high = max(began, start), min(ended, end, now)
                # A period is mostly one or two buckets: find its first, walk while it lasts.
                index = max(0, bisect.bisect_right(bounds, low) - 1)
                while high > low and index < len(bounds) - 1 and bounds[index] < high:
                    overlap = min(high, bounds[index + 1]) - max(low, bounds[index])
                    if overlap > 0:
                        per_bucket[bounds[index]] = per_bucket.get(bounds[index], 0.0) + overlap
                    index += 1
            found[session.id] = (per_bucket, drops)
        return found

    def _uptime(
        self, session: Session, per_bucket: dict[float, float], disconnects: int, start: float, end: float
    ) -> ins.SessionUptime:
        seconds = sum(per_bucket.values())
        since = max(start, session.created_at)
        span = min(end, self.clock.now()) - since
        return ins.SessionUptime(
            session_id=session.id,
            name=session.name,
            status=session.status.value,
            connected_seconds=round(seconds, 3),
            uptime=round(min(1.0, seconds / span), 4) if span > 0 else None,
            disconnects=disconnects,
        )


def _conversation_key(message: Message) -> keys.Key:
    return keys.conversation(message.tenant_id, conversation_id(message.session_id, message.chat))


def _counted(message: Message, at: float, counters: dict[str, int]) -> Counted:
    return Counted(at, counters, message.session_id)


def _with(update: Update, *, set: dict[str, Any] | None = None, remove: Sequence[str] = ()) -> Update:
    """`update` also setting or removing these attributes (one op per item in a transaction)."""
    return Update(
        update.pk,
        update.sk,
        set={**update.set, **(set or {})},
        remove=[*update.remove, *remove],
        add=update.add,
        condition=update.condition,
    )


def _parts(plan: Sequence[ins.Term]) -> list[Part]:
    """A span's terms with consecutive hours of one sign in one UTC day joined into one run (Mexico City's
    first six UTC hours of a day end one local day and start the next)."""
    parts: list[Part] = []
    for granularity, at, sign in plan:
        last = parts[-1] if parts else None
        joins = last is not None and last[0] is Granularity.HOUR and last[3] == sign and last[2] == at
        if granularity is Granularity.HOUR and joins and at % ins.DAY:
            assert last is not None
            parts[-1] = (Granularity.HOUR, last[1], at + ins.HOUR, sign)
        else:
            parts.append((granularity, at, at + granularity.seconds, sign))
    return parts


def _signed_sum(
    parts: Sequence[Part], days: dict[str, dict[str, float]], run: Callable[[float, float], dict[str, float]]
) -> dict[str, float]:
    """The counters of a span from its parts: day rows from `days` (by UTC label), hour runs from `run`.
    A counter can only come out below 0 where an hour row is missing under its day row (the hour expired
    first at the retention horizon): it is left out."""
    total: dict[str, float] = {}
    for n, (granularity, low, high, sign) in enumerate(parts):
        if granularity is Granularity.DAY:
            counters = days.get(ins.bucket_of(low, granularity), {})
        else:
            counters = run(low, high)
        if n == 0 and sign > 0:  # rows come summed and clean (counters only): copy the first, in C
            total = dict(counters)
        else:
            ins.merge(total, counters, sign)
    if any(sign < 0 for *_, sign in parts):
        total = {name: value for name, value in total.items() if value > 0}
    return total


def _day_span(start: float, end: float, zone: ZoneInfo) -> tuple[float, float]:
    """[start, end) widened to whole days of `zone` (a breakdown sums whole days)."""
    if ins.is_utc(zone):
        return ins.bucket_start(start, Granularity.DAY), math.ceil(end / ins.DAY) * ins.DAY
    ins.check_zone_range(start, end, zone)
    bounds = ins.local_days(start, end, zone)
    return bounds[0], bounds[-1]


def _labels(start: float, end: float, granularity: Granularity) -> tuple[str, str]:
    """The labels of the first and last buckets of [start, end)."""
    return ins.bucket_of(start, granularity), ins.bucket_of(max(start, end - 0.001), granularity)


def _check_range(start: float, end: float, granularity: Granularity, *, limit: bool = True) -> None:
    if end <= start:
        raise InvalidInput("`to` must be after `from`", details={"field": "to"})
    size = granularity.seconds  # counted, not listed: a range of centuries must not build a list
    buckets = int(math.ceil(end / size) - math.floor(start / size))
    most = MAX_BUCKETS[granularity] if limit else MAX_BUCKETS[Granularity.DAY]
    if buckets > most:
        raise InvalidInput(
            f"the range holds {buckets} {granularity.value} buckets; at most {most}",
            details={"field": "from", "limit": most},
        )
