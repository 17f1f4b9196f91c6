"""Fixtures for the mailbox store tests: a service key cipher and local directory
mailboxes (synthetic addresses in .test domains)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import pytest

from crypto.at_rest import AtRestCipher
from crypto.service_key import ServiceKey
from directory.models import Mailbox
from storage.database import Database

MakeMailbox = Callable[..., Awaitable[int]]


@pytest.fixture
def at_rest() -> AtRestCipher:
    return AtRestCipher(ServiceKey(secrets.token_bytes(32)))


@pytest.fixture
def make_mailbox(db: Database) -> MakeMailbox:
    async def make(address: str, *, quota: int | None = None, local: bool = True) -> int:
        async with db.write() as session:
            mailbox = Mailbox(address=address, kind="personal", local=local, quota=quota)
            session.add(mailbox)
            await session.flush()
            return mailbox.id

    return make
