"""Putting a message into a folder: the API that local delivery and IMAP APPEND share.

`deliver` runs inside the caller's write transaction (so a queue row and the stored
message commit together), seals the bytes, counts them in the mailbox's usage within its
quota and takes the folder's next UID: two UPDATEs that lock the mailbox row then the
folder row, and two INSERTs, in Core (the ORM's unit of work cost more than the
statements), run on the SQLite writer's or PostgreSQL's driver connection
(`storage.inline.execute`, `insert_rows`). A mailbox used for the first time, or a message over quota, goes through
the locking path (`lock_mailbox` creates the initial folders; the quota refusal names
the usage). The caller publishes a `MailboxEvents` wake-up after its transaction commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.at_rest import AtRestCipher
from directory.models import Mailbox
from mailserver.store import names, sealing
from mailserver.store.errors import FolderNotFound, MailboxUnavailable, QuotaExceeded
from mailserver.store.flags import Flags
from mailserver.store.mailboxes import LockedMailbox, lock_mailbox
from mailserver.store.models import Blob, Folder, Message, StoreMailbox
from storage.base import utcnow
from storage.inline import execute, insert_rows

# Core statements: no unit of work for a row written once (an APPEND is five statements).
_MAILBOXES = cast(Table, StoreMailbox.__table__)
_FOLDERS = cast(Table, Folder.__table__)
_BLOBS = cast(Table, Blob.__table__)
_MESSAGES = cast(Table, Message.__table__)
# Built once: constructing a statement and its cache key cost more than executing it.
_DIRECTORY = select(Mailbox.quota, Mailbox.local).where(Mailbox.id == bindparam("b_mailbox"))
_COUNT_USAGE = (
    update(_MAILBOXES)
    .where(_MAILBOXES.c.mailbox_id == bindparam("b_mailbox"))
    .values(used_bytes=_MAILBOXES.c.used_bytes + bindparam("b_size"))
    .returning(_MAILBOXES.c.used_bytes)
)
_COUNT_USAGE_WITHIN_QUOTA = _COUNT_USAGE.where(
    _MAILBOXES.c.used_bytes + bindparam("b_size") <= bindparam("b_quota")
)
_NEXT_UID = (
    update(_FOLDERS)
    .where(_FOLDERS.c.mailbox_id == bindparam("b_mailbox"), _FOLDERS.c.name == bindparam("b_name"))
    .values(uidnext=_FOLDERS.c.uidnext + 1, highestmodseq=_FOLDERS.c.highestmodseq + 1)
    .returning(_FOLDERS.c.id, _FOLDERS.c.uidnext, _FOLDERS.c.highestmodseq, _FOLDERS.c.uidvalidity)
)


@dataclass(frozen=True, slots=True)
class Directory:
    """What the store needs of the directory's mailbox row."""

    quota: int | None
    local: bool


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """Where a stored message landed."""

    folder_id: int
    uid: int
    size: int
    uidvalidity: int


async def deliver(
    session: AsyncSession,
    at_rest: AtRestCipher,
    mailbox_id: int,
    message: bytes,
    *,
    folder: str = names.INBOX,
    flags: Iterable[str] = (),
    internal_date: dt.datetime | None = None,
    directory: Directory | None = None,
) -> StoredMessage:
    """Store `message` in `folder` of directory mailbox `mailbox_id`. `directory`: the
    mailbox's quota and local flag as the caller has read them in this transaction
    (else read here).

    Raises QuotaExceeded (nothing written), FolderNotFound, InvalidFolderName,
    MailboxUnavailable, or flags.FlagError; after any of them the caller rolls back.
    """
    parsed_flags = Flags.parse(flags)
    name = names.normalise(folder)
    blob = sealing.seal(at_rest, mailbox_id, message)
    date = internal_date or utcnow()
    slot = await _reserve(session, mailbox_id, name, blob.size, directory)
    if slot is None:  # first use of the mailbox, or over quota: the locking path decides
        return await _deliver_locked(
            session, mailbox_id, name, blob, flags=parsed_flags, internal_date=date
        )
    await insert_rows(session, _BLOBS, [_blob_values(mailbox_id, blob)])
    row = {
        "folder_id": slot.folder_id,
        "uid": slot.uid,
        "blob_id": blob.id,
        "size": blob.size,
        "internal_date": date,
        "system_flags": parsed_flags.system,
        "keywords": parsed_flags.keywords_text,
        "modseq": slot.modseq,
    }
    await insert_rows(session, _MESSAGES, [row])
    return StoredMessage(slot.folder_id, slot.uid, blob.size, slot.uidvalidity)


