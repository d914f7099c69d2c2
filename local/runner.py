"""`wagate serve`: runs template.yaml's functions on one machine — gateways, timers, queue runners, services.

Lifecycle: bind → set the environment → build the adapters once (`wiring.install`) → start services,
queue runners, timers and the server → wait for SIGINT/SIGTERM → drain. Draining stops accepting
connections, lets in-flight HTTP requests and handler invocations finish, lets each queue runner finish
the batch under way (taking no new one), stops services, and returns 0: nothing accepted is lost.
A second signal stops waiting and returns 1.

Extension point: `serve(services=[factory, ...])`. A factory receives the shared `Deps` and returns a
`Service` (async start/stop) that lives in the same process, e.g. the connector holding WhatsApp sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import uvicorn

from local.evolution_mount import PrefixMount, RootMount
from local.functions import FunctionRuntime
from local.http_gateway import HttpApiGateway
from local.http_routing import RouteTable
from local.intrinsics import LOCAL_REGION, TemplateError
from local.media_files import MediaFiles
from local.prometheus import MetricsEndpoint
from local.queue_runner import QueueRunner
from local.server_app import WEBSOCKET_PATH, LocalGatewayApp
from local.static_files import ASSETS_PREFIX, CONFIG, StaticFiles
from local.template import load_template
from local.template_model import Template
from local.timers import Timers
from local.ws_events import MAX_MESSAGE_BYTES
from local.ws_gateway import DirectPush, WebSocketGateway
from wagate.adapters.local.dir_media import DirMediaStore
from wagate.evolution import ROUTE_PREFIX

if TYPE_CHECKING:
    from wagate.ports import Queues
    from wagate.wiring import Deps

log = logging.getLogger("wagate.local.runner")
MAX_LOCAL_POLLERS = 4  # per queue subscription

# Set by the runner for the process; a function's value for one of these (AWS's) is replaced.
RUNNER_ENVIRONMENT = (
    "WAGATE_BACKEND",
    "WAGATE_DATA_DIR",
    "WAGATE_WEBSOCKET_ENDPOINT",
    "WAGATE_WEBSOCKET_URL",
    "WAGATE_MEDIA_BASE_URL",
    "WAGATE_EVOLUTION_SERVER_URL",
)


class Service(Protocol):
    """Something long-lived that shares the runner's process and adapters (e.g. the connector)."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Finish or hand back what is under way; called once, during the drain."""
        ...


ServiceFactory = Callable[["Deps"], Service]


@dataclass(frozen=True)
class RunnerUrls:
    http: str  # the HTTP API
    websocket: str  # the WebSocket API
    connections: str  # the @connections endpoint (what WAGATE_WEBSOCKET_ENDPOINT holds)
    dashboard: str | None = None  # the dashboard's page, when its files are served
    evolution: str | None = None  # the Evolution API compatible surface's base URL


