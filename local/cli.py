"""The `wagate` command: `serve` runs everything on one machine; `admin` manages tenants and keys."""

from __future__ import annotations

import argparse
import json
import os
import sys
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING

from wagate import __version__

if TYPE_CHECKING:
    from local.runner import ServiceFactory

# Where template.yaml is looked for without --template: a source checkout (local/ beside it), then an
# installed package's data (pyproject's data-files put the stack in <prefix>/share/wagate).
TEMPLATE_PLACES = (
    Path(__file__).resolve().parents[1] / "template.yaml",
    Path(sysconfig.get_path("data")) / "share" / "wagate" / "template.yaml",
)


def default_template() -> Path:
    """The first of TEMPLATE_PLACES that exists (else the first, so the error names where it looked)."""
    return next((place for place in TEMPLATE_PLACES if place.is_file()), TEMPLATE_PLACES[0])


def main(argv: list[str] | None = None) -> int:
    from wagate.settings import Settings, SettingsError

    try:
        env = Settings.from_env()  # the options' defaults; a bad WAGATE_* variable stops here, named
    except SettingsError as exc:
        print(f"wagate: {exc}", file=sys.stderr)
        return 2
    api_key = env.cli.api_key.get_secret_value() if env.cli.api_key else None
    parser = argparse.ArgumentParser(prog="wagate", description="Self-hosted WhatsApp gateway for CRMs.")
    parser.add_argument("--version", action="version", version=f"wagate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API, dashboard socket, timers and queues locally")
    serve.add_argument("--data-dir", type=Path, default=env.data_dir)
    serve.add_argument("--host", default=env.cli.host)
    serve.add_argument("--port", type=int, default=env.cli.port)
    serve.add_argument(
        "--template",
        type=Path,
        default=None,
        help="template.yaml to run (default: the checkout's or the installed one)",
    )
    serve.add_argument(
        "--no-connector", action="store_true", help="run without the WhatsApp connector (it runs elsewhere)"
    )
    serve.add_argument(
        "--evolution-port",
        type=int,
        default=env.evolution.port,
        help="also serve the Evolution API compatible routes at / on this port (for clients that cannot "
        f"add a path; on the main port they are under {env.evolution.prefix})",
    )

    def admin_options(parser: argparse.ArgumentParser, *, defaults: bool) -> argparse.ArgumentParser:
        parser.add_argument("--data-dir", type=Path, default=env.data_dir if defaults else argparse.SUPPRESS)
        parser.add_argument(
            "--backend",
            choices=["local", "aws"],
            default=env.backend if defaults else argparse.SUPPRESS,
            help="aws: use TABLE_NAME / KMS_KEY_ID from the environment (your deployed stack)",
        )
        return parser

    admin = commands.add_parser("admin", help="operator commands on the data directly")
    admin_options(admin, defaults=True)
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_commands.add_parser(
        "create-tenant",
        help="create a tenant and print its first API key",
        parents=[admin_options(argparse.ArgumentParser(add_help=False), defaults=False)],
    )
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help="print JSON instead of text")
    create.add_argument("--max-sessions", type=int, help="the tenant's session quota (default: the setting)")
    create.add_argument(
        "--messages-per-day", type=int, help="the tenant's daily message quota (default: none)"
    )
    admin_parent = [admin_options(argparse.ArgumentParser(add_help=False), defaults=False)]
    admin_commands.add_parser("list-tenants", help="list tenants (as JSON lines)", parents=admin_parent)
    admin_commands.add_parser(
        "index-tenants",
        help="once after upgrading: put tenants created before the operator API in its list",
        parents=admin_parent,
    )
    quotas = admin_commands.add_parser(
        "set-quotas", help="replace a tenant's quotas (omitted: the default)", parents=admin_parent
    )
    quotas.add_argument("tenant_id")
    quotas.add_argument("--max-sessions", type=int, help="sessions it may hold (default: the setting)")
    quotas.add_argument("--messages-per-day", type=int, help="messages per UTC day (default: no limit)")
    for verb, what in (
        ("suspend", "refuse its keys and stop its sessions (again: finishes one cut short)"),
        ("resume", "undo a suspension (again: finishes one cut short)"),
    ):
        admin_commands.add_parser(f"{verb}-tenant", help=what, parents=admin_parent).add_argument("tenant_id")
    admin_commands.add_parser(
        "operator-key",
        help="make an operator API key; prints it and the WAGATE_OPERATOR_KEY_SHA256 value to configure",
        parents=admin_parent,
    )
    admin_commands.add_parser(
        "encrypt-existing",
        help="seal the content of rows written before encryption was on (safe while serving)",
        parents=admin_parent,
    )
    admin_commands.add_parser(
        "rotate-master-key",
        help="local mode: a new master key; every tenant data key is re-wrapped under it",
        parents=admin_parent,
    )
    backup = admin_commands.add_parser(
        "backup",
        help="local mode: a consistent copy of the data directory, while serving",
        parents=admin_parent,
    )
    backup.add_argument("path", type=Path, help="a new (or empty) directory")
    backup.add_argument(
        "--no-key", action="store_true", help="leave the master key out (keep it safe elsewhere)"
    )
    restore = admin_commands.add_parser(
        "restore", help="local mode: put a backup back (stop wagate serve first)", parents=admin_parent
    )
    restore.add_argument("path", type=Path, help="a directory made by `wagate admin backup`")
    delete = admin_commands.add_parser(
        "delete-tenant",
        help="delete a tenant: destroy its keys (crypto-shred), then every row",
        parents=admin_parent,
    )
    delete.add_argument("tenant_id")
    delete.add_argument("--yes", action="store_true", help="really delete (there is no undo)")
    audit = admin_commands.add_parser(
        "audit",
        help="print the operator's audit log (failed-auth bursts, tenants deleted), or a tenant's",
        parents=admin_parent,
    )
    audit.add_argument("--tenant", help="a tenant's log instead of the operator's")
    audit.add_argument("--limit", type=int, default=50)

    def session_options(parser: argparse.ArgumentParser, *, defaults: bool) -> argparse.ArgumentParser:
        parser.add_argument("--url", default=env.cli.url if defaults else argparse.SUPPRESS)
        parser.add_argument(
            "--api-key", default=api_key if defaults else argparse.SUPPRESS, help="or WAGATE_API_KEY"
        )
        return parser

    # Options of a command group work before or after its subcommand (`admin create-tenant X --data-dir D`):
    # each subcommand repeats them with SUPPRESS defaults, so one given before is not reset by its absence.
    sessions = commands.add_parser("sessions", help="manage WhatsApp sessions over the API")
    session_options(sessions, defaults=True)
    session_commands = sessions.add_subparsers(dest="sessions_command", required=True)
    shared = [session_options(argparse.ArgumentParser(add_help=False), defaults=False)]
    new = session_commands.add_parser(
        "create", help="create a session; --qr waits and prints its QR", parents=shared
    )
    new.add_argument("name")
    new.add_argument("--provider", choices=["web", "sandbox"], default="web")
    new.add_argument("--phone")
    new.add_argument("--qr", action="store_true", help="then wait and print the QR code to scan")
    session_commands.add_parser("list", help="list sessions and their status", parents=shared)
    show_qr = session_commands.add_parser(
        "qr", help="print the QR code to scan, refreshed as it rotates", parents=shared
    )
    show_qr.add_argument("session_id")
    show_qr.add_argument("--timeout", type=float, default=180.0, help="give up after this many seconds")
    logout = session_commands.add_parser("logout", help="unlink the device and wipe its keys", parents=shared)
    logout.add_argument("session_id")

    canary = commands.add_parser(
        "canary",
        help="before a release: link a spare real number, send, receive, report (never in CI)",
    )
    canary.add_argument("--to", required=True, help="a phone (E.164) that gets the message and replies")
    canary.add_argument(
        "--link-phone", help="the spare number (E.164): link by a code typed on it instead of a QR code"
    )
    canary.add_argument("--report", type=Path, default=Path("canary-report.json"), help="JSON report")
    canary.add_argument("--timeout", type=float, default=180.0, help="seconds allowed for each step")
    canary.add_argument("--keep-linked", action="store_true", help="leave the device linked at the end")

    args = parser.parse_args(argv)
    if args.command == "canary":
        return _canary(args)
    if args.command == "sessions":
        from local.cli_sessions import run as run_sessions

        return run_sessions(args)
    if args.command == "serve":
        return _serve(args)
    return _admin(args)


