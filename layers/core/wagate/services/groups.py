"""Groups: list a number's WhatsApp groups, change them through it, store what it reports, who is in.

Rows: store/groups.py (keys and access patterns: store/keys.py): the groups the number belongs to, as
the newest sync reported them, and when that sync landed (`synced_at`) with how many groups.
A sync replaces the list: groups it reports are written with its time, groups it no longer reports (the
number left them) are deleted. Every write is conditional on `synced_at <= this sync's time`, so a late
or redelivered older `groups_synced` event never overwrites a newer one, and a repeat changes nothing.

Changes. `request_operation` stores a pending operation and sends the `group` command; the connector
reports its outcome (`group_operation`: done with per-participant results / an invite link, or failed
with WhatsApp's refusal by meaning), and what others change arrives as `group_updated` (WhatsApp's w:gp2
notifications, the group read again). Both rewrite the group's row (or drop it when the number left), so
the list the CRM reads never goes stale; both reach CRMs as `group_updated` webhooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wagate.domain.errors import ConflictError, InvalidInput, NotFound
from wagate.domain.events import Command, CommandType, SessionEvent
from wagate.domain.groups import (
    Group,
    GroupAction,
    GroupMember,
    GroupOperation,
    GroupSync,
    OperationStatus,
    is_group,
    outcome_fields,
)
from wagate.domain.ids import new_id
from wagate.domain.sessions import Provider, Session, SessionStatus
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
        _check_connected(session, "lists its groups")
        command = Command(
            type=CommandType.SYNC_GROUPS,
            tenant_id=tenant_id,
            session_id=session_id,
            issued_at=self.clock.now(),
        )
        self._send(command)
        return self.last_sync(tenant_id, session_id)

    def request_operation(
        self,
        tenant_id: str,
        session_id: str,
        action: GroupAction,
        *,
        group_jid: str | None = None,
        subject: str | None = None,
        description: str | None = None,
        participants: Sequence[str] = (),
        external_id: str | None = None,
    ) -> GroupOperation:
        """Queues a group change for the number's connector; the outcome lands in a few seconds.

        Raises NotFound (unknown session; `unknown_group`: a group the number is not in, as of its last
        sync), InvalidInput `groups_not_supported` (a Cloud API number), ConflictError
        `session_not_connected`."""
        session = self.sessions.get(tenant_id, session_id)
        if session.provider is Provider.CLOUD:
            raise InvalidInput(
                "the Cloud API has no groups: use a web (linked device) session",
                code="groups_not_supported",
                details={"provider": session.provider.value},
            )
        _check_connected(session, "changes groups")
        if group_jid is not None:
            if not is_group(group_jid) or len(group_jid) > 64:
                raise _unknown_group(session_id, group_jid[:64])
            self.require_known(tenant_id, session_id, group_jid)
        now = self.clock.now()
        operation = GroupOperation(
            id=new_id("gop", now),
            session_id=session_id,
            action=action,
            group_jid=group_jid,
            status=OperationStatus.PENDING,
            requested_at=now,
            external_id=external_id,
        )
        self.rows.add_operation(tenant_id, operation)
        data: dict[str, Any] = {"operation_id": operation.id, "action": action.value, "group_jid": group_jid}
        data.update(subject=subject, description=description, participants=list(participants))
        command = Command(
            type=CommandType.GROUP, tenant_id=tenant_id, session_id=session_id, issued_at=now, data=data
        )
        self._send(command)
        return operation

    def operation(self, tenant_id: str, session_id: str, operation_id: str) -> GroupOperation:
        """Raises NotFound (unknown session, or an operation unknown or over a week old)."""
        self.sessions.get(tenant_id, session_id)
        found = self.rows.operation(tenant_id, session_id, operation_id)
        if found is None:
            raise NotFound(
                f"no group operation {operation_id} (they are kept a week)", code="operation_not_found"
            )
        return found

    def get(self, tenant_id: str, session_id: str, jid: str) -> Group:
        """Raises NotFound (unknown session; `unknown_group`)."""
        self.sessions.get(tenant_id, session_id)
        group = self.rows.get(tenant_id, session_id, jid)
        if group is None:
            raise _unknown_group(session_id, jid)
        return group

    def set_external_id(self, tenant_id: str, session_id: str, jid: str, external_id: str | None) -> Group:
        """Links the group to the CRM's own record (null unlinks). Raises NotFound (`unknown_group`)."""
        self.sessions.get(tenant_id, session_id)
        try:
            return self.rows.set_external_id(tenant_id, session_id, jid, external_id)
        except ConflictError:
            raise _unknown_group(session_id, jid) from None

    def require_known(self, tenant_id: str, session_id: str, jid: str) -> None:
        """Refuses a group the number is not in, once its groups are known (a sync or a change stored
        it). Raises NotFound `unknown_group`."""
        if self.rows.last_sync(tenant_id, session_id) is None:
            return  # nothing known yet: WhatsApp has the last word
        if not self.rows.has(tenant_id, session_id, jid):
            raise _unknown_group(session_id, jid)

    def _send(self, command: Command) -> None:
        queue = self.queues.get(command_queue(shard_of(command.session_id, self.sessions.shards)))
        queue.send(command.model_dump_json(), group_id=command.session_id, dedup_id=command.id)

    def last_sync(self, tenant_id: str, session_id: str) -> GroupSync:
        return self.rows.last_sync(tenant_id, session_id) or GroupSync(session_id=session_id)

    def linked(self, tenant_id: str, session_id: str, external_id: str) -> tuple[list[Group], GroupSync]:
        """The session's groups carrying this `external_id` (a number is in hundreds of groups at most:
        read through, no index). Raises NotFound for an unknown or another tenant's session."""
        self.sessions.get(tenant_id, session_id)
        found: list[Group] = []
        cursor: str | None = None
        while True:
            groups, cursor = self.rows.page(tenant_id, session_id, limit=500, cursor=cursor)
            found += [group for group in groups if group.external_id == external_id]
            if cursor is None:
                return found, self.last_sync(tenant_id, session_id)

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
            return  # a group created or joined since the sync is stored by its change
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

    def record_operation(self, event: SessionEvent) -> tuple[GroupOperation, dict[str, Any] | None] | None:
        """Stores a `group_operation` outcome. Returns the finished operation and, when it changed a
        group, the `group_updated` it makes; None when it was stored already (a redelivery)."""
        data = event.data
        result = data.get("result") if isinstance(data.get("result"), dict) else {}
        assert isinstance(result, dict)
        ok, at, action = bool(data.get("ok")), float(event.at), str(data.get("action") or "")
        jid = data.get("group_jid") if isinstance(data.get("group_jid"), str) else None
        group = None
        if ok:
            pending = self.rows.operation(
                event.tenant_id, event.session_id, str(data.get("operation_id") or "")
            )
            extra: dict[str, Any] = {}
            if pending is not None and pending.external_id and action == "create":
                extra["external_id"] = pending.external_id
            link = result.get("invite_link")
            if (
                isinstance(link, str)
                and jid is not None
                and self.rows.has(event.tenant_id, event.session_id, jid)
            ):
                extra["invite_link"] = link
                group = self.rows.write(
                    event.tenant_id, event.session_id, {"jid": jid, **extra}, float(event.at)
                )
            group = (
                self._apply_group(event, jid, result.get("group"), left=action == "leave", extra=extra)
                or group
            )
        stored: dict[str, Any] = {
            **outcome_fields(result),
            "group": group.model_dump(mode="json") if group else None,
        }
        error = (
            None
            if ok
            else {
                "code": str(data.get("error_code") or "group_refused"),
                "message": str(data.get("error") or ""),
            }
        )
        finished = self.rows.finish_operation(
            event.tenant_id,
            event.session_id,
            str(data.get("operation_id") or ""),
            status=OperationStatus.DONE if ok else OperationStatus.FAILED,
            at=at,
            group_jid=jid,
            result=stored,
            error=error,
        )
        if finished is None:
            return None
        change = CHANGE_OF_OPERATION.get(action)
        if not ok or change is None or jid is None:
            return finished, None
        if action == "create":  # everyone in the new group; otherwise whom the change was about
            members = [m.model_dump() for m in (group.members or [])] if group is not None else []
        else:
            done = [p for p in finished.participants or [] if p.status == 200]
            members = [{"jid": p.jid, "phone": p.phone, "lid": None, "role": None} for p in done]
        update = {
            "group_jid": jid,
            "action": change,
            "members": members,
            "subject": data_of(group, "subject") if action in ("create", "subject") else None,
            "description": data_of(group, "description") if action == "description" else None,
            "invite_link": finished.invite_link,
            "by_jid": None,  # this number, through the API
            "by_phone": None,
            "operation_id": finished.id,
            "group": group.model_dump(mode="json") if group is not None else None,
            "at": at,
        }
        return finished, update

    def record_change(self, event: SessionEvent) -> dict[str, Any] | None:
        """Stores a `group_updated` the number saw (someone changed a group). Returns the event's data
        with the group as now stored (`external_id` included); None when stale or its session is gone."""
        try:
            session = self.sessions.record(event.tenant_id, event.session_id)
        except NotFound:
            return None
        if session.fence > event.fence:
            return None
        data = dict(event.data)
        jid = data.get("group_jid")
        if not isinstance(jid, str) or not is_group(jid):
            logger.warning("group_updated without a group id ignored", extra={"group_jid": str(jid)[:80]})
            return None
        at, tenant_id, session_id = float(event.at), event.tenant_id, event.session_id
        if data.get("action") in ("left", "deleted"):
            if not self.rows.forget(tenant_id, session_id, jid, at):
                return None  # re-joined since (a newer report stored it)
            data["group"] = None
            return data
        raw = data.get("group")
        fields = _group_fields(raw) if isinstance(raw, dict) else None
        if fields is None:  # the change alone (the group could not be read again)
            if not self.rows.has(tenant_id, session_id, jid):
                return data  # a group not stored here: still news for the CRM
            fields = {
                "jid": jid,
                **{k: data[k] for k in ("subject", "description") if isinstance(data.get(k), str)},
            }
        if isinstance(data.get("invite_link"), str):
            fields["invite_link"] = data["invite_link"]
        stored = self.rows.write(tenant_id, session_id, fields, at)
        if stored is None:
            return None  # older than what is stored: neither the list nor the CRM go back in time
        data["group"] = stored.model_dump(mode="json")
        return data

    def _apply_group(
        self,
        event: SessionEvent,
        jid: str | None,
        raw: Any,
        *,
        left: bool,
        extra: dict[str, Any] | None = None,
    ) -> Group | None:
        """Writes (or, when the number left, drops) the group a report carries. Returns it as stored."""
        if jid is None:
            return None
        at = float(event.at)
        if left:
            self.rows.forget(event.tenant_id, event.session_id, jid, at)
            return None
        if not isinstance(raw, dict):
            return None
        fields = _group_fields(raw)
        if fields is None:
            return None
        return self.rows.write(event.tenant_id, event.session_id, {**fields, **(extra or {})}, at)


