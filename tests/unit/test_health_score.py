"""The health score of a number from its own signals (domain/health.py): which signals cost, how much,
when a number is judged at all, and how a risk level slows its pacing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wagate.domain.health import HealthPolicy, Risk, Signals, factor, score, slowed
from wagate.domain.pacing import Pacing

POLICY = HealthPolicy()


def test_a_number_writing_to_people_who_answer_is_healthy() -> None:
    value, risk, cost, judged = score(Signals(sent=100, failed=2, replies=60, new_contacts=10), POLICY)
    assert (value, risk, judged) == (100.0, Risk.OK, True)
    assert set(cost.values()) == {0.0}


def test_cold_outreach_nobody_answers_is_high_risk() -> None:
    # 90 of 100 sends to strangers, 2 replies, 8 refusals (blocks look like this), many failures.
    signals = Signals(sent=100, failed=30, refused=8, replies=2, new_contacts=90)
    value, risk, cost, _ = score(signals, POLICY)
    assert risk is Risk.HIGH and value < POLICY.high_below
    assert cost["new_contact_share"] == 25.0 and cost["silence"] > 10 and cost["refusal_rate"] > 0


def test_a_single_463_counts_even_before_the_number_is_judged() -> None:
    value, risk, cost, judged = score(Signals(sent=3, failed=1, restricted=1), POLICY)
    assert not judged and cost["restriction_rate"] == 35.0 and risk is Risk.ELEVATED and value == 65.0
    # Failures alone, on a handful of sends, say nothing yet.
    assert score(Signals(sent=3, failed=3), POLICY)[1] is Risk.OK


def test_rate_limits_cost_up_to_their_share() -> None:
    assert score(Signals(sent=50, rate_limited=3), POLICY)[2]["rate_limits"] == 15.0
    assert score(Signals(sent=50, rate_limited=1), POLICY)[2]["rate_limits"] == 5.0


def test_slowing_down_divides_the_rhythm_and_keeps_no_cap_as_no_cap() -> None:
    pacing = Pacing(rate_per_minute=30, burst=5, jitter_min_seconds=1, jitter_max_seconds=3)
    half = slowed(pacing, factor(Risk.ELEVATED, POLICY))
    assert (half.rate_per_minute, half.burst, half.jitter_min_seconds, half.jitter_max_seconds) == (
        15.0,
        2,
        2.0,
        6.0,
    )
    assert half.first_contacts_per_day == 25
    quarter = slowed(pacing.model_copy(update={"first_contacts_per_day": 0}), factor(Risk.HIGH, POLICY))
    assert quarter.rate_per_minute == 7.5 and quarter.first_contacts_per_day == 0
    assert slowed(pacing, factor(Risk.OK, POLICY)) == pacing
    assert slowed(Pacing.off(), 0.25) == Pacing.off()


def test_the_policy_refuses_thresholds_in_the_wrong_order() -> None:
    with pytest.raises(ValidationError, match="high_below"):
        HealthPolicy(elevated_below=30, high_below=50)
    with pytest.raises(ValidationError, match="slowdown_high"):
        HealthPolicy(slowdown_elevated=0.2, slowdown_high=0.5)
