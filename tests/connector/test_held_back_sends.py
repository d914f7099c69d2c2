"""The send path with sends WhatsApp throttles (HeldBack), on the sandbox: no try held back is a failure nor a
crashed claim, each try goes through the pacer again, and a message cancelled during its hold is never sent.
(The web engine's real 429 against the fake edge: tests/connector/web/test_web_throttled_sends.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector import claims
from connector.app import Connector
from connector.engines.base import provider_message_id
from connector.engines.errors import HeldBack
from connector.engines.sandbox_network import BEN
from connector.pacing import NumberPacer
from connector.sending import CRASHED_CLAIMS_PER_TRY
from tests.connector.conftest import World
from tests.connector.send_support import accept, catalog, deliveries, deps_of, make_send_world
from tests.connector.test_send_path import FAST_RETRIES, FlakyEngine, connected_session, run, sent_of
from wagate.compose import services
from wagate.domain.events import EventType
from wagate.domain.pacing import Pacing


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_send_world(tmp_path / "data")
    yield w
    w.queues.close()
    w.table.close()


def _held(retry_in: float) -> HeldBack:
    return HeldBack(
        "WhatsApp refused device_list queries with 429 rate-overlimit",
        code="rate_limited",
        details={"request": "device_list", "retry_in": retry_in},
    )


def test_held_back_tries_are_paced_and_neither_failures_nor_crashed_claims_and_a_cancel_wins(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    holds = CRASHED_CLAIMS_PER_TRY * 3 + 3  # more tries than the crashed-claims bound allows (send_tries 3)
    FlakyEngine.plan = {"patient": [_held(0.01) for _ in range(holds)], "cancelled": [_held(0.5)]}
    engines, _ = catalog(world, FlakyEngine)
    paced: list[int] = []
    took = NumberPacer.took

    def counting(self: NumberPacer, pacing: Pacing) -> None:
        assert pacing.enabled
        paced.append(1)
        took(self, pacing)

    monkeypatch.setattr(NumberPacer, "took", counting)
    ids: dict[str, str] = {}

    async def scenario(connector: Connector) -> None:
        session = await connected_session(world)
        patient = accept(world, session, BEN.phone, "patient")
        cancelled = accept(world, session, BEN.phone, "cancelled")
        after = accept(world, session, BEN.phone, "after")
        ids.update(patient=patient.id, cancelled=cancelled.id, after=after.id)
        [sent] = await sent_of(world, session, patient.id, timeout=30)
        assert sent.data["attempts"] == holds + 1

        def waiting() -> bool:
            row = claims.read(world.table, "ten_test", cancelled.id)
            return row is not None and row["status"] == "queued" and row.get("throttled") == 1

        while not waiting():  # its one try was held back: it waits, queued, for the hold to end
            await world.events.settle(0.02)
        services(deps_of(world)).messages.cancel("ten_test", cancelled.id)
        await sent_of(world, session, after.id, timeout=30)
        order = [r["id"] for r in deliveries(world.journal)]
        assert order == [provider_message_id(m.id) for m in (patient, after)]  # in order; never the cancelled

    quick = Pacing(
        rate_per_minute=6000,
        burst=100,
        jitter_min_seconds=0,
        jitter_max_seconds=0,
        first_contacts_per_day=0,
        health_slowdown=False,
    )
    run(world, scenario, engines=engines, **{**FAST_RETRIES, "pacing": quick})
    row = claims.read(world.table, "ten_test", ids["patient"])
    assert row is not None and (row["attempts"], row["throttled"]) == (holds + 1, holds)
    assert "failures" not in row and row["last_error"]["code"] == "rate_limited"
    assert claims.read(world.table, "ten_test", ids["cancelled"])["status"] == "cancelled"  # type: ignore[index]
    assert len(paced) == (holds + 1) + 1 + 1  # every try spent a pacing token, the retries too
    failed = [e for e in world.events.events if e.type == EventType.MESSAGE_STATUS]
    assert [e.data.get("status") for e in failed if e.data.get("status") == "failed"] == []