# The `group_updated` action a done operation makes (reading the invite link changes nothing).
CHANGE_OF_OPERATION = {
    "create": "created",
    "add": "add",
    "remove": "remove",
    "promote": "promote",
    "demote": "demote",
    "subject": "subject",
    "description": "description",
    "revoke_invite": "invite_revoked",
    "leave": "left",
}


def data_of(group: Group | None, field: str) -> Any:
    return getattr(group, field) if group is not None else None


def _check_connected(session: Session, what: str) -> None:
    if session.status != SessionStatus.CONNECTED:
        raise ConflictError(
            f"session {session.id} is {session.status.value}: only a connected number {what}",
            code="session_not_connected",
            details={"status": session.status.value},
        )


def _unknown_group(session_id: str, jid: str) -> NotFound:
    return NotFound(
        f"session {session_id} is not in group {jid} (as far as wagate knows); if it joined since, sync "
        f"with POST /v1/sessions/{session_id}/groups/sync",
        code="unknown_group",
        details={"group_jid": jid, "session_id": session_id},
    )


def _group_fields(raw: dict[str, Any]) -> dict[str, Any] | None:
    """A reported group (the engine's GroupInfo) as row fields; None (logged) when it is not one."""
    jid = raw.get("jid")
    try:
        if not isinstance(jid, str) or not is_group(jid) or len(jid) > 64:
            raise ValueError("no group jid")
        members = raw.get("members")
        fields: dict[str, Any] = {
            "jid": jid,
            "subject": str(raw.get("subject") or ""),
            "participants": max(0, int(raw.get("participants") or 0)),
            "owner_jid": raw.get("owner_jid"),
            "description": raw.get("description"),
            "created_at": raw.get("created_at"),
        }
        if isinstance(members, list) and members:
            fields["members"] = [GroupMember.model_validate(m).model_dump() for m in members]
    except (TypeError, ValueError) as exc:
        logger.warning("a reported group ignored", extra={"entry": str(raw)[:200], "error": str(exc)})
        return None
    return fields


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
