"""The Evolution routers, one module per Evolution router file; ROUTERS is the one registration list.

Each module has a Powertools `router` whose paths are Evolution's without the mount prefix
(`/instance/create`, `/message/sendText/<instanceName>`). To add a router: write the module here and add
it to ROUTERS; the resolver mounts each under ROUTE_PREFIX.
"""

from __future__ import annotations

from types import ModuleType

from wagate.evolution.routes import (
    chat,
    chat_messages,
    group,
    group_changes,
    instance,
    message,
    settings,
    unsupported,
    webhook,
)

ROUTERS: tuple[ModuleType, ...] = (
    instance,  # instance/*: create, connect, connectionState, fetchInstances, restart, logout, delete
    webhook,  # webhook/set, webhook/find
    settings,  # settings/set, settings/find
    message,  # message/send*: text, media, voice notes, location, contact, reaction, poll, list, buttons
    chat,  # chat/*: whatsappNumbers, findMessages, findChats, findContacts, markMessageAsRead, ...
    chat_messages,  # chat/*: updateMessage, deleteMessageForEveryone, getBase64FromMediaMessage
    group,  # group/*: fetchAllGroups, findGroupInfos
    group_changes,  # group/*: create, subject, description, participants, invites, leave
    unsupported,  # the message/chat/group routes wagate does not offer: a 400 saying why
)
