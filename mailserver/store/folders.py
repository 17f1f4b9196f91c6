"""Folder operations: list, create (with missing parents, RFC 3501 §6.3.3), delete,
rename (with inferiors, RFC 3501 §6.3.5, INBOX's special case), subscribe."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailserver.store import names
from mailserver.store.errors import (
    FolderExists,
    FolderHasChildren,
    FolderNotDeletable,
    FolderNotFound,
)
from mailserver.store.mailboxes import lock_mailbox, next_uidvalidity
from mailserver.store.models import Folder, Message, StoreMailbox
from mailserver.store.writes import drop_orphan_blobs


@dataclass(frozen=True, slots=True)
class FolderInfo:
    id: int
    name: str
    subscribed: bool
    special_use: str | None


async def list_folders(session: AsyncSession, mailbox_id: int) -> list[FolderInfo]:
    query = (
        select(Folder.id, Folder.name, Folder.subscribed, Folder.special_use)
        .where(Folder.mailbox_id == mailbox_id)
        .order_by(Folder.name)
    )
    return [
        FolderInfo(r.id, r.name, r.subscribed, r.special_use) for r in await session.execute(query)
    ]


async def create_folder(session: AsyncSession, mailbox_id: int, name: str) -> None:
    """Create `name` (already normalised) and any missing superior names."""
    locked = await lock_mailbox(session, mailbox_id)
    existing = {f.name for f in await list_folders(session, mailbox_id)}
    if name in existing:
        raise FolderExists(f"{name} already exists")
    for level in [*names.parents(name), name]:
        if level not in existing:
            session.add(_new_folder(locked.row, level))
    await session.flush()


async def delete_folder(session: AsyncSession, mailbox_id: int, name: str) -> None:
    """Delete an empty-of-children folder with its messages (RFC 3501 §6.3.4)."""
    if name == names.INBOX:
        raise FolderNotDeletable("INBOX cannot be deleted")
    locked = await lock_mailbox(session, mailbox_id)
    folders = await list_folders(session, mailbox_id)
    target = next((f for f in folders if f.name == name), None)
    if target is None:
        raise FolderNotFound(f"no folder named {name}")
    if any(names.is_inferior(f.name, name) for f in folders):
        raise FolderHasChildren(f"{name} has sub-folders: delete them first")
    rows = (
        await session.execute(
            select(Message.size, Message.blob_id).where(Message.folder_id == target.id)
        )
    ).all()
    folder = await session.get(Folder, target.id, with_for_update=True)
    await session.execute(delete(Message).where(Message.folder_id == target.id))
    await session.delete(folder)
    await session.flush()
    locked.row.used_bytes -= sum(r.size for r in rows)
    await drop_orphan_blobs(session, {r.blob_id for r in rows})


async def rename_folder(session: AsyncSession, mailbox_id: int, old: str, new: str) -> None:
    """Rename a folder and its inferiors; renaming INBOX moves its messages to a new
    folder and leaves INBOX empty (RFC 3501 §6.3.5)."""
    locked = await lock_mailbox(session, mailbox_id)
    folders = {f.name: f for f in await list_folders(session, mailbox_id)}
    if old not in folders:
        raise FolderNotFound(f"no folder named {old}")
    if new in folders:
        raise FolderExists(f"{new} already exists")
    if names.is_inferior(new, old):
        raise FolderExists("a folder cannot be moved under itself")
    for level in names.parents(new):
        if level not in folders:
            session.add(_new_folder(locked.row, level))
    if old == names.INBOX:
        await _rename_inbox(session, locked.row, folders[old].id, new)
        return
    for name, info in folders.items():
        if name == old or names.is_inferior(name, old):
            await session.execute(
                update(Folder).where(Folder.id == info.id).values(name=new + name[len(old) :])
            )


async def _rename_inbox(
    session: AsyncSession, row: StoreMailbox, inbox_id: int, new: str
) -> None:
    inbox = await session.get(Folder, inbox_id, with_for_update=True)
    if inbox is None:  # pragma: no cover - listed above in this transaction
        raise FolderNotFound("INBOX vanished")
    target = _new_folder(row, new)
    # The new folder keeps INBOX's UIDs, so its UIDNEXT starts where INBOX's is.
    target.uidnext = inbox.uidnext
    target.highestmodseq = inbox.highestmodseq
    session.add(target)
    await session.flush()
    await session.execute(
        update(Message).where(Message.folder_id == inbox_id).values(folder_id=target.id)
    )
    inbox.highestmodseq += 1


async def set_subscribed(
    session: AsyncSession, mailbox_id: int, name: str, subscribed: bool
) -> None:
    """RFC 3501 §6.3.6/§6.3.7; only existing folders can be subscribed here."""
    result = await session.execute(
        update(Folder)
        .where(Folder.mailbox_id == mailbox_id, Folder.name == name)
        .values(subscribed=subscribed)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise FolderNotFound(f"no folder named {name}")


def _new_folder(row: StoreMailbox, name: str) -> Folder:
    return Folder(
        mailbox_id=row.mailbox_id,
        name=name,
        uidvalidity=next_uidvalidity(row),
        uidnext=1,
        highestmodseq=1,
        subscribed=True,
        special_use=None,
    )