def _serve(args: argparse.Namespace) -> int:
    """Everything on one machine: the template's handlers, timers, queues, and the connector in-process."""
    from connector.app import Connector
    from local.insights_folder import InsightsFolder
    from local.runner import serve as run_server
    from local.template import TemplateError

    services: list[ServiceFactory] = [InsightsFolder.from_deps]
    if not args.no_connector:
        services.append(Connector.from_deps)
    try:
        return run_server(
            template=args.template or default_template(),
            data_dir=args.data_dir,
            host=args.host,
            port=args.port,
            services=services,
            evolution_port=args.evolution_port,
        )
    except (TemplateError, OSError) as exc:
        print(f"wagate serve: {exc}", file=sys.stderr)
        return 2


def _canary(args: argparse.Namespace) -> int:
    """Run the canary against WhatsApp itself (settings: the WAGATE_WA_* variables); exit 0 only on PASS."""
    import asyncio

    from connector.engines.web.settings import WebSettings
    from local.canary import run_canary

    report = asyncio.run(
        run_canary(
            WebSettings.from_env(),
            to=args.to,
            say=lambda text: print(text, flush=True),
            link_phone=args.link_phone,
            timeout=args.timeout,
            keep_linked=args.keep_linked,
        )
    )
    print(report.text())
    args.report.write_text(report.to_json() + "\n", encoding="utf-8")
    print(f"report written to {args.report}")
    return 0 if report.ok else 1


