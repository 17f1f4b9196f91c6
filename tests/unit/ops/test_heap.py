"""`salus serve` settles its heap once every service is up: what is alive then lives as
long as the process and is kept out of the garbage collector's full walks."""

from __future__ import annotations

import gc

from mailserver.app import settle_heap


def test_settle_heap_freezes_what_is_alive() -> None:
    kept = [[n] for n in range(5_000)]  # lists, which the collector tracks
    gc.unfreeze()
    try:
        settle_heap()
        frozen = gc.get_freeze_count()
        assert frozen >= len(kept)
        # Garbage made afterwards is still collected.
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
