"""`make check-deploy`: are the tools `sam build && sam deploy` need here, and AWS credentials? Says what
is missing and how to get it; exit 1 when something required is. Standard library only (it runs before
any virtualenv exists), so `python3 -m local.deploy_check` works on a fresh clone.

Required: SAM CLI; Python 3.12 on PATH (the functions' runtime: `sam build` builds the layer with it) or
Docker (then `sam build --use-container`); AWS credentials that STS accepts. Optional: Docker with buildx
to build the connector's arm64 image (without it, deploy with ConnectorImage empty, or build it elsewhere).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    ok: bool
    required: bool
    what: str
    detail: str

    def line(self) -> str:
        mark = "ok  " if self.ok else ("MISSING" if self.required else "note")
        return f"{mark:8}{self.what}: {self.detail}"


def _run(*command: str, timeout: float = 20) -> tuple[int, str]:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def sam_cli() -> Finding:
    if shutil.which("sam") is None:
        return Finding(
            False,
            True,
            "SAM CLI",
            "`sam` is not on PATH: install it (pip install aws-sam-cli, or AWS's installer)",
        )
    code, out = _run("sam", "--version")
    return Finding(
        code == 0, True, "SAM CLI", out.splitlines()[0] if out else f"`sam --version` failed ({code})"
    )


def docker() -> tuple[bool, str]:
    if shutil.which("docker") is None:
        return False, "`docker` is not on PATH"
    code, out = _run("docker", "info", "--format", "{{.ServerVersion}}")
    if code != 0:
        return False, "docker is installed but its daemon does not answer (`docker info`)"
    return True, f"docker {out.splitlines()[0] if out else ''}".strip()


def build_python(docker_ok: bool, docker_detail: str) -> Finding:
    found = shutil.which("python3.12")
    # Run it: a pyenv shim is on PATH even where its version is not selected, and then fails.
    if found is not None and _run(found, "-c", "import sys; assert sys.version_info[:2] == (3, 12)")[0] == 0:
        return Finding(True, True, "Python 3.12", f"{found}: `make deploy` runs `sam build`")
    if docker_ok:
        return Finding(
            True, True, "Python 3.12", f"not on PATH, but {docker_detail}: `sam build --use-container`"
        )
    return Finding(
        False,
        True,
        "Python 3.12",
        "neither python3.12 on PATH nor a running Docker (for `sam build --use-container`): install one "
        "(e.g. pyenv install 3.12, or Docker)",
    )


def credentials() -> Finding:
    what = "AWS credentials"
    if shutil.which("aws") is not None:
        code, out = _run("aws", "sts", "get-caller-identity", "--query", "Arn", "--output", "text")
        if code == 0:
            return Finding(True, True, what, f"{out} (region {_region() or 'not set: --guided asks'})")
        return Finding(
            False,
            True,
            what,
            f"`aws sts get-caller-identity` failed: {out.splitlines()[-1] if out else code}",
        )
    try:
        import boto3  # the project's virtualenv has it; a bare python3 may not
    except ImportError:
        hints = [v for v in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID") if os.environ.get(v)]
        files = [p for p in ("~/.aws/credentials", "~/.aws/config") if os.path.exists(os.path.expanduser(p))]
        if hints or files:
            return Finding(
                True, True, what, f"found {', '.join(hints + files)} (not checked: no aws CLI or boto3)"
            )
        return Finding(False, True, what, "none found: run `aws configure` (or set AWS_PROFILE)")
    try:
        arn = boto3.client("sts").get_caller_identity()["Arn"]
    except Exception as exc:  # NoCredentialsError, ClientError, endpoint errors: all mean "not usable"
        return Finding(False, True, what, f"STS refused them or none are set: {exc}")
    return Finding(True, True, what, f"{arn} (region {_region() or 'not set: --guided asks'})")


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def connector_image(docker_ok: bool, docker_detail: str) -> Finding:
    what = "connector image (optional)"
    if not docker_ok:
        return Finding(
            False,
            False,
            what,
            f"{docker_detail}: build connector/Dockerfile elsewhere, or deploy with ConnectorImage empty",
        )
    code, _ = _run("docker", "buildx", "version")
    if code != 0:
        return Finding(
            False, False, what, "docker buildx is missing: the image must be built for linux/arm64"
        )
    return Finding(True, False, what, "docker buildx build --platform linux/arm64 -f connector/Dockerfile .")


def findings() -> list[Finding]:
    docker_ok, docker_detail = docker()
    return [
        sam_cli(),
        build_python(docker_ok, docker_detail),
        credentials(),
        connector_image(docker_ok, docker_detail),
    ]


def main() -> int:
    results = findings()
    for finding in results:
        print(finding.line())  # noqa: T201 - a CLI's report
    missing = [f.what for f in results if f.required and not f.ok]
    if missing:
        print(f"\ncannot deploy yet: {', '.join(missing)} missing (see above)")  # noqa: T201
        return 1
    print("\nready: `make deploy` (sam build, then sam deploy --guided)")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
