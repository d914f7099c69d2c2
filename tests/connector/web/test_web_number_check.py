"""Is a number on WhatsApp: the web engine asks with a usync contact query, and the strict fake edge
answers as WhatsApp does (the account's JID, `contact type=in|out` echoing the number, its LID when in);
a malformed query is refused by the edge (a violation), so the stanza itself is checked here."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.events import NumberStatus
from connector.engines.web.binary.node import Node
from connector.engines.web.number_check import number_check_query, parse_number_check
from tests.connector.web.harness import Harness, with_edge
from tests.fakes.whatsapp_edge import directory
from tests.fakes.whatsapp_edge.checks import Refused

ALICE, BOB = "15550001111", "15550002222"


def test_registered_numbers_are_in_others_out_with_the_account_and_its_lid() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        await h.linked(BOB, "ses_b")
        asked = [f"+{BOB}", "+15559990000", f"+{ALICE}"]
        got = await alice.engine.check_numbers(asked)
        assert [(r.phone, r.status) for r in got] == [
            (f"+{BOB}", "on_whatsapp"),
            ("+15559990000", "not_on_whatsapp"),
            (f"+{ALICE}", "on_whatsapp"),
        ]
        assert got[0].jid == f"{BOB}@s.whatsapp.net" and (got[0].lid or "").endswith("@lid")
        assert got[1].jid is None and got[1].lid is None
        assert [e for e in h.edge.events if e.kind == "usync"]
        await alice.running.stop()

    with_edge(body)


def test_the_query_is_what_whatsapp_takes_and_the_edge_refuses_a_bad_one() -> None:
    query = number_check_query(["+34600123456"])
    usync = query.find("usync")
    assert query.attrs["xmlns"] == "usync" and query.attrs["type"] == "get"
    assert usync is not None and usync.attrs["context"] == "interactive" and usync.attrs["mode"] == "query"
    user = usync.children[1].children[0]
    assert user.attrs == {} and user.children[0].content == b"+34600123456"
    with pytest.raises(ValueError):
        number_check_query([])
    with pytest.raises(ValueError):
        number_check_query([f"+3460012{n:04d}" for n in range(51)])
    bad_user = Node("user", {}, [Node("contact", {}, b"34600123456")])  # no country-code plus
    bad = Node(
        "iq",
        {},
        [
            Node(
                "usync",
                {"sid": "1", "context": "interactive", "mode": "query"},
                [Node("query", {}, [Node("contact")]), Node("list", {}, [bad_user])],
            )
        ],
    )
    with pytest.raises(Refused):
        directory.usync(None, bad)  # type: ignore[arg-type]


def test_an_answer_missing_a_number_says_unknown_never_a_guess() -> None:
    answer = Node(
        "iq",
        {},
        [
            Node(
                "usync",
                {},
                [Node("list", {}, [Node("user", {}, [Node("contact", {"type": "out"}, b"+1555")])])],
            )
        ],
    )
    got = parse_number_check(answer, ["+1555", "+1666"])
    assert got == [NumberStatus("+1555", "not_on_whatsapp"), NumberStatus("+1666", "unknown")]
