"""connector/Dockerfile builds what the task definition runs: arm64, protobufs generated in a build stage
from the locked Baileys package, every file it copies inside the build context its .dockerignore leaves."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "connector/Dockerfile"


def stages() -> list[list[str]]:
    found: list[list[str]] = []
    for line in DOCKERFILE.read_text().replace("\\\n", " ").splitlines():
        if line.startswith("FROM "):
            found.append([])
        if found and line.strip() and not line.startswith("#"):
            found[-1].append(line.strip())
    return found


def included(path: str) -> bool:
    """Docker's rule: the last matching pattern of the .dockerignore decides."""
    keep = True
    for raw in (ROOT / "connector/Dockerfile.dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern.rstrip("/") + "/"):
            keep = negated
    return keep


def test_the_final_image_is_arm64_and_the_protobufs_come_from_a_build_stage() -> None:
    *builders, final = stages()
    assert final[0].startswith("FROM --platform=linux/arm64 ")
    assert any("npm ci" in line for stage in builders for line in stage)
    assert any("proto/build.py --source" in line for stage in builders for line in stage)
    assert any(line.startswith("COPY --from=protos") and "WAProto_pb2.py" in line for line in final)
    # The image fails to build, rather than to start, when the web engine cannot import.
    assert any("import av, connector.engines.web.engine" in line for line in final)
    assert final[-1] == 'CMD ["python", "-m", "connector"]'
    assert any("connector.liveness" in line for line in final if line.startswith("HEALTHCHECK"))


def test_every_file_copied_from_the_context_exists_and_is_not_ignored() -> None:
    copied = []
    for stage in stages():
        for line in stage:
            if line.startswith("COPY ") and "--from=" not in line:
                *sources, _ = line.split()[1:]
                copied.extend(sources)
    assert "tests/interop/package-lock.json" in copied and "requirements.lock" in copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert included(source), f"{source} is excluded by connector/Dockerfile.dockerignore"
    assert not included("tests/interop/node_modules")
    assert re.search(r"npm ci --ignore-scripts", DOCKERFILE.read_text())


def test_the_image_has_pyav_for_video_posters_and_the_layer_does_not() -> None:
    """Video posters need FFmpeg's decoders: the connector image checks that PyAV's wheel installed; the
    Lambda layer (which never sends to WhatsApp's media hosts) must not grow by it."""
    *_, final = stages()
    assert any("import av" in line for line in final if line.startswith("RUN ")), final
    layer = (ROOT / "layers/core/requirements.txt").read_text()
    assert not re.search(r"^\s*av\b", layer, re.MULTILINE)
    assert re.search(r'"av>=', (ROOT / "pyproject.toml").read_text())
