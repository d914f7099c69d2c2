"""What the item size rule (items.approximate_size, paid by every table write) costs, side by side with the
rule written out plainly (the code before its fast paths: tests/support/item_size_reference.py).

Three shapes: an insights rollup row (key, TTL and 117 numeric counters), a message row as the pipeline
writes it (26 attributes: strings, floats, ints, bools, None, empty containers, a sealed blob), and a
nested content item (a dict of lists of dicts, non-ASCII text, bytes). Old and new are timed in
alternating repeats in one process, so the shared machine's load hits both alike; each figure is the
median over repeats of the CPU time per call. Both must give the same size (checked first). Then the SQLite
adapter's update of a rollup row: check_item(new) + encoding, against encoding + sizing only the changes.
Run: `python bench/item_size.py [--repeats 15]`
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core")]

from tests.support.item_size_reference import reference_size  # noqa: E402
from wagate import items  # noqa: E402
from wagate.adapters.local import sqlite_table  # noqa: E402
from wagate.items import approximate_size  # noqa: E402

TARGET = 10.0  # µs per rollup row


def rollup_row() -> dict[str, Any]:
    row: dict[str, Any] = {"pk": "T#ten_01M97P89NFRPX23CM4YYWY4Q96#INS", "sk": "2026-12-07#2"}
    row["expires_at"] = 1828164293
    for n in range(117):
        row[f"scope.S#ses_01M97P89P0Q5W58J0676E2{n:03d}.{('sent', 'read', 'ms')[n % 3]}"] = n * 7
    return row


def message_row() -> dict[str, Any]:
    ten, ses, msg = "ten_01M97P89NFRPX23CM4YYWY4Q96", "ses_01M97P89P0Q5W58J0676E2WF7S", "msg_01M97P89RB7CT6G"
    return {
        "pk": f"T#{ten}",
        "sk": f"MSG#{msg}",
        "gsi1pk": f"T#{ten}#S#{ses}#MSGS",
        "gsi1sk": msg,
        "gsi2pk": f"T#{ten}#CONV#cnv_4da4993fcf9eba382a11",
        "gsi2sk": msg,
        "conversation_id": "cnv_4da4993fcf9eba382a11",
        "id": msg,
        "tenant_id": ten,
        "session_id": ses,
        "direction": "outbound",
        "kind": "text",
        "status": "delivered",
        "metadata": {},
        "created_at": 1796628293.3871222,
        "updated_at": 1796628294.1,
        "sent_at": 1796628293.9,
        "delivered_at": 1796628294.1,
        "attempts": 1,
        "sandbox": True,
        "error": None,
        "reactions": [],
        "history": [],
        "provider_message_id": "3EB09EDD63F44F3F6431DA",
        "expires_at": 1828164293,
        "sealed_content": "v1:54aafa04:" + "Qk" * 100,
    }


def nested_content() -> dict[str, Any]:
    return {
        "pk": "T#ten_01#CONTENT",
        "sk": "MSG#msg_01",
        "content": {
            "text": "¿Nos vemos mañana a las 10? 😀",
            "buttons": [
                {"id": f"b{n}", "title": f"Opción {n}", "payload": {"n": n, "ok": n % 2 == 0}}
                for n in range(3)
            ],
            "media": {"mime": "image/png", "sha256": b"\x01" * 32, "size": 102400, "caption": None},
            "mentions": ["34600000001@s.whatsapp.net", "34600000002@s.whatsapp.net"],
            "location": {"lat": 40.4168, "lng": -3.7038, "name": "Puerta del Sol"},
        },
        "history": [
            {"status": s, "at": 1796628293.0 + i} for i, s in enumerate(("queued", "sent", "delivered"))
        ],
    }


def values(value: Any) -> int:
    """How many values the rule visits (containers and what they hold)."""
    if isinstance(value, Mapping):
        return 1 + sum(values(v) for v in value.values())
    if isinstance(value, list | tuple):
        return 1 + sum(values(v) for v in value)
    return 1


def per_call(rule: Callable[[Any], Any], value: Any, calls: int) -> float:
    """CPU seconds per call (process time: on a shared machine, wall time measures the neighbours)."""
    started = time.process_time()
    for _ in range(calls):
        rule(value)
    return (time.process_time() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    shapes = {"rollup row": rollup_row(), "message row": message_row(), "nested content": nested_content()}
    results: dict[str, tuple[float, float]] = {}
    for name, value in shapes.items():
        assert approximate_size(value) == reference_size(value), name
        calls = max(200, 200_000 // reference_size(value))
        old: list[float] = []
        new: list[float] = []
        for _ in range(args.repeats):
            old.append(per_call(reference_size, value, calls))
            new.append(per_call(approximate_size, value, calls))
        before, after = statistics.median(old) * 1e6, statistics.median(new) * 1e6
        results[name] = (before, after)
        count = values(value)
        print(
            f"{name} ({count} values, {reference_size(value)} bytes): plain rule {before:.2f} µs, "
            f"now {after:.2f} µs ({before / after:.1f}x; {after * 1000 / count:.0f} ns per value)"
        )
    # The SQLite adapter's update of a rollup row (3 counters added): check_item(new) then encoding the row,
    # against encoding it and sizing only the 3 counters (the rest bounded by the document).
    old_row = sqlite_table._load(sqlite_table._dump(rollup_row()))
    add = {name: 1 for name in list(old_row)[5:8]}
    new_row = items.new_item_from_update(old_row["pk"], old_row["sk"], old_row, {}, (), add)

    def check_then_encode(item: Any) -> Any:
        items.check_item(item)
        return sqlite_table._row(item)

    def encode_then_bound(item: Any) -> Any:
        return sqlite_table._updated_row(item, old_row, [*add])

    assert check_then_encode(new_row) == encode_then_bound(new_row)
    both: list[float] = []
    bound: list[float] = []
    for _ in range(args.repeats):
        both.append(per_call(check_then_encode, new_row, 3000))
        bound.append(per_call(encode_then_bound, new_row, 3000))
    print(
        f"SQLite update of a rollup row: check_item + encode {statistics.median(both) * 1e6:.2f} µs, "
        f"encode + size the changes {statistics.median(bound) * 1e6:.2f} µs"
    )
    before, after = results["rollup row"]
    print(f"item_size: {after:.2f} µs per rollup-row-like item, was {before:.2f} (target ≤ {TARGET:.0f} µs)")


if __name__ == "__main__":
    main()
