"""`python -m connector`: the connector process (ECS task, or a second process beside `wagate serve`)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from connector.app import Connector

log = logging.getLogger("wagate.connector")


async def run_until_signal(connector: Connector) -> int:
    """Start, wait for SIGTERM/SIGINT, stop cleanly (0). A second signal exits at once (1)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            log.error("second signal: exiting without closing sessions")
            os._exit(1)
        log.info("signal received: closing every session")
        stop.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, on_signal)
    await connector.start()
    await stop.wait()
    await connector.stop()
    return 0


def main() -> int:
    """Exit codes: 0 stopped cleanly, 1 second signal, 2 bad settings, 3 no web engine in this build."""
    from wagate.compose import services
    from wagate.settings import SettingsError

    try:
        deps = services().ports  # reads and checks the settings
    except SettingsError as exc:
        print(f"connector: {exc}", file=sys.stderr)  # noqa: T201 - logging is not configured yet
        return 2
    if deps.settings.connector.require_web_engine:
        from connector.engines.catalog import web_engine_missing

        missing = web_engine_missing()
        if missing is not None:
            print(  # noqa: T201 - logging is not configured yet
                f"connector: the web engine cannot load ({missing}). Its WhatsApp protobufs are generated at "
                "build time: build the image from connector/Dockerfile (its build stage generates them), or "
                "locally run `make node`. WAGATE_REQUIRE_WEB_ENGINE=false runs sandbox sessions only.",
                file=sys.stderr,
            )
            return 3
    logging.basicConfig(
        level=deps.settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
        stream=sys.stderr,
    )
    connector = Connector(deps, pacing=services().pacing)
    return asyncio.run(run_until_signal(connector))


if __name__ == "__main__":
    sys.exit(main())
