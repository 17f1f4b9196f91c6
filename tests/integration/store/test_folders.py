"""Folder operations: create with parents, delete, rename with inferiors and INBOX,
UIDVALIDITY after re-creation (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from crypto.at_rest import AtRestCipher
from mailserver.store import deliver, folders, names, reads
from mailserver.store.errors import (
    FolderExists,
    FolderHasChildren,
    FolderNotDeletable,
    InvalidFolderName,
)
from mailserver.store.mailboxes import ensure_mailbox
from storage.database import Database
from tests.integration.store.conftest import MakeMailbox


async def _names(db: Database, mailbox_id: int) -> list[str]:
    async with db.read() as session:
        return [f.name for f in await folders.list_folders(session, mailbox_id)]


async def test_create_makes_parents_and_refuses_duplicates(
    db: Database, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    async with db.write() as session:
        await folders.create_folder(session, mailbox_id, "Patients/2024/Cardio")
    assert {"Patients", "Patients/2024", "Patients/2024/Cardio"} <= set(
        await _names(db, mailbox_id)
    )
    with pytest.raises(FolderExists):
        async with db.write() as session:
            await folders.create_folder(session, mailbox_id, "Patients")


async def test_delete_then_create_gets_a_larger_uidvalidity(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    async with db.write() as session:
        await folders.create_folder(session, mailbox_id, "Old")
        await deliver(session, at_rest, mailbox_id, b"Subject: a\r\n\r\nb\r\n", folder="Old")
    async with db.read() as session:
        before = await reads.folder_by_name(session, mailbox_id, "Old")
    async with db.write() as session:
        await folders.delete_folder(session, mailbox_id, "Old")
        await folders.create_folder(session, mailbox_id, "Old")
    async with db.read() as session:
        after = await reads.folder_by_name(session, mailbox_id, "Old")
    assert before is not None and after is not None
    assert after.uidvalidity > before.uidvalidity


async def test_delete_refuses_inbox_and_parents(db: Database, make_mailbox: MakeMailbox) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    async with db.write() as session:
        await folders.create_folder(session, mailbox_id, "a/b")
    with pytest.raises(FolderNotDeletable):
        async with db.write() as session:
            await folders.delete_folder(session, mailbox_id, "INBOX")
    with pytest.raises(FolderHasChildren):
        async with db.write() as session:
            await folders.delete_folder(session, mailbox_id, "a")


async def test_rename_moves_inferiors_and_inbox_stays(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    async with db.write() as session:
        await folders.create_folder(session, mailbox_id, "a/b")
        await deliver(session, at_rest, mailbox_id, b"Subject: a\r\n\r\nb\r\n")
    async with db.write() as session:
        await folders.rename_folder(session, mailbox_id, "a", "x/y")
        await folders.rename_folder(session, mailbox_id, "INBOX", "Old mail")
    current = await _names(db, mailbox_id)
    assert {"x", "x/y", "x/y/b", "INBOX", "Old mail"} <= set(current)
    assert "a" not in current
    async with db.read() as session:
        inbox = await reads.folder_by_name(session, mailbox_id, "INBOX")
        old = await reads.folder_by_name(session, mailbox_id, "Old mail")
        assert inbox is not None and old is not None
        assert await reads.index(session, inbox.id) == []
        assert [uid for uid, _ in await reads.index(session, old.id)] == [1]
        assert old.uidnext == 2


async def test_subscription_and_first_use(db: Database, make_mailbox: MakeMailbox) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    async with db.write() as session:
        await ensure_mailbox(session, mailbox_id)
        await ensure_mailbox(session, mailbox_id)
        await folders.set_subscribed(session, mailbox_id, "Junk", False)
    async with db.read() as session:
        listed = {f.name: f.subscribed for f in await folders.list_folders(session, mailbox_id)}
    assert listed["Junk"] is False
    assert listed["INBOX"] is True


@pytest.mark.parametrize(
    "bad", ["", "a/../b", "..", "a//b", "/a", "a/", "x\x00y", "tab\there", "a*", "n" * 256]
)
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidFolderName):
        names.normalise(bad)


def test_inbox_is_case_insensitive() -> None:
    assert names.normalise("inbox") == "INBOX"
    assert names.normalise("InBoX/Sub") == "INBOX/Sub"
    assert names.normalise("Inboxes") == "Inboxes"
