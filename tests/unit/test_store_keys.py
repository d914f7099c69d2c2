"""Table keys are built in `wagate/store/` only, and keep the exact bytes existing data was written with.

The first test reads the source of the layer, the connector and the Lambda handlers: a string that begins
with one of the single table's key prefixes (`T#`, `SESSION#`, `DUE#` ...) or is one of its fixed sort
keys (`COUNTERS`, `GROUPSYNC` ...) outside `wagate/store/` is a key formatted by hand, which the next
renamed prefix or new index would silently break. The others pin the layout: changing a builder changes
where existing rows are looked for, which makes them unreadable.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from wagate.store import keys

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "layers" / "core" / "wagate", ROOT / "connector", ROOT / "functions"]
STORE = ROOT / "layers" / "core" / "wagate" / "store"

PREFIXES = (
    "T|S|TENANT|APIKEY|SESSION|SHARD|LEASE|MSG|PMID|DUE|CONV|CONVS|CONTACT|TPL|REM|POOL|POOLUSE|WEBHOOK|WH|"
    "DLV|RTTOKEN|WSCONN|METAPNID|METAVERIFY|PARKED|PEER|FIRSTCONTACT|GROUP|MEMBER|IDEMPOTENCY|OUTBOX|KEYS|SENDKEY"
)
KEY_START = re.compile(rf"^({PREFIXES})#")
FIXED = frozenset(
    {
        "COUNTERS",
        "TENANT",
        "LEASE",
        "GROUPSYNC",
        "PACE",
        "CLOUD",
        "METAPNID",
        "RTTOKEN",
        "WSCONN",
        "APIKEY",
        "CONNECTORS",
        "SCHEDULER",
        "CURSOR",
        "STATS",
        "GLOBAL",
        "IDEMPOTENCY",
    }
)


def sources() -> Iterator[Path]:
    for root in SOURCES:
        for path in sorted(root.rglob("*.py")):
            if STORE not in path.parents:
                yield path


def hand_made_keys(path: Path) -> list[str]:
    """`line: text` of every string that starts like a table key or is a fixed sort key."""
    tree = ast.parse(path.read_text(), str(path))
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in parts:
            continue  # a literal piece of an f-string: judged with its f-string
        if isinstance(node, ast.JoinedStr):  # an f-string: its first literal part is where a key starts
            first = node.values[0] if node.values else None
            text = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if KEY_START.match(text) or text in FIXED:
            found.append((node.lineno, text[:60]))
    return [f"{line}: {text!r}" for line, text in sorted(found)]


def test_the_scan_sees_the_code_it_guards() -> None:
    scanned = {p.relative_to(ROOT).as_posix() for p in sources()}
    assert {"connector/supervisor.py", "layers/core/wagate/services/messages.py"} <= scanned
    assert not any(p.startswith("layers/core/wagate/store/") for p in scanned)


def test_the_detector_catches_hand_made_keys(tmp_path: Path) -> None:
    code = tmp_path / "sample.py"
    code.write_text(
        'a = f"T#{tenant}"\n'
        'b = ("LEASE#SHARD#1", "LEASE")\n'
        'c = "COUNTERS"\n'
        'd = f"SESSION#{t}#{s}"\n'
        '"""A docstring that mentions T#{tenant} / SESSION#{id} is fine."""\n'
        'e = "#" + "hashtag"\n'
        'f = f"{namespace}#{key}"\n'
    )
    found = hand_made_keys(code)
    assert [line.split(":")[0] for line in found] == ["1", "2", "2", "3", "4"]


