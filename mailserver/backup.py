"""Backup and restore of one Salus operator: database, configuration and key material in
one tar archive (mode 0600), so that a restore on a new machine starts as the old one.

What goes in:
- `database/salus.db`: on SQLite, a consistent copy made with SQLite's online backup API
  while the server runs (one read transaction; WAL lets writers go on);
  `database/salus.pgdump`: on PostgreSQL, `pg_dump --format=custom` (one snapshot).
- `data/…`: every regular file of the data directory except the live database files
  (salus.toml, the CA, the TLS certificate and its sealed key, …), and the service key
  with its retired predecessors (`data/keys/service.key*`), also when
  SALUS_SERVICE_KEY_FILE keeps it elsewhere.
- `salus-backup.json`: format, backend, creation time, and each member's SHA-256.

The archive holds the service key beside the data it protects: whoever has it can read
every message. Keep backups where the service key itself may be kept.

A restore verifies every checksum in a staging directory before it touches the target,
refuses archive members that are not plain files under `data/` or `database/`, puts the
files in place, loads the database (file move on SQLite, `pg_restore --single-transaction`
on PostgreSQL), checks the audit chain, and appends a `backup.restore` audit entry.
The server must be stopped during a restore.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.engine import make_url

from config.settings import CONFIG_FILE_NAME, Settings, load_settings
from crypto import service_key
from storage import audit
from storage.database import Database
from storage.errors import AuditChainBroken

MANIFEST = "salus-backup.json"
FORMAT = 1
SQLITE_MEMBER = "database/salus.db"
PGDUMP_MEMBER = "database/salus.pgdump"
KEYS_PREFIX = "data/keys/"
_SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


class BackupError(Exception):
    """A backup or restore that cannot be done; the sentence says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupSummary:
    archive: Path
    backend: str
    files: int
    bytes: int


@dataclass(frozen=True, slots=True)
class RestoreSummary:
    data_dir: Path
    backend: str
    files: int
    audit_entries: int


# --------------------------------------------------------------------------- backup


async def write_backup(
    settings: Settings, db: Database, target: Path, *, actor: str
) -> BackupSummary:
    """Write the archive to `target` (atomically, 0600) and audit it."""
    target = target.absolute()
    if target.exists():
        raise BackupError(f"{target} already exists: choose a new file name")
    backend = "sqlite" if settings.database_url.startswith("sqlite") else "postgresql"
    with tempfile.TemporaryDirectory(prefix="salus-backup-") as work:
        dump = Path(work) / "database"
        if backend == "sqlite":
            await asyncio.to_thread(sqlite_copy, sqlite_path(settings.database_url), dump)
            member = SQLITE_MEMBER
        else:
            await pg_dump(settings.database_url, dump)
            member = PGDUMP_MEMBER
        files = {member: dump, **data_files(settings, exclude=target)}
        size = await asyncio.to_thread(_write_archive, target, backend, files)
    detail = {"backend": backend, "files": len(files)}
    await audit.record(
        db, audit.AuditEvent(actor, "backup.write", str(target), "ok", "cli", detail)
    )
    return BackupSummary(target, backend, len(files), size)


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise BackupError("the SQLite database URL names no file")
    return Path(database)


def sqlite_copy(source: Path, target: Path) -> None:
    """SQLite online backup (one step, so concurrent writers never restart it), then a
    quick integrity check of the copy."""
    if not source.exists():
        raise BackupError(f"the database {source} does not exist")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=-1)
        (status,) = dst.execute("PRAGMA quick_check").fetchone()
        if status != "ok":
            raise BackupError(f"the database copy fails its integrity check: {status}")
    finally:
        dst.close()
        src.close()


def data_files(settings: Settings, *, exclude: Path) -> dict[str, Path]:
    """Archive name → file, for the data dir (minus the live database) and the keys."""
    data_dir = settings.data_dir.absolute()
    skip = {exclude}
    if settings.database_url.startswith("sqlite"):
        live = sqlite_path(settings.database_url).absolute()
        skip |= {Path(f"{live}{suffix}") for suffix in _SQLITE_SIDE_FILES}
    files: dict[str, Path] = {}
    for path in sorted(_regular_files(data_dir)):
        if path not in skip and not path.name.startswith(".salus-backup-"):
            files["data/" + path.relative_to(data_dir).as_posix()] = path
    key = service_key.key_path(settings.data_dir).absolute()
    for path in [key, *sorted(key.parent.glob(key.name + ".*"))]:
        if path.is_file():
            files[KEYS_PREFIX + "service.key" + path.name[len(key.name) :]] = path
    return files


def _regular_files(root: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]
        for name in names:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path


