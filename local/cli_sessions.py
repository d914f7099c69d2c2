"""`wagate sessions ...`: the operator's view of sessions on a headless server, over the API."""

from __future__ import annotations

import argparse
import sys
import time

from local.client import ApiError, WagateClient


def run(args: argparse.Namespace) -> int:
    if not args.api_key:
        print(
            "set WAGATE_API_KEY (or --api-key): `wagate admin create-tenant NAME` prints one", file=sys.stderr
        )
        return 2
    client = WagateClient(args.url, args.api_key)
    try:
        return _run(client, args)
    except ApiError as exc:
        print(f"error: {exc.message} ({exc.code}, HTTP {exc.status})", file=sys.stderr)
        return 1
    finally:
        client.close()


def _run(client: WagateClient, args: argparse.Namespace) -> int:
    command = args.sessions_command
    if command == "create":
        session = client.create_session(args.name, args.provider, args.phone)
        print(f"{session['id']}  {session['status']}  {session['name']} ({session['provider']})")
        return _watch_qr(client, session["id"], 180.0) if args.qr else 0
    if command == "list":
        for s in client.list_sessions():
            print(f"{s['id']}  {s['status']:<12} {s.get('phone') or '-':<16} {s['name']} ({s['provider']})")
        return 0
    if command == "qr":
        return _watch_qr(client, args.session_id, args.timeout)
    if command == "logout":
        session = client.logout(args.session_id)
        print(f"{session['id']}  logging out")
        return 0
    return 2


def _watch_qr(client: WagateClient, session_id: str, timeout: float) -> int:
    """Prints each new QR until the phone scans one (connected) or the time runs out."""
    deadline, shown = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        status = client.get_session(session_id)["status"]
        if status == "connected":
            print("connected")
            return 0
        if status in ("logged_out", "failed"):
            print(
                f"session is {status}: connect it again (POST /v1/sessions/{session_id}/connect)",
                file=sys.stderr,
            )
            return 1
        qr = client.qr_terminal(session_id)
        if qr and qr != shown:
            shown = qr
            print("\033[2J\033[H" if sys.stdout.isatty() else "", end="")
            print(qr)
            print("Scan with WhatsApp → Linked devices → Link a device. Waiting…")
        time.sleep(1.0)
    print("timed out waiting for a scan", file=sys.stderr)
    return 1
