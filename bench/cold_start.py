"""Cold start: how long importing each Lambda function module takes, as a ratio to a bare `import boto3`.

Each import runs in a fresh interpreter (`python -X importtime`), several times; the median of the total
self+cumulative time of the top-level imports is compared. The runs are interleaved (boto3, then every
function, then again), so a busy machine slows the baseline and the functions alike. The CPU time of the
same import is compared too: on a shared machine the wall time swings with the neighbours' load, the CPU
time much less. Target: every function ≤ 1.5× boto3.

The layer is measured byte-compiled, as its build ships it (layers/core/Makefile): wagate and the
functions are compiled first, whatever PYTHONDONTWRITEBYTECODE says, or every run would compile them again.

Under each function, the top contributors: its import time (self times, summed) by package, with the
package's heaviest module, taken from the run whose total is the median. `wagate` and
`aws_lambda_powertools` are split into their subpackages, since those are what one can act on.
"""

from __future__ import annotations

import collections
import compileall
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7
TARGET = 1.5
TOP = 5
BASELINE = "import boto3"
# Split one level deeper: these packages are ours to restructure, or big enough to need it.
SPLIT = {"wagate": 2, "aws_lambda_powertools": 2, "aws_lambda_powertools.utilities": 3}


@dataclass(frozen=True)
class Profile:
    """One interpreter's imports: the total, and self time per module (microseconds)."""

    total: int
    self_times: dict[str, int]
    cpu: float  # seconds of CPU the import took (process_time)


def profile(code: str) -> Profile:
    env = {
        **{name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"},
        "WAGATE_BACKEND": "aws",
        "TABLE_NAME": "bench",
        "KMS_KEY_ID": "bench",
        "AWS_REGION": "eu-west-1",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            f"import time; _cpu = time.process_time()\n{code}\nprint(time.process_time() - _cpu)",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    total = 0
    self_times: dict[str, int] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, _, rest = line.partition(":")
        self_us, cumulative, name = rest.split("|")
        self_times[name.strip()] = self_times.get(name.strip(), 0) + int(self_us)
        if name.startswith(" ") and not name.startswith("  "):  # top level: nested names are indented more
            total += int(cumulative.strip())
    return Profile(total, self_times, float(result.stdout.split()[-1]))


def package_of(module: str) -> str:
    parts = module.split(".")
    depth = 1
    while ".".join(parts[:depth]) in SPLIT and depth < len(parts):
        depth = SPLIT[".".join(parts[:depth])]
    return ".".join(parts[:depth])


def contributors(run: Profile) -> list[tuple[str, int, str, int]]:
    """(package, self time, heaviest module, its self time), heaviest package first."""
    by_package: collections.Counter[str] = collections.Counter()
    heaviest: dict[str, tuple[str, int]] = {}
    for module, micros in run.self_times.items():
        package = package_of(module)
        by_package[package] += micros
        if micros > heaviest.get(package, ("", -1))[1]:
            heaviest[package] = (module, micros)
    return [(package, micros, *heaviest[package]) for package, micros in by_package.most_common(TOP)]


def function_code(app: Path) -> str:
    return (
        "import importlib.util as u;"
        f"s = u.spec_from_file_location('fn', {str(app)!r});"
        "m = u.module_from_spec(s); s.loader.exec_module(m)"
    )


def main() -> None:
    for folder in (ROOT / "layers" / "core" / "wagate", ROOT / "functions"):
        compileall.compile_dir(folder, quiet=1)
    apps = sorted((ROOT / "functions").glob("*/app.py"))
    codes = {"boto3": BASELINE} | {app.parent.name: function_code(app) for app in apps}
    runs: dict[str, list[Profile]] = {label: [] for label in codes}
    for _ in range(RUNS):
        for label, code in codes.items():
            runs[label].append(profile(code))

    baseline = statistics.median(run.total for run in runs["boto3"])
    baseline_cpu = statistics.median(run.cpu for run in runs["boto3"])
    print(
        f"bare `import boto3`: {baseline / 1000:.1f} ms, {baseline_cpu * 1000:.1f} ms CPU (median of {RUNS})"
    )
    worst = 0.0
    for label in codes:
        if label == "boto3":
            continue
        ordered = sorted(runs[label], key=lambda run: run.total)
        micros = statistics.median(run.total for run in ordered)
        ratio = micros / baseline
        worst = max(worst, ratio)
        cpu = statistics.median(run.cpu for run in ordered)
        print(
            f"functions/{label}: {micros / 1000:.1f} ms = {ratio:.2f}x boto3"
            f" (CPU {cpu * 1000:.1f} ms = {cpu / baseline_cpu:.2f}x)"
        )
        for package, package_us, module, module_us in contributors(ordered[len(ordered) // 2]):
            most = f"  (most: {module} {module_us / 1000:.1f} ms)" if module != package else ""
            print(f"    {package_us / 1000:6.1f} ms  {package}{most}")
    print(f"cold_start: {worst:.2f}x boto3 worst function import (target ≤ {TARGET}x)")


if __name__ == "__main__":
    main()
