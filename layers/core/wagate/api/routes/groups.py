"""/v1/sessions/{id}/groups: the WhatsApp groups a number is in (seed 002's workshops), syncing them, and
changing them through the number: create, participants, subject, description, invite link, leave.

Scopes: reading takes `read` or `send`; a sync, a change and the CRM's `external_id` take `send` or
`admin` (a key that sends to groups may run them). Session-scoped keys reach their own sessions only.
Sending to a group (POST /v1/messages): once a number's groups are known, a group it is not in is refused
(422 `unknown_group`); before its first sync any well-formed group id is accepted and the connector has
the last word.

A change is done by the number on WhatsApp, so it is asynchronous: 202 with a `GroupOperation` (pending);
its outcome lands in a few seconds (GET /v1/sessions/{id}/group-operations/{operation_id}, the
`group_operation` webhook), and the change itself as `group_updated` (as do changes others make).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import check_session, require_any
from wagate.domain.groups import (
    MAX_DESCRIPTION,
    MAX_PARTICIPANTS,
    MAX_SUBJECT,
    ExternalId,
    Group,
    GroupAction,
    GroupOperation,
)
from wagate.domain.tenants import Principal, Scope
from wagate.services.groups import GroupService

router = APIGatewayHttpRouter()
Groups = Annotated[GroupService, Depends(compose.group_service)]
Viewer = Annotated[Principal, Depends(require_any(Scope.READ, Scope.SEND))]
Syncer = Annotated[Principal, Depends(require_any(Scope.SEND, Scope.ADMIN))]


class GroupList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Group]
    synced_at: float | None = Field(description="When the last sync landed; null if the groups never were")
    cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last")


class SyncRequested(BaseModel):
    model_config = ConfigDict(defer_build=True)

    session_id: str
    status: str = Field("requested", description="The new list lands in a few seconds (`groups_synced`)")
    last_synced_at: float | None = Field(description="When the previous sync landed")


@router.post(
    "/sessions/<session_id>/groups/sync", summary="Ask the number to list its groups", tags=["groups"]
)
def sync_groups(session_id: str, principal: Syncer, service: Groups) -> tuple[dict[str, Any], int]:
    """202; the list is replaced when the connector reports it (dashboards get `groups_synced`).
    409 `session_not_connected` unless the session is connected."""
    check_session(principal, session_id)
    last = service.request_sync(principal.tenant_id, session_id)
    return SyncRequested(session_id=session_id, last_synced_at=last.synced_at).model_dump(mode="json"), 202


@router.get("/sessions/<session_id>/groups", summary="The number's groups (as last synced)", tags=["groups"])
def list_groups(
    session_id: str,
    principal: Viewer,
    service: Groups,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query()] = None,
    external_id: Annotated[
        str | None,
        Query(
            min_length=1, max_length=128, description="Only the group(s) linked to this CRM id (no paging)"
        ),
    ] = None,
) -> GroupList:
    check_session(principal, session_id)
    if external_id is not None:
        linked, sync = service.linked(principal.tenant_id, session_id, external_id)
        return GroupList(items=linked, synced_at=sync.synced_at, cursor=None)
    groups, sync, next_cursor = service.list(principal.tenant_id, session_id, limit=limit, cursor=cursor)
    return GroupList(items=groups, synced_at=sync.synced_at, cursor=next_cursor)


# ---- changes ------------------------------------------------------------------------------------------

Participant = Annotated[
    str,
    Field(
        pattern=r"^(\+?[1-9][0-9]{5,14}|[0-9]{1,20}@(s\.whatsapp\.net|lid))$",
        description="E.164 (`+15551234567`) or a WhatsApp user id (`15551234567@s.whatsapp.net`, `…@lid`)",
    ),
]
Participants = Annotated[list[Participant], Field(min_length=1, max_length=MAX_PARTICIPANTS)]
Subject = Annotated[str, Field(min_length=1, max_length=MAX_SUBJECT, description="The group's name")]
Description = Annotated[
    str, Field(max_length=MAX_DESCRIPTION, description="The group's description; empty deletes it")
]


class NewGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    subject: Subject
    participants: Annotated[list[Participant], Field(max_length=MAX_PARTICIPANTS)] = Field(
        default_factory=list, description="Who to add; the number itself is in it anyway"
    )
    description: Description | None = None
    external_id: ExternalId | None = None


class ParticipantsChange(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    action: Literal["add", "remove", "promote", "demote"] = Field(
        description="`promote` makes them admins, `demote` takes it back; only admins may do any of these"
    )
    participants: Participants


class SubjectChange(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    subject: Subject


class DescriptionChange(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    description: Description


class GroupPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    external_id: ExternalId | None = Field(description="The CRM's own id (e.g. the workshop); null unlinks")


Changer = Annotated[Principal, Depends(require_any(Scope.SEND, Scope.ADMIN))]


def _queued(operation: GroupOperation) -> tuple[dict[str, Any], int]:
    return operation.model_dump(mode="json"), 202


@router.post("/sessions/<session_id>/groups", summary="Create a group", tags=["groups"])
def create_group(
    session_id: str, body: NewGroup, principal: Changer, service: Groups
) -> tuple[dict[str, Any], int]:
    """202 with the pending operation; once done it names the group and, per participant, whether they
    were added (403: their privacy settings refuse, WhatsApp prepared an invitation instead). 409
    `session_not_connected`; 422 `groups_not_supported` (a Cloud API number)."""
    check_session(principal, session_id)
    return _queued(
        service.request_operation(
            principal.tenant_id,
            session_id,
            GroupAction.CREATE,
            subject=body.subject,
            description=body.description,
            participants=body.participants,
            external_id=body.external_id,
        )
    )


@router.get("/sessions/<session_id>/groups/<group_jid>", summary="One group", tags=["groups"])
def get_group(session_id: str, group_jid: str, principal: Viewer, service: Groups) -> Group:
    """404 `unknown_group` when the number is not in it (as far as wagate knows)."""
    check_session(principal, session_id)
    return service.get(principal.tenant_id, session_id, group_jid)


@router.patch(
    "/sessions/<session_id>/groups/<group_jid>", summary="Link a group to the CRM's record", tags=["groups"]
)
def patch_group(
    session_id: str, group_jid: str, body: GroupPatch, principal: Changer, service: Groups
) -> Group:
    """Sets `external_id` (wagate's own data, not WhatsApp's: it comes back in `group_updated`)."""
    check_session(principal, session_id)
    return service.set_external_id(principal.tenant_id, session_id, group_jid, body.external_id)


@router.post(
    "/sessions/<session_id>/groups/<group_jid>/participants",
    summary="Add, remove, promote or demote participants",
    tags=["groups"],
)
def change_participants(
    session_id: str, group_jid: str, body: ParticipantsChange, principal: Changer, service: Groups
) -> tuple[dict[str, Any], int]:
    """202; the outcome says per participant: 200 done, 403 privacy (invite them), 404 not in the group
    or not on WhatsApp, 408 left recently, 409 already in it. Fails as `not_group_admin` unless the
    number is an admin."""
    check_session(principal, session_id)
    action = GroupAction(body.action)
    return _queued(
        service.request_operation(
            principal.tenant_id, session_id, action, group_jid=group_jid, participants=body.participants
        )
    )


@router.put("/sessions/<session_id>/groups/<group_jid>/subject", summary="Rename a group", tags=["groups"])
def set_subject(
    session_id: str, group_jid: str, body: SubjectChange, principal: Changer, service: Groups
) -> tuple[dict[str, Any], int]:
    check_session(principal, session_id)
    return _queued(
        service.request_operation(
            principal.tenant_id, session_id, GroupAction.SUBJECT, group_jid=group_jid, subject=body.subject
        )
    )


@router.put(
    "/sessions/<session_id>/groups/<group_jid>/description",
    summary="Set (or, empty, delete) a group's description",
    tags=["groups"],
)
def set_description(
    session_id: str, group_jid: str, body: DescriptionChange, principal: Changer, service: Groups
) -> tuple[dict[str, Any], int]:
    check_session(principal, session_id)
    operation = service.request_operation(
        principal.tenant_id,
        session_id,
        GroupAction.DESCRIPTION,
        group_jid=group_jid,
        description=body.description,
    )
    return _queued(operation)


@router.post(
    "/sessions/<session_id>/groups/<group_jid>/invite-link",
    summary="Read the group's invite link",
    tags=["groups"],
)
def invite_link(
    session_id: str, group_jid: str, principal: Changer, service: Groups
) -> tuple[dict[str, Any], int]:
    """202; the link (`https://chat.whatsapp.com/…`) comes in the outcome and on the group. Admins only."""
    check_session(principal, session_id)
    return _queued(
        service.request_operation(principal.tenant_id, session_id, GroupAction.INVITE, group_jid=group_jid)
    )


@router.post(
    "/sessions/<session_id>/groups/<group_jid>/invite-link/revoke",
    summary="Revoke the invite link (a new one replaces it)",
    tags=["groups"],
)
def revoke_invite_link(
    session_id: str, group_jid: str, principal: Changer, service: Groups
) -> tuple[dict[str, Any], int]:
    check_session(principal, session_id)
    action = GroupAction.REVOKE_INVITE
    return _queued(service.request_operation(principal.tenant_id, session_id, action, group_jid=group_jid))


@router.post("/sessions/<session_id>/groups/<group_jid>/leave", summary="Leave a group", tags=["groups"])
def leave_group(
    session_id: str, group_jid: str, principal: Changer, service: Groups
) -> tuple[dict[str, Any], int]:
    """202; once done the group leaves the list (`group_updated` with action `left`)."""
    check_session(principal, session_id)
    return _queued(
        service.request_operation(principal.tenant_id, session_id, GroupAction.LEAVE, group_jid=group_jid)
    )


@router.get(
    "/sessions/<session_id>/group-operations/<operation_id>",
    summary="A group change's outcome",
    tags=["groups"],
)
def get_operation(session_id: str, operation_id: str, principal: Viewer, service: Groups) -> GroupOperation:
    """404 `operation_not_found` (unknown, or over a week old)."""
    check_session(principal, session_id)
    return service.operation(principal.tenant_id, session_id, operation_id)
