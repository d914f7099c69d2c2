"""The sandbox's simulated server: one socket per device, across processes, like WhatsApp."""

from __future__ import annotations

import asyncio
from pathlib import Path

from connector.engines.base import SessionInfo
from connector.engines.sandbox import fake_phone
from connector.engines.sandbox_network import SandboxNetwork, read_journal
from tests.connector.conftest import assert_never_two_sockets, socket_intervals

SESSION = SessionInfo("ten_a", "ses_1", "sandbox")


def test_a_second_socket_in_the_same_network_replaces_the_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        network = SandboxNetwork(tmp_path / "journal.jsonl", poll_seconds=0.05)
        closed: list[str] = []
        first = await network.open_socket(SESSION, closed.append)
        second = await network.open_socket(SESSION, lambda reason: None)
        assert closed == ["replaced"] and first.closed and not second.closed
        await network.close_socket(second, "stopped")
        await network.close()

    asyncio.run(scenario())
    records = read_journal(tmp_path / "journal.jsonl")
    assert [(r["op"], r.get("reason")) for r in records] == [
        ("open", None),
        ("close", "replaced"),
        ("open", None),
        ("close", "stopped"),
    ]
    assert_never_two_sockets(records)


def test_a_socket_elsewhere_is_replaced_through_the_journal_and_the_overlap_shows(tmp_path: Path) -> None:
    """What a lease bug would look like: the journal catches two sockets of one session at once."""
    journal = tmp_path / "journal.jsonl"

    async def scenario() -> None:
        here, elsewhere = (
            SandboxNetwork(journal, poll_seconds=0.05),
            SandboxNetwork(journal, poll_seconds=0.05),
        )
        replaced = asyncio.Event()
        await here.open_socket(SESSION, lambda reason: replaced.set() if reason == "replaced" else None)
        await elsewhere.open_socket(SESSION, lambda reason: None)
        await asyncio.wait_for(replaced.wait(), 5)
        assert here.open_sockets == 0 and elsewhere.open_sockets == 1
        await here.close()
        await elsewhere.close()

    asyncio.run(scenario())
    records = read_journal(journal)
    assert [r["op"] for r in records] == ["open", "open", "replace", "close"]
    [(_, first_close, _), (second_open, _, _)] = sorted(socket_intervals(records)["ten_a/ses_1"])
    assert second_open < first_close  # the overlap the no-overlap assertion exists to catch
    try:
        assert_never_two_sockets(records)
    except AssertionError:
        pass
    else:
        raise AssertionError("an overlap went unnoticed")


def test_a_dead_process_socket_is_not_replaced(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    # A socket opened by a process that has since died (kill -9): no close record, pid not running.
    journal.write_text(
        '{"at":1,"op":"open","session":"ten_a/ses_1","socket":"sock_dead","pid":999999999,"net":"x"}\n'
    )

    async def scenario() -> None:
        network = SandboxNetwork(journal)
        await network.open_socket(SESSION, lambda reason: None)
        await network.close()

    asyncio.run(scenario())
    assert [r["op"] for r in read_journal(journal)] == ["open", "open"]


def test_fake_phones_are_fictional_and_stable() -> None:
    assert fake_phone("ses_1") == fake_phone("ses_1") != fake_phone("ses_2")
    assert fake_phone("ses_1").startswith("+1555") and len(fake_phone("ses_1")) == 12
