"""Exactly-once sending under kill -9, at volume: 10,000 accepted messages, the connector killed -9 mid-burst
several times and restarted, deliveries counted per WhatsApp id from the sandbox journal.

The scenario is the one `tests/connector/test_send_exactly_once.py` runs on 300 messages (see
tests/connector/exactly_once.py): real rows and commands (`MessageService.accept`), `python -m connector`
subprocesses, the events consumer beside them. "lost" = accepted messages no recipient got; "duplicated" =
messages a recipient kept twice (a phone would show them twice). Re-sends of an id the recipient already
had (a crash between the send and its report) are counted apart: WhatsApp drops them, as the sandbox does.
Run: `.venv/bin/python bench/send_exactly_once.py [--messages 10000] [--kills 3] [--per-shard 2]
[--no-pacing]`
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core")]

from tests.connector import exactly_once  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--per-shard", type=int, default=2, help="sandbox sessions per shard (4 shards)")
    parser.add_argument(
        "--no-pacing",
        action="store_true",
        help="pacing off throughout (else 50/s per number but the last run)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wagate-exactly-once-") as tmp:
        report = exactly_once.run(
            Path(tmp),
            messages=args.messages,
            per_shard=args.per_shard,
            kills=args.kills,
            paced=not args.no_pacing,
            timeout=600,
        )
    sessions = 4 * args.per_shard
    print(f"{report.accepted} messages accepted over {sessions} sandbox sessions in {report.seconds:.1f}s")
    print(f"kill -9 after {report.delivered_at_kills} deliveries; restarted each time")
    print(
        f"wire: {report.distinct_ids} distinct WhatsApp ids, {report.unexpected} unexpected,"
        f" {report.resent} re-sends of an id already delivered (dropped by the recipient)"
    )
    print(f"failed: {len(report.failed)}; rows not sent/delivered/read: {report.not_sent_rows}")
    print(report.summary())
    ok = report.missing == report.duplicated == report.unexpected == len(report.failed) == 0
    return 0 if ok and report.distinct_ids == report.accepted else 1


if __name__ == "__main__":
    sys.exit(main())
