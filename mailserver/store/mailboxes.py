"""The store row of a directory mailbox: created on first use together with INBOX and the
special-use folders, and locked by every write that changes the mailbox's usage or folder
set (so quota accounting and UIDVALIDITY allocation are serial per mailbox).

Lock order, kept by every writer to avoid deadlocks on PostgreSQL: store mailbox rows by
ascending id, then folder rows by ascending id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from directory.models import Mailbox
from mailserver.store.errors import MailboxUnavailable
from mailserver.store.models import Folder, StoreMailbox
from mailserver.store.special_use import INITIAL_FOLDERS


@dataclass(frozen=True, slots=True)
class LockedMailbox:
    """A store mailbox row locked in the current transaction, with its directory quota."""

    row: StoreMailbox
    quota: int | None


async def lock_mailbox(session: AsyncSession, mailbox_id: int) -> LockedMailbox:
    """Lock (creating on first use) the store row of a local directory mailbox."""
    directory = (
        await session.execute(
            select(Mailbox.quota, Mailbox.local).where(Mailbox.id == mailbox_id)
        )
    ).one_or_none()
    if directory is None or not directory.local:
        raise MailboxUnavailable(f"mailbox {mailbox_id} is not a local mailbox")
    row = await _locked_row(session, mailbox_id)
    if row is None:
        if await _insert_row(session, mailbox_id):
            await _create_initial_folders(session, mailbox_id)
        row = await _locked_row(session, mailbox_id)
        if row is None:  # pragma: no cover - the insert above or a concurrent one made it
            raise MailboxUnavailable(f"mailbox {mailbox_id} store row vanished")
    return LockedMailbox(row, directory.quota)


async def ensure_mailbox(session: AsyncSession, mailbox_id: int) -> None:
    """Create the store row and initial folders if this is the mailbox's first use."""
    present = (
        await session.execute(
            select(StoreMailbox.mailbox_id).where(StoreMailbox.mailbox_id == mailbox_id)
        )
    ).scalar_one_or_none()
    if present is None:
        await lock_mailbox(session, mailbox_id)


def next_uidvalidity(row: StoreMailbox) -> int:
    """A UIDVALIDITY larger than any this mailbox handed out (RFC 3501 §2.3.1.1)."""
    row.last_uidvalidity += 1
    return row.last_uidvalidity


async def _locked_row(session: AsyncSession, mailbox_id: int) -> StoreMailbox | None:
    query = (
        select(StoreMailbox)
        .where(StoreMailbox.mailbox_id == mailbox_id)
        .with_for_update()
        .execution_options(populate_existing=True)  # read now, not from the identity map
    )
    return (await session.execute(query)).scalar_one_or_none()


async def _insert_row(session: AsyncSession, mailbox_id: int) -> bool:
    """Insert the row unless a concurrent transaction did; True when this one did."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Start below the current time so that values stay increasing across re-creation
    # and far below 2^32 (UIDVALIDITY is a 32-bit nz-number, RFC 3501 §9).
    stmt = (
        insert(StoreMailbox)
        .values(mailbox_id=mailbox_id, used_bytes=0, last_uidvalidity=int(time.time()))
        .on_conflict_do_nothing(index_elements=["mailbox_id"])
    )
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _create_initial_folders(session: AsyncSession, mailbox_id: int) -> None:
    row = await _locked_row(session, mailbox_id)
    if row is None:  # pragma: no cover - inserted in this transaction
        raise MailboxUnavailable(f"mailbox {mailbox_id} store row vanished")
    for name, special_use in INITIAL_FOLDERS:
        session.add(
            Folder(
                mailbox_id=mailbox_id,
                name=name,
                uidvalidity=next_uidvalidity(row),
                uidnext=1,
                highestmodseq=1,
                subscribed=True,
                special_use=special_use,
            )
        )
    await session.flush()


async def without_store(session: AsyncSession, mailbox_ids: list[int]) -> list[int]:
    """Those of `mailbox_ids` not used yet (no store row)."""
    query = select(StoreMailbox.mailbox_id).where(StoreMailbox.mailbox_id.in_(mailbox_ids))
    present = set((await session.execute(query)).scalars())
    return [m for m in mailbox_ids if m not in present]
