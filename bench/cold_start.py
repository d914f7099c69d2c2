"""Cold start: how long importing each Lambda function module takes, as a ratio to a bare `import boto3`.

Each import runs in a fresh interpreter (`python -X importtime`), several times; the median of the total
self+cumulative time of the top-level imports is compared. Target: every function ≤ 1.5× boto3.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7
TARGET = 1.5


def import_micros(code: str) -> float:
    """Microseconds the interpreter spent importing for `code` (sum of top-level cumulative times)."""
    env = {
        **os.environ,
        "WAGATE_BACKEND": "aws",
        "TABLE_NAME": "bench",
        "KMS_KEY_ID": "bench",
        "AWS_REGION": "eu-west-1",
    }
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    total = 0
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, _, rest = line.partition(":")
        _self_us, cumulative, name = rest.split("|")
        if name.startswith(" ") and not name.startswith("  "):  # top level: nested names are indented more
            total += int(cumulative.strip())
    return float(total)


def median_of(code: str) -> float:
    return statistics.median(import_micros(code) for _ in range(RUNS))


def main() -> None:
    baseline = median_of("import boto3")
    print(f"bare `import boto3`: {baseline / 1000:.1f} ms (median of {RUNS})")
    worst = 0.0
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        code = (
            "import importlib.util as u;"
            f"s = u.spec_from_file_location('fn', {str(app)!r});"
            "m = u.module_from_spec(s); s.loader.exec_module(m)"
        )
        micros = median_of(code)
        ratio = micros / baseline
        worst = max(worst, ratio)
        print(f"functions/{app.parent.name}: {micros / 1000:.1f} ms = {ratio:.2f}x boto3")
    print(f"cold_start: {worst:.2f}x boto3 worst function import (target ≤ {TARGET}x)")


if __name__ == "__main__":
    main()
