"""The composition root: services built once per set of ports, sharing their collaborators, and built
again when other ports are installed (a test's, or `wagate serve`'s final ones)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from tests.fakes.push import RecordingPush
from wagate import compose, wiring


def test_each_service_is_built_once_and_collaborators_are_shared(local_deps: wiring.Deps) -> None:
    root = compose.services()
    assert compose.services() is root and root.ports is local_deps
    assert root.messages is root.messages
    # One instance of each service, handed to those that need it (none builds a sibling).
    assert root.messages.sessions is root.sessions and root.messages.pools is root.pools
    assert root.messages.groups is root.groups and root.pools.sessions is root.sessions
    assert root.events.messages is root.messages and root.events.webhooks is root.webhooks
    assert root.webhook_attempts.webhooks is root.webhooks
    assert root.cloud_commands.events is root.events and root.meta_webhooks.events is root.events
    assert compose.message_service() is root.messages  # what the routes' Depends gets


def test_other_ports_get_their_own_services(local_deps: wiring.Deps) -> None:
    before = compose.services()
    other = dataclasses.replace(local_deps, push=RecordingPush())
    wiring.install(other)
    after = compose.services()
    assert after is not before and after.ports is other
    assert after.events.push is other.push and before.events.push is local_deps.push


def test_no_http_client_until_one_is_used(local_deps: wiring.Deps) -> None:
    """The media probe, the webhook sender and the Graph client are made on first use, not with the
    services that hold them (a route that never calls out pays for no httpx client)."""
    root = compose.services()
    root.messages, root.webhooks, root.cloud_commands  # noqa: B018 - building them is the point
    assert (local_deps.media_probe, local_deps.webhook_sender, local_deps.graph_api) == (None, None, None)


def test_importing_the_root_builds_nothing() -> None:
    code = (
        "import sys, wagate.compose as c; "
        "assert c._root is None; "
        "assert not {'boto3', 'httpx', 'wagate.services.messages'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
