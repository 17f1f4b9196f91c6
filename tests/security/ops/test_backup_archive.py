"""Hostile or damaged backup archives are refused before anything is written."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from mailserver.backup import MANIFEST, BackupError, restore_backup, unpack


def _archive(
    path: Path,
    members: dict[str, bytes],
    *,
    manifest: dict[str, object] | None = None,
    extra: list[tarfile.TarInfo] | None = None,
) -> Path:
    files = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    body = json.dumps(manifest or {"format": 1, "backend": "sqlite", "files": files}).encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [(MANIFEST, body), *members.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return path


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", ["../evil", "data/../../evil", "/etc/evil", "other/file"])
def test_members_outside_data_and_database_are_refused(tmp_path: Path, name: str) -> None:
    archive = _archive(tmp_path / "a.tgz", {"data/salus.toml": b"", name: b"x"})
    staging = tmp_path / "staging"
    with pytest.raises(BackupError, match="unexpected entry"):
        unpack(archive, staging)
    assert not (tmp_path / "evil").exists()
    assert not staging.exists() or _files(staging) == []


def test_links_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("data/keys/service.key")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    manifest = {"format": 1, "backend": "sqlite", "files": {"data/keys/service.key": "0" * 64}}
    archive = _archive(tmp_path / "a.tgz", {}, manifest=manifest, extra=[link])
    with pytest.raises(BackupError, match="unexpected entry"):
        unpack(archive, tmp_path / "staging")


def test_a_tampered_member_is_refused(tmp_path: Path) -> None:
    members = {"data/salus.toml": b"[service]\n"}
    manifest = {
        "format": 1,
        "backend": "sqlite",
        "files": {"data/salus.toml": hashlib.sha256(b"something else").hexdigest()},
    }
    archive = _archive(tmp_path / "a.tgz", members, manifest=manifest)
    with pytest.raises(BackupError, match="does not match its checksum"):
        unpack(archive, tmp_path / "staging")


def test_a_missing_member_is_refused(tmp_path: Path) -> None:
    manifest = {"format": 1, "backend": "sqlite", "files": {"database/salus.db": "0" * 64}}
    archive = _archive(tmp_path / "a.tgz", {}, manifest=manifest)
    with pytest.raises(BackupError, match="incomplete"):
        unpack(archive, tmp_path / "staging")


def test_truncated_archive_and_foreign_tar_are_refused(tmp_path: Path) -> None:
    good = _archive(tmp_path / "a.tgz", {"data/salus.toml": b"[service]\n" * 1000})
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(BackupError):
        unpack(cut, tmp_path / "s1")
    foreign = tmp_path / "foreign.tar"
    with tarfile.open(foreign, "w") as tar:
        info = tarfile.TarInfo("readme")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(BackupError, match="not a Salus backup"):
        unpack(foreign, tmp_path / "s2")


async def test_refused_restore_leaves_the_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    archive = _archive(tmp_path / "a.tgz", {"data/salus.toml": b"x", "../escape": b"x"})
    with pytest.raises(BackupError):
        await restore_backup(archive, target, replace=False, actor="test")
    assert _files(target) == []
    assert not (tmp_path / "escape").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".salus-restore-")] == []
