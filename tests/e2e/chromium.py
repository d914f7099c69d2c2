"""Headless Chromium for the dashboard's browser tests: Debian's package driven by Python playwright.

Playwright never downloads a browser here: it launches the system's `chromium` (the machine reaches only
package registries). Tests skip with the reason when either piece is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CANDIDATES = ("chromium", "chromium-browser")
FLAGS = [
    "--no-sandbox",  # root in a container: Chromium's sandbox needs namespaces we may not have
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # nothing but 127.0.0.1: no update, sync or safe-browsing calls
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """WAGATE_CHROMIUM, else the first Chromium on PATH."""
    explicit = os.environ.get("WAGATE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@contextmanager
def launch() -> Iterator[Browser]:
    """A headless Chromium with a fresh profile (playwright makes a new --user-data-dir per launch)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the Python package playwright is missing")
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed (apt-get install chromium, or set WAGATE_CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Page, name: str) -> Path:
    """Saves a full-page screenshot as tests/artifacts/dashboard-{name}.png (for people to look at)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
