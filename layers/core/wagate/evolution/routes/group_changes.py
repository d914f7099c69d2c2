"""Evolution's group router, the changes: create, updateGroupSubject, updateGroupDescription,
updateParticipant, inviteCode, revokeInviteCode, sendInvite, leaveGroup, and participants — over GroupService.

wagate changes a group asynchronously (a group operation the number's connector runs, its outcome landing
in a few seconds); Evolution answers with the outcome. So each route asks for the operation and waits up
to OPERATION_WAIT_SECONDS for it: done is Evolution's answer, a refusal WhatsApp gave is a 400 saying it
(404 for a group the number does not know), and an outcome not back in time is a 503 naming the operation
(`GET /v1/sessions/{id}/groups/operations/{operation}` shows it once it lands).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from wagate import compose
from wagate.domain.groups import Group, GroupAction, GroupOperation, OperationStatus
from wagate.domain.sessions import Session
from wagate.evolution import send_dtos
from wagate.evolution.access import Caller, Need, instance
from wagate.evolution.errors import EvolutionError
from wagate.evolution.routes.group import group_record, participant
from wagate.evolution.routes.message import accept
from wagate.services.groups import GroupService
from wagate.services.messages import MessageService, SendRequest

router = APIGatewayHttpRouter()
Groups = Annotated[GroupService, Depends(compose.group_service)]
Messages = Annotated[MessageService, Depends(compose.message_service)]
GroupJid = Annotated[str | None, Query()]

OPERATION_WAIT_SECONDS = 12.0
INVITE_PREFIX = "https://chat.whatsapp.com/"


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CreateGroup(Loose):
    subject: StrictStr = Field(min_length=1)
    participants: list[StrictStr] = Field(min_length=1)
    description: StrictStr | None = None
    promoteParticipants: StrictBool = False


class Subject(Loose):
    subject: StrictStr = Field(min_length=1)
    groupJid: StrictStr | None = None


class Description(Loose):
    description: StrictStr
    groupJid: StrictStr | None = None


class UpdateParticipant(Loose):
    action: GroupAction = Field(description="add, remove, promote or demote")
    participants: list[StrictStr] = Field(min_length=1)
    groupJid: StrictStr | None = None


def _jid(given: str | None) -> str:
    """groupJid as Evolution reads it (body or query; `@g.us` added when missing). Raises EvolutionError."""
    if not given:
        raise EvolutionError(
            400, "The group id needs to be informed in the query", 'ex: "groupJid=120362@g.us"'
        )
    return given if given.endswith("@g.us") else f"{given}@g.us"


def _run(
    service: GroupService, tenant_id: str, session: Session, action: GroupAction, **fields: Any
) -> GroupOperation:
    """Asks for the operation and waits for its outcome. Raises EvolutionError for a refusal or no outcome."""
    operation = service.request_operation(tenant_id, session.id, action, **fields)
    deadline = time.monotonic() + OPERATION_WAIT_SECONDS
    while operation.status == OperationStatus.PENDING and time.monotonic() < deadline:
        time.sleep(0.2)
        operation = service.operation(tenant_id, session.id, operation.id)
    if operation.status == OperationStatus.PENDING:
        raise EvolutionError(
            503,
            f"the number has not answered yet: group operation {operation.id} is still pending; see GET "
            f"/v1/sessions/{session.id}/groups/operations/{operation.id}",
        )
    if operation.status == OperationStatus.FAILED:
        error = operation.error
        code = error.code if error is not None else "group_refused"
        text = f"{code}: {error.message}" if error is not None and error.message else code
        raise EvolutionError(404 if code == "group_not_found" else 400, text)
    return operation


def metadata(group: Group | None, jid: str | None) -> dict[str, Any]:
    """Baileys' GroupMetadata of a group an operation returned (its id alone when WhatsApp said no more)."""
    if group is None:
        return {"id": jid, "participants": []}
    return group_record(group, participants=True)


@router.post("/group/create/<instanceName>")
def create_group(
    instanceName: str, body: CreateGroup, principal: Caller, service: Groups
) -> tuple[dict[str, Any], int]:
    session = instance(principal, instanceName, Need.SEND)
    members = [send_dtos.recipient(p, field="participants") for p in body.participants]
    done = _run(
        service, principal.tenant_id, session, GroupAction.CREATE, subject=body.subject, participants=members
    )
    jid = done.group_jid or (done.group.jid if done.group else None)
    if body.description and jid:
        _run(
            service,
            principal.tenant_id,
            session,
            GroupAction.DESCRIPTION,
            group_jid=jid,
            description=body.description,
        )
    if body.promoteParticipants and jid:
        _run(service, principal.tenant_id, session, GroupAction.PROMOTE, group_jid=jid, participants=members)
    group = service.get(principal.tenant_id, session.id, jid) if jid else done.group
    return metadata(group, jid), 201


@router.post("/group/updateGroupSubject/<instanceName>")
def update_group_subject(
    instanceName: str, body: Subject, principal: Caller, service: Groups, groupJid: GroupJid = None
) -> tuple[dict[str, Any], int]:
    session = instance(principal, instanceName, Need.SEND)
    jid = _jid(body.groupJid or groupJid)
    _run(service, principal.tenant_id, session, GroupAction.SUBJECT, group_jid=jid, subject=body.subject)
    return {"update": "success"}, 201


