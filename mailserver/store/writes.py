"""Changing messages in place: flags (STORE), expunge, copy and move.

Every change raises the folder's modseq under its row lock, so other sessions see from
one row that something happened, and gives each changed row that modseq. Blobs no longer
referenced by any message are deleted in the same transaction, and the mailbox usage is
kept exact for the quota.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.at_rest import AtRestCipher
from mailserver.store import sealing
from mailserver.store.deliver import add_message, check_quota, lock_folder
from mailserver.store.errors import FolderNotFound
from mailserver.store.flags import DELETED, Flags
from mailserver.store.mailboxes import LockedMailbox, lock_mailbox
from mailserver.store.models import Blob, Folder, Message
from mailserver.store.reads import chunks
from storage.inline import raw_writer, unavailable


class FlagMode(enum.Enum):
    """RFC 3501 §6.4.6: FLAGS replaces, +FLAGS adds, -FLAGS removes."""

    REPLACE = "replace"
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class FlagResult:
    """The flags of every matched message after the change, the UIDs whose flags changed,
    and the modseq given to them (0 when none did)."""

    flags: dict[int, Flags]
    changed: set[int]
    modseq: int


@dataclass(frozen=True, slots=True)
class CopyResult:
    """RFC 4315 COPYUID data: the target's UIDVALIDITY and (source, target) UID pairs."""

    folder_id: int
    uidvalidity: int
    pairs: list[tuple[int, int]]