def serve(
    *,
    template: Path,
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    ready: Callable[[RunnerUrls], None] | None = None,
    services: Sequence[ServiceFactory] = (),
    dashboard: Path | None = None,
    evolution_port: int | None = None,
) -> int:
    """Run until SIGINT/SIGTERM, then drain; returns the exit code. Port 0 picks a free port.
    `dashboard`: the static files served at `/` (default: `dashboard/` beside the template, if present).
    `evolution_port`: also serve the Evolution API surface at `/` there (local/evolution_mount.py); its
    prefix on the main port is the setting WAGATE_EVOLUTION_PREFIX.

    Raises TemplateError (template unusable, or two functions disagree on an environment variable)
    and OSError (the port is taken).
    """
    from wagate import wiring
    from wagate.settings import Settings

    _configure_logging()
    spec = load_template(template)
    listener = bind(host, port)
    evolution_listener = bind(host, evolution_port) if evolution_port is not None else None
    urls = urls_for(host, listener.getsockname()[1])
    environment = function_environment(spec)
    environment.update(
        WAGATE_BACKEND="local",
        WAGATE_DATA_DIR=str(Path(data_dir).resolve()),
        WAGATE_WEBSOCKET_ENDPOINT=urls.connections,
        WAGATE_WEBSOCKET_URL=urls.websocket,
        WAGATE_MEDIA_BASE_URL=urls.http,  # signed media links are served here (local/media_files.py)
    )
    os.environ.update(environment)
    # Lambda always sets a region; boto3 clients (the @connections one too) need one.
    os.environ.setdefault("AWS_REGION", LOCAL_REGION)
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ["AWS_REGION"])
    # No CloudWatch or X-Ray here: metrics would only print EMF JSON and traces have nowhere to go.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    settings = Settings.from_env()
    # Evolution webhooks' `server_url`: where this process serves the Evolution routes (unless set).
    if evolution_listener is not None:
        evolution_url = urls_for(host, evolution_listener.getsockname()[1]).http
    else:
        evolution_url = urls.http + settings.evolution.prefix
    evolution = settings.evolution.model_copy(
        update={"server_url": settings.evolution.server_url or evolution_url}
    )
    settings = settings.model_copy(update={"evolution": evolution})
    deps = wiring.build(settings, spec.queue_definitions())
    wiring.install(deps)
    if dashboard is None and (spec.path.parent / "dashboard").is_dir():
        dashboard = spec.path.parent / "dashboard"
    metrics = None
    if deps.settings.metrics_token is not None:
        from wagate import meters
        from wagate.compose import services as composed

        metrics, sink = MetricsEndpoint.build(
            deps.settings.metrics_token.get_secret_value(),
            lambda: composed().sessions,
            deps.queues,
            sorted(spec.queue_definitions()),
        )
        meters.install(sink)
    runner = LocalRunner(
        spec,
        listener,
        queues=deps.queues,
        services=[f(deps) for f in services],
        dashboard=dashboard,
        media=deps.media_store if isinstance(deps.media_store, DirMediaStore) else None,
        evolution_prefix=settings.evolution.prefix,
        evolution_listener=evolution_listener,
        metrics=metrics,
    )
    if deps.push is not None and runner.websocket is not None:
        # Same process: push straight into the gateway rather than through boto3 and its HTTP API.
        # Installed as new ports (not patched in place), so services built on the old ones cannot keep
        # the boto3 push: `wagate.compose` builds its services again for the new set.
        wiring.install(dataclasses.replace(deps, push=DirectPush(runner.websocket)))
    return asyncio.run(runner.run_until_signal(ready or print_urls))


def _configure_logging() -> None:
    """Runner messages (drain progress, skipped events) on stderr, unless the host configured logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # uvicorn reports every WebSocket open and close at INFO: too chatty for a dashboard's socket.
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


def function_environment(template: Template) -> dict[str, str]:
    """Every function's variables, merged: they share one process. Raises TemplateError on a conflict
    (runner-owned variables excepted: the runner sets those itself)."""
    merged: dict[str, tuple[str, str]] = {}
    for function_id, spec in template.functions.items():
        for name, value in spec.environment.items():
            if name in RUNNER_ENVIRONMENT:
                continue
            previous = merged.setdefault(name, (value, function_id))
            if previous[0] != value:
                raise TemplateError(
                    f"{name} is {previous[0]!r} in {previous[1]} but {value!r} in {function_id}; "
                    "locally all functions share one process, so they must agree"
                )
    return {name: value for name, (value, _) in merged.items()}


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (bound before anything starts, so port 0 can be resolved). Raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Explicitly IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets marked so, and without it
    # Nagle + delayed ACKs add 40 ms to every keep-alive response (headers and body are two writes).
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    listener.setblocking(False)
    return listener


def urls_for(host: str, port: int) -> RunnerUrls:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    return RunnerUrls(
        http=base, websocket=f"ws://{shown}:{port}{WEBSOCKET_PATH}", connections=base + WEBSOCKET_PATH
    )


def print_urls(urls: RunnerUrls) -> None:
    dashboard = f"  Dashboard       {urls.dashboard}\n" if urls.dashboard else ""
    evolution = f"  Evolution API   {urls.evolution}\n" if urls.evolution else ""
    sys.stdout.write(
        f"wagate is serving\n{dashboard}  HTTP API        {urls.http}\n{evolution}"
        f"  WebSocket API   {urls.websocket}\n"
        f"  @connections    {urls.connections}\nPress Ctrl+C to stop (in-flight work is finished first).\n"
    )
    sys.stdout.flush()


class _RefusedHandshakeFilter(logging.Filter):
    """uvicorn logs an ERROR after every refused WebSocket handshake, though the refusal (an HTTP
    status, as API Gateway sends) went out correctly; refusing is normal here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing handshake" not in record.getMessage()