def _blob_values(mailbox_id: int, blob: sealing.SealedBlob) -> dict[str, object]:
    return {
        "id": blob.id,
        "mailbox_id": mailbox_id,
        "size": blob.size,
        "sealed": blob.sealed,
        "sealed_header": blob.sealed_header,
    }


async def _deliver_locked(
    session: AsyncSession,
    mailbox_id: int,
    name: str,
    blob: sealing.SealedBlob,
    *,
    flags: Flags,
    internal_date: dt.datetime,
) -> StoredMessage:
    """The mailbox row locked (created on first use), the quota checked against it."""
    locked = await lock_mailbox(session, mailbox_id)
    target = await lock_folder(session, mailbox_id, name)
    check_quota(locked, blob.size)
    session.add(Blob(**_blob_values(mailbox_id, blob)))
    uid = await add_message(
        session,
        locked=locked,
        folder=target,
        blob_id=blob.id,
        size=blob.size,
        flags=flags,
        internal_date=internal_date,
    )
    return StoredMessage(target.id, uid, blob.size, target.uidvalidity)


@dataclass(frozen=True, slots=True)
class _Slot:
    folder_id: int
    uid: int
    modseq: int
    uidvalidity: int


async def _reserve(
    session: AsyncSession, mailbox_id: int, name: str, size: int, directory: Directory | None
) -> _Slot | None:
    """Count `size` in the mailbox's usage and take the folder's next UID, in two UPDATEs
    that lock the rows in the documented order (mailboxes.py); None when the mailbox has
    no store row yet or the message would exceed the quota (nothing written then)."""
    if directory is None:
        found = await execute(session, _DIRECTORY, b_mailbox=mailbox_id)
        directory = Directory(found[0].quota, found[0].local) if found else None
    if directory is None or not directory.local:
        raise MailboxUnavailable(f"mailbox {mailbox_id} is not a local mailbox")
    quota = directory.quota
    usage = _COUNT_USAGE if quota is None else _COUNT_USAGE_WITHIN_QUOTA
    if not await execute(session, usage, b_mailbox=mailbox_id, b_size=size, b_quota=quota):
        return None
    slots = await execute(session, _NEXT_UID, b_mailbox=mailbox_id, b_name=name)
    if not slots:
        raise FolderNotFound(f"no folder named {name}")
    row = slots[0]
    return _Slot(row.id, row.uidnext - 1, row.highestmodseq, row.uidvalidity)


def check_quota(locked: LockedMailbox, size: int) -> None:
    quota = locked.quota
    if quota is not None and locked.row.used_bytes + size > quota:
        raise QuotaExceeded(locked.row.mailbox_id, quota, locked.row.used_bytes, size)


async def lock_folder(session: AsyncSession, mailbox_id: int, name: str) -> Folder:
    query = (
        select(Folder)
        .where(Folder.mailbox_id == mailbox_id, Folder.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)  # read now, not from the identity map
    )
    folder = (await session.execute(query)).scalar_one_or_none()
    if folder is None:
        raise FolderNotFound(f"no folder named {name}")
    return folder


async def add_message(
    session: AsyncSession,
    *,
    locked: LockedMailbox,
    folder: Folder,
    blob_id: str,
    size: int,
    flags: Flags,
    internal_date: dt.datetime,
) -> int:
    """Insert a message row pointing at an existing blob; return its new UID."""
    uid = folder.uidnext
    folder.uidnext = uid + 1
    folder.highestmodseq += 1
    locked.row.used_bytes += size
    session.add(
        Message(
            folder_id=folder.id,
            uid=uid,
            blob_id=blob_id,
            size=size,
            internal_date=internal_date,
            system_flags=flags.system,
            keywords=flags.keywords_text,
            modseq=folder.highestmodseq,
        )
    )
    await session.flush()
    return uid
