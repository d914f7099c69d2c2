"""Importing a function module stays cheap: what only some invocations need is imported on first use.

Each module below cost 10-200 ms of every cold start while it was imported at module scope (issue 2;
`bench/cold_start.py` prints the figures). A fresh interpreter per function, as Lambda has.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))

DEFERRED = {
    "aws_xray_sdk": "the Tracer is built at the first invocation (wagate.observability.traced)",
    "boto3": "adapters make their clients on first use (wagate.wiring)",
    "aws_lambda_powertools.utilities.idempotency": "it imports boto3; only POST routes use it",
    "aws_lambda_powertools.event_handler.openapi.models": "only /docs and /openapi.json need them",
    "qrcode": "only QR rendering needs it (wagate.qr)",
    "phonenumbers": "only requests carrying a phone number need it (wagate.domain.phones)",
}

_PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("fn", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted(name for name in sys.argv[2:] if name in sys.modules)))
"""


@pytest.mark.parametrize("name", FUNCTIONS)
def test_importing_the_function_defers_heavy_modules(name: str) -> None:
    app = ROOT / "functions" / name / "app.py"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(app), *DEFERRED],
        env={**os.environ, "WAGATE_BACKEND": "aws"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = json.loads(result.stdout)
    assert imported == [], {module: DEFERRED[module] for module in imported}