def _write_archive(target: Path, backend: str, files: Mapping[str, Path]) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".salus-backup-{os.getpid()}-{target.name}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar:
                manifest = _manifest(backend, files)
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode = len(manifest), 0o600
                info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
                tar.addfile(info, io.BytesIO(manifest))
                for name, path in files.items():
                    tar.add(path, arcname=name, recursive=False)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, target)
        _fsync_dir(target.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target.stat().st_size


def _manifest(backend: str, files: Mapping[str, Path]) -> bytes:
    body = {
        "format": FORMAT,
        "backend": backend,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": {name: _sha256(path) for name, path in files.items()},
    }
    return json.dumps(body, indent=2, sort_keys=True).encode()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- PostgreSQL


def _pg_environment(url: str) -> dict[str, str]:
    """libpq variables for the URL, so that no password appears on a command line."""
    parsed = make_url(url)
    env = dict(os.environ)
    for variable, value in (
        ("PGHOST", parsed.host),
        ("PGPORT", str(parsed.port) if parsed.port else None),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
        ("PGDATABASE", parsed.database),
    ):
        if value:
            env[variable] = str(value)
    return env


async def _run_pg_tool(tool: str, args: list[str], url: str) -> None:
    if shutil.which(tool) is None:
        raise BackupError(
            f"{tool} is not installed: install the PostgreSQL client tools (Debian "
            "postgresql-client) of the server's major version, or run it yourself as "
            "docs/operations.md shows"
        )
    process = await asyncio.create_subprocess_exec(
        tool,
        *args,
        env=_pg_environment(url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        reason = stderr.decode(errors="replace").strip().splitlines()
        raise BackupError(f"{tool} failed: {reason[-1] if reason else process.returncode}")


async def pg_dump(url: str, target: Path) -> None:
    """One consistent snapshot in pg_dump's custom format."""
    await _run_pg_tool("pg_dump", ["--format=custom", "--no-owner", f"--file={target}"], url)


async def pg_restore(url: str, dump: Path) -> None:
    """Replace the schema objects of the target database with the dump's, all or nothing."""
    await _run_pg_tool(
        "pg_restore",
        [
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={make_url(url).database}",
            str(dump),
        ],
        url,
    )


# --------------------------------------------------------------------------- restore


async def restore_backup(
    archive: Path, data_dir: Path, *, replace: bool, actor: str
) -> RestoreSummary:
    """Restore `archive` into `data_dir` (which must be empty unless `replace`)."""
    if not replace and (data_dir / CONFIG_FILE_NAME).exists():
        raise BackupError(
            f"{data_dir} already holds a Salus data directory: restore into an empty "
            "directory, or pass --replace (with the server stopped)"
        )
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(prefix=".salus-restore-", dir=data_dir.parent) as work:
        staging = Path(work)
        manifest = await asyncio.to_thread(unpack, archive, staging)
        files = await asyncio.to_thread(_place_files, staging, data_dir)
        settings = load_settings(data_dir)
        if manifest["backend"] == "sqlite":
            await asyncio.to_thread(_place_sqlite, staging / SQLITE_MEMBER, settings)
        else:
            await pg_restore(settings.database_url, staging / PGDUMP_MEMBER)
    return RestoreSummary(
        data_dir, manifest["backend"], files, await _audit_restore(settings, archive, actor)
    )


def unpack(archive: Path, staging: Path) -> dict[str, Any]:
    """Extract into `staging` after checking every member; verify every checksum."""
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            manifest = _read_manifest(tar)
            expected: dict[str, str] = manifest["files"]
            members = [m for m in tar.getmembers() if m.name != MANIFEST]
            for member in members:
                _check_member(member, expected)
            tar.extractall(staging, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{archive} cannot be read as a Salus backup: {exc}") from exc
    missing = sorted(set(expected) - {m.name for m in members})
    if missing:
        raise BackupError(f"the backup is incomplete: {missing[0]} is missing")
    for name, digest in expected.items():
        if _sha256(staging / name) != digest:
            raise BackupError(f"the backup is damaged: {name} does not match its checksum")
    return manifest


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        stream = tar.extractfile(MANIFEST)
    except KeyError:
        stream = None
    if stream is None:
        raise BackupError(f"not a Salus backup: no {MANIFEST}")
    manifest: dict[str, Any] = json.loads(stream.read(1 << 20))
    if manifest.get("format") != FORMAT or manifest.get("backend") not in ("sqlite", "postgresql"):
        raise BackupError("this backup was written by an incompatible version of Salus")
    return manifest


def _check_member(member: tarfile.TarInfo, expected: Mapping[str, str]) -> None:
    path = PurePosixPath(member.name)
    if (
        not member.isfile()
        or path.is_absolute()
        or ".." in path.parts
        or path.parts[0] not in ("data", "database")
        or member.name not in expected
    ):
        raise BackupError(f"the backup holds an unexpected entry {member.name!r}: refused")


def _place_files(staging: Path, data_dir: Path) -> int:
    """Move the staged data files into the data dir (keys to where the server reads them)."""
    key_target = service_key.key_path(data_dir)
    external_key = key_target != data_dir / "keys" / "service.key"
    count = 0
    for source in sorted(_regular_files(staging / "data")):
        name = source.relative_to(staging / "data").as_posix()
        if external_key and ("data/" + name).startswith(KEYS_PREFIX + "service.key"):
            _check_external_key(
                source, key_target.parent / source.name.replace("service.key", key_target.name, 1)
            )
            continue
        target = data_dir / name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.replace(source, target)
        count += 1
    return count


def _check_external_key(archived: Path, current: Path) -> None:
    if not current.exists() or current.read_bytes() != archived.read_bytes():
        raise BackupError(
            f"the service key in the backup is not the one at {current} "
            f"(SALUS_SERVICE_KEY_FILE): put the backup's key there first, or the restored "
            "data will not open"
        )


def _place_sqlite(copy: Path, settings: Settings) -> None:
    live = sqlite_path(settings.database_url)
    live.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for suffix in _SQLITE_SIDE_FILES[1:]:
        Path(f"{live}{suffix}").unlink(missing_ok=True)
    os.replace(copy, live)
    os.chmod(live, 0o600)
    _fsync_dir(live.parent)


async def _audit_restore(settings: Settings, archive: Path, actor: str) -> int:
    db = Database(settings.database_url, pool_size=1)
    try:
        try:
            entries = await audit.verify(db)
        except AuditChainBroken as exc:
            raise BackupError(
                f"the restored audit trail is broken at entry {exc.seq}: {exc.reason}"
            ) from exc
        event = audit.AuditEvent(actor, "backup.restore", str(archive.absolute()), "ok", "cli")
        await audit.record(db, event)
    finally:
        await db.dispose()
    return entries
