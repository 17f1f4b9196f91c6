"""Reading a folder's messages: the index a session keeps, the changes since a modseq,
metadata, and sealed contents in batches (bounded memory for large fetches)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailserver.store.flags import SEEN, Flags
from mailserver.store.models import Blob, Folder, Message

T = TypeVar("T")

# Rows per IN (...) list: under SQLite's and asyncpg's bound-parameter limits.
CHUNK = 500


@dataclass(frozen=True, slots=True)
class MessageMeta:
    uid: int
    flags: Flags
    internal_date: dt.datetime
    size: int
    modseq: int
    blob_id: str


@dataclass(frozen=True, slots=True)
class FlagChange:
    uid: int
    flags: Flags
    modseq: int


@dataclass(frozen=True, slots=True)
class Delta:
    """A folder's modseq now, the rows changed since the one asked about, and the UIDs
    still present among those a session knows (None when none of them went away)."""

    highest: int
    changes: list[FlagChange]
    alive: set[int] | None


@dataclass(frozen=True, slots=True)
class Opening:
    """What SELECT and EXAMINE read of a folder, in one snapshot: the folder and the
    (uid, system flag bits) of every message, by ascending UID."""

    folder_id: int
    name: str
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    index: list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class FolderCounts:
    messages: int
    unseen: int


def chunks(items: Sequence[T], size: int = CHUNK) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def folder_by_name(session: AsyncSession, mailbox_id: int, name: str) -> Folder | None:
    query = select(Folder).where(Folder.mailbox_id == mailbox_id, Folder.name == name)
    return (await session.execute(query)).scalar_one_or_none()


async def opening(session: AsyncSession, mailbox_id: int, name: str) -> Opening | None:
    """The folder `name` of a mailbox and its index, or None when there is no such folder."""
    folder = await folder_by_name(session, mailbox_id, name)
    if folder is None:
        return None
    return Opening(
        folder.id,
        folder.name,
        folder.uidvalidity,
        folder.uidnext,
        folder.highestmodseq,
        await index(session, folder.id),
    )


async def folder_state(session: AsyncSession, folder_id: int) -> tuple[int, int] | None:
    """(highestmodseq, uidnext) of a folder, or None when it was deleted."""
    query = select(Folder.highestmodseq, Folder.uidnext).where(Folder.id == folder_id)
    row = (await session.execute(query)).one_or_none()
    return None if row is None else (row.highestmodseq, row.uidnext)


async def index(session: AsyncSession, folder_id: int) -> list[tuple[int, int]]:
    """(uid, system flag bits) of every message, by ascending UID."""
    query = (
        select(Message.uid, Message.system_flags)
        .where(Message.folder_id == folder_id)
        .order_by(Message.uid)
    )
    return [(r.uid, r.system_flags) for r in await session.execute(query)]


async def counts(session: AsyncSession, folder_id: int) -> FolderCounts:
    unseen = case((Message.system_flags.op("&")(SEEN) == 0, 1), else_=0)
    query = select(func.count(Message.id), func.coalesce(func.sum(unseen), 0)).where(
        Message.folder_id == folder_id
    )
    total, unseen = (await session.execute(query)).one()
    return FolderCounts(int(total), int(unseen))


async def changes_since(
    session: AsyncSession, folder_id: int, modseq: int, *, excluding: Collection[int] = ()
) -> list[FlagChange]:
    """Messages added or re-flagged after `modseq`, by ascending UID, leaving out the
    changes that carry one of the `excluding` modseqs (a session's own)."""
    query = (
        select(Message.uid, Message.system_flags, Message.keywords, Message.modseq)
        .where(Message.folder_id == folder_id, Message.modseq > modseq)
        .order_by(Message.uid)
    )
    if excluding:
        query = query.where(Message.modseq.not_in(sorted(excluding)[-CHUNK:]))
    return [
        FlagChange(r.uid, Flags.from_row(r.system_flags, r.keywords), r.modseq)
        for r in await session.execute(query)
    ]


async def delta(
    session: AsyncSession,
    folder_id: int,
    since: int,
    *,
    excluding: Collection[int],
    known: Sequence[int] | None,
    look: bool,
) -> Delta | None:
    """What changed in a folder after modseq `since` (None: the folder is gone). The
    rows are read only when the modseq moved or `look` asks; the expunge check counts
    the `known` UIDs (ascending) still present, and lists them only when some are not."""
    state = await folder_state(session, folder_id)
    if state is None:
        return None
    highest = state[0]
    if highest == since and not look:
        return Delta(highest, [], None)
    changes = await changes_since(session, folder_id, since, excluding=excluding)
    alive = None
    if known and await count_upto(session, folder_id, known[-1]) != len(known):
        alive = set(await uids_upto(session, folder_id, known[-1]))
    return Delta(highest, changes, alive)


async def count_upto(session: AsyncSession, folder_id: int, max_uid: int) -> int:
    query = select(func.count(Message.id)).where(
        Message.folder_id == folder_id, Message.uid <= max_uid
    )
    return int((await session.execute(query)).scalar_one())


async def uids_upto(session: AsyncSession, folder_id: int, max_uid: int) -> list[int]:
    query = (
        select(Message.uid)
        .where(Message.folder_id == folder_id, Message.uid <= max_uid)
        .order_by(Message.uid)
    )
    return list((await session.execute(query)).scalars())


_META = (
    Message.uid,
    Message.system_flags,
    Message.keywords,
    Message.internal_date,
    Message.size,
    Message.modseq,
    Message.blob_id,
)


def _meta(r: Any) -> MessageMeta:  # a Row of the _META columns
    return MessageMeta(
        uid=r.uid,
        flags=Flags.from_row(r.system_flags, r.keywords),
        internal_date=r.internal_date,
        size=r.size,
        modseq=r.modseq,
        blob_id=r.blob_id,
    )


async def metadata(session: AsyncSession, folder_id: int, uids: Sequence[int]) -> list[MessageMeta]:
    """Metadata of the given UIDs that still exist, by ascending UID."""
    out: list[MessageMeta] = []
    for part in chunks(uids):
        query = (
            select(*_META)
            .where(Message.folder_id == folder_id, Message.uid.in_(part))
            .order_by(Message.uid)
        )
        out.extend(_meta(r) for r in await session.execute(query))
    return out


async def all_metadata(session: AsyncSession, folder_id: int) -> list[MessageMeta]:
    query = select(*_META).where(Message.folder_id == folder_id).order_by(Message.uid)
    return [_meta(r) for r in await session.execute(query)]


async def metadata_after(
    session: AsyncSession, folder_id: int, after_uid: int, limit: int
) -> list[MessageMeta]:
    """Metadata of up to `limit` messages with UIDs above `after_uid`, by ascending UID:
    a folder read page by page, in memory bounded whatever its size."""
    query = (
        select(*_META)
        .where(Message.folder_id == folder_id, Message.uid > after_uid)
        .order_by(Message.uid)
        .limit(limit)
    )
    return [_meta(r) for r in await session.execute(query)]


async def sealed_contents(
    session: AsyncSession, folder_id: int, uids: Sequence[int], *, header_only: bool
) -> list[tuple[MessageMeta, bytes]]:
    """Metadata and the sealed message (or sealed header section) of each UID."""
    column = Blob.sealed_header if header_only else Blob.sealed
    query = (
        select(*_META, column.label("sealed"))
        .join(Blob, Blob.id == Message.blob_id)
        .where(Message.folder_id == folder_id, Message.uid.in_(uids))
        .order_by(Message.uid)
    )
    return [(_meta(r), r.sealed) for r in await session.execute(query)]


async def matching_uids(
    session: AsyncSession, folder_id: int, condition: ColumnElement[bool], max_uid: int
) -> list[int]:
    """UIDs up to `max_uid` of the messages meeting `condition` (a SEARCH in SQL)."""
    query = (
        select(Message.uid)
        .where(Message.folder_id == folder_id, Message.uid <= max_uid, condition)
        .order_by(Message.uid)
    )
    return list((await session.execute(query)).scalars())
