"""The connector's liveness file, its ECS health check, its ConnectorSessions metric, and its refusal to
start without the web engine."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connector import liveness
from connector.metrics import SessionGauge

ROOT = Path(__file__).resolve().parents[2]


def run_check(path: Path | None, max_age: str = "30") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAGATE_")}
    if path is not None:
        env["WAGATE_LIVENESS_FILE"] = str(path)
    env["WAGATE_LIVENESS_MAX_AGE_SECONDS"] = max_age
    return subprocess.run(
        [sys.executable, "-m", "connector.liveness"], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_the_health_check_passes_on_a_fresh_heartbeat_and_fails_on_a_stale_or_missing_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alive"
    missing = run_check(path)
    assert missing.returncode == 1 and "no heartbeat" in missing.stderr
    liveness.Heartbeat(path, every=1).beat()
    assert run_check(path).returncode == 0
    old = time.time() - 45
    os.utime(path, (old, old))
    stale = run_check(path)
    assert stale.returncode == 1 and "event loop is stuck" in stale.stderr
    unset = run_check(None)
    assert unset.returncode == 1 and "WAGATE_LIVENESS_FILE" in unset.stderr


def test_the_heartbeat_stops_when_the_event_loop_is_blocked(tmp_path: Path) -> None:
    path = tmp_path / "alive"

    async def scenario() -> None:
        beat = liveness.Heartbeat(path, every=0.05)
        beat.start()
        await asyncio.sleep(0.2)
        assert liveness.check(path, max_age=1.0)[0]
        time.sleep(1.5)  # the loop is stuck: nothing touches the file
        assert not liveness.check(path, max_age=1.0)[0]
        await asyncio.sleep(0.2)  # the loop turns again: so does the heartbeat
        assert liveness.check(path, max_age=1.0)[0]
        await beat.stop()
        assert not path.exists()  # a stopped connector is not alive

    asyncio.run(scenario())


def test_the_session_gauge_prints_one_emf_line_per_report(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    counts = iter([3, 5])
    gauge = SessionGauge(lambda: next(counts), every=60)

    async def scenario() -> None:
        gauge.start()  # reports at once, then every minute
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await gauge.stop()

    asyncio.run(scenario())
    assert gauge.report() == 5
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["ConnectorSessions"] for line in lines] == [[3.0], [5.0]]
    (directive,) = lines[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "wagate" and directive["Dimensions"] == [["service"]]
    assert lines[0]["service"] == "wagate-connector"


def test_the_connector_refuses_to_start_without_the_web_engine(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAGATE_")}
    env.update(WAGATE_BACKEND="local", WAGATE_DATA_DIR=str(tmp_path))
    # As if the image had been built without its protobufs: importing the web engine fails.
    code = (
        "import sys; sys.modules['connector.engines.web.engine'] = None\n"
        "from connector.__main__ import main; sys.exit(main())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3, result.stderr
    assert "the web engine cannot load" in result.stderr and "connector/Dockerfile" in result.stderr
    assert "Traceback" not in result.stderr
