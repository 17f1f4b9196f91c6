"""`import_file`: stream an import file into the directory in committed batches.

The whole file is checked first (readable, UTF-8, header): a file that fails this changes
nothing. Rows are then parsed and written a batch at a time, each batch in one write
transaction with its audit entry, so a rejected row never half-writes and an interrupted
import leaves whole batches only. Memory stays flat in the file size: one batch of rows,
plus at most `MAX_REPORTED` rejection reasons.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from directory.errors import DirectoryError
from directory.importer import load
from directory.importer.entry import Entry, Rejection
from directory.importer.reader import BatchReader, Parsed, scan
from storage import audit
from storage.audit import AuditEvent
from storage.database import Database

DEFAULT_BATCH = 5000
MAX_REPORTED = 1000
Progress = Callable[[int, int], None]  # (lines done, lines in the file)


@dataclass(frozen=True, slots=True)
class _Target:
    """Where and as whom the batches of one import are written."""

    db: Database
    actor: str
    name: str
    recent: load.RecentRows = field(default_factory=load.RecentRows)


@dataclass(slots=True)
class ImportSummary:
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    def reject(self, rejection: Rejection) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REPORTED:
            self.rejections.append(rejection)

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


class ImportAborted(DirectoryError):
    """The database refused a batch: the batches before it are committed."""

    def __init__(self, message: str, summary: ImportSummary) -> None:
        super().__init__(message)
        self.summary = summary


def _distinct(batch: list[Parsed], summary: ImportSummary) -> list[Entry]:
    """The batch's entries, rejections counted; an address given twice in a batch keeps
    its first row."""
    first_line: dict[str, int] = {}
    entries = []
    for parsed in batch:
        if isinstance(parsed, Rejection):
            summary.reject(parsed)
        elif parsed.address in first_line:
            summary.reject(
                Rejection(
                    parsed.line,
                    f"address {parsed.address} repeated (first on line {first_line[parsed.address]})",
                )
            )
        else:
            first_line[parsed.address] = parsed.line
            entries.append(parsed)
    return entries


async def _store(target: _Target, entries: list[Entry], summary: ImportSummary) -> None:
    if summary.dry_run:
        async with target.db.read() as session:
            classified = await load.classify(session, entries)
    else:
        async with target.db.write() as session:
            classified = await load.classify(session, entries)
            if classified.to_write:
                await load.write(session, classified.to_write, target.recent)
                await audit.append(
                    session,
                    AuditEvent(
                        target.actor,
                        "directory.import.batch",
                        target.name,
                        "ok",
                        "cli",
                        {
                            "lines": [entries[0].line, entries[-1].line],
                            "created": len(classified.created),
                            "updated": len(classified.updated),
                        },
                    ),
                )
    summary.created += len(classified.created)
    summary.updated += len(classified.updated)
    summary.unchanged += classified.unchanged


async def _store_or_abort(target: _Target, entries: list[Entry], summary: ImportSummary) -> None:
    try:
        await _store(target, entries, summary)
    except (DBAPIError, load.BatchRefused) as exc:
        reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).splitlines()[0]
        raise ImportAborted(
            f"lines {entries[0].line}-{entries[-1].line}: the database refused the batch "
            f"({reason}); earlier batches are committed",
            summary,
        ) from exc


async def import_file(
    db: Database,
    path: Path,
    *,
    file_format: str,
    local_domains: tuple[str, ...],
    actor: str,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import `path` (format "mssante" or "csv"); raise ImportFileError before writing
    anything when the file as a whole is unusable, ImportAborted when the database
    refuses a batch."""
    total = await asyncio.to_thread(scan, path, file_format)
    summary = ImportSummary(dry_run=dry_run)
    target = _Target(db, actor, path.name)
    reader = BatchReader(path, file_format, local_domains)
    try:
        # Parsed on the event loop thread, a batch (tens of milliseconds) at a time: a
        # parsing thread beside aiosqlite's made the import 40% slower, both threads
        # queueing for the GIL at every row aiosqlite wrote (docs/decisions.md).
        while batch := reader.read(batch_size):
            entries = _distinct(batch, summary)
            if entries:
                await _store_or_abort(target, entries, summary)
            if progress is not None:
                progress(batch[-1].line, total)
    finally:
        reader.close()
    if not dry_run:
        await audit.record(
            db, AuditEvent(actor, "directory.import", path.name, "done", "cli", summary.counts())
        )
    return summary
