"""What keeps the API Lambda's cold start short (bench/cold_start.py): importing it builds no pydantic model.

Building a model's validator and serializer is most of what defining it costs, and the API imports every
route's models at once. So each model of the layer says `defer_build=True` (built the first time it
validates, serialises or describes itself) and no module makes an instance at import (a module-level
constant: make it a cached function instead). The check runs in a fresh interpreter: this one has long
built everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BUILT_AT_IMPORT = """
import importlib.util, json, pydantic
spec = importlib.util.spec_from_file_location("api_app", "functions/api/app.py")
spec.loader.exec_module(importlib.util.module_from_spec(spec))

def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)

print(json.dumps(sorted(
    f"{model.__module__}.{model.__qualname__}"
    for model in set(subclasses(pydantic.BaseModel))
    if model.__module__.startswith("wagate") and model.__pydantic_complete__
)))
"""


def test_importing_the_api_builds_no_model() -> None:
    env = {**os.environ, "WAGATE_BACKEND": "aws", "TABLE_NAME": "t", "KMS_KEY_ID": "k"}
    env["AWS_REGION"] = "eu-west-1"
    result = subprocess.run(
        [sys.executable, "-c", BUILT_AT_IMPORT], capture_output=True, text=True, env=env, cwd=ROOT, check=True
    )
    built = json.loads(result.stdout.splitlines()[-1])
    assert built == [], f"built at import (give them defer_build=True, or build them lazily): {built}"


def test_the_check_sees_a_model_built_at_import(tmp_path: Path) -> None:
    """The probe itself: a model without defer_build, or one instantiated at import, is reported."""
    package = tmp_path / "wagate_probe"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from pydantic import BaseModel, ConfigDict\n"
        "class Eager(BaseModel):\n    x: int = 1\n"
        "class Deferred(BaseModel):\n    model_config = ConfigDict(defer_build=True)\n    x: int = 1\n"
        "class Made(BaseModel):\n    model_config = ConfigDict(defer_build=True)\n    x: int = 1\n"
        "MADE = Made()\n"
    )
    app = tmp_path / "functions" / "api" / "app.py"
    app.parent.mkdir(parents=True)
    app.write_text("import wagate_probe\n")
    result = subprocess.run(
        [sys.executable, "-c", BUILT_AT_IMPORT],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        check=True,
    )
    assert json.loads(result.stdout.splitlines()[-1]) == ["wagate_probe.Eager", "wagate_probe.Made"]
