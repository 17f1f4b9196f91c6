"""An operator with data in it, for backup and retention tests: the real `salus` command
line, the directory admin API and the mailbox store."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, select

from crypto import service_key
from crypto.at_rest import AtRestCipher
from directory.admin.mailboxes import add_mailbox
from directory.admin.organisations import OrganisationInput, add_organisation
from directory.models import MailboxKind
from mailserver.store.deliver import deliver
from storage.database import Database

SALUS = Path(sys.executable).parent / "salus"
LOCAL = ("salus.test",)


async def run_salus(
    *args: str, env: dict[str, str] | None = None, stdin: bytes = b""
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(SALUS),
        *args,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def cipher(data_dir: Path) -> AtRestCipher:
    current, previous = service_key.load_with_previous(service_key.key_path(data_dir))
    return AtRestCipher(current, previous)


async def add_org_mailbox(db: Database, address: str, kind: MailboxKind) -> int:
    org_id = "org-" + address.partition("@")[0]
    async with db.write() as session:
        await add_organisation(session, "test", OrganisationInput(id=org_id, name=f"Org {org_id}"))
        mailbox = await add_mailbox(
            session, "test", address, kind, local_domains=LOCAL, organisation=org_id
        )
        return mailbox.id


async def deliver_message(
    db: Database,
    at_rest: AtRestCipher,
    mailbox_id: int,
    body: bytes,
    *,
    when: dt.datetime | None = None,
) -> None:
    async with db.write() as session:
        await deliver(session, at_rest, mailbox_id, body, internal_date=when)


def message(subject: str, text: str) -> bytes:
    return (
        f"From: lab@salus.test\r\nTo: x@salus.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@salus.test>\r\n\r\n{text}\r\n"
    ).encode()


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order, bytes normalised."""
    metadata = MetaData()
    async with db.read() as session:
        conn = await session.connection()
        await conn.run_sync(metadata.reflect)
        tables: dict[str, list[tuple[Any, ...]]] = {}
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = (await session.execute(select(table).order_by(*order))).all()
            tables[table.name] = [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows
            ]
    return tables
