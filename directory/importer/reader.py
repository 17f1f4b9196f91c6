"""Reading import files: a first pass that checks the whole file (readable, UTF-8, the
right header) before anything is written, then a stream of entries and rejections in
batches, with line numbers. Blocking file I/O: callers run it in a worker thread."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from directory.errors import DirectoryError
from directory.importer import csv_format, mssante
from directory.importer.entry import Entry, Rejection

FORMATS = ("mssante", "csv")

Parsed = Entry | Rejection


class ImportFileError(DirectoryError):
    """The file as a whole cannot be imported (unreadable, not UTF-8, wrong header)."""


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None


def _not_utf8(path: Path, number: int, raw: bytes, exc: UnicodeDecodeError) -> ImportFileError:
    column = len(raw[: exc.start].decode("utf-8")) + 1
    return ImportFileError(
        f"{path}: line {number} is not UTF-8 (byte 0x{raw[exc.start]:02x} at column "
        f"{column}); save the file as UTF-8"
    )


def _header_problem(first_line: str, file_format: str) -> str | None:
    if file_format == "mssante":
        return mssante.header_problem(first_line)
    header = next(csv.reader([first_line.lstrip("\ufeff")]), [])
    found = csv_format.layout(header)
    return found if isinstance(found, str) else None


def scan(path: Path, file_format: str) -> int:
    """Check the whole file; return its number of lines or raise ImportFileError."""
    if file_format not in FORMATS:
        raise ImportFileError(f"unknown format {file_format!r} (one of {', '.join(FORMATS)})")
    lines = 0
    with _open(path) as stream:
        for lines, raw in enumerate(stream, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _not_utf8(path, lines, raw, exc) from None
            if lines == 1:
                problem = _header_problem(text.lstrip("\ufeff").rstrip("\r\n"), file_format)
                if problem is not None:
                    raise ImportFileError(
                        f"{path}: line 1 is not a {file_format} header: {problem}"
                    )
    if lines == 0:
        raise ImportFileError(f"{path} is empty: a header line is expected first")
    return lines


def _mssante_rows(
    text: io.TextIOBase, local_domains: tuple[str, ...]
) -> Iterator[tuple[int, Parsed]]:
    for number, line in enumerate(text, start=1):
        if number == 1:
            continue
        stripped = line.rstrip("\r\n")
        if stripped.strip():
            yield number, mssante.parse_line(stripped, number, local_domains)


def _csv_rows(text: io.TextIOBase, local_domains: tuple[str, ...]) -> Iterator[tuple[int, Parsed]]:
    reader = csv.reader(text, strict=True)
    layout = csv_format.layout(next(reader))
    if isinstance(layout, str):  # scan() has checked it
        raise ImportFileError(layout)
    last = reader.line_num
    while True:
        number = last + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield number, Rejection(number, f"malformed CSV: {exc}")
            last = reader.line_num
            continue
        last = reader.line_num
        if any(value.strip() for value in row):
            yield number, csv_format.parse_row(layout, row, number, local_domains)


class BatchReader:
    """Entries and rejections of a checked file, a batch at a time."""

    def __init__(self, path: Path, file_format: str, local_domains: tuple[str, ...]) -> None:
        self._stream = path.open("r", encoding="utf-8-sig", newline="")
        rows = _mssante_rows if file_format == "mssante" else _csv_rows
        self._rows = rows(self._stream, local_domains)
        self.line = 0

    def read(self, count: int) -> list[Parsed]:
        """Up to `count` parsed rows; an empty list at the end of the file."""
        batch: list[Parsed] = []
        for number, parsed in self._rows:
            self.line = number
            batch.append(parsed)
            if len(batch) >= count:
                break
        return batch

    def close(self) -> None:
        self._stream.close()
