"""Fixtures of the crypto unit tests: one test operator's PKI and two mailboxes."""

from __future__ import annotations

import pytest

from tests.unit.crypto.pki import Mailbox, Pki


@pytest.fixture(scope="session")
def pki() -> Pki:
    return Pki.make()


@pytest.fixture(scope="session")
def alice(pki: Pki) -> Mailbox:
    return pki.mailbox("alice@salus.test")


@pytest.fixture(scope="session")
def bob(pki: Pki) -> Mailbox:
    return pki.mailbox("bob@salus.test")
