"""`make check-deploy` (python -m local.deploy_check) says what `sam build && sam deploy` lack here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tool(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def check(bin_dir: Path, home: Path) -> subprocess.CompletedProcess[str]:
    # Only the fake tools (and sh for them): whatever this machine has installed must not leak in.
    env = {"PATH": str(bin_dir), "HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-S", "-m", "local.deploy_check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def fake_bin(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("sh", "cat"):
        os.symlink(f"/bin/{name}", bin_dir / name)
    return bin_dir


def test_a_bare_machine_is_told_every_missing_prerequisite(tmp_path: Path) -> None:
    result = check(fake_bin(tmp_path), tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert "MISSING SAM CLI: `sam` is not on PATH" in out
    assert "MISSING Python 3.12: neither python3.12 on PATH nor a running Docker" in out
    assert "MISSING AWS credentials: none found: run `aws configure`" in out
    assert "cannot deploy yet: SAM CLI, Python 3.12, AWS credentials missing" in out


def test_a_ready_machine_is_told_so(tmp_path: Path) -> None:
    bin_dir = fake_bin(tmp_path)
    tool(bin_dir, "sam", 'echo "SAM CLI, version 1.170.0"')
    tool(bin_dir, "python3.12", "exit 0")
    tool(bin_dir, "aws", 'echo "arn:aws:iam::123456789012:user/ops"')
    result = check(bin_dir, tmp_path)
    assert result.returncode == 0, result.stdout
    assert "ok      SAM CLI: SAM CLI, version 1.170.0" in result.stdout
    assert "ok      AWS credentials: arn:aws:iam::123456789012:user/ops" in result.stdout
    assert "note    connector image (optional): `docker` is not on PATH" in result.stdout
    assert "ready: `make deploy`" in result.stdout


def test_a_broken_python_shim_does_not_count_and_docker_is_the_way_out(tmp_path: Path) -> None:
    bin_dir = fake_bin(tmp_path)
    tool(bin_dir, "sam", 'echo "SAM CLI, version 1.170.0"')
    tool(bin_dir, "python3.12", 'echo "pyenv: python3.12: command not found" >&2; exit 127')
    tool(bin_dir, "aws", 'echo "Unable to locate credentials." >&2; exit 255')
    result = check(bin_dir, tmp_path)
    assert "MISSING Python 3.12" in result.stdout
    assert "MISSING AWS credentials: `aws sts get-caller-identity` failed: Unable to locate credentials." in (
        result.stdout
    )
    tool(bin_dir, "docker", 'case "$1" in info) echo 27.0.1;; buildx) echo v0.17;; esac')
    result = check(bin_dir, tmp_path)
    assert "ok      Python 3.12: not on PATH, but docker 27.0.1: `sam build --use-container`" in result.stdout
    assert "ok      connector image (optional)" in result.stdout
    assert result.returncode == 1  # the credentials still