_REFUSED_HANDSHAKE_FILTER = _RefusedHandshakeFilter()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runner owns SIGINT/SIGTERM and the drain order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class LocalRunner:
    """Everything one template runs, on one listening socket. Tests drive it in-process."""

    def __init__(
        self,
        template: Template,
        listener: socket.socket,
        *,
        queues: Queues | None = None,
        services: Sequence[Service] = (),
        time_scale: float = 1.0,
        max_workers: int = 32,
        poll_seconds: float = 1.0,
        dashboard: Path | None = None,
        media: DirMediaStore | None = None,
        evolution_prefix: str = ROUTE_PREFIX,
        evolution_listener: socket.socket | None = None,
        metrics: MetricsEndpoint | None = None,
    ) -> None:
        self.template = template
        self._listener = listener
        self.urls = urls_for(*listener.getsockname()[:2])
        self.runtime = FunctionRuntime(template.functions, max_workers=max_workers)
        routes = RouteTable(template.http_routes)
        http = HttpApiGateway(routes, self.runtime) if template.http_routes else None
        self.websocket = (
            WebSocketGateway(template.websocket_api, self.runtime) if template.websocket_api else None
        )
        static = None
        if dashboard is not None:
            _check_not_shadowing(routes)
            static = StaticFiles(dashboard)
            self.urls = dataclasses.replace(self.urls, dashboard=self.urls.http + "/")
        files = MediaFiles(media) if media is not None else None
        self.app = PrefixMount(
            LocalGatewayApp(http, self.websocket, static=static, media=files, metrics=metrics),
            evolution_prefix,
        )
        self._evolution_listener = evolution_listener
        self.evolution_app = RootMount(http) if evolution_listener is not None else None
        if evolution_listener is not None:
            shown = urls_for(*evolution_listener.getsockname()[:2]).http
            self.urls = dataclasses.replace(self.urls, evolution=shown + "/")
        elif any(r.path.startswith(ROUTE_PREFIX + "/") for r in template.http_routes):
            self.urls = dataclasses.replace(self.urls, evolution=self.urls.http + evolution_prefix)
        self.timers = Timers(template.schedules, self.runtime, time_scale=time_scale)
        self.queue_runners = _queue_runners(template, queues, self.runtime, poll_seconds)
        self._services = list(services)
        self._server: _Server | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._evolution_server: _Server | None = None
        self._evolution_task: asyncio.Task[None] | None = None

    async def start(self) -> RunnerUrls:
        """Import every handler, then start services, queue runners, timers and the server."""
        for note in self.template.skipped:
            log.warning("not emulated locally: %s", note)
        self.runtime.load_all()
        for service in self._services:
            await service.start()
        for runner in self.queue_runners:
            runner.start()
        self.timers.start()
        config = self._server_config(self.app)
        logging.getLogger("uvicorn.error").addFilter(_REFUSED_HANDSHAKE_FILTER)  # once: filters are a set
        self._server = _Server(config)
        self._server_task = asyncio.create_task(self._server.serve(sockets=[self._listener]))
        await _started(self._server, self._server_task)
        if self.evolution_app is not None and self._evolution_listener is not None:
            self._evolution_server = _Server(self._server_config(self.evolution_app))
            self._evolution_task = asyncio.create_task(
                self._evolution_server.serve(sockets=[self._evolution_listener])
            )
            await _started(self._evolution_server, self._evolution_task)
        return self.urls

    @staticmethod
    def _server_config(app: RootMount | PrefixMount) -> uvicorn.Config:
        return uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            http="h11",
            ws="websockets-sansio",
            ws_max_size=MAX_MESSAGE_BYTES,
            server_header=False,  # API Gateway sends no `server: uvicorn`
            proxy_headers=False,  # the gateway itself adds x-forwarded-* like API Gateway
            timeout_graceful_shutdown=None,
        )

    async def drain(self) -> None:
        """Stop accepting and finish everything under way (see the module docstring)."""
        for server in (self._server, self._evolution_server):
            if server is not None:
                server.should_exit = True
        stopping: list[Awaitable[None]] = [self.timers.stop(), *(r.stop() for r in self.queue_runners)]
        for task in (self._server_task, self._evolution_task):
            if task is not None:
                stopping.append(asyncio.shield(task))
        await asyncio.gather(*stopping)
        for service in reversed(self._services):
            try:
                await service.stop()
            except Exception:
                log.exception("service %s did not stop cleanly", getattr(service, "name", service))
        await self.runtime.drain()

    def force(self) -> None:
        """Stop waiting for open connections (a second Ctrl+C)."""
        for server in (self._server, self._evolution_server):
            if server is not None:
                server.force_exit = True

    async def run_until_signal(self, ready: Callable[[RunnerUrls], None]) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        signals_seen = 0

        def on_signal() -> None:
            nonlocal signals_seen
            signals_seen += 1
            if signals_seen == 1:
                log.info("draining: finishing in-flight work")
                stop.set()
            else:
                log.warning("second signal: not waiting for open connections")
                self.force()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal)
        try:
            try:
                urls = await self.start()
            except BaseException:
                await self.drain()
                raise
            ready(urls)
            await stop.wait()
            await self.drain()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        return 0 if signals_seen <= 1 else 1


