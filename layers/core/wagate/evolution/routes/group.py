"""Evolution's group router (group.router.ts), reading: fetchAllGroups and findGroupInfos over GroupService.

Evolution asks WhatsApp each time; wagate answers from the instance's last group sync, and asks for one
(waiting a few seconds for it) when none has landed yet. What a sync does not carry is null rather than
guessed (picture, subject owner, restrict/announce settings); `participants` lists the members wagate
knows (once a change or an operation read the group; a sync alone keeps counts, `size`), else `[]`.
The changes (create, subject, participants, invites, leave) are in group_changes.py.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from wagate import compose
from wagate.domain.groups import Group, GroupMember
from wagate.domain.sessions import Session, SessionStatus
from wagate.evolution import shapes
from wagate.evolution.access import Caller, Need, instance
from wagate.evolution.errors import EvolutionError
from wagate.services.groups import GroupService

router = APIGatewayHttpRouter()
Groups = Annotated[GroupService, Depends(compose.group_service)]

SYNC_WAIT_SECONDS = 5.0  # how long a first fetchAllGroups waits for the number's first group sync
PAGE = 100


def groups_of(tenant_id: str, session: Session, service: GroupService, *, wait: float = 0.0) -> list[Group]:
    """Every group of the session's last sync. With `wait`, a connected session never synced asks for a
    sync and waits up to that long for it to land (Evolution's callers expect the list at once)."""
    if (
        wait
        and service.last_sync(tenant_id, session.id).synced_at is None
        and session.status == SessionStatus.CONNECTED
    ):
        service.request_sync(tenant_id, session.id)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and service.last_sync(tenant_id, session.id).synced_at is None:
            time.sleep(0.2)
    found: list[Group] = []
    cursor: str | None = None
    while True:
        page, _, cursor = service.list(tenant_id, session.id, limit=PAGE, cursor=cursor)
        found.extend(page)
        if cursor is None:
            return found


def group_record(group: Group, *, participants: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": group.jid,
        "subject": group.subject,
        "subjectOwner": None,
        "subjectTime": None,
        "pictureUrl": None,
        "size": group.participants,
        "creation": int(group.created_at) if group.created_at is not None else None,
        "owner": group.owner_jid,
        "desc": group.description,
        "descId": None,
        "restrict": None,
        "announce": None,
        "isCommunity": False,
        "isCommunityAnnounce": False,
        "linkedParent": None,
    }
    if participants:
        body["participants"] = [participant(m) for m in group.members or []]
    return body


def participant(member: GroupMember) -> dict[str, Any]:
    """A member as Baileys' GroupParticipant (`id`, `admin`), with the phone's jid and the LID when known."""
    return {
        "id": member.jid,
        "phoneNumber": shapes.jid_of(member.phone) if member.phone else None,
        "lid": member.lid,
        "admin": member.role,
    }


@router.get("/group/fetchAllGroups/<instanceName>")
def fetch_all_groups(
    instanceName: str,
    principal: Caller,
    service: Groups,
    getParticipants: Annotated[str | None, Query()] = None,
) -> list[dict[str, Any]]:
    if getParticipants is None:
        raise EvolutionError(400, "The getParticipants needs to be informed in the query")
    session = instance(principal, instanceName, Need.READ)
    groups = groups_of(principal.tenant_id, session, service, wait=SYNC_WAIT_SECONDS)
    return [group_record(g, participants=getParticipants == "true") for g in groups]


@router.get("/group/findGroupInfos/<instanceName>")
def find_group_infos(
    instanceName: str,
    principal: Caller,
    service: Groups,
    groupJid: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    if not groupJid:
        raise EvolutionError(
            400, "The group id needs to be informed in the query", 'ex: "groupJid=120362@g.us"'
        )
    jid = groupJid if groupJid.endswith("@g.us") else f"{groupJid}@g.us"
    session = instance(principal, instanceName, Need.READ)
    for group in groups_of(principal.tenant_id, session, service, wait=SYNC_WAIT_SECONDS):
        if group.jid == jid:
            return group_record(group, participants=True)
    raise EvolutionError(
        404, "Error fetching group", f"{jid} is not among this instance's groups (last group sync)"
    )
