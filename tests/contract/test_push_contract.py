"""The Push port's contract, over every adapter: the boto3 `ApiGatewayPush` against the local WebSocket
gateway's @connections API (the same client AWS runs), the runner's `DirectPush`, and the tests' fake.

What ports.Push promises: `post` hands the bytes to that connection (text and binary frames alike),
raises Gone for a connection that no longer exists and ItemTooLarge above 128 KB; `disconnect` closes a
connection and counts one already gone as closed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from websockets.sync.client import ClientConnection, connect

from local.runner import LocalRunner, bind
from local.template import load_template
from local.ws_gateway import DirectPush
from tests.fakes.push import MAX_MESSAGE_BYTES, RecordingPush
from tests.local.harness import GATEWAY_TEMPLATE, RunningGateway, start_in_thread, stop_thread
from wagate.adapters.aws.apigw_push import ApiGatewayPush
from wagate.adapters.local.sqlite_queue import SqliteQueues
from wagate.domain.errors import Gone, ItemTooLarge
from wagate.ports import Push

Receive = Callable[[], bytes | str]
Opener = Callable[[], tuple[str, Receive]]


@dataclass
class PushWorld:
    """An adapter, and how to open a connection to it and read what reaches that connection."""

    push: Push
    open: Opener


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    template = load_template(GATEWAY_TEMPLATE)
    queues = SqliteQueues(tmp_path_factory.mktemp("push") / "queues.db", template.queue_definitions())
    runner = LocalRunner(template, bind("127.0.0.1", 0), queues=queues, poll_seconds=0.2)
    running, thread = start_in_thread(runner, queues)
    yield running
    stop_thread(running, thread)
    queues.close()


def _socket_opener(
    gateway: RunningGateway, sockets: list[ClientConnection]
) -> Callable[[], tuple[str, Receive]]:
    def open_one() -> tuple[str, Receive]:
        tag = uuid.uuid4().hex
        socket = connect(f"{gateway.ws_url}?token=good&tag={tag}", proxy=None, open_timeout=10, legacy=True)
        sockets.append(socket)
        connection_id = _connection_of(gateway, tag)
        return connection_id, lambda: socket.recv(timeout=10)

    return open_one


def _connection_of(gateway: RunningGateway, tag: str) -> str:
    """The id the gateway gave the socket, from the $connect event its handler recorded."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for event in list(gateway.module("WsFunction").events):
            if (event.get("queryStringParameters") or {}).get("tag") == tag:
                return str(event["requestContext"]["connectionId"])
        time.sleep(0.01)
    raise AssertionError("the gateway never reported the connection")


@pytest.fixture(params=["apigw_boto3", "direct", "fake"])
def world(request: pytest.FixtureRequest) -> Iterator[PushWorld]:
    sockets: list[ClientConnection] = []
    if request.param == "fake":
        fake = RecordingPush()

        def open_fake() -> tuple[str, Receive]:
            connection_id = f"{uuid.uuid4().hex[:14]}="
            fake.open(connection_id)
            return connection_id, lambda: [d for c, d in fake.raw if c == connection_id][-1]

        yield PushWorld(fake, open_fake)
        return
    gateway: RunningGateway = request.getfixturevalue("gateway")
    if request.param == "apigw_boto3":
        push: Push = ApiGatewayPush(gateway.connections_url)
    else:
        assert gateway.runner.websocket is not None
        push = DirectPush(gateway.runner.websocket)
    yield PushWorld(push, _socket_opener(gateway, sockets))
    for socket in sockets:
        socket.close()


def test_post_delivers_text_and_binary_to_that_connection(world: PushWorld) -> None:
    connection_id, receive = world.open()
    world.push.post(connection_id, b'{"event": "qr_code"}')
    assert receive() in ('{"event": "qr_code"}', b'{"event": "qr_code"}')
    world.push.post(connection_id, b"\xff\x00binary")
    assert receive() == b"\xff\x00binary"


def test_a_connection_that_was_closed_is_gone(world: PushWorld) -> None:
    connection_id, _ = world.open()
    world.push.disconnect(connection_id)
    with pytest.raises(Gone):
        world.push.post(connection_id, b"too late")
    world.push.disconnect(connection_id)  # already gone counts as closed


def test_a_connection_never_opened_is_gone(world: PushWorld) -> None:
    world.open()  # the gateway (or the fake) knows some connection, just not this one
    with pytest.raises(Gone):
        world.push.post("AAAAAAAAAAAAAAA=", b"nobody")


def test_a_message_over_128_kb_is_refused(world: PushWorld) -> None:
    connection_id, receive = world.open()
    with pytest.raises(ItemTooLarge):
        world.push.post(connection_id, b"x" * (MAX_MESSAGE_BYTES + 1))
    world.push.post(connection_id, b"x" * MAX_MESSAGE_BYTES)  # the limit itself still goes
    assert len(receive()) == MAX_MESSAGE_BYTES
