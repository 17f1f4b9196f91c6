"""A running submission server for the attack tests; `limited` builds one with small
limits so that bombs stay cheap to send."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from mailserver.tls import TlsMaterial
from tests.protocol.smtp.harness import Mailserver, running

Limited = Callable[..., AbstractAsyncContextManager[Mailserver]]


@pytest.fixture
async def mailserver(tmp_path: Path, server_tls: TlsMaterial) -> AsyncIterator[Mailserver]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'salus.db'}"
    async with running(tmp_path, url, server_tls, tmp_path / "ca.crt") as server:
        yield server


@pytest.fixture
def limited(tmp_path: Path, server_tls: TlsMaterial) -> Limited:
    def make(**kwargs: Any) -> AbstractAsyncContextManager[Mailserver]:
        url = f"sqlite+aiosqlite:///{tmp_path / 'salus.db'}"
        return running(tmp_path, url, server_tls, tmp_path / "ca.crt", **kwargs)

    return make
