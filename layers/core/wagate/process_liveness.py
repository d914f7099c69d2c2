"""Which process wrote a row, and whether that process is provably gone (host + boot id + pid + start time).

A row that something "owns while it works" (a lease, an in-progress idempotency record, a claimed webhook
delivery) carries its writer's identity. Another process on the same host can then prove the writer dead
at once instead of waiting for an expiry: same host and boot, and no process with that pid and that start
time. A pid alone is not proof (pids are reused); a row from another host or of unknown shape is never
called dead (only its expiry frees it).
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
FIELDS = ("owner_host", "owner_boot", "owner_pid", "owner_started")


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    boot: str  # changes on every boot: a row from an earlier boot of this host has a dead writer
    pid: int
    started: int  # the process's start time in clock ticks since boot (/proc/<pid>/stat field 22)

    def attributes(self) -> dict[str, Any]:
        """The row attributes naming this process (`FIELDS`)."""
        return dict(zip(FIELDS, (self.host, self.boot, self.pid, self.started), strict=True))

    def label(self) -> str:
        return f"pid {self.pid} on {self.host}"

    def token(self) -> str:
        """One string naming this process (for a single column), read back by `from_token`."""
        return f"{self.host}\t{self.boot}\t{self.pid}\t{self.started}"


def from_token(token: str | None) -> ProcessIdentity | None:
    parts = (token or "").split("\t")
    if len(parts) != 4:
        return None
    try:
        return ProcessIdentity(parts[0], parts[1], int(parts[2]), int(parts[3]))
    except ValueError:
        return None


def current() -> ProcessIdentity:
    """This process (recomputed after a fork: the child is another process)."""
    return _identity(os.getpid())


@functools.cache
def _identity(pid: int) -> ProcessIdentity:
    return ProcessIdentity(_host(), _boot_id(), pid, _start_ticks(pid) or 0)


def _host() -> str:
    """The host name, plus the pid namespace: two containers sharing a name and a volume do not see
    each other's pids, so neither may call the other's process gone."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()} {namespace}"


def writer_of(row: Mapping[str, Any] | None) -> ProcessIdentity | None:
    """The identity recorded on a row, or None when it has none (an older row, or another writer)."""
    if not row or any(row.get(name) is None for name in FIELDS):
        return None
    try:
        return ProcessIdentity(
            str(row["owner_host"]), str(row["owner_boot"]), int(row["owner_pid"]), int(row["owner_started"])
        )
    except (TypeError, ValueError):
        return None


def is_gone(writer: ProcessIdentity | None) -> bool:
    """True only when `writer` provably no longer runs: it ran on this host, and either the host has
    rebooted since or no process with its pid and start time exists. Unknown or remote writers: False."""
    if writer is None:
        return False
    me = current()
    if writer.host != me.host or not me.boot:
        return False
    if writer.boot != me.boot:
        return True
    if writer.pid == me.pid:
        return writer.started != me.started
    started = _start_ticks(writer.pid)
    return started is None or started != writer.started


def row_writer_gone(row: Mapping[str, Any] | None) -> bool:
    return is_gone(writer_of(row))


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:  # not Linux: no proof is ever possible, rows wait for their expiry
        return ""


def is_zombie(pid: int) -> bool:
    """Whether `pid` is killed but not yet reaped: it still has a pid, and runs no code."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] in ("Z", "X")


def _start_ticks(pid: int) -> int | None:
    """Start time of a live process; None when there is none (a zombie counts as gone: it runs no code)."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (state first); None without such a process (or /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()