@pytest.mark.parametrize("path", list(sources()), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_table_key_is_formatted_outside_the_store(path: Path) -> None:
    found = hand_made_keys(path)
    assert not found, f"{path.relative_to(ROOT)} builds table keys by hand (use wagate.store.keys): {found}"


def test_keys_keep_the_stored_layout() -> None:
    # Rows written before store/ existed must still be found: these are the bytes they were written with.
    assert keys.session("ten_1", "ses_2") == ("T#ten_1", "SESSION#ses_2")
    assert keys.shard_index(3) == "SHARD#3"
    assert keys.shard_index_sort("ten_1", "ses_2") == "SESSION#ten_1#ses_2"
    assert keys.tenant("ten_1") == ("TENANT#ten_1", "TENANT")
    assert keys.tenant_counters("ten_1") == ("T#ten_1", "COUNTERS")
    assert keys.STATS == ("STATS", "GLOBAL")
    assert keys.api_key("ab") == ("APIKEY#ab", "APIKEY")
    assert keys.api_keys_index("ten_1") == "T#ten_1#KEYS"
    assert keys.message("ten_1", "msg_3") == ("T#ten_1", "MSG#msg_3")
    assert keys.session_messages_index("ten_1", "ses_2") == "T#ten_1#S#ses_2#MSG"
    assert keys.conversation_messages_index("ten_1", "c") == "T#ten_1#CONV#c"
    assert keys.provider_id("ten_1", "ses_2", "w") == ("T#ten_1#S#ses_2", "PMID#w")
    assert keys.due_partition(29000000, 7) == "DUE#29000000#7"
    assert keys.due_sort("ten_1", "msg_3", 1740000000.5) == "1740000000.500#ten_1#msg_3"
    assert keys.SCHEDULER_CURSOR == ("SCHEDULER", "CURSOR")
    assert keys.conversation("ten_1", "c") == ("T#ten_1", "CONV#c")
    assert keys.conversations_index("ten_1") == "T#ten_1#CONVS"
    assert keys.conversations_index_sort(12.5, "c") == "0000000012.500#c"
    digest = "0123456789abcdef" * 2
    assert keys.contact("ten_1", digest) == ("T#ten_1", f"CONTACT#{digest}")
    assert keys.legacy_contact("ten_1", "+34600") == ("T#ten_1", "CONTACT#+34600")
    assert keys.template("ten_1", "hello", "es") == ("T#ten_1", "TPL#hello#es")
    assert keys.reminder_plan("ten_1", "rem_1") == ("T#ten_1", "REM#rem_1")
    assert keys.pool("ten_1", "p") == ("T#ten_1", "POOL#p")
    assert keys.pool_use("ten_1", "ses_2") == ("T#ten_1", "POOLUSE#ses_2")
    assert keys.webhook("ten_1", "whk_1") == ("T#ten_1", "WEBHOOK#whk_1")
    assert keys.delivery("ten_1", "whk_1", "d") == ("T#ten_1#WH#whk_1", "DLV#d")
    assert keys.deliveries_by_status_index("ten_1", "whk_1", "failed") == "T#ten_1#WH#whk_1#failed"
    assert keys.cloud_credentials("ten_1", "ses_2") == ("T#ten_1#S#ses_2", "CLOUD")
    assert keys.meta_route("123") == ("METAPNID#123", "METAPNID")
    assert keys.meta_verify("h", "ten_1", "ses_2") == ("METAVERIFY#h", "T#ten_1#S#ses_2")
    assert keys.session_of_verify_sort("T#ten_1#S#ses_2") == ("ten_1", "ses_2")
    assert keys.cloud_pace("ten_1", "ses_2") == ("T#ten_1#S#ses_2", "PACE")
    assert keys.parked_status("ten_1", "ses_2", "w", "read") == ("T#ten_1#S#ses_2", "PARKED#w#read")
    assert keys.first_contact_peer("ten_1", "ses_2", digest) == ("T#ten_1#S#ses_2", f"PEER#{digest}")
    assert keys.legacy_first_contact_peer("ten_1", "ses_2", "+34") == ("T#ten_1#S#ses_2", "PEER#+34")
    # Rows still keyed by a number (to migrate) are told from blinded ones; nothing else is.
    assert keys.is_legacy_person_key("T#ten_1", "CONTACT#+34600")
    assert keys.is_legacy_person_key("T#ten_1", "CONTACT#1234@lid")
    assert keys.is_legacy_person_key("T#ten_1#S#ses_2", "PEER#+34")
    assert not keys.is_legacy_person_key("T#ten_1", f"CONTACT#{digest}")
    assert not keys.is_legacy_person_key("T#ten_1#S#ses_2", f"PEER#{digest}")
    assert not keys.is_legacy_person_key("T#ten_1", "CONV#c")
    assert not keys.is_legacy_person_key("T#ten_1#S#ses_2", "PMID#+34")
    assert not keys.is_legacy_person_key("T#ten_1#S#ses_2#OUTBOX", "PEER#+34")
    assert keys.first_contact_day("ten_1", "ses_2", "2026-01-02") == (
        "T#ten_1#S#ses_2",
        "FIRSTCONTACT#2026-01-02",
    )
    assert keys.group("ten_1", "ses_2", "1@g.us") == ("T#ten_1#S#ses_2", "GROUP#1@g.us")
    assert keys.group_sync("ten_1", "ses_2") == ("T#ten_1#S#ses_2", "GROUPSYNC")
    assert keys.realtime_token("h") == ("RTTOKEN#h", "RTTOKEN")
    assert keys.ws_connection("c=") == ("WSCONN#c=", "WSCONN")
    assert keys.ws_connections_index("ten_1") == "T#ten_1#WS"
    assert keys.shard_lease(0) == ("LEASE#SHARD#0", "LEASE")
    assert keys.session_lease("ten_1", "ses_2") == ("T#ten_1#LEASE#ses_2", "LEASE")
    assert keys.member("host:1") == ("CONNECTORS", "MEMBER#host:1")
    assert keys.engine_keys_partition("ten_1", "ses_2") == "T#ten_1#KEYS#ses_2"
    assert keys.engine_key_sort("pre-key", "7") == "pre-key#7"
    assert keys.idempotency_record("h") == ("IDEMPOTENCY#h", "IDEMPOTENCY")
    assert keys.outbox_partition("ten_1", "ses_2") == "T#ten_1#S#ses_2#OUTBOX"
    assert keys.outbox_shard(2) == "OUTBOX#2"
    assert keys.send_request("ten_1", "h") == ("T#ten_1", "SENDKEY#h")
