"""Groups: ask a connected number to list its WhatsApp groups, store what it reports, answer who is known.

Rows: store/groups.py (keys and access patterns: store/keys.py): the groups the number belongs to, as
the newest sync reported them, and when that sync landed (`synced_at`) with how many groups.
A sync replaces the list: groups it reports are written with its time, groups it no longer reports (the
number left them) are deleted. Every write is conditional on `synced_at <= this sync's time`, so a late
or redelivered older `groups_synced` event never overwrites a newer one, and a repeat changes nothing.
"""

from __future__ import annotations

from typing import Any

from wagate.domain.errors import ConflictError, InvalidInput, NotFound
from wagate.domain.events import Command, CommandType, SessionEvent
from wagate.domain.groups import Group, GroupSync, is_group
from wagate.domain.sessions import SessionStatus
from wagate.observability import logger
from wagate.ports import Clock, Queues, Table
from wagate.services.sessions import SessionService, command_queue, shard_of
from wagate.store.groups import GroupRepository


class GroupService:
    def __init__(self, table: Table, queues: Queues, clock: Clock, sessions: SessionService) -> None:
        self.table = table
        self.queues = queues
        self.clock = clock
        self.sessions = sessions
        self.rows = GroupRepository(table)

    # ---- the API ------------------------------------------------------------------------------------

    def request_sync(self, tenant_id: str, session_id: str) -> GroupSync:
        """Sends `sync_groups` to the number's connector. Returns the last sync (the new one lands later).

        Raises NotFound (unknown or another tenant's session), ConflictError `session_not_connected`.
        """
        session = self.sessions.get(tenant_id, session_id)
        if session.status != SessionStatus.CONNECTED:
            raise ConflictError(
                f"session {session_id} is {session.status.value}: only a connected number lists its groups",
                code="session_not_connected",
                details={"status": session.status.value},
            )
        command = Command(
            type=CommandType.SYNC_GROUPS,
            tenant_id=tenant_id,
            session_id=session_id,
            issued_at=self.clock.now(),
        )
        queue = self.queues.get(command_queue(shard_of(session_id, self.sessions.shards)))
        queue.send(command.model_dump_json(), group_id=session_id, dedup_id=command.id)
        return self.last_sync(tenant_id, session_id)

    def last_sync(self, tenant_id: str, session_id: str) -> GroupSync:
        return self.rows.last_sync(tenant_id, session_id) or GroupSync(session_id=session_id)

    def list(
        self, tenant_id: str, session_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[Group], GroupSync, str | None]:
        """The session's groups by id. Raises NotFound for an unknown or another tenant's session."""
        self.sessions.get(tenant_id, session_id)
        groups, next_cursor = self.rows.page(tenant_id, session_id, limit=limit, cursor=cursor)
        return groups, self.last_sync(tenant_id, session_id), next_cursor

    def check_recipient(self, tenant_id: str, session_id: str, jid: str) -> None:
        """Refuses a group the number is not in, once its groups have been synced.

        Before the first sync nothing is known, so any well-formed group id passes: the connector reports
        a failure if the number is not a member. Raises InvalidInput `unknown_group`.
        """
        sync = self.rows.last_sync(tenant_id, session_id)
        if sync is None or self.rows.has(tenant_id, session_id, jid):
            return
        raise InvalidInput(
            f"to: session {session_id} is not in group {jid} (as of its last group sync); if it joined "
            f"since, sync again with POST /v1/sessions/{session_id}/groups/sync",
            code="unknown_group",
            details={"field": "to", "to": jid, "session_id": session_id, "synced_at": sync.synced_at},
        )

    # ---- what the connector reports -----------------------------------------------------------------

    def record(self, event: SessionEvent) -> GroupSync | None:
        """Stores a `groups_synced` event. Returns the sync, or None when it is stale or its session gone."""
        try:
            session = self.sessions.record(event.tenant_id, event.session_id)
        except NotFound:
            return None  # deleted meanwhile
        if session.fence > event.fence:
            return None  # reported under a lease that has since moved on
        at = float(event.at)
        groups = [g for g in (_group(event, raw) for raw in event.data.get("groups") or []) if g]
        if not self.rows.replace_all(event.tenant_id, event.session_id, groups, at):
            return None  # a newer sync has landed already
        return GroupSync(session_id=event.session_id, synced_at=at, count=len(groups))


def _group(event: SessionEvent, raw: Any) -> Group | None:
    """One reported group; None (logged) for something that is not a group."""
    jid = raw.get("jid") if isinstance(raw, dict) else None
    try:
        if not isinstance(raw, dict) or not isinstance(jid, str) or not is_group(jid) or len(jid) > 64:
            raise ValueError("no group jid")
        group = Group(
            jid=jid,
            session_id=event.session_id,
            subject=str(raw.get("subject") or ""),
            participants=max(0, int(raw.get("participants") or 0)),
            owner_jid=raw.get("owner_jid"),
            description=raw.get("description"),
            created_at=raw.get("created_at"),
            synced_at=float(event.at),
        )
    except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        # One bad entry must not park the whole sync in the DLQ: skip it, keep the rest.
        logger.warning("groups_synced: an entry ignored", extra={"entry": str(raw)[:200], "error": str(exc)})
        return None
    return group
