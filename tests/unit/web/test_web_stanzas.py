"""How stanzas end connections (a table, then fuzzed), iq answers, and the engine's stanza handling fuzzed
with hostile stanzas: it decides an Exit, carries on, or reports a protocol error, and nothing else."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.base import SessionInfo
from connector.engines.events import EngineEvent
from connector.engines.exits import Exit, ExitReason, Retry
from connector.engines.memory_keys import InMemoryKeyStore
from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.connection import check_result
from connector.engines.web.creds import Credentials, CredentialStore, Me
from connector.engines.web.engine import WebEngine
from connector.engines.web.errors import ConnectionLost, IqError, IqTimeout, ProtocolError
from connector.engines.web.prekeys import PreKeyPolicy, PreKeys, server_count
from connector.engines.web.settings import WebSettings
from connector.engines.web.stream_end import exit_for_failure, exit_for_stream_error

CONFLICT_REPLACED = Node("conflict", {"type": "replaced"})
DEVICE_REMOVED = Node("conflict", {"type": "device_removed"})


@pytest.mark.parametrize(
    ("node", "pairing", "reason", "retry"),
    [
        (Node("stream:error", {"code": "515"}), False, ExitReason.RESTART_REQUIRED, Retry.NOW),
        (Node("stream:error", {"code": "401"}, [DEVICE_REMOVED]), False, ExitReason.LOGGED_OUT, Retry.NEVER),
        (
            Node("stream:error", {"code": "401"}),
            False,
            ExitReason.CONNECTION_LOST,
            Retry.BACKOFF,
        ),  # keys kept
        (Node("stream:error", {}, [CONFLICT_REPLACED]), False, ExitReason.REPLACED, Retry.NEVER),
        (Node("stream:error", {"code": "440"}), False, ExitReason.REPLACED, Retry.NEVER),
        (Node("stream:error", {"code": "408"}), True, ExitReason.QR_TIMEOUT, Retry.NEVER),
        (Node("stream:error", {"code": "408"}), False, ExitReason.CONNECTION_LOST, Retry.BACKOFF),
        (Node("stream:error", {"code": "503"}), False, ExitReason.CONNECTION_LOST, Retry.BACKOFF),
        (
            Node("stream:error", {}, [Node("xml-not-well-formed")]),
            False,
            ExitReason.CONNECTION_LOST,
            Retry.BACKOFF,
        ),
    ],
)
def test_stream_errors(node: Node, pairing: bool, reason: ExitReason, retry: Retry) -> None:
    outcome = exit_for_stream_error(node, pairing=pairing)
    assert (outcome.reason, outcome.retry) == (reason, retry)
    assert outcome.logged_out is (reason is ExitReason.LOGGED_OUT)


@pytest.mark.parametrize(
    ("reason", "expected", "retry"),
    [
        ("401", ExitReason.LOGGED_OUT, Retry.NEVER),
        ("403", ExitReason.LOGGED_OUT, Retry.NEVER),
        ("406", ExitReason.LOGGED_OUT, Retry.NEVER),
        ("402", ExitReason.TEMPORARILY_BANNED, Retry.NEVER),
        ("405", ExitReason.CONNECTION_LOST, Retry.BACKOFF),  # the engine refetches the version, Retry.NOW
        ("²", ExitReason.CONNECTION_LOST, Retry.BACKOFF),  # isdigit() says yes, int() says no
        ("409", ExitReason.FAILED, Retry.NEVER),
        ("418", ExitReason.FAILED, Retry.NEVER),
        ("500", ExitReason.CONNECTION_LOST, Retry.BACKOFF),
        ("503", ExitReason.CONNECTION_LOST, Retry.BACKOFF),
        ("nope", ExitReason.CONNECTION_LOST, Retry.BACKOFF),
    ],
)
def test_login_failures(reason: str, expected: ExitReason, retry: Retry) -> None:
    outcome = exit_for_failure(Node("failure", {"reason": reason}))
    assert (outcome.reason, outcome.retry) == (expected, retry)


any_text = st.sampled_from(
    ["515", "401", "440", "408", "503", "402", "405", "replaced", "device_removed"]
) | st.text(max_size=8)
small_attrs = st.dictionaries(
    st.sampled_from(["code", "reason", "type", "expire", "id", "from"]), any_text, max_size=4
)
small_nodes = st.recursive(
    st.builds(Node, st.sampled_from(["conflict", "error", "count", "x"]), small_attrs),
    lambda inner: st.builds(
        Node,
        st.sampled_from(["stream:error", "failure", "conflict"]),
        small_attrs,
        st.lists(inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=300)
@given(small_nodes, st.booleans())
def test_any_ending_stanza_is_a_decision(node: Node, pairing: bool) -> None:
    assert isinstance(exit_for_stream_error(node, pairing=pairing), Exit)
    assert isinstance(exit_for_failure(node), Exit)


def test_iq_answers() -> None:
    ok = Node("iq", {"type": "result", "id": "1"})
    assert check_result(ok) is ok
    with pytest.raises(IqError) as refused:
        check_result(
            Node("iq", {"type": "error"}, [Node("error", {"code": "406", "text": "not-acceptable"})])
        )
    assert refused.value.details == {"code": 406, "text": "not-acceptable"}
    with pytest.raises(IqError):
        check_result(Node("iq", {"type": "error"}))
    assert server_count(Node("iq", {}, [Node("count", {"value": "17"})])) == 17
    for bad in (
        Node("iq"),
        Node("iq", {}, [Node("count", {"value": "-1"})]),
        Node("iq", {}, [Node("count")]),
    ):
        with pytest.raises(ProtocolError):
            server_count(bad)


# ---- the engine's stanza handling, fuzzed -------------------------------------------------------------


class FakeConnection:
    """Stands in for the socket: records what the engine sends; queries go unanswered."""

    def __init__(self) -> None:
        self.sent: list[Node] = []
        self.closed = False

    async def send(self, node: Node) -> None:
        self.sent.append(node)

    async def query(self, node: Node, *, timeout: float | None = None) -> Node:
        raise IqTimeout("nobody answers in this test")

    async def close(self) -> None:
        self.closed = True


ATTR_VALUES = st.sampled_from(
    [
        SERVER_JID,
        Jid("15551234567", "s.whatsapp.net", 3),
        Jid("999", "lid", 3),
        "set",
        "get",
        "result",
        "error",
    ]
    + ["encrypt", "md", "urn:xmpp:ping", "515", "401", "replaced", "1", "x", ""]
) | st.text(max_size=6)
ATTRS = st.dictionaries(
    st.sampled_from(["id", "type", "from", "xmlns", "code", "reason", "lid", "t", "value", "jid", "name"]),
    ATTR_VALUES,
    max_size=5,
)
CHILD_TAGS = [
    "pair-device",
    "ref",
    "pair-success",
    "device-identity",
    "device",
    "platform",
    "biz",
    "conflict",
]
CHILD_TAGS += ["count", "edge_routing", "routing_info", "error", "offline", "ping", "x"]
CONTENT = st.none() | st.binary(max_size=40) | st.text(max_size=6)
STANZAS = st.builds(
    Node,
    st.sampled_from(
        ["iq", "success", "failure", "stream:error", "notification", "ib", "message", "xmlstreamend", "ack"]
    ),
    ATTRS,
    st.none()
    | st.lists(
        st.recursive(
            st.builds(Node, st.sampled_from(CHILD_TAGS), ATTRS, CONTENT),
            lambda inner: st.builds(Node, st.sampled_from(CHILD_TAGS), ATTRS, st.lists(inner, max_size=3)),
            max_leaves=6,
        ),
        max_size=4,
    ),
)
PAIRED = Credentials.generate(1_750_000_000).replace(
    me=Me(Jid("15551234567", "s.whatsapp.net", 3), Jid("999", "lid", 3)), account=b"\x0a\x00"
)
UNPAIRED = Credentials.generate(1_750_000_000)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STANZAS, st.booleans())
def test_any_stanza_is_handled_decided_or_refused_as_a_protocol_error(stanza: Node, paired: bool) -> None:
    async def main() -> None:
        events: list[EngineEvent] = []

        async def emit(event: EngineEvent) -> None:
            events.append(event)

        keys = InMemoryKeyStore()
        settings_ = WebSettings(proxy="none", qr_first_seconds=0.001, qr_next_seconds=0.001)
        engine = WebEngine(SessionInfo("t", "s", "web"), keys, emit, settings=settings_)
        conn = FakeConnection()
        # The read loop's seam: its state as run() leaves it once connected.
        store = CredentialStore(keys, PAIRED if paired else UNPAIRED)
        engine._store = store
        engine._conn = conn  # type: ignore[assignment]
        policy = PreKeyPolicy.from_settings(settings_)
        engine._prekeys = PreKeys(keys, store, conn.query, policy, lambda: 1_750_000_000.0)
        try:
            outcome: Any = await engine._dispatch(conn, stanza)  # type: ignore[arg-type]
        except (ProtocolError, ConnectionLost):
            outcome = None
        assert outcome is None or isinstance(outcome, Exit)
        await asyncio.sleep(0.003)  # let spawned work (QR codes, login, top-ups) run and fail
        await engine._tasks.cancel_all()
        assert engine._crash is None, engine._crash

    asyncio.run(main())
