"""Benchmark: Signal encrypt + decrypt per message, 1:1 and group: our SignalRepository vs libsignal in node.

Both sides run the same workload through their full repository layer, key store round trips included:
two devices in one process, a session from a prekey bundle, then `messages` messages of `size` bytes in
bursts of `burst` per direction (so one message in `burst` carries a DH ratchet step on each side); for
groups, `group_messages` skmsg (XEdDSA-signed) from one sender decrypted by one member, after 100 to warm
up. Ours keep their records in the in-memory KeyStore as serialized bytes; Baileys' side round-trips its
records through JSON as its own stores do (tests/interop/signal_peer.mjs). Wall time per message.

Baileys' group figure grows with the run: its GroupCipher skips one iteration per message it sends, so
both its records fill up with unused skipped keys (up to 2000) that are re-serialized on every message.
The default group run is short to keep the comparison about crypto more than about that.

    python bench/signal_crypto.py [messages] [group_messages] [burst] [size]
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.engines.web.signal import SignalAddress  # noqa: E402
from tests.interop.signal_peers import OurDevice  # noqa: E402

INTEROP = ROOT / "tests" / "interop"
ALICE = SignalAddress("900000000001", 0)
BOB = SignalAddress("900000000002", 0)
GROUP = "120363000000000999@g.us"


async def ours_one_to_one(messages: int, burst: int, size: int) -> float:
    alice, bob = OurDevice.install(), OurDevice.install()
    alice_repository, bob_repository = alice.repository, bob.repository
    await alice_repository.inject_bundle(BOB, await bob.bundle())
    plaintext = bytes([7]) * size

    async def exchange(count: int) -> None:
        for index in range(count):
            if index // burst % 2 == 0:
                sent = await alice_repository.encrypt(BOB, plaintext)
                await bob_repository.decrypt(ALICE, *sent)
            else:
                sent = await bob_repository.encrypt(ALICE, plaintext)
                await alice_repository.decrypt(BOB, *sent)

    await exchange(min(200, messages))
    start = time.perf_counter()
    await exchange(messages)
    return (time.perf_counter() - start) * 1e6 / messages


async def ours_group(messages: int, size: int) -> float:
    alice, bob = OurDevice.install().repository, OurDevice.install().repository
    plaintext = bytes([7]) * size
    first = await alice.group_encrypt(GROUP, ALICE, plaintext)
    await bob.group_process_distribution(GROUP, ALICE, first.distribution)

    async def exchange(count: int) -> None:
        for _ in range(count):
            sent = await alice.group_encrypt(GROUP, ALICE, plaintext)
            await bob.group_decrypt(GROUP, ALICE, sent.ciphertext)

    await exchange(100)
    start = time.perf_counter()
    await exchange(messages)
    return (time.perf_counter() - start) * 1e6 / messages


def libsignal(messages: int, group_messages: int, burst: int, size: int) -> dict[str, float] | None:
    """libsignal's µs/msg (`one_to_one_us`, `group_us`) through Baileys, or None without node/Baileys."""
    node = shutil.which("node")
    if node is None or not (INTEROP / "node_modules" / "@whiskeysockets" / "baileys").is_dir():
        return None
    bench = {"messages": messages, "groupMessages": group_messages, "burst": burst, "size": size}
    commands = [{"cmd": "bench", **bench}, {"cmd": "end"}]
    done = subprocess.run(
        [node, "signal_peer.mjs"],
        input="".join(json.dumps(command) + "\n" for command in commands).encode(),
        capture_output=True,
        cwd=INTEROP,
        timeout=1800,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.splitlines()[0])
    if "error" in result:
        raise SystemExit(f"signal_peer.mjs failed: {result['error']}")
    return result


def main() -> None:
    arguments = [int(value) for value in sys.argv[1:5]]
    messages, group_messages, burst, size = arguments + [2000, 300, 4, 100][len(arguments) :]
    one_to_one = asyncio.run(ours_one_to_one(messages, burst, size))
    group = asyncio.run(ours_group(group_messages, size))
    theirs = libsignal(messages, group_messages, burst, size)
    print(f"1:1: {messages} messages of {size} bytes in bursts of {burst} per direction")
    print(f"group: {group_messages} messages of {size} bytes after 100 to warm up")
    print(f"{'µs/msg (encrypt+decrypt)':26}{'ours':>10}{'libsignal':>12}{'ratio':>8}")
    if theirs is None:
        print(f"{'1:1':26}{one_to_one:10.1f}{'n/a':>12}")
        print(f"{'group':26}{group:10.1f}{'n/a':>12}")
        print(
            f"signal_crypto: {one_to_one:.0f} µs/msg 1:1, {group:.0f} µs/msg group "
            "(libsignal: n/a, node or tests/interop/node_modules missing; target ≤ 1.0)"
        )
        return
    ratio_one, ratio_group = one_to_one / theirs["one_to_one_us"], group / theirs["group_us"]
    print(f"{'1:1':26}{one_to_one:10.1f}{theirs['one_to_one_us']:12.1f}{ratio_one:8.2f}")
    print(f"{'group':26}{group:10.1f}{theirs['group_us']:12.1f}{ratio_group:8.2f}")
    print(
        f"signal_crypto: {one_to_one:.0f} µs/msg 1:1, {group:.0f} µs/msg group "
        f"(libsignal: {theirs['one_to_one_us']:.0f} µs 1:1, {theirs['group_us']:.0f} µs group; "
        f"ratio {ratio_one:.2f} 1:1, {ratio_group:.2f} group; target ≤ 1.0)"
    )


if __name__ == "__main__":
    main()
