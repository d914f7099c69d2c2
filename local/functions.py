"""Loads each template function's handler module and invokes it like Lambda, on a bounded thread pool.

Several functions are all `app.py`, so each handler module is imported under its own name
(`wagate_fn_<LogicalId>_app`). Results go through a JSON round trip because Lambda serialises them:
a handler returning a datetime fails here exactly as it would on AWS.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from local.intrinsics import function_arn
from local.template_model import FunctionSpec

log = logging.getLogger("wagate.local.functions")

Handler = Callable[[Any, Any], Any]


class FunctionError(Exception):
    """An invocation failed the way Lambda reports it (`errorType` is Lambda's name for it)."""

    def __init__(self, function_id: str, error_type: str, message: str) -> None:
        super().__init__(f"{function_id}: {error_type}: {message}")
        self.function_id = function_id
        self.error_type = error_type


class LambdaContext:
    """The context object Lambda's Python runtime passes to handlers (same attribute names and types)."""

    def __init__(self, spec: FunctionSpec, request_id: str | None = None) -> None:
        self.function_name = spec.logical_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn(spec.logical_id)
        # The real runtime reads this from an env var, so it is a str there too.
        self.memory_limit_in_mb = str(spec.memory_mb)
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.logical_id}"
        self.log_stream_name = f"local/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + spec.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionRuntime:
    """Every function of a template, invoked concurrently on one bounded pool, one container at a time.

    Lambda never runs two invocations in one container at once, and handlers rely on it (Powertools'
    resolver keeps per-request state on its app object). So, like Lambda, each concurrent invocation gets
    its own "container": a separately imported copy of the handler module, kept warm for reuse.
    """

    def __init__(self, functions: Mapping[str, FunctionSpec], *, max_workers: int = 32) -> None:
        self._specs = dict(functions)
        self._handlers: dict[str, Handler] = {}
        self._modules: dict[str, ModuleType] = {}
        self._warm: dict[str, list[Handler]] = {}  # idle containers per function
        self._containers: dict[str, int] = {}  # how many each function has imported
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="lambda")
        self._in_flight: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.Lock()
        self._import_lock = threading.Lock()

    def load_all(self) -> None:
        """Import every handler now, so a broken one stops the runner at startup. Raises FunctionError."""
        for function_id in self._specs:
            self.handler(function_id)

    def handler(self, function_id: str) -> Handler:
        loaded = self._handlers.get(function_id)
        if loaded is not None:
            return loaded
        with self._import_lock:
            if function_id not in self._handlers:
                self._handlers[function_id] = self._import(self._specs[function_id])
            return self._handlers[function_id]

    def module(self, function_id: str) -> ModuleType:
        """The function's imported handler module (tests read state the handlers keep there)."""
        self.handler(function_id)
        return self._modules[function_id]

    async def invoke(self, function_id: str, event: Any) -> Any:
        """Run the handler in the pool and return its JSON-round-tripped result.

        Raises FunctionError: the handler raised, its result is not JSON, or it outran its Timeout
        (the thread cannot be killed: it finishes in the background and its result is dropped).
        """
        spec = self._specs[function_id]
        self.handler(function_id)  # import errors surface here, before a worker is taken
        future = self._submit(self._run, function_id, spec, event)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=spec.timeout_seconds)
        except TimeoutError:
            log.error("%s timed out after %ss; its thread runs on", function_id, spec.timeout_seconds)
            raise FunctionError(function_id, "Sandbox.Timedout", "Task timed out") from None

    def _checkout(self, function_id: str) -> Handler:
        """A warm container of this function, or a new one (the first is the one `load_all` imported)."""
        first = self.handler(function_id)
        with self._lock:
            warm = self._warm.setdefault(function_id, [first] if function_id not in self._containers else [])
            self._containers.setdefault(function_id, 1)
            if warm:
                return warm.pop()
            self._containers[function_id] += 1
            number = self._containers[function_id]
        with self._import_lock:
            return self._import(self._specs[function_id], container=number)

    def _checkin(self, function_id: str, handler: Handler) -> None:
        with self._lock:
            self._warm.setdefault(function_id, []).append(handler)

    def _run(self, function_id: str, spec: FunctionSpec, event: Any) -> Any:
        """On a worker thread: take a container for the length of one invocation."""
        handler = self._checkout(function_id)
        try:
            return self._call(spec, handler, event)
        finally:
            self._checkin(function_id, handler)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    async def drain(self) -> None:
        """Wait for every invocation still running (including timed-out ones), then stop the pool."""
        await asyncio.to_thread(self._pool.shutdown, wait=True)

    def _submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        future = self._pool.submit(fn, *args)
        with self._lock:
            self._in_flight.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._in_flight.discard(future)

    @staticmethod
    def _call(spec: FunctionSpec, handler: Handler, event: Any) -> Any:
        context = LambdaContext(spec)
        try:
            result = handler(event, context)
        except Exception as exc:
            log.exception("%s raised (request %s)", spec.logical_id, context.aws_request_id)
            raise FunctionError(spec.logical_id, type(exc).__name__, str(exc)) from exc
        except SystemExit as exc:  # on Lambda this ends the sandbox, never the whole runner
            raise FunctionError(spec.logical_id, "Runtime.ExitError", f"exit {exc.code}") from exc
        try:
            return json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:
            raise FunctionError(spec.logical_id, "Runtime.MarshalError", str(exc)) from exc

    def _import(self, spec: FunctionSpec, container: int = 1) -> Handler:
        module_path, _, attribute = spec.handler.rpartition(".")
        if not module_path or not attribute:
            raise FunctionError(spec.logical_id, "Runtime.MalformedHandlerName", spec.handler)
        relative = Path(*module_path.replace("/", ".").split("."))
        source = spec.code_dir / relative.with_suffix(".py")
        if not source.is_file():
            raise FunctionError(spec.logical_id, "Runtime.ImportModuleError", f"no file {source}")
        for layer in spec.layer_dirs:
            for candidate in (layer / "python", layer):
                if candidate.is_dir() and str(candidate) not in sys.path:
                    sys.path.append(str(candidate))  # after site-packages, as Lambda puts /opt/python
        name = f"wagate_fn_{spec.logical_id}_{'_'.join(relative.parts)}"
        if container > 1:
            name += f"_c{container}"
        module = self._exec_module(spec, name, source)
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise FunctionError(spec.logical_id, "Runtime.HandlerNotFound", spec.handler)
        self._modules.setdefault(spec.logical_id, module)
        return handler  # type: ignore[no-any-return]

    def _exec_module(self, spec: FunctionSpec, name: str, source: Path) -> ModuleType:
        module_spec = importlib.util.spec_from_file_location(name, source)
        if module_spec is None or module_spec.loader is None:
            raise FunctionError(spec.logical_id, "Runtime.ImportModuleError", str(source))
        module = importlib.util.module_from_spec(module_spec)
        _refuse_shared_siblings(spec)
        # Lambda runs with CodeUri on sys.path, so a handler may import its sibling modules.
        sys.path.insert(0, str(spec.code_dir))
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            log.exception("%s: importing %s failed", spec.logical_id, source)
            raise FunctionError(spec.logical_id, "Runtime.ImportModuleError", str(exc)) from exc
        finally:
            sys.path.remove(str(spec.code_dir))
        return module


def _refuse_shared_siblings(spec: FunctionSpec) -> None:
    """Two functions with a sibling module of the same name would share one in a single process."""
    handler_file = spec.code_dir / (spec.handler.rpartition(".")[0].replace(".", "/") + ".py")
    for path in spec.code_dir.iterdir():
        if path == handler_file:
            continue
        if path.suffix == ".py":
            sibling = path.stem
        elif (path / "__init__.py").is_file():
            sibling = path.name
        else:
            continue
        loaded = sys.modules.get(sibling)
        origin = getattr(loaded, "__file__", None)
        if loaded is not None and origin and not Path(origin).resolve().is_relative_to(spec.code_dir):
            raise FunctionError(
                spec.logical_id,
                "Runtime.ImportModuleError",
                f"module {sibling!r} is already loaded from {origin}; functions sharing one process "
                "need distinct top-level module names",
            )
