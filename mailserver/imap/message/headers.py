"""Header sections (RFC 5322 §2.2): fields as written, unfolding, and the field subsets
of BODY[HEADER.FIELDS (...)] (RFC 3501 §6.4.5)."""

from __future__ import annotations

import email.header
import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailserver.store.sealing import header_length

_FIELD_START = re.compile(rb"^([^\s:][^:\r\n]*?)[ \t]*:", re.MULTILINE)
_FOLD = re.compile(rb"\r?\n(?=[ \t])")


@dataclass(frozen=True, slots=True)
class HeaderField:
    name: str  # lowercase
    raw: bytes  # the whole field as written, with its line breaks

    @property
    def value(self) -> bytes:
        """The unfolded value, without the name and the surrounding white space."""
        body = self.raw.split(b":", 1)[1]
        return _FOLD.sub(b"", body).strip()


def split(message: bytes) -> tuple[bytes, bytes]:
    """(header section with its blank line, body)."""
    cut = header_length(message)
    return message[:cut], message[cut:]


def fields(header: bytes) -> list[HeaderField]:
    """The fields of a header section, in order; lines that are not fields are skipped."""
    out: list[HeaderField] = []
    lines = header.splitlines(keepends=True)
    current: list[bytes] = []
    name = ""
    for line in lines:
        if line[:1] in (b" ", b"\t") and current:
            current.append(line)
            continue
        if current:
            out.append(HeaderField(name, b"".join(current)))
            current = []
        found = _FIELD_START.match(line)
        if found is not None:
            name = found.group(1).decode("latin-1").lower()
            current = [line]
    if current:
        out.append(HeaderField(name, b"".join(current)))
    return out


def first(header_fields: Iterable[HeaderField], name: str) -> bytes | None:
    for field in header_fields:
        if field.name == name:
            return field.value
    return None


def subset(header: bytes, names: Iterable[str], *, exclude: bool) -> bytes:
    """HEADER.FIELDS / HEADER.FIELDS.NOT: the chosen fields as written, then CRLF."""
    wanted = {n.lower() for n in names}
    chosen = [
        f.raw if f.raw.endswith(b"\n") else f.raw + b"\r\n"
        for f in fields(header)
        if (f.name in wanted) != exclude
    ]
    return b"".join(chosen) + b"\r\n"


def decoded(value: bytes) -> str:
    """A header value with RFC 2047 encoded words decoded (for SEARCH), never raising."""
    text = value.decode("utf-8", "replace")
    if "=?" not in text:
        return text
    try:
        parts = email.header.decode_header(text)
    except (ValueError, LookupError):
        return text
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            try:
                out.append(chunk.decode(charset or "ascii", "replace"))
            except LookupError:
                out.append(chunk.decode("utf-8", "replace"))
        else:
            out.append(chunk)
    return "".join(out)
