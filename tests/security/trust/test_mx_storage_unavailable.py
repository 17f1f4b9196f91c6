"""The inbound MX while its database cannot be opened: a peer's RCPT gets a temporary
451 4.3.0 (it keeps the message and retries), never a permanent 5xx that would make it
bounce, and no internals; once the database is back, the same session goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.trust.operators import Operator, doctor, operators
from tests.security.trust.test_mx_attacks import connect

SENDER, RECIPIENT = doctor(1, "a.test"), doctor(2, "b.test")


async def _database_away(b: Operator) -> list[Path]:
    """Close B's connections and put a directory where its SQLite file was: opening the
    database fails as when its volume is gone. Returns the files set aside."""
    await b.db.dispose()
    database = b.data_dir / "salus.db"
    files = [p for p in (database, *database.parent.glob("salus.db-*")) if p.exists()]
    for path in files:
        path.rename(path.with_name(path.name + ".away"))
    database.mkdir()
    return files


def _database_back(b: Operator, files: list[Path]) -> None:
    (b.data_dir / "salus.db").rmdir()
    for path in files:
        path.with_name(path.name + ".away").rename(path)


async def test_rcpt_while_the_database_is_away_is_a_temporary_failure(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("mx")
        await b.trust(a)
        client = await asyncio.to_thread(connect, b, a.runtime.tls.material)
        try:
            mail = await asyncio.to_thread(client.mail, SENDER)
            files = await _database_away(b)
            try:
                during = await asyncio.to_thread(client.rcpt, RECIPIENT)
            finally:
                _database_back(b, files)
            after = await asyncio.to_thread(client.rcpt, RECIPIENT)
        finally:
            await asyncio.to_thread(client.close)
    assert mail[0] == 250
    assert during[0] == 451 and during[1].startswith(b"4.3.0 "), during
    assert b"Storage" not in during[1] and b"database" not in during[1], during
    assert after[0] == 250, after
