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
    from wagate.compose import services
    from wagate.settings import SettingsError

    try:
        deps = services().ports  # reads and checks the settings
    except SettingsError as exc:
        print(f"connector: {exc}", file=sys.stderr)  # noqa: T201 - logging is not configured yet
        return 2
    logging.basicConfig(
        level=deps.settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
        stream=sys.stderr,
    )
    connector = Connector(deps, pacing=services().pacing)
    return asyncio.run(run_until_signal(connector))


if __name__ == "__main__":
    sys.exit(main())
