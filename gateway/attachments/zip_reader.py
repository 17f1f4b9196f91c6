"""Bounded zip reading: every entry's real bytes counted while streaming, nothing on disk.

Caps (DESIGN section 6): the archive's own size, the entry count (counted from the central
directory's signatures before `zipfile` builds its index), real decompressed bytes per entry
and in total (counted by reading, never trusting the declared sizes), the compression ratio
per entry, and no nested archive. Entry names are checked as names only (no absolute
path, drive letter, backslash, `..`, control character or duplicate, compared
case-insensitively) and are never joined to a filesystem path.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass

from gateway.attachments.errors import AttachmentError

ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP = b"PK\x05\x06"
_CENTRAL_ENTRY = b"PK\x01\x02"
_EOCD_LEN = 22
_NESTED_MAGICS = (ZIP_MAGIC, _EMPTY_ZIP, b"PK\x07\x08", b"\x1f\x8b")  # zip, gzip
_CHUNK = 64 * 1024
_RATIO_FLOOR = 64 * 1024  # small entries may compress well without being bombs
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f\\]|^[A-Za-z]:|^/")
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    KeyError,
    IndexError,
    OverflowError,
    UnicodeDecodeError,
)


@dataclass(frozen=True, slots=True)
class ZipLimits:
    max_bytes: int = 32 * 1024 * 1024  # the archive itself
    max_entries: int = 1_000
    max_entry_bytes: int = 64 * 1024 * 1024  # real, decompressed
    max_total_bytes: int = 128 * 1024 * 1024  # real, decompressed, all entries
    max_ratio: int = 100  # decompressed / compressed, per entry


def read_zip(data: bytes, limits: ZipLimits, error: type[AttachmentError]) -> dict[str, bytes]:
    """Entry name → content for every file entry (directories are checked, not returned)."""
    if len(data) > limits.max_bytes:
        raise error(f"zip of {len(data)} bytes is over the {limits.max_bytes}-byte limit")
    _check_central_directory(data, limits, error)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_names([i.filename for i in infos], error)
            return _read_entries(archive, infos, limits, error)
    except _ZIP_ERRORS as exc:
        raise error(f"zip archive cannot be read ({exc})") from None


def _check_central_directory(data: bytes, limits: ZipLimits, error: type[AttachmentError]) -> None:
    eocd = data.rfind(_EMPTY_ZIP, max(0, len(data) - 65_535 - _EOCD_LEN))
    if not data.startswith(ZIP_MAGIC) or eocd < 0 or len(data) < eocd + _EOCD_LEN:
        raise error("not a zip archive (no local header or end of central directory)")
    entries, cd_size, cd_offset = struct.unpack("<HII", data[eocd + 10 : eocd + 20])
    if entries == 0xFFFF or cd_offset == 0xFFFFFFFF:
        raise error("ZIP64 archives are not accepted")
    counted = data.count(_CENTRAL_ENTRY, 0, eocd)
    if max(entries, counted) > limits.max_entries:
        raise error(f"zip has more than {limits.max_entries} entries")
    if cd_size > eocd:
        raise error("zip central directory is larger than the archive")


def _check_names(names: list[str], error: type[AttachmentError]) -> None:
    seen: set[str] = set()
    for name in names:
        parts = name.rstrip("/").split("/")
        if not name or _BAD_NAME.search(name) or any(p in ("", ".", "..") for p in parts):
            raise error(f"zip entry name {name[:100]!r} is not a safe relative name")
        key = name.casefold()
        if key in seen:
            raise error(f"duplicate zip entry {name[:100]!r}")
        seen.add(key)


def _read_entries(
    archive: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    limits: ZipLimits,
    error: type[AttachmentError],
) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise error(f"zip entry {info.filename!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise error(f"zip entry {info.filename!r} uses an unsupported compression method")
        if info.is_dir():
            continue
        content = _read_entry(archive, info, limits, limits.max_total_bytes - total, error)
        if content.startswith(_NESTED_MAGICS):
            raise error(
                f"zip entry {info.filename!r} is itself an archive (nested archives are refused)"
            )
        total += len(content)
        contents[info.filename] = content
    return contents


def _read_entry(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    limits: ZipLimits,
    remaining: int,
    error: type[AttachmentError],
) -> bytes:
    cap = min(limits.max_entry_bytes, max(limits.max_ratio * info.compress_size, _RATIO_FLOOR))
    chunks: list[bytes] = []
    size = 0
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > remaining:
                raise error(f"zip expands to more than {limits.max_total_bytes} bytes in total")
            if size > cap:
                if cap == limits.max_entry_bytes:
                    raise error(f"zip entry {info.filename!r} expands past {cap} bytes")
                raise error(
                    f"zip entry {info.filename!r} expands more than "
                    f"{limits.max_ratio} times its compressed size"
                )
            chunks.append(chunk)
    return b"".join(chunks)


def entry_names(data: bytes, limits: ZipLimits, error: type[AttachmentError]) -> list[str]:
    """The entry names from the central directory, under the same caps, nothing decompressed."""
    if len(data) > limits.max_bytes:
        raise error(f"zip of {len(data)} bytes is over the {limits.max_bytes}-byte limit")
    _check_central_directory(data, limits, error)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except _ZIP_ERRORS as exc:
        raise error(f"zip archive cannot be read ({exc})") from None
