"""The SQLite Table adapter's put / get / query rates on this machine (for the record)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.conditions import SortKey, item_absent

N = 5000


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        table = SqliteTable(Path(tmp) / "bench.db")
        item = {
            "status": "queued",
            "text": "Hola, ¿a qué hora es la cita?",
            "metadata": {"lead": 42, "tags": ["a"]},
        }
        start = time.perf_counter()
        for i in range(N):
            table.put({"pk": "T#bench", "sk": f"MSG#{i:08d}", **item}, condition=item_absent())
        puts = rate(N, time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(N):
            table.get("T#bench", f"MSG#{i:08d}")
        gets = rate(N, time.perf_counter() - start)
        start = time.perf_counter()
        pages = 0
        cursor = None
        for _ in range(N // 50):
            page = table.query("T#bench", sk=SortKey.prefix("MSG#"), limit=50, cursor=cursor)
            cursor = page.cursor
            pages += 1
        queries = rate(pages, time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(N):
            table.update("T#bench", f"MSG#{i:08d}", set={"status": "sent"}, add={"version": 1})
        updates = rate(N, time.perf_counter() - start)
        print(f"conditional put: {puts:,.0f} ops/s")
        print(f"get:             {gets:,.0f} ops/s")
        print(f"update:          {updates:,.0f} ops/s")
        print(f"query (50/page): {queries:,.0f} pages/s = {queries * 50:,.0f} items/s")
        summary = f"{puts:,.0f} puts/s, {gets:,.0f} gets/s, {queries:,.0f} queries/s"
        print(f"table_sqlite: {summary} (target: for the record)")


if __name__ == "__main__":
    main()
