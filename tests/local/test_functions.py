"""Loading handlers by CodeUri/Handler and invoking them like Lambda."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest

from local.functions import FunctionError, FunctionRuntime
from local.template_model import FunctionSpec


def spec(
    tmp_path: Path, name: str, source: str, *, timeout: int = 5, folder: str | None = None
) -> FunctionSpec:
    code_dir = tmp_path / (folder or name)
    code_dir.mkdir(exist_ok=True)
    (code_dir / "app.py").write_text(textwrap.dedent(source))
    return FunctionSpec(name, code_dir, "app.handler", {}, timeout_seconds=timeout)


def test_functions_with_the_same_file_name_stay_apart(tmp_path: Path) -> None:
    one = spec(tmp_path, "One", "def handler(event, context):\n    return 'one'\n")
    two = spec(tmp_path, "Two", "def handler(event, context):\n    return 'two'\n")
    runtime = FunctionRuntime({"One": one, "Two": two})
    runtime.load_all()
    assert asyncio.run(runtime.invoke("One", {})) == "one"
    assert asyncio.run(runtime.invoke("Two", {})) == "two"
    assert runtime.module("One") is not runtime.module("Two")


def test_a_result_that_lambda_cannot_serialise_is_a_marshal_error(tmp_path: Path) -> None:
    source = "import datetime\ndef handler(event, context):\n    return {'at': datetime.date.today()}\n"
    runtime = FunctionRuntime({"Fn": spec(tmp_path, "Fn", source)})
    with pytest.raises(FunctionError) as failed:
        asyncio.run(runtime.invoke("Fn", {}))
    assert failed.value.error_type == "Runtime.MarshalError"


def test_a_raising_handler_reports_its_exception_type(tmp_path: Path) -> None:
    source = "def handler(event, context):\n    raise KeyError('x')\n"
    runtime = FunctionRuntime({"Fn": spec(tmp_path, "Fn", source)})
    with pytest.raises(FunctionError) as failed:
        asyncio.run(runtime.invoke("Fn", {}))
    assert failed.value.error_type == "KeyError"


def test_a_handler_past_its_timeout_fails_like_lambda(tmp_path: Path) -> None:
    source = "import time\ndef handler(event, context):\n    time.sleep(1.5)\n    return 'late'\n"
    runtime = FunctionRuntime({"Fn": spec(tmp_path, "Fn", source, timeout=1)})

    async def scenario() -> None:
        with pytest.raises(FunctionError) as failed:
            await runtime.invoke("Fn", {})
        assert failed.value.error_type == "Sandbox.Timedout"
        await runtime.drain()  # the thread still finishes: drain waits for it
        assert runtime.in_flight() == 0

    asyncio.run(scenario())


def test_invocations_run_on_a_bounded_pool_one_container_each(tmp_path: Path) -> None:
    # A sibling module is imported once per process, so it can count across containers.
    (tmp_path / "Fn").mkdir(parents=True, exist_ok=True)
    (tmp_path / "Fn" / "counter.py").write_text(
        "import threading\nactive = 0\npeak = 0\nlock = threading.Lock()\nbusy = set()\nclash = False\n"
    )
    source = """
        import time
        import counter
        def handler(event, context):
            with counter.lock:
                counter.active += 1
                counter.peak = max(counter.peak, counter.active)
                counter.clash = counter.clash or id(handler) in counter.busy
                counter.busy.add(id(handler))
            time.sleep(0.05)
            with counter.lock:
                counter.active -= 1
                counter.busy.discard(id(handler))
            return id(handler)
    """
    runtime = FunctionRuntime({"Fn": spec(tmp_path, "Fn", source)}, max_workers=2)

    async def scenario() -> list[int]:
        return list(await asyncio.gather(*(runtime.invoke("Fn", {}) for _ in range(6))))

    containers = asyncio.run(scenario())
    counter = sys.modules["counter"]
    assert counter.peak == 2  # the pool's bound
    assert not counter.clash  # never two invocations in one container at once, as on Lambda
    assert len(set(containers)) == 2  # and containers are reused while warm


@pytest.mark.parametrize(
    ("handler", "error_type"),
    [("app.missing", "Runtime.HandlerNotFound"), ("nofile.handler", "Runtime.ImportModuleError")],
)
def test_a_broken_handler_fails_at_load(tmp_path: Path, handler: str, error_type: str) -> None:
    good = spec(tmp_path, "Fn", "def handler(event, context):\n    return 1\n")
    broken = FunctionSpec("Fn", good.code_dir, handler, {})
    with pytest.raises(FunctionError) as failed:
        FunctionRuntime({"Fn": broken}).load_all()
    assert failed.value.error_type == error_type


def test_a_module_that_fails_to_import_is_an_import_error(tmp_path: Path) -> None:
    runtime = FunctionRuntime({"Fn": spec(tmp_path, "Fn", "raise ImportError('no such dependency')\n")})
    with pytest.raises(FunctionError) as failed:
        runtime.load_all()
    assert failed.value.error_type == "Runtime.ImportModuleError"


def test_same_named_sibling_modules_of_two_functions_are_refused(tmp_path: Path) -> None:
    name = "wagate_test_shared_helper"
    source = f"import {name}\ndef handler(event, context):\n    return {name}.VALUE\n"
    one = spec(tmp_path, "One", source)
    two = spec(tmp_path, "Two", source)
    (one.code_dir / f"{name}.py").write_text("VALUE = 1\n")
    (two.code_dir / f"{name}.py").write_text("VALUE = 2\n")
    runtime = FunctionRuntime({"One": one, "Two": two})
    try:
        assert asyncio.run(runtime.invoke("One", {})) == 1
        with pytest.raises(FunctionError, match=name):
            runtime.load_all()
    finally:
        sys.modules.pop(name, None)
