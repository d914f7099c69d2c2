"""`serve` in a subprocess: SIGTERM drains (the in-flight request and queue batch finish) and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from local.template import load_template
from tests.local.harness import TEMPLATES
from wagate.adapters.local.sqlite_queue import SqliteQueues

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = TEMPLATES / "drain" / "template.yaml"
SERVE = (
    "import sys; from pathlib import Path; from local.runner import serve; "
    "sys.exit(serve(template=Path(sys.argv[1]), data_dir=Path(sys.argv[2]), port=0))"
)


def wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        assert process.poll() is None, "serve exited early"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def test_sigterm_finishes_in_flight_work_then_exits_0(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("WAGATE_", "AWS_"))}
    with (tmp_path / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(TEMPLATE), str(data_dir)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            if "HTTP API" in line:
                url = line.split()[-1]
                break
        assert url.startswith("http://127.0.0.1:"), (tmp_path / "serve.log").read_text()

        queues = SqliteQueues(data_dir / "queues.db", load_template(TEMPLATE).queue_definitions())
        queues.get("JobQueue").send("a job")
        wait_for(data_dir / "batch-started", process)

        responses: list[httpx.Response] = []
        request = threading.Thread(
            target=lambda: responses.append(httpx.get(f"{url}/slow?seconds=2", timeout=30, trust_env=False))
        )
        request.start()
        wait_for(data_dir / "request-started", process)

        process.send_signal(signal.SIGTERM)
        request.join(30)
        assert process.wait(30) == 0, (tmp_path / "serve.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
    assert [(r.status_code, r.text) for r in responses] == [(200, "finished")]
    assert (data_dir / "batch-finished").exists()
    assert queues.get("JobQueue").approximate_depth() == 0  # the finished batch was deleted
    queues.close()
