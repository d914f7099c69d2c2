"""What the send path's second look at a tenant's suspension costs: after "typing…" (connector/sending.py
`_suspended_meanwhile`), one read of the session's lease row, beside the typing pause it follows.

Times `claims.suspended` (the read the connector makes) on the SQLite adapter, over a lease row as a
connector writes it; the figure is the median of `--repeats` rounds of `--reads` reads. On DynamoDB it is
one strongly consistent GetItem of an item under 4 KB: one read request unit ($0.125 per million on
demand) and one round trip (a few ms in region), made only for typed sends, whose pause is at least
`typing_min_seconds` (default 1 s).
Run: `python bench/suspension_recheck.py [--reads 2000] [--repeats 9]`
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core")]

from connector import claims  # noqa: E402
from connector.leases import Leases, LeaseTimes, session_lease_key  # noqa: E402
from wagate.adapters.local.sqlite_table import SqliteTable  # noqa: E402
from wagate.domain.pacing import Pacing  # noqa: E402
from wagate.wiring import SystemClock  # noqa: E402

TARGET = 1.0  # % of the shortest default typing pause


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        table = SqliteTable(Path(folder) / "table.db")
        key = session_lease_key("ten_bench", "ses_bench")
        assert Leases(table, SystemClock(), "c1").acquire(key, LeaseTimes.for_ttl(60)) is not None
        rounds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            for _ in range(args.reads):
                claims.suspended(table, "ten_bench", "ses_bench")
            rounds.append((time.perf_counter() - started) / args.reads)
        table.close()
    per_read = statistics.median(rounds)
    pause = Pacing().typing_min_seconds
    print(f"reads per round: {args.reads}, rounds: {args.repeats}")
    print(f"sqlite lease-row read: median {per_read * 1e6:.1f} us (min {min(rounds) * 1e6:.1f} us)")
    print(f"shortest default typing pause: {pause:.1f} s")
    share = per_read / pause * 100
    print(f"suspension_recheck_share_of_typing_pause: {share:.4f} % (target < {TARGET} %)")


if __name__ == "__main__":
    main()
