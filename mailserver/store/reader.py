"""The reads of IMAP commands, inline on SQLite (`direct.py`) and through SQLAlchemy
sessions on PostgreSQL or when SQLite is momentarily busy for readers."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from mailserver.store import reads
from mailserver.store.direct import DirectBusy, DirectReads
from mailserver.store.reads import Delta, MessageMeta
from storage.database import Database


class Reader:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._direct = DirectReads.of(db)

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
