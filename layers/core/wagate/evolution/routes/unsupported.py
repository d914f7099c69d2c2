"""Evolution's message, chat and group routes wagate does not offer: a 400 in Evolution's shape saying why and
what to do instead, rather than the 404 `Cannot POST` of a route Evolution never had (README lists them)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from wagate.evolution.access import Caller, Need, instance
from wagate.evolution.errors import EvolutionError

router = APIGatewayHttpRouter()

STATUS_POSTS = "WhatsApp status (stories) posts are not sent through wagate"
PROFILE = "wagate does not read or change the account's WhatsApp profile; change it on the phone"
NOT_OFFERED: dict[tuple[str, str], str] = {
    ("POST", "message/sendPtv"): "round video notes are not sent yet: send the video with message/sendMedia",
    ("POST", "message/sendStatus"): STATUS_POSTS,
    ("POST", "chat/findStatusMessage"): STATUS_POSTS,
    ("POST", "chat/archiveChat"): "wagate keeps no archive state; archive the chat in your CRM",
    ("POST", "chat/markChatUnread"): "wagate keeps unread counts from WhatsApp only; mark it in your CRM",
    ("POST", "chat/sendPresence"): "presence is sent by wagate's pacing (the session's `typing` option), "
    "not per call: PATCH /v1/sessions/{id} with pacing.typing",
    ("POST", "chat/updateBlockStatus"): "blocking is done on the phone",
    ("POST", "chat/fetchBusinessProfile"): PROFILE,
    ("POST", "chat/fetchProfile"): PROFILE,
    ("POST", "chat/updateProfileName"): PROFILE,
    ("POST", "chat/updateProfileStatus"): PROFILE,
    ("POST", "chat/updateProfilePicture"): PROFILE,
    ("DELETE", "chat/removeProfilePicture"): PROFILE,
    ("GET", "chat/fetchPrivacySettings"): PROFILE,
    ("POST", "chat/updatePrivacySettings"): PROFILE,
    ("POST", "group/updateGroupPicture"): "group pictures are changed on the phone",
    ("POST", "group/updateSetting"): "group settings (announcement, locked) are changed on the phone",
    ("POST", "group/toggleEphemeral"): "disappearing messages are set on the phone",
    ("GET", "group/inviteInfo"): "invite links are read with group/inviteCode for groups the number is in",
    ("GET", "group/acceptInviteCode"): "joining by invite is done on the phone",
}


def _refuse(route: str, why: str) -> Any:
    def refuse(instanceName: str, principal: Caller) -> dict[str, Any]:
        instance(principal, instanceName, Need.READ)  # an unknown instance or foreign key answers first
        raise EvolutionError(400, f"{route} is not offered by wagate: {why}")

    return refuse


for (method, route), why in NOT_OFFERED.items():
    router.route(f"/{route}/<instanceName>", method, include_in_schema=False)(_refuse(route, why))
