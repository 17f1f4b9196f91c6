"""The crypto process pool dies with its owner: after `kill -9` of a process that runs a
pool (as `salus serve` does), none of the pool's processes (workers, forkserver,
resource tracker) is left behind holding memory, pipes and the owner's standard error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

OWNER = """
import asyncio, sys
sys.path.insert(0, {root!r})
from crypto.pool import CryptoPool

async def main() -> None:
    pool = CryptoPool(2)
    await pool.start()
    assert await pool.run(len, b"warm") == 4
    print("ready", flush=True)
    await asyncio.sleep(600)

if __name__ == "__main__":
    asyncio.run(main())
"""


def descendants(pid: int) -> set[int]:
    listing = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    pairs = [tuple(int(v) for v in line.split()) for line in listing.splitlines() if line.strip()]
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in pairs if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def test_no_pool_process_outlives_a_killed_owner(tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(OWNER.format(root=str(Path(__file__).resolve().parents[3])))
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert owner.stdout is not None and owner.stdout.readline() == b"ready\n"
        pool = descendants(owner.pid)
        assert len(pool) >= 3  # two workers and the forkserver at least
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    deadline = time.monotonic() + 20
    while alive(pool) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = alive(pool)
    for pid in left:  # never leave them behind a failed test
        os.kill(pid, signal.SIGKILL)
    assert left == set()
