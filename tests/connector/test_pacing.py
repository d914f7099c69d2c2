"""Pacing as pure logic: the token bucket, the random gap, the typing time, and how settings merge."""

from __future__ import annotations

import pytest

from connector.config import ConnectorConfig
from connector.pacing import NumberPacer
from wagate.domain.pacing import Pacing, PacingOverrides, merge, merge_leniently
from wagate.settings import SettingsError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pacer(clock: FakeClock, gap: float = 0.0) -> NumberPacer:
    # The "random" gap is whatever the test says; the typing randomisation is its midpoint.
    return NumberPacer(clock=clock, uniform=lambda low, high: gap if (low, high) != (0.8, 1.2) else 1.0)


def test_the_bucket_lets_a_burst_through_then_holds_to_the_rate() -> None:
    clock = FakeClock()
    numbers = pacer(clock)
    pacing = Pacing(rate_per_minute=60, burst=3, jitter_min_seconds=0, jitter_max_seconds=0)
    for _ in range(3):
        assert numbers.delay(pacing) == 0
        numbers.took(pacing)
    assert numbers.delay(pacing) == pytest.approx(1.0)  # one token a second
    clock.now += 0.5
    assert numbers.delay(pacing) == pytest.approx(0.5)
    clock.now += 0.5
    assert numbers.delay(pacing) == 0
    numbers.took(pacing)
    clock.now += 60  # idle for long: never more than the burst saved up
    for _ in range(3):
        numbers.took(pacing)
    assert numbers.delay(pacing) > 0


def test_the_random_gap_runs_from_the_last_send() -> None:
    clock = FakeClock()
    numbers = pacer(clock, gap=2.5)
    pacing = Pacing(rate_per_minute=6000, burst=100, jitter_min_seconds=1, jitter_max_seconds=4)
    assert numbers.delay(pacing) == 0  # the first message after a quiet spell goes at once
    numbers.took(pacing)
    assert numbers.delay(pacing) == pytest.approx(2.5)
    clock.now += 2.0
    assert numbers.delay(pacing) == pytest.approx(0.5)
    clock.now += 10.0
    assert numbers.delay(pacing) == 0


def test_pacing_off_never_waits() -> None:
    clock = FakeClock()
    numbers = pacer(clock, gap=5)
    for _ in range(1000):
        assert numbers.delay(Pacing.off()) == 0
        numbers.took(Pacing.off())


def test_typing_time_follows_the_length_within_bounds() -> None:
    numbers = pacer(FakeClock())
    pacing = Pacing(typing=True, typing_chars_per_second=10, typing_min_seconds=1, typing_max_seconds=5)
    assert numbers.typing_seconds(pacing, "hi") == 1.0
    assert numbers.typing_seconds(pacing, "x" * 30) == pytest.approx(3.0)
    assert numbers.typing_seconds(pacing, "x" * 500) == 5.0


def test_overrides_merge_field_by_field_and_contradictions_are_refused() -> None:
    defaults = Pacing(rate_per_minute=30, jitter_min_seconds=1, jitter_max_seconds=3)
    tenant = PacingOverrides(rate_per_minute=10, typing=True)
    session = PacingOverrides(rate_per_minute=20, first_contacts_per_day=5)
    effective = merge(defaults, tenant, session)
    assert (effective.rate_per_minute, effective.typing, effective.first_contacts_per_day) == (20, True, 5)
    assert effective.jitter_max_seconds == 3  # inherited from the defaults
    with pytest.raises(ValueError, match="jitter_min_seconds"):
        merge(defaults, PacingOverrides(jitter_min_seconds=5))
    # The connector never stops over it: the upper bound rises to the lower one.
    lenient = merge_leniently(defaults, PacingOverrides(jitter_min_seconds=5))
    assert (lenient.jitter_min_seconds, lenient.jitter_max_seconds) == (5, 5)
    assert PacingOverrides.from_stored({"burst": "many"}) == PacingOverrides()  # unreadable: ignored
    assert PacingOverrides.from_stored(None) == PacingOverrides()


def test_process_defaults_come_from_the_environment() -> None:
    config = ConnectorConfig.from_env(
        {
            "WAGATE_PACING": "off",
            "WAGATE_PACING_RATE_PER_MINUTE": "80",
            "WAGATE_PACING_FIRST_CONTACTS_PER_DAY": "0",
            "WAGATE_SEND_TRIES": "5",
        }
    )
    assert config.pacing.enabled is False and config.pacing.rate_per_minute == 80
    assert config.pacing.first_contacts_per_day == 0 and config.send_tries == 5
    assert ConnectorConfig.from_env({}).pacing == Pacing()
    with pytest.raises(SettingsError, match="WAGATE_PACING_BURST"):
        ConnectorConfig.from_env({"WAGATE_PACING_BURST": "0"})
