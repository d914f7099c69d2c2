"""Is a phone number on WhatsApp: a usync query in `interactive` context with the `contact` protocol.

    query   <iq xmlns=usync type=get to=s.whatsapp.net>
              <usync context=interactive mode=query sid last=true index=0>
                <query><contact/><lid/></query>
                <list><user><contact>+34600123456</contact></user>…</list>
              </usync></iq>
    answer  <usync><list><user jid=34600123456@s.whatsapp.net>
              <contact type=in|out>+34600123456</contact><lid val=…@lid/>?</user>…</list></usync>

The number goes as the text of the user's `<contact>` (not a `jid` attribute: the client does not know
the account yet); the server names the account in `jid` and says `in` (registered) or `out`, echoing the
number asked, so answers are matched by that echo, never by position. A user missing from the answer is
`unknown` (never guessed). No I/O here but the query callable.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence

from connector.engines.events import NumberStatus
from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.errors import ProtocolError

MAX_NUMBERS = 50  # what one query carries (the API takes no more)

Query = Callable[[Node], Awaitable[Node]]


def number_check_query(phones: Sequence[str]) -> Node:
    if not phones or len(phones) > MAX_NUMBERS:
        raise ValueError(f"a number check takes 1 to {MAX_NUMBERS} numbers")
    users = [Node("user", {}, [Node("contact", {}, phone.encode())]) for phone in phones]
    usync = Node(
        "usync",
        {
            "context": "interactive",
            "mode": "query",
            "sid": f"{secrets.randbits(48)}",
            "last": "true",
            "index": "0",
        },
        [Node("query", {}, [Node("contact"), Node("lid")]), Node("list", {}, users)],
    )
    return Node("iq", {"to": SERVER_JID, "type": "get", "xmlns": "usync"}, [usync])


def _text(content: object) -> str | None:
    if isinstance(content, bytes):
        return content.decode("utf-8", "replace")
    if isinstance(content, str | Jid):
        return str(content)
    return None


def parse_number_check(answer: Node, phones: Sequence[str]) -> list[NumberStatus]:
    """One status per number asked, in the order asked. Raises ProtocolError (no <usync><list>)."""
    usync = answer.find("usync")
    listed = usync.find("list") if usync is not None else None
    if listed is None:
        raise ProtocolError(f"a usync answer without <usync><list>: {answer}")
    found: dict[str, NumberStatus] = {}
    for user in listed.findall("user"):
        contact = user.find("contact")
        if contact is None:
            continue
        echoed = _text(contact.content)
        jid = user.attrs.get("jid")
        if echoed is None and isinstance(jid, Jid):
            echoed = f"+{jid.user}"
        if echoed is None:
            continue
        phone = echoed if echoed.startswith("+") else f"+{echoed}"
        kind = contact.str_attr("type")
        status = {"in": "on_whatsapp", "out": "not_on_whatsapp"}.get(kind or "", "unknown")
        lid_node = user.find("lid")
        lid = lid_node.attrs.get("val") if lid_node is not None else None
        found[phone] = NumberStatus(
            phone,
            status,
            jid=str(jid.to_account()) if isinstance(jid, Jid) and status == "on_whatsapp" else None,
            lid=str(lid) if isinstance(lid, Jid) and status == "on_whatsapp" else None,
        )
    return [found.get(phone, NumberStatus(phone, "unknown")) for phone in phones]


async def check_numbers(query: Query, phones: Sequence[str]) -> list[NumberStatus]:
    """Raises IqError, IqTimeout, ConnectionLost, ProtocolError."""
    return parse_number_check(await query(number_check_query(phones)), phones)