async def lock_folder_by_id(session: AsyncSession, folder_id: int) -> Folder:
    # populate_existing: a row locked now is read now, not taken from the session's
    # identity map (a shared group-commit transaction may have changed it in SQL).
    query = (
        select(Folder)
        .where(Folder.id == folder_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    folder = (await session.execute(query)).scalar_one_or_none()
    if folder is None:
        raise FolderNotFound("the folder was deleted")
    return folder


def _apply(mode: FlagMode, old: Flags, change: Flags) -> Flags:
    if mode is FlagMode.REPLACE:
        return change
    if mode is FlagMode.ADD:
        return (old | change).checked()
    return old - change


async def set_flags(
    session: AsyncSession, folder_id: int, uids: Sequence[int], mode: FlagMode, change: Flags
) -> FlagResult:
    """Apply a flag change. When no flag would change (\\Seen on a message already read)
    nothing is locked or written."""
    result, updates = await _flag_updates(session, folder_id, uids, mode, change)
    if not updates:
        return FlagResult(result, set(), 0)
    # Every writer of flags takes the folder lock first: reading again under it gives
    # the values the update must start from (PostgreSQL's other writers).
    folder = await lock_folder_by_id(session, folder_id)
    result, updates = await _flag_updates(session, folder_id, uids, mode, change)
    modseq = folder.highestmodseq + 1
    folder.highestmodseq = modseq
    table = cast(Table, Message.__table__)  # Core executemany: no per-row ORM work
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(system_flags=bindparam("new_system"), keywords=bindparam("new_keywords"))
        .values(modseq=modseq)
    )
    if updates:
        await session.execute(statement, updates)
    changed = {u["uid"] for u in updates}
    for row in updates:
        del row["uid"]
    return FlagResult(result, changed, modseq if changed else 0)


_FOLDERS = cast(Table, Folder.__table__)
_MESSAGES = cast(Table, Message.__table__)
# Built once: constructing a statement and its cache key cost four times its execution.
_RAISE_MODSEQ = (
    update(_FOLDERS)
    .where(_FOLDERS.c.id == bindparam("b_folder"))
    .values(highestmodseq=_FOLDERS.c.highestmodseq + 1)
    .returning(_FOLDERS.c.highestmodseq)
)
_ADD_BITS = (
    update(_MESSAGES)
    .where(
        _MESSAGES.c.folder_id == bindparam("b_folder"),
        _MESSAGES.c.uid.in_(bindparam("uids", expanding=True)),
        _MESSAGES.c.system_flags.op("&")(bindparam("bits")) != bindparam("bits"),
    )
    .values(system_flags=_MESSAGES.c.system_flags.op("|")(bindparam("bits")))
    .values(modseq=bindparam("b_modseq"))
    .returning(_MESSAGES.c.uid, _MESSAGES.c.system_flags, _MESSAGES.c.keywords)
)


async def add_system_flags(
    session: AsyncSession, folder_id: int, uids: Sequence[int], bits: int
) -> FlagResult:
    """Set system flags (the implicit \\Seen of a FETCH) in SQL: no read first, only the
    rows lacking a bit change; their flags are returned."""
    writer = await raw_writer(session)
    if writer is not None:
        try:
            return _add_system_flags_sqlite(writer, folder_id, uids, bits)
        except sqlite3.Error as exc:  # any: the job is atomic, it must not half-apply
            raise unavailable(exc) from exc
    raised = await session.execute(_RAISE_MODSEQ, {"b_folder": folder_id})
    modseq = raised.scalar_one_or_none()
    if modseq is None:
        raise FolderNotFound("the folder was deleted")
    flags: dict[int, Flags] = {}
    for part in chunks(uids):
        params = {"b_folder": folder_id, "uids": list(part), "bits": bits, "b_modseq": modseq}
        rows = await session.execute(_ADD_BITS, params)
        flags.update({r.uid: Flags.from_row(r.system_flags, r.keywords) for r in rows})
    return FlagResult(flags, set(flags), modseq if flags else 0)


# The statements above in plain `sqlite3`, for the SQLite writer (`storage.inline.raw_writer`).
_SQLITE_RAISE_MODSEQ = (
    "UPDATE store_folders SET highestmodseq = highestmodseq + 1 WHERE id = ? "
    "RETURNING highestmodseq"
)
_SQLITE_ADD_BITS = (
    "UPDATE store_messages SET system_flags = system_flags | ?, modseq = ? "
    "WHERE folder_id = ? AND (system_flags & ?) != ? AND uid IN ({marks}) "
    "RETURNING uid, system_flags, keywords"
)


def _add_system_flags_sqlite(
    writer: sqlite3.Connection, folder_id: int, uids: Sequence[int], bits: int
) -> FlagResult:
    raised = writer.execute(_SQLITE_RAISE_MODSEQ, (folder_id,)).fetchone()
    if raised is None:
        raise FolderNotFound("the folder was deleted")
    modseq = int(raised[0])
    flags: dict[int, Flags] = {}
    for part in chunks(uids):
        sql = _SQLITE_ADD_BITS.format(marks=",".join("?" * len(part)))
        rows = writer.execute(sql, (bits, modseq, folder_id, bits, bits, *part))
        flags.update({r[0]: Flags.from_row(r[1], r[2]) for r in rows})
    return FlagResult(flags, set(flags), modseq if flags else 0)


async def _flag_updates(
    session: AsyncSession, folder_id: int, uids: Sequence[int], mode: FlagMode, change: Flags
) -> tuple[dict[int, Flags], list[dict[str, Any]]]:
    result: dict[int, Flags] = {}
    updates: list[dict[str, Any]] = []
    for part in chunks(uids):
        query = select(Message.id, Message.uid, Message.system_flags, Message.keywords).where(
            Message.folder_id == folder_id, Message.uid.in_(part)
        )
        for row in await session.execute(query):
            old = Flags.from_row(row.system_flags, row.keywords)
            new = _apply(mode, old, change)
            result[row.uid] = new
            if new != old:
                updates.append(
                    {
                        "uid": row.uid,
                        "row_id": row.id,
                        "new_system": new.system,
                        "new_keywords": new.keywords_text,
                    }
                )
    return result, updates


async def expunge(
    session: AsyncSession, mailbox_id: int, folder_id: int, uids: Sequence[int] | None = None
) -> list[int]:
    """Remove the \\Deleted messages (of `uids` when given, RFC 4315 UID EXPUNGE);
    return their UIDs, ascending."""
    locked = await lock_mailbox(session, mailbox_id)
    folder = await lock_folder_by_id(session, folder_id)
    condition = [Message.folder_id == folder_id, Message.system_flags.op("&")(DELETED) != 0]
    if uids is None:
        query = select(Message.uid).where(*condition)
        targets = sorted((await session.execute(query)).scalars())
    else:
        targets = []
        for part in chunks(uids):
            query = select(Message.uid).where(*condition, Message.uid.in_(part))
            targets.extend((await session.execute(query)).scalars())
        targets.sort()
    await remove_messages(session, locked, folder, targets)
    return targets


async def remove_messages(
    session: AsyncSession, locked: LockedMailbox, folder: Folder, uids: Sequence[int]
) -> None:
    """Delete message rows, their orphaned blobs, and their bytes from the usage."""
    if not uids:
        return
    folder.highestmodseq += 1
    for part in chunks(uids):
        rows = (
            await session.execute(
                delete(Message)
                .where(Message.folder_id == folder.id, Message.uid.in_(part))
                .returning(Message.blob_id, Message.size)
            )
        ).all()
        locked.row.used_bytes -= sum(r.size for r in rows)
        await drop_orphan_blobs(session, {r.blob_id for r in rows})


async def drop_orphan_blobs(session: AsyncSession, blob_ids: set[str]) -> None:
    if not blob_ids:
        return
    referenced = exists().where(Message.blob_id == Blob.id)
    for part in chunks(sorted(blob_ids)):
        await session.execute(
            delete(Blob)
            .where(Blob.id.in_(part), ~referenced)
            .execution_options(synchronize_session=False)
        )


async def copy_messages(
    session: AsyncSession,
    at_rest: AtRestCipher,
    source: tuple[int, int],
    uids: Sequence[int],
    target: tuple[int, str],
    *,
    move: bool = False,
) -> CopyResult:
    """Copy (or move) messages from (mailbox_id, folder_id) to (mailbox_id, folder name).

    Flags and internal dates travel with the messages (RFC 3501 §6.4.7); a copy within
    the mailbox shares the blob, a copy to another mailbox is sealed again for it.
    Raises QuotaExceeded or FolderNotFound with nothing written.
    """
    (src_mailbox, src_folder_id), (dst_mailbox, dst_name) = source, target
    locks = {m: await lock_mailbox(session, m) for m in sorted({src_mailbox, dst_mailbox})}
    dst_folder = await lock_folder(session, dst_mailbox, dst_name)
    src_folder = await lock_folder_by_id(session, src_folder_id) if move else None
    rows = await _source_rows(session, src_folder_id, uids)
    added = sum(r.size for r in rows)
    if move and src_mailbox == dst_mailbox:
        added = 0
    check_quota(locks[dst_mailbox], added)
    pairs = [
        (
            row.uid,
            await _add_copy(session, at_rest, row, (src_mailbox, locks[dst_mailbox]), dst_folder),
        )
        for row in rows
    ]
    if src_folder is not None:
        await remove_messages(session, locks[src_mailbox], src_folder, [p[0] for p in pairs])
    return CopyResult(dst_folder.id, dst_folder.uidvalidity, pairs)


async def _add_copy(
    session: AsyncSession,
    at_rest: AtRestCipher,
    row: Row[Any],
    mailboxes: tuple[int, LockedMailbox],
    folder: Folder,
) -> int:
    src_mailbox, target = mailboxes
    blob_id = row.blob_id
    if src_mailbox != target.row.mailbox_id:
        blob_id = _reseal(session, at_rest, src_mailbox, target.row.mailbox_id, row)
    return await add_message(
        session,
        locked=target,
        folder=folder,
        blob_id=blob_id,
        size=row.size,
        flags=Flags.from_row(row.system_flags, row.keywords),
        internal_date=row.internal_date,
    )


async def _source_rows(
    session: AsyncSession, folder_id: int, uids: Sequence[int]
) -> list[Row[Any]]:
    out: list[Row[Any]] = []
    for part in chunks(uids):
        query = (
            select(
                Message.uid,
                Message.blob_id,
                Message.size,
                Message.system_flags,
                Message.keywords,
                Message.internal_date,
                Blob.sealed,
            )
            .join(Blob, Blob.id == Message.blob_id)
            .where(Message.folder_id == folder_id, Message.uid.in_(part))
            .order_by(Message.uid)
        )
        out.extend(await session.execute(query))
    return out


def _reseal(
    session: AsyncSession, at_rest: AtRestCipher, src_mailbox: int, dst_mailbox: int, row: Row[Any]
) -> str:
    plain = sealing.open_message(at_rest, src_mailbox, row.blob_id, row.sealed)
    blob = sealing.seal(at_rest, dst_mailbox, plain)
    session.add(
        Blob(
            id=blob.id,
            mailbox_id=dst_mailbox,
            size=blob.size,
            sealed=blob.sealed,
            sealed_header=blob.sealed_header,
        )
    )
    return blob.id
