"""The reads of IMAP commands, inline on SQLite (`direct.py`) and through SQLAlchemy
sessions on PostgreSQL or when SQLite is momentarily busy for readers."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Sequence

from mailserver.store import reads
from mailserver.store.direct import DirectBusy, DirectReads
from mailserver.store.reads import Delta, MessageMeta, Opening
from storage.database import Database

# Metadata rows kept for SEARCH, all folders together (a row is about 300 bytes).
CACHED_ROWS = 100_000


class Reader:
    def __init__(self, db: Database, *, cached_rows: int = CACHED_ROWS) -> None:
        self.db = db
        self._direct = DirectReads.of(db)
        # folder id -> (its version when read, its rows); least recently used first.
        self._folders: OrderedDict[int, tuple[tuple[int, int, int], list[MessageMeta]]]
        self._folders = OrderedDict()
        self._cached_rows = cached_rows

    async def sealed_contents(
        self, folder_id: int, uids: Sequence[int], *, header_only: bool
    ) -> list[tuple[MessageMeta, bytes]]:
        """Metadata and the sealed message (or header section) of each UID, ascending."""
        if self._direct is not None:
            try:
                return self._direct.sealed_contents(folder_id, uids, header_only=header_only)
            except DirectBusy:
                pass
        async with self.db.read() as session:
            return await reads.sealed_contents(session, folder_id, uids, header_only=header_only)

    async def opening(self, mailbox_id: int, name: str) -> Opening | None:
        """The folder `name` of a mailbox and its index (SELECT), or None."""
        if self._direct is not None:
            try:
                return self._direct.opening(mailbox_id, name)
            except DirectBusy:
                pass
        async with self.db.read() as session:
            return await reads.opening(session, mailbox_id, name)

    async def metadata(self, folder_id: int, uids: Sequence[int] | None) -> list[MessageMeta]:
        """Metadata of the given UIDs that still exist (all when None), ascending."""
        if self._direct is not None:
            try:
                return self._direct.metadata(folder_id, uids)
            except DirectBusy:
                pass
        async with self.db.read() as session:
            if uids is None:
                return await reads.all_metadata(session, folder_id)
            return await reads.metadata(session, folder_id, uids)

    async def all_metadata(self, folder_id: int) -> list[MessageMeta]:
        """Every message's metadata, ascending (shared: callers do not change the list).
        On SQLite a folder's rows are read again only when its version moved: SEARCH
        reads them all at every command."""
        if self._direct is None:
            return await self.metadata(folder_id, None)
        try:
            version = self._direct.version(folder_id)
            cached = self._folders.get(folder_id)
            if cached is not None and cached[0] == version:
                self._folders.move_to_end(folder_id)
                return cached[1]
            metas = self._direct.metadata(folder_id, None)
        except DirectBusy:
            return await self.metadata(folder_id, None)
        if version is not None and self._direct.version(folder_id) == version:
            self._keep(folder_id, version, metas)
        return metas

    def _keep(
        self, folder_id: int, version: tuple[int, int, int], metas: list[MessageMeta]
    ) -> None:
        self._folders.pop(folder_id, None)
        if len(metas) > self._cached_rows:
            return
        self._folders[folder_id] = (version, metas)
        while sum(len(rows) for _, rows in self._folders.values()) > self._cached_rows:
            self._folders.popitem(last=False)

    async def delta(
        self,
        folder_id: int,
        since: int,
        *,
        excluding: Collection[int],
        known: Sequence[int] | None,
        look: bool,
    ) -> Delta | None:
        """See `reads.delta`."""
        if self._direct is not None:
            try:
                return self._direct.delta(
                    folder_id, since, excluding=excluding, known=known, look=look
                )
            except DirectBusy:
                pass
        async with self.db.read() as session:
            return await reads.delta(
                session, folder_id, since, excluding=excluding, known=known, look=look
            )

    def close(self) -> None:
        if self._direct is not None:
            self._direct.close()
