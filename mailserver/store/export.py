"""Every stored message of one mailbox, opened, folder by folder: what `salus directory
mailbox export` writes out. Memory stays bounded whatever the mailbox's size: metadata
is read a page of UIDs at a time, and sealed bytes a batch of at most `batch_bytes` (or
one larger message) at a time, each in a short read transaction of its own, so the
export never holds a lock or a snapshot while it writes.

Messages are opened as IMAP FETCH opens them (`reads.sealed_contents`, then
`sealing.open_message`); one that does not open (a retired service key missing from the
data dir, altered bytes) is yielded without its bytes, for the caller to count: an
export says how incomplete it is rather than leaving messages out in silence.
A message expunged while the export runs is simply not in it; one delivered to a folder
not yet reached is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from crypto.at_rest import AtRestCipher, SealedDataError
from mailserver.store import names, reads, sealing
from mailserver.store.folders import FolderInfo, list_folders
from mailserver.store.reads import MessageMeta
from storage.database import Database

PAGE = 500
BATCH_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredCopy:
    """One message (or its header section) of one folder; `message` is None when its
    sealed bytes did not open."""

    folder: str
    meta: MessageMeta
    message: bytes | None


def export_order(folders: Sequence[FolderInfo]) -> list[FolderInfo]:
    """INBOX and its sub-folders first, then every other folder by name."""
    inbox = [f for f in folders if f.name == names.INBOX or names.is_inferior(f.name, names.INBOX)]
    return sorted(inbox, key=lambda f: f.name) + sorted(
        (f for f in folders if f not in inbox), key=lambda f: f.name
    )


def batches(metas: Sequence[MessageMeta], batch_bytes: int) -> list[list[MessageMeta]]:
    """Consecutive runs of `metas` whose sizes add up to at most `batch_bytes`; a larger
    message is a batch of its own."""
    out: list[list[MessageMeta]] = []
    total = 0
    for meta in metas:
        if not out or total + meta.size > batch_bytes:
            out.append([])
            total = 0
        out[-1].append(meta)
        total += meta.size
    return out


async def stored_messages(
    db: Database,
    at_rest: AtRestCipher,
    mailbox_id: int,
    *,
    page: int = PAGE,
    batch_bytes: int = BATCH_BYTES,
    header_only: bool = False,
) -> AsyncIterator[StoredCopy]:
    """The messages (or only their header sections) of directory mailbox `mailbox_id`,
    folder by folder, by UID."""
    async with db.read() as session:
        folders = export_order(await list_folders(session, mailbox_id))
    for folder in folders:
        after = 0
        while True:
            async with db.read() as session:
                metas = await reads.metadata_after(session, folder.id, after, page)
            if not metas:
                break
            for batch in batches(metas, batch_bytes):
                opened = _opened(db, at_rest, mailbox_id, folder, batch, header_only=header_only)
                async for copy in opened:
                    yield copy
            after = metas[-1].uid


async def _opened(
    db: Database,
    at_rest: AtRestCipher,
    mailbox_id: int,
    folder: FolderInfo,
    batch: Sequence[MessageMeta],
    *,
    header_only: bool,
) -> AsyncIterator[StoredCopy]:
    async with db.read() as session:
        rows = await reads.sealed_contents(
            session, folder.id, [m.uid for m in batch], header_only=header_only
        )
    opener = sealing.open_header if header_only else sealing.open_message
    for meta, sealed in rows:
        try:
            message: bytes | None = opener(at_rest, mailbox_id, meta.blob_id, sealed)
        except SealedDataError:
            message = None
        yield StoredCopy(folder.name, meta, message)
