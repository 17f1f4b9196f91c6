"""HeaderCache: hits, least-recently-used eviction within the byte budget."""

from __future__ import annotations

from mailserver.imap.fetch_items import MessageView
from mailserver.imap.header_cache import HeaderCache


def test_lru_within_budget() -> None:
    cache = HeaderCache(max_bytes=3 * 300)  # room for three 100-byte headers
    views = {f"b{n}": MessageView(b"X" * 100) for n in range(4)}
    for blob_id in ("b0", "b1", "b2"):
        cache.put(blob_id, views[blob_id])
    assert cache.get("b0") is views["b0"]  # b0 is now the most recent
    cache.put("b3", views["b3"])  # evicts b1, the least recently used
    assert cache.get("b1") is None
    assert cache.get("b0") is views["b0"] and cache.get("b3") is views["b3"]
    cache.put("huge", MessageView(b"Y" * 10_000))  # larger than the budget: not kept
    assert cache.get("huge") is None and cache.get("b2") is views["b2"]
