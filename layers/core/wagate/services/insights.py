"""Insights: the rollup writes each applied change owes, reply tracking, and the reports read from rollups.

Writes. A message's status move, an inbound message and a session's status change each hand the
counters they owe to the transaction that applies them (`status_ops`, `inbound_ops`, `session_ops`,
`created_ops`): the change is applied once (monotonic statuses, provider-id deduplication, status guards
and fences), so it is counted once, whatever is redelivered or arrives late. Replies and response times
need the conversation's turn: after a send or an inbound message is stored, `after_sent` /
`after_inbound` move two marks on the conversation row (`ins_out_at`: our last unanswered send;
`ins_in_at`: the contact's first unanswered message) with conditions on the value read, and the counter
moves in that same transaction, so a retry or a race counts nothing twice. (A crash between the change
and its mark loses that one reply sample; it never doubles one.)

Reads. A report is one query per scope and granularity over the range's buckets (store/insights.py),
plus each session's connection periods for uptime: O(buckets + sessions + periods), never O(messages).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wagate.conditions import Attr
from wagate.domain import insights as ins
from wagate.domain.conversations import conversation_id
from wagate.domain.errors import ConflictError, InvalidInput
from wagate.domain.insights import Granularity
from wagate.domain.messages import Direction, Message, MessageStatus, implied_steps
from wagate.domain.sessions import Session, SessionStatus
from wagate.domain.templates import TEMPLATE_NAME
from wagate.ports import Update
from wagate.store import keys
from wagate.store.insights import InsightsRows, adds

if TYPE_CHECKING:
    from wagate.ports import Clock, Table, TransactOp

MAX_BUCKETS = {Granularity.DAY: 400, Granularity.HOUR: 24 * 31}
MAX_TEMPLATES = 50
OUT_MARK, OUT_TEMPLATE, IN_MARK = "ins_out_at", "ins_out_tpl", "ins_in_at"


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

    # ---- counters committed with the change -----------------------------------------------------------

    def status_ops(self, message: Message, previous: MessageStatus) -> list[TransactOp]:
        """What an outbound message's move from `previous` to its status adds, in its send cohort."""
        if message.direction != Direction.OUTBOUND:
            return []
        counters: dict[str, int] = {}
        template = template_of(message)
        sent_at = message.sent_at
        for step in [*implied_steps(previous, message.status), message.status]:
            if step == MessageStatus.SENT:
                counters[ins.SENT] = 1
                if template:
                    counters[ins.TEMPLATE_SENT + template] = 1
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
        return list(
            adds(
                message.tenant_id,
                cohort,
                counters,
                counted_id=message.id,
                session_id=message.session_id,
                template=template,
            )
        )

    def inbound_ops(self, message: Message) -> list[TransactOp]:
        """A stored incoming message: one `inbound`; one typed on the account's phone: one `sent`."""
        counter = ins.SENT if message.direction == Direction.OUTBOUND else ins.INBOUND
        return list(
            adds(
                message.tenant_id,
                message.created_at,
                {counter: 1},
                counted_id=message.id,
                session_id=message.session_id,
            )
        )

    def created_ops(self, session: Session) -> list[TransactOp]:
        return list(
            adds(
                session.tenant_id,
                session.created_at,
                {ins.CREATED: 1},
                counted_id=session.id,
                session_id=session.id,
            )
        )

    def session_ops(self, old: Session, new: Session, at: float) -> list[TransactOp]:
        """A status change's counters and connection period (the status guard makes it happen once)."""
        was, now = old.status == SessionStatus.CONNECTED, new.status == SessionStatus.CONNECTED
        tenant_id, session_id = new.tenant_id, new.id
        ops: list[TransactOp] = []
        if now and not was:
            since = new.connected_at or at
            ops.append(self.rows.period_start(tenant_id, session_id, since))
            if old.connected_at is None:  # never linked before
                ops.extend(
                    adds(tenant_id, since, {ins.LINKED: 1}, counted_id=session_id, session_id=session_id)
                )
        elif was and not now:
            if old.connected_at is not None:
                ops.append(self.rows.period_end(tenant_id, session_id, old.connected_at, at))
            ops.extend(
                adds(tenant_id, at, {ins.DISCONNECTS: 1}, counted_id=session_id, session_id=session_id)
            )
        return ops

    # ---- the conversation's turn: replies and first-reply times -------------------------------------------

    def after_sent(self, message: Message) -> None:
        """Our message went out: it is the one a reply will answer; if the contact was waiting for us,
        how long they waited is one first-reply sample."""
        if (
            message.direction != Direction.OUTBOUND
            or message.sent_at is None
            or message.chat.endswith("@g.us")
        ):
            return
        at = message.sent_at
        key = keys.conversation(message.tenant_id, conversation_id(message.session_id, message.chat))
        item = self.table.get(*key)
        if item is None or (item.get(OUT_MARK) is not None and float(item[OUT_MARK]) > at):
            return  # no conversation, or a later send of ours is already the one awaiting a reply
        mark = {OUT_MARK: at, OUT_TEMPLATE: template_of(message) or ""}
        waiting = item.get(IN_MARK)
        try:
            if waiting is None or float(waiting) > at:
                self.table.update(*key, set=mark, condition=_unchanged(item, OUT_MARK))
                return
            counters = {f"{ins.FIRST_REPLY}{ins.latency_bucket(at - float(waiting))}": 1}
            self.table.transact_write(
                [
                    Update(*key, set=mark, remove=[IN_MARK], condition=Attr(IN_MARK).eq(waiting)),
                    *adds(
                        message.tenant_id, at, counters, counted_id=message.id, session_id=message.session_id
                    ),
                ]
            )
        except ConflictError:
            return  # the conversation moved meanwhile (another send, a reply): that writer counted it

    def after_inbound(self, message: Message) -> None:
        """The contact wrote: if we were waiting, our last send got its reply (counted in that send's
        cohort); from now on they wait for us. Safe to call again for a redelivered message."""
        if message.direction != Direction.INBOUND or message.chat.endswith("@g.us"):
            return
        at = message.created_at
        key = keys.conversation(message.tenant_id, conversation_id(message.session_id, message.chat))
        item = self.table.get(*key)
        if item is None:
            return
        out_at = item.get(OUT_MARK)
        try:
            if out_at is not None and float(out_at) <= at:
                template = str(item.get(OUT_TEMPLATE) or "") or None
                self.table.transact_write(
                    [
                        Update(
                            *key,
                            set={IN_MARK: at},
                            remove=[OUT_MARK, OUT_TEMPLATE],
                            condition=Attr(OUT_MARK).eq(out_at),
                        ),
                        *adds(
                            message.tenant_id,
                            float(out_at),
                            {ins.REPLIED: 1},
                            counted_id=message.id,
                            session_id=message.session_id,
                            template=template,
                        ),
                    ]
                )
            elif out_at is None and item.get(IN_MARK) is None:
                self.table.update(
                    *key,
                    set={IN_MARK: at},
                    condition=Attr("pk").exists() & Attr(IN_MARK).not_exists() & Attr(OUT_MARK).not_exists(),
                )
        except ConflictError:
            return  # another message moved the turn first

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
    ) -> ins.Report:
        """The range's totals, its series (one point per bucket) and the uptime of `sessions`.
        `whole_tenant`: the caller sees every session (else the sessions' own rows are summed).
        Raises InvalidInput for a range that is empty or too long for the granularity."""
        _check_range(start, end, granularity)
        if template is not None:
            scopes = [keys.insights_scope_template(template)]
        elif session_id is not None:
            scopes = [keys.insights_scope_session(session_id)]
        elif whole_tenant:
            scopes = [keys.INSIGHTS_ALL]
        else:
            scopes = [keys.insights_scope_session(s.id) for s in sessions]
        by_bucket = self._buckets(tenant_id, granularity, scopes, start, end)
        shown = [] if template is not None else [s for s in sessions if session_id in (None, s.id)]
        connected = self._connected(tenant_id, shown, start, end, granularity)
        series: list[ins.Point] = []
        totals: dict[str, float] = {}
        for bucket_at in ins.buckets_between(start, end, granularity):
            label = ins.bucket_of(bucket_at, granularity)
            counters = by_bucket.get(label, {})
            ins.merge(totals, counters)
            metrics = ins.metrics_of(counters, sum(c.get(bucket_at, 0.0) for c in connected.values()))
            series.append(ins.Point(bucket=label, start=bucket_at, **metrics.model_dump()))
        uptimes = [
            self._uptime(s, by_session, start, end)
            for s, by_session in zip(shown, connected.values(), strict=True)
        ]
        connected_total = sum(u.connected_seconds for u in uptimes)
        return ins.Report(
            start=start,
            end=end,
            granularity=granularity,
            session_id=session_id,
            template=template,
            totals=ins.metrics_of(totals, connected_total),
            series=series,
            sessions=uptimes,
        )

    def by_session(
        self, tenant_id: str, *, start: float, end: float, sessions: Sequence[Session]
    ) -> ins.BreakdownList:
        _check_range(start, end, Granularity.DAY, limit=False)
        items = []
        connected = self._connected(tenant_id, sessions, start, end, Granularity.DAY)
        for session in sessions:
            counters = _summed(
                self._buckets(
                    tenant_id, Granularity.DAY, [keys.insights_scope_session(session.id)], start, end
                )
            )
            seconds = sum(connected[session.id].values())
            items.append(
                ins.Breakdown(key=session.id, name=session.name, metrics=ins.metrics_of(counters, seconds))
            )
        return ins.BreakdownList(start=start, end=end, by="session", items=items)

    def by_template(self, tenant_id: str, *, start: float, end: float) -> ins.BreakdownList:
        _check_range(start, end, Granularity.DAY, limit=False)
        usage = ins.metrics_of(
            _summed(self._buckets(tenant_id, Granularity.DAY, [keys.INSIGHTS_ALL], start, end))
        ).templates
        items = []
        for name in list(usage)[:MAX_TEMPLATES]:  # most used first
            scope = [keys.insights_scope_template(name)]
            counters = _summed(self._buckets(tenant_id, Granularity.DAY, scope, start, end))
            items.append(ins.Breakdown(key=name, metrics=ins.metrics_of(counters)))
        return ins.BreakdownList(start=start, end=end, by="template", items=items)

    # ---- inside ---------------------------------------------------------------------------------------

    def _buckets(
        self, tenant_id: str, granularity: Granularity, scopes: Sequence[str], start: float, end: float
    ) -> dict[str, dict[str, float]]:
        first, last = ins.bucket_of(start, granularity), ins.bucket_of(max(start, end - 0.001), granularity)
        merged: dict[str, dict[str, float]] = {}
        for scope in scopes:
            for bucket, counters in self.rows.buckets(tenant_id, granularity, scope, first, last).items():
                ins.merge(merged.setdefault(bucket, {}), counters)
        return merged

    def _connected(
        self, tenant_id: str, sessions: Sequence[Session], start: float, end: float, granularity: Granularity
    ) -> dict[str, dict[float, float]]:
        """Per session: connected seconds in each bucket (by bucket start) of [start, end)."""
        now = self.clock.now()
        found: dict[str, dict[float, float]] = {}
        for session in sessions:
            per_bucket: dict[float, float] = {}
            for began, ended in self.rows.periods(tenant_id, session.id, start, end):
                if ended is None:  # still open: connected until now if the session still says so
                    ended = now if session.status == SessionStatus.CONNECTED else began
                low, high = max(began, start), min(ended, end, now)
                for bucket_at in ins.buckets_between(low, high, granularity) if high > low else []:
                    overlap = min(high, bucket_at + granularity.seconds) - max(low, bucket_at)
                    if overlap > 0:
                        per_bucket[bucket_at] = per_bucket.get(bucket_at, 0.0) + overlap
            found[session.id] = per_bucket
        return found

    def _uptime(
        self, session: Session, per_bucket: dict[float, float], start: float, end: float
    ) -> ins.SessionUptime:
        seconds = sum(per_bucket.values())
        since = max(start, session.created_at)
        span = min(end, self.clock.now()) - since
        disconnects = 0
        first, last = (
            ins.bucket_of(start, Granularity.DAY),
            ins.bucket_of(max(start, end - 0.001), Granularity.DAY),
        )
        scope = keys.insights_scope_session(session.id)
        for counters in self.rows.buckets(session.tenant_id, Granularity.DAY, scope, first, last).values():
            disconnects += int(counters.get(ins.DISCONNECTS, 0))
        return ins.SessionUptime(
            session_id=session.id,
            name=session.name,
            status=session.status.value,
            connected_seconds=round(seconds, 3),
            uptime=round(min(1.0, seconds / span), 4) if span > 0 else None,
            disconnects=disconnects,
        )


def _summed(by_bucket: dict[str, dict[str, float]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for counters in by_bucket.values():
        ins.merge(total, counters)
    return total


def _unchanged(item: dict[str, Any], name: str) -> Any:
    """Still as read: the mark `name` has the value read (or is still absent), and the row exists."""
    value = item.get(name)
    return Attr("pk").exists() & (Attr(name).not_exists() if value is None else Attr(name).eq(value))


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