@router.post("/group/updateGroupDescription/<instanceName>")
def update_group_description(
    instanceName: str, body: Description, principal: Caller, service: Groups, groupJid: GroupJid = None
) -> tuple[dict[str, Any], int]:
    session = instance(principal, instanceName, Need.SEND)
    jid = _jid(body.groupJid or groupJid)
    _run(
        service,
        principal.tenant_id,
        session,
        GroupAction.DESCRIPTION,
        group_jid=jid,
        description=body.description,
    )
    return {"update": "success"}, 201


@router.post("/group/updateParticipant/<instanceName>")
def update_participant(
    instanceName: str, body: UpdateParticipant, principal: Caller, service: Groups, groupJid: GroupJid = None
) -> tuple[dict[str, Any], int]:
    """`updateParticipants`: per person, WhatsApp's status as Baileys gives it ("200", "403", "409"...)."""
    if body.action not in (GroupAction.ADD, GroupAction.REMOVE, GroupAction.PROMOTE, GroupAction.DEMOTE):
        raise EvolutionError(400, "action must be add, remove, promote or demote")
    session = instance(principal, instanceName, Need.SEND)
    jid = _jid(body.groupJid or groupJid)
    members = [send_dtos.recipient(p, field="participants") for p in body.participants]
    done = _run(service, principal.tenant_id, session, body.action, group_jid=jid, participants=members)
    outcomes = [
        {
            "status": str(p.status),
            "jid": p.jid,
            **({"content": {"invite_code": p.invite_code}} if p.invite_code else {}),
        }
        for p in done.participants or []
    ]
    return {"updateParticipants": outcomes}, 201


@router.get("/group/inviteCode/<instanceName>")
def invite_code(
    instanceName: str, principal: Caller, service: Groups, groupJid: GroupJid = None
) -> dict[str, Any]:
    session = instance(principal, instanceName, Need.SEND)
    done = _run(service, principal.tenant_id, session, GroupAction.INVITE, group_jid=_jid(groupJid))
    return _invite(done.invite_link)


@router.post("/group/revokeInviteCode/<instanceName>")
def revoke_invite_code(
    instanceName: str, principal: Caller, service: Groups, groupJid: GroupJid = None
) -> tuple[dict[str, Any], int]:
    session = instance(principal, instanceName, Need.SEND)
    done = _run(service, principal.tenant_id, session, GroupAction.REVOKE_INVITE, group_jid=_jid(groupJid))
    return {"revoked": True, "inviteCode": _invite(done.invite_link)["inviteCode"]}, 201


def _invite(link: str | None) -> dict[str, Any]:
    if not link:
        raise EvolutionError(404, "No invite code")
    code = link.removeprefix(INVITE_PREFIX)
    return {"inviteUrl": f"{INVITE_PREFIX}{code}", "inviteCode": code}


class SendInvite(Loose):
    groupJid: StrictStr = Field(min_length=1)
    description: StrictStr
    numbers: list[StrictStr] = Field(min_length=1)


@router.post("/group/sendInvite/<instanceName>")
def send_invite(
    instanceName: str, body: SendInvite, principal: Caller, service: Groups, messages: Messages
) -> dict[str, Any]:
    """The group's invite link sent as a text (`description`, a blank line, the link) to each number: wagate
    sends, so each one is a message with its statuses (and pacing)."""
    session = instance(principal, instanceName, Need.SEND)
    recipients = [send_dtos.recipient(n, field="numbers") for n in body.numbers]
    done = _run(service, principal.tenant_id, session, GroupAction.INVITE, group_jid=_jid(body.groupJid))
    link = _invite(done.invite_link)["inviteUrl"]
    text = f"{body.description}\n\n{link}" if body.description else link
    for to in recipients:
        request = send_dtos.read(SendRequest, {"session_id": session.id, "to": to, "text": text})
        accept(messages, principal.tenant_id, request)
    return {"send": True, "inviteUrl": link}


@router.delete("/group/leaveGroup/<instanceName>")
def leave_group(
    instanceName: str, principal: Caller, service: Groups, groupJid: GroupJid = None
) -> dict[str, Any]:
    session = instance(principal, instanceName, Need.SEND)
    jid = _jid(groupJid)
    _run(service, principal.tenant_id, session, GroupAction.LEAVE, group_jid=jid)
    return {"groupJid": jid, "leave": True}


@router.get("/group/participants/<instanceName>")
def participants(
    instanceName: str, principal: Caller, service: Groups, groupJid: GroupJid = None
) -> dict[str, Any]:
    """The members wagate knows (from the last change or operation that read the group: a sync lists
    counts only); 404 `No participants` until one has."""
    session = instance(principal, instanceName, Need.READ)
    group = service.get(principal.tenant_id, session.id, _jid(groupJid))
    if group.members is None:
        raise EvolutionError(
            404, "No participants", "wagate has not read this group's members yet (a group sync lists counts)"
        )
    return {"participants": [participant(m) for m in group.members]}
