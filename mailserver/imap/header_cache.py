"""Opened header sections kept in memory, least recently used out first, bounded in bytes.

Clients list folders by fetching headers (ENVELOPE, BODY.PEEK[HEADER.FIELDS (...)]) and
search them (FROM, SUBJECT); without a cache every such command opens and parses every
sealed header again. Entries are keyed by blob id (random, and only ever looked up from
rows of a folder the session resolved), hold plaintext in memory only, and keep their
parsed fields once parsed. Never written anywhere.
"""

from __future__ import annotations

from collections import OrderedDict

from mailserver.imap.fetch_items import MessageView

DEFAULT_BUDGET = 32 * 1024 * 1024
# Parsed fields cost about as much again as the bytes they come from.
_OVERHEAD = 3


class HeaderCache:
    def __init__(self, max_bytes: int = DEFAULT_BUDGET) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, MessageView] = OrderedDict()
        self._bytes = 0

    def get(self, blob_id: str) -> MessageView | None:
        view = self._entries.get(blob_id)
        if view is not None:
            self._entries.move_to_end(blob_id)
        return view

    def put(self, blob_id: str, view: MessageView) -> None:
        if blob_id in self._entries:
            return
        cost = len(view.data) * _OVERHEAD
        if cost > self.max_bytes:
            return
        self._entries[blob_id] = view
        self._bytes += cost
        while self._bytes > self.max_bytes:
            _, oldest = self._entries.popitem(last=False)
            self._bytes -= len(oldest.data) * _OVERHEAD
