"""`salus backup` then `salus restore` into a new place keeps every row (messages, keys,
directory, queue) and every audit entry, the restored service key opens the stored
messages, and `salus audit verify` passes."""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import select

from config.settings import load_settings
from directory.models import MailboxKind
from mailserver.store.models import Blob
from mailserver.store.sealing import open_message
from storage.database import Database
from tests.conftest import _drop_postgres, _fresh_postgres, postgres_url
from tests.integration.ops.operator import (
    add_org_mailbox,
    cipher,
    deliver_message,
    message,
    run_salus,
    snapshot,
)

BODY = message("Résultats NFS", "Hémoglobine 13.2 g/dL")


async def _populate(data_dir: Path) -> tuple[Database, int]:
    settings = load_settings(data_dir)
    db = Database(settings.database_url)
    mailbox_id = await add_org_mailbox(db, "labo@salus.test", MailboxKind.APPLICATIVE)
    await deliver_message(db, cipher(data_dir), mailbox_id, BODY)
    return db, mailbox_id


async def _round_trip(tmp_path: Path, init_args: list[str], restore_env: dict[str, str]) -> None:
    source, target, archive = tmp_path / "src", tmp_path / "restored", tmp_path / "b.tar.gz"
    code, _, err = await run_salus(
        "init", "--data-dir", str(source), "--domain", "salus.test", *init_args
    )
    assert code == 0, err
    db, mailbox_id = await _populate(source)
    before = await snapshot(db)
    await db.dispose()

    code, out, err = await run_salus("backup", "--data-dir", str(source), "--to", str(archive))
    assert code == 0, err
    assert "backup written" in out
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"salus-backup.json", "data/salus.toml", "data/keys/service.key"} <= names

    code, out, err = await run_salus(
        "restore", "--data-dir", str(target), "--from", str(archive), env=restore_env
    )
    assert code == 0, err
    code, out, err = await run_salus("audit", "verify", "--data-dir", str(target), env=restore_env)
    assert code == 0, err
    assert out.startswith("audit trail intact")

    restored_settings = load_settings(target, {**os.environ, **restore_env})
    restored = Database(restored_settings.database_url)
    try:
        after = await snapshot(restored)
        async with restored.read() as session:
            blob = (await session.execute(select(Blob))).scalar_one()
    finally:
        await restored.dispose()
    # Every row is back; the audit trail has one more entry: the restore itself.
    audit_before, audit_after = before.pop("audit_log"), after.pop("audit_log")
    before.pop("audit_head"), after.pop("audit_head")
    assert after == before
    assert audit_after[:-1] == audit_before
    assert audit_after[-1][3] == "backup.restore"
    assert open_message(cipher(target), mailbox_id, blob.id, blob.sealed) == BODY
    assert stat.S_IMODE((target / "keys" / "service.key").stat().st_mode) == 0o600


async def test_round_trip_on_sqlite(tmp_path: Path) -> None:
    await _round_trip(tmp_path, [], {})


@pytest.mark.postgres
async def test_round_trip_on_postgresql(tmp_path: Path) -> None:
    base = postgres_url()
    source_url, target_url = await _fresh_postgres(base), await _fresh_postgres(base)
    try:
        await _round_trip(
            tmp_path, ["--database-url", source_url], {"SALUS_DATABASE__URL": target_url}
        )
    finally:
        await _drop_postgres(base, source_url)
        await _drop_postgres(base, target_url)


async def test_restore_refuses_to_overwrite_a_data_dir(tmp_path: Path) -> None:
    source, archive = tmp_path / "src", tmp_path / "b.tar.gz"
    assert (await run_salus("init", "--data-dir", str(source), "--domain", "salus.test"))[0] == 0
    assert (await run_salus("backup", "--data-dir", str(source), "--to", str(archive)))[0] == 0
    code, _, err = await run_salus("restore", "--data-dir", str(source), "--from", str(archive))
    assert code == 1
    assert "already holds a Salus data directory" in err
    code, _, err = await run_salus("backup", "--data-dir", str(source), "--to", str(archive))
    assert code == 1
    assert "already exists" in err
