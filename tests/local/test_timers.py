"""Rate schedules: the event each one sends, firing (with a shrunk clock), tick-now, no overlap."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path

from local.functions import FunctionRuntime
from local.template_model import FunctionSpec, ScheduleSpec, Template
from local.timers import Timers, scheduled_event


def sweeper_runtime(template: Template) -> FunctionRuntime:
    return FunctionRuntime({"SweeperFunction": template.functions["SweeperFunction"]})


def test_scheduler_v2_sends_its_input_with_context_attributes_filled_in() -> None:
    spec = ScheduleSpec("Fn.Tick", "Fn", 60, input='{"job": "sweep", "at": "<aws.scheduler.scheduled-time>"}')
    event = scheduled_event(spec, now=1_700_000_000)
    assert event == {"job": "sweep", "at": "2023-11-14T22:13:20Z"}


def test_scheduler_v2_without_input_sends_an_empty_object() -> None:
    assert scheduled_event(ScheduleSpec("Fn.Tick", "Fn", 60), now=0) == {}


def test_a_classic_schedule_rule_sends_a_scheduled_event() -> None:
    event = scheduled_event(ScheduleSpec("Fn.Tick", "Fn", 60, scheduler_v2=False), now=0)
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["time"] == "1970-01-01T00:00:00Z" and event["detail"] == {}


def test_tick_runs_a_schedule_now(gateway_template: Template) -> None:
    runtime = sweeper_runtime(gateway_template)
    timers = Timers(gateway_template.schedules, runtime)

    async def scenario() -> object:
        return await timers.tick("SweeperFunction.EveryMinute")

    assert asyncio.run(scenario()) == {"swept": 1}
    assert runtime.module("SweeperFunction").runs[0]["job"] == "sweep"


def test_enabled_schedules_fire_on_their_own_and_disabled_ones_do_not(gateway_template: Template) -> None:
    runtime = sweeper_runtime(gateway_template)
    timers = Timers(gateway_template.schedules, runtime, time_scale=0.0005)  # a minute lasts 30 ms

    async def scenario() -> None:
        timers.start()
        deadline = time.monotonic() + 10
        while timers.runs["SweeperFunction.EveryMinute"] < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await timers.stop()

    asyncio.run(scenario())
    assert timers.runs["SweeperFunction.EveryMinute"] >= 3
    assert timers.runs["SweeperFunction.Hourly"] == 0
    assert all(run == {"job": "sweep", "at": run["at"]} for run in runtime.module("SweeperFunction").runs)


def test_runs_of_one_schedule_never_overlap(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """
            import threading, time
            active = peak = 0
            lock = threading.Lock()
            def handler(event, context):
                global active, peak
                with lock:
                    active += 1
                    peak = max(peak, active)
                time.sleep(0.02)
                with lock:
                    active -= 1
            """
        )
    )
    function = FunctionSpec("Slow", tmp_path, "app.handler", {})
    runtime = FunctionRuntime({"Slow": function})
    schedule = ScheduleSpec("Slow.Tick", "Slow", period_seconds=60)
    timers = Timers([schedule], runtime, time_scale=0.0001)  # fires faster than the handler runs

    async def scenario() -> None:
        timers.start()
        await asyncio.gather(*(timers.tick("Slow.Tick") for _ in range(5)))
        await timers.stop()

    asyncio.run(scenario())
    assert runtime.module("Slow").peak == 1
