"""Putting a message into a folder: the API that local delivery and IMAP APPEND share.

`deliver` runs inside the caller's write transaction (so a queue row and the stored
message commit together), locks the store mailbox row (creating the initial folders on
first use), checks the quota, seals the bytes and assigns the folder's next UID. The
caller publishes a `MailboxEvents` wake-up after its transaction commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.at_rest import AtRestCipher
from mailserver.store import names, sealing
from mailserver.store.errors import FolderNotFound, QuotaExceeded
from mailserver.store.flags import Flags
from mailserver.store.mailboxes import LockedMailbox, lock_mailbox
from mailserver.store.models import Blob, Folder, Message
from storage.base import utcnow


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
) -> StoredMessage:
    """Store `message` in `folder` of directory mailbox `mailbox_id`.

    Raises QuotaExceeded (nothing written), FolderNotFound, InvalidFolderName,
    MailboxUnavailable, or flags.FlagError.
    """
    parsed_flags = Flags.parse(flags)
    locked = await lock_mailbox(session, mailbox_id)
    target = await lock_folder(session, mailbox_id, names.normalise(folder))
    check_quota(locked, len(message))
    blob = sealing.seal(at_rest, mailbox_id, message)
    session.add(
        Blob(
            id=blob.id,
            mailbox_id=mailbox_id,
            size=blob.size,
            sealed=blob.sealed,
            sealed_header=blob.sealed_header,
        )
    )
    uid = await add_message(
        session,
        locked=locked,
        folder=target,
        blob_id=blob.id,
        size=blob.size,
        flags=parsed_flags,
        internal_date=internal_date or utcnow(),
    )
    return StoredMessage(target.id, uid, blob.size, target.uidvalidity)


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