async def _started(server: _Server, task: asyncio.Task[None]) -> None:
    while not server.started:
        if task.done():
            await task  # re-raises why it could not start
            raise RuntimeError("the HTTP server stopped while starting")
        await asyncio.sleep(0.01)


def _check_not_shadowing(routes: RouteTable) -> None:
    """The dashboard's paths must not be API routes: the static branch answers them first.
    Raises TemplateError."""
    for path in ("/", "/" + CONFIG, ASSETS_PREFIX + "app.js"):
        match = routes.match("GET", path)
        if match is not None and match.route.path != "$default":
            raise TemplateError(
                f"route {match.route.route_key!r} overlaps the dashboard's files "
                f"(/, /{CONFIG}, {ASSETS_PREFIX}...); move the route or serve without the dashboard"
            )


def _queue_runners(
    template: Template, queues: Queues | None, runtime: FunctionRuntime, poll_seconds: float
) -> list[QueueRunner]:
    subscriptions = [s for s in template.queue_subscriptions if s.enabled]
    if not subscriptions:
        return []
    if queues is None:
        raise TemplateError("the template subscribes functions to queues, but no queue adapter was given")
    # Lambda runs up to ScalingConfig.MaximumConcurrency batches of one queue at once; locally that many
    # pollers, capped, since each holds an asyncio default-executor thread while it long-polls.
    return [
        QueueRunner(
            s, template.queues[s.queue_id], queues.get(s.queue_id), runtime, poll_seconds=poll_seconds
        )
        for s in subscriptions
        for _ in range(min(s.max_concurrency, MAX_LOCAL_POLLERS))
    ]