def _admin(args: argparse.Namespace) -> int:
    from local import data_admin
    from wagate import wiring
    from wagate.compose import services
    from wagate.services import tenants
    from wagate.settings import Settings

    settings = Settings.from_env(
        {**os.environ, "WAGATE_BACKEND": args.backend, "WAGATE_DATA_DIR": str(args.data_dir)}
    )
    if args.admin_command in {"backup", "restore", "rotate-master-key"} and settings.backend != "local":
        print(
            f"wagate admin {args.admin_command}: local mode only (AWS: PITR and KMS rotation)",
            file=sys.stderr,
        )
        return 2
    try:
        if args.admin_command == "backup":
            copied = data_admin.backup(settings.data_dir, args.path, include_key=not args.no_key)
            key = (
                "with the master key (keep it as safe as the data)"
                if copied.key_included
                else "WITHOUT the key"
            )
            print(
                f"backed up {', '.join(copied.databases)} and {copied.files} other files"
                f" to {args.path}, {key}"
            )
            return 0
        if args.admin_command == "restore":
            copied = data_admin.restore(args.path, settings.data_dir)
            print(
                f"restored {', '.join(copied.databases)} and {copied.files} other files"
                f" into {settings.data_dir}"
            )
            return 0
    except (FileExistsError, FileNotFoundError) as exc:
        print(f"wagate admin {args.admin_command}: {exc}", file=sys.stderr)
        return 2
    if args.admin_command == "operator-key":
        secret, digest = tenants.new_operator_key()
        print(f"operator key: {secret}")
        print(f"WAGATE_OPERATOR_KEY_SHA256={digest}")
        print("Keep the key secret; configure only its hash (AWS: the OperatorKeySha256 parameter).")
        return 0
    deps = wiring.build(settings)
    admin = services(deps).tenant_admin  # the operator API's own service: one code path
    if args.admin_command == "index-tenants":
        print(f"{data_admin.index_tenants(deps)} tenants added to the operator's list")
        return 0
    if args.admin_command == "list-tenants":
        cursor = None
        while True:
            found, cursor = admin.page(limit=200, cursor=cursor)
            for tenant in found:
                print(tenant.model_dump_json())
            if cursor is None:
                return 0
    if args.admin_command == "set-quotas":
        from wagate.domain.errors import NotFound
        from wagate.domain.tenants import Quotas

        try:
            wanted = Quotas(sessions=args.max_sessions, messages_per_day=args.messages_per_day)
            print(admin.set_quotas(args.tenant_id, wanted).model_dump_json())
        except ValueError as exc:
            print(f"wagate: {exc}", file=sys.stderr)
            return 2
        except NotFound as exc:
            print(f"wagate: {exc.message}", file=sys.stderr)
            return 1
        return 0
    if args.admin_command in {"suspend-tenant", "resume-tenant"}:
        from wagate.domain.errors import ConflictError, NotFound

        try:
            act = admin.suspend if args.admin_command == "suspend-tenant" else admin.resume
            print(act(args.tenant_id).model_dump_json())
        except (NotFound, ConflictError) as exc:
            print(f"wagate: {exc.message}", file=sys.stderr)
            return 1
        return 0
    if args.admin_command == "encrypt-existing":
        try:
            changed = data_admin.encrypt_existing(deps)
        except RuntimeError as exc:
            print(f"wagate admin encrypt-existing: {exc}", file=sys.stderr)
            return 2
        files = data_admin.seal_media_files(deps)
        print(f"sealed the content of {changed} rows and {files} media files")
        return 0
    if args.admin_command == "rotate-master-key":
        old, new, count = data_admin.rotate_master_key(deps)
        print(f"master key {old} retired, {new} is current; {count} tenant data keys re-wrapped")
        print("Restart wagate serve so it writes new secrets under the new key.")
        return 0
    if args.admin_command == "create-tenant":
        from wagate.domain.tenants import Quotas

        try:
            quotas = Quotas(sessions=args.max_sessions, messages_per_day=args.messages_per_day)
        except ValueError as exc:
            print(f"wagate: {exc}", file=sys.stderr)
            return 2
        tenant, _, key = admin.create(args.name, quotas)
        if args.json:
            print(json.dumps({"tenant_id": tenant.id, "name": tenant.name, "api_key": key}))
        else:
            print(f"tenant:  {tenant.id} ({tenant.name})")
            print(f"API key: {key}")
            print("Store the key now: it is shown only once. Send it as 'Authorization: Bearer <key>'.")
        return 0
    if args.admin_command == "audit":
        from wagate.store.keys import OPERATOR_AUDIT_TENANT

        page = services(deps).audit.page(args.tenant or OPERATOR_AUDIT_TENANT, limit=max(1, args.limit))
        for entry in page.entries:
            print(entry.model_dump_json())
        return 0
    if args.admin_command == "delete-tenant":
        if not args.yes:
            print(
                "wagate: add --yes to delete the tenant and all its data (there is no undo)", file=sys.stderr
            )
            return 2
        from wagate.domain.errors import NotFound

        try:
            gone = admin.delete(args.tenant_id)
        except NotFound as exc:
            print(f"wagate: {exc.message}", file=sys.stderr)
            return 1
        print(json.dumps({"tenant_id": args.tenant_id, "deleted": gone}))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
