"""WhatsApp's query throttling against the strict fake edge: lookups over the account's budget are answered
429 rate-overlimit (tests/fakes/whatsapp_edge/limits.py); the engine fails that query with `rate_limited`,
holds the kind back instead of asking again (the edge sees no second refusal), reports the episode once
(`Throttled`) and its end once (`ThrottleEnded`): at the first answered query after the hold, or after
a quiet period when nothing asks."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.base import GroupOp
from connector.engines.errors import GroupRefused
from connector.engines.events import Throttled, ThrottleEnded
from connector.engines.web.errors import RateLimited
from tests.connector.web.harness import Harness, with_edge

ALICE, BOB = "15550001111", "15550002222"


def _refusals(h: Harness) -> list[str]:
    return [e.detail for e in h.edge.events_of("rate-overlimit")]


def test_over_budget_number_checks_fail_clearly_are_held_back_and_are_one_episode() -> None:
    async def body(h: Harness) -> None:
        await h.linked(BOB, "ses_b")
        alice = await h.linked(ALICE, "ses_a", rate_limit_hold_seconds=0.5, rate_limit_quiet_seconds=60.0)
        h.edge.limits.set("usync", 2, 60.0)  # this account may look up twice a minute
        for _ in range(2):
            [bob] = await alice.engine.check_numbers([f"+{BOB}"])
            assert bob.status == "on_whatsapp"
        with pytest.raises(RateLimited) as refused:
            await alice.engine.check_numbers([f"+{BOB}"])
        assert refused.value.code == "rate_limited" and not refused.value.is_transient
        assert refused.value.details["request"] == "number_check"
        # Held back: asked again at once, it fails without reaching WhatsApp.
        asked = len(h.edge.events_of("usync"))
        with pytest.raises(RateLimited, match="not asked again"):
            await alice.engine.check_numbers([f"+{BOB}"])
        assert _refusals(h) == ["usync"] and len(h.edge.events_of("usync")) == asked
        [throttled] = alice.running.of(Throttled)
        assert throttled.request == "number_check" and "429 rate-overlimit" in throttled.detail
        assert throttled.retry_in == pytest.approx(0.5, abs=0.1)
        assert alice.running.of(ThrottleEnded) == []

        # The window resets; after the hold the next check goes out, is answered, and ends the episode.
        h.edge.limits.set("usync", 2, 60.0)
        await asyncio.sleep(0.6)
        [bob] = await alice.engine.check_numbers([f"+{BOB}"])
        assert bob.status == "on_whatsapp"
        ended = await alice.running.wait(ThrottleEnded)
        assert "answered number_check" in ended.detail

        # Over the budget again: a second episode, reported again (once).
        await alice.engine.check_numbers([f"+{BOB}"])
        for _ in range(2):
            with pytest.raises(RateLimited):
                await alice.engine.check_numbers([f"+{BOB}"])
        assert len(alice.running.of(Throttled)) == 2 and len(alice.running.of(ThrottleEnded)) == 1
        assert _refusals(h) == ["usync", "usync"]
        await alice.running.stop()

    with_edge(body)


def test_a_refusal_after_the_hold_doubles_it_within_the_same_episode() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(
            ALICE,
            "ses_a",
            rate_limit_hold_seconds=0.3,
            rate_limit_max_hold_seconds=1.0,
            rate_limit_quiet_seconds=60.0,
        )
        h.edge.limits.set("usync", 0, 60.0)
        with pytest.raises(RateLimited):
            await alice.engine.check_numbers(["+15559990000"])
        await asyncio.sleep(0.35)
        with pytest.raises(RateLimited) as again:  # let through, refused by WhatsApp again
            await alice.engine.check_numbers(["+15559990000"])
        assert again.value.details["retry_in"] == pytest.approx(0.6, abs=0.1)
        await asyncio.sleep(0.65)
        with pytest.raises(RateLimited) as third:
            await alice.engine.check_numbers(["+15559990000"])
        assert third.value.details["retry_in"] == pytest.approx(1.0, abs=0.1)  # the cap
        assert _refusals(h) == ["usync"] * 3
        assert len(alice.running.of(Throttled)) == 1 and alice.running.of(ThrottleEnded) == []
        await alice.running.stop()

    with_edge(body)


def test_the_episode_ends_after_a_quiet_period_when_nothing_asks() -> None:
    async def body(h: Harness) -> None:
        # Quiet long enough that the refusals below stay one episode even on a loaded CI machine (with
        # 0.5 s, a slow step between them ended the episode early and counted a second one).
        alice = await h.linked(ALICE, "ses_a", rate_limit_hold_seconds=0.2, rate_limit_quiet_seconds=2.0)
        group = h.edge.create_group("Team", ALICE, [BOB])
        h.edge.limits.set("w:g2", 0, 60.0)
        with pytest.raises(RateLimited) as refused:
            await alice.engine.list_groups()
        assert refused.value.details["request"] == "group_list"
        [throttled] = alice.running.of(Throttled)
        assert throttled.request == "group_list"
        # A description change reads the group first: WhatsApp refuses that too, and the outcome says so.
        describe = GroupOp("description", group_jid=str(group.jid), description="Ventas")
        with pytest.raises(GroupRefused) as op_refused:
            await alice.engine.manage_group(describe, "gop_1")
        assert op_refused.value.code == "rate_limited" and "429" in op_refused.value.message
        # A change made before the refresh is refused is done, not failed: the group comes later.
        subject = GroupOp("subject", group_jid=str(group.jid), subject="Team 2")
        done = await alice.engine.manage_group(subject, "gop_2")
        assert done.group is None and group.subject == "Team 2"
        assert _refusals(h) == ["w:g2", "w:g2"] and len(alice.running.of(Throttled)) == 1
        ended = await alice.running.wait(ThrottleEnded)
        assert "no refusal" in ended.detail
        # Other queries were never held back: the number check is a different kind.
        [me] = await alice.engine.check_numbers([f"+{ALICE}"])
        assert me.status == "on_whatsapp"
        assert _refusals(h) == ["w:g2", "w:g2"] and len(alice.running.of(ThrottleEnded)) == 1
        await alice.running.stop()

    with_edge(body)


def test_a_send_whose_device_lookup_is_throttled_fails_with_rate_limited_and_goes_later() -> None:
    async def body(h: Harness) -> None:
        await h.linked(BOB, "ses_b")
        alice = await h.linked(ALICE, "ses_a", rate_limit_hold_seconds=0.3)
        h.edge.limits.set("usync", 0, 60.0)
        with pytest.raises(RateLimited) as refused:
            await alice.engine.send_text(f"+{BOB}", "hola", "msg_1")
        assert refused.value.code == "rate_limited" and not refused.value.is_transient
        assert refused.value.details["request"] == "device_list"
        assert [t.request for t in alice.running.of(Throttled)] == ["device_list"]
        h.edge.limits.set("usync", 10, 60.0)
        await asyncio.sleep(0.35)
        sent = await alice.engine.send_text(f"+{BOB}", "hola", "msg_1")
        assert sent.provider_message_id and await alice.running.wait(ThrottleEnded)
        await alice.running.stop()

    with_edge(body)
