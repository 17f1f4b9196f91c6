"""MIME walking under explicit limits, on the raw bytes of a message.

The header block is parsed by hand with a cap on the number of fields and on its bytes,
before any library sees it; the body is split at boundary delimiter lines (RFC 2046
§5.1.1) by offset into the one message buffer, so a deep or wide tree never copies the
message per level. Depth and part counts are checked while walking: the walk stops at
the first limit passed, so a MIME bomb costs no more than the limit.

This module only reads: it never decodes transfer encodings or writes anything. Callers
that need a part's bytes take `tree.body(part)`.
"""

from __future__ import annotations

import email.message
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field

CRLF = b"\r\n"


class MimeError(Exception):
    """The message cannot be read as MIME within the limits; `reason` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class HeaderLimitExceeded(MimeError):
    """Too many header fields, or a header block too large."""


class MimeLimitExceeded(MimeError):
    """MIME nesting too deep or too many parts."""


@dataclass(frozen=True, slots=True)
class Header:
    """One header field, unfolded (RFC 5322 §2.2.3). `name` keeps the sender's case."""

    name: str
    value: str

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    fields: tuple[Header, ...]
    size: int  # bytes of the header block, without the blank line

    def all(self, name: str) -> list[str]:
        key = name.lower()
        return [h.value for h in self.fields if h.key == key]

    def first(self, name: str) -> str | None:
        found = self.all(name)
        return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Limits:
    max_header_count: int
    max_header_bytes: int
    max_depth: int
    max_parts: int


@dataclass(slots=True)
class Part:
    """One MIME entity: its content type, parameters, and where its body lies."""

    content_type: str
    headers: HeaderBlock
    body_start: int
    body_end: int
    depth: int
    filename: str | None = None
    boundary: str | None = None
    children: list[Part] = field(default_factory=list)

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/")


@dataclass(frozen=True, slots=True)
class MimeTree:
    raw: bytes
    root: Part
    part_count: int
    max_depth: int

    def body(self, part: Part) -> bytes:
        return self.raw[part.body_start : part.body_end]

    def leaves(self) -> list[Part]:
        found: list[Part] = []
        stack = [self.root]
        while stack:
            part = stack.pop()
            if part.children:
                stack.extend(reversed(part.children))
            else:
                found.append(part)
        return found


def header_end(raw: bytes, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """(end of the header block, start of the body). Without a blank line the whole
    entity is header (RFC 5322 §3.5: the body is optional)."""
    stop = len(raw) if end is None else end
    if raw.startswith(CRLF, start):
        return start, start + 2
    blank = raw.find(b"\r\n\r\n", start, stop)
    if blank < 0:
        return stop, stop
    return blank + 2, blank + 4


def parse_headers(
    raw: bytes, *, max_count: int, max_bytes: int, start: int = 0, end: int | None = None
) -> tuple[HeaderBlock, int]:
    """Parse the header block at `start`; return it and the offset where the body starts.

    Raises HeaderLimitExceeded past the limits and MimeError on a line that is neither
    a field nor a continuation (RFC 5322 §2.2).
    """
    block_end, body_start = header_end(raw, start, end)
    size = block_end - start
    if size > max_bytes:
        raise HeaderLimitExceeded(
            f"the header block is {size} bytes; at most {max_bytes} are accepted"
        )
    fields: list[tuple[str, list[bytes]]] = []
    for number, line in enumerate(raw[start:block_end].split(CRLF), start=1):
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise MimeError("the first header line is a continuation line")
            fields[-1][1].append(line)
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or not _is_field_name(name):
            raise MimeError(f"header line {number} is not a 'Name: value' field")
        if len(fields) >= max_count:
            raise HeaderLimitExceeded(
                f"the message has more than {max_count} header fields"
            )
        fields.append((name.decode("ascii"), [value]))
    headers = tuple(
        Header(name, b"".join(chunks).decode("utf-8", "replace").strip())
        for name, chunks in fields
    )
    return HeaderBlock(headers, size), body_start


def _is_field_name(name: bytes) -> bool:
    # RFC 5322 §3.6.8: printable US-ASCII except colon (and space).
    return all(33 <= c <= 126 for c in name)


def walk(raw: bytes, limits: Limits) -> MimeTree:
    """Parse the whole message into a tree of parts, within `limits`."""
    walker = _Walker(raw, limits)
    root = walker.entity(0, len(raw), 1)
    return MimeTree(raw, root, walker.parts, walker.deepest)


class _Walker:
    def __init__(self, raw: bytes, limits: Limits) -> None:
        self.raw = raw
        self.limits = limits
        self.parts = 0
        self.deepest = 0

    def entity(self, start: int, end: int, depth: int) -> Part:
        limits = self.limits
        self.parts += 1
        if self.parts > limits.max_parts:
            raise MimeLimitExceeded(f"the message has more than {limits.max_parts} MIME parts")
        if depth > limits.max_depth:
            raise MimeLimitExceeded(f"MIME parts are nested more than {limits.max_depth} deep")
        self.deepest = max(self.deepest, depth)
        headers, body_start = parse_headers(
            self.raw,
            max_count=limits.max_header_count,
            max_bytes=limits.max_header_bytes,
            start=start,
            end=end,
        )
        part = _describe(headers, min(body_start, end), end, depth)
        if part.is_multipart:
            if not part.boundary:
                raise MimeError(f"a {part.content_type} part has no boundary parameter")
            for first, last in split_multipart(self.raw, part.body_start, end, part.boundary):
                part.children.append(self.entity(first, last, depth + 1))
        elif part.content_type == "message/rfc822":
            part.children.append(self.entity(part.body_start, end, depth + 1))
        return part


def _describe(headers: HeaderBlock, body_start: int, body_end: int, depth: int) -> Part:
    content_type, disposition = headers.first("Content-Type"), headers.first("Content-Disposition")
    if max(len(content_type or ""), len(disposition or "")) <= _PARAMS_CACHED_UP_TO:
        kind, boundary, filename = _params(content_type, disposition)
    else:
        kind, boundary, filename = _parse_params(content_type, disposition)
    return Part(
        content_type=kind,
        headers=headers,
        body_start=body_start,
        body_end=body_end,
        depth=depth,
        filename=filename,
        boundary=boundary,
    )


_PARAMS_CACHED_UP_TO = 512  # characters of a field; longer ones are parsed every time


def _parse_params(
    content_type: str | None, disposition: str | None
) -> tuple[str, str | None, str | None]:
    """(content type, multipart boundary, file name) as the email package reads the two
    fields (RFC 2045, 2183 and 2231 parameters)."""
    probe = email.message.Message()
    for name, value in (("Content-Type", content_type), ("Content-Disposition", disposition)):
        if value is not None:
            probe[name] = value
    boundary = probe.get_boundary() if probe.get_content_maintype() == "multipart" else None
    filename = probe.get_filename()
    return probe.get_content_type(), boundary, str(filename) if filename is not None else None


# The same fields come back message after message (text/plain; charset=utf-8, a client's
# attachment headers): the email package's parameter parse was a third of a MIME walk.
_params = functools.lru_cache(maxsize=1024)(_parse_params)


def split_multipart(raw: bytes, start: int, end: int, boundary: str) -> list[tuple[int, int]]:
    """Offsets of the body parts between delimiter lines (RFC 2046 §5.1.1).

    A delimiter is CRLF "--" boundary, then optional whitespace and CRLF; the close
    delimiter adds "--". The CRLF before a delimiter belongs to it, not to the part. The
    preamble and epilogue are skipped. A missing close delimiter ends the last part at
    the end of the body, as mail readers do.
    """
    dashes = b"--" + boundary.encode("ascii", "replace")
    parts: list[tuple[int, int]] = []
    open_at: int | None = None
    for part_end, after in _delimiter_candidates(raw, start, end, dashes):
        closing = raw.startswith(b"--", after, end)
        line_end = raw.find(CRLF, after, end)
        tail_end = end if line_end < 0 else line_end
        if raw[after + (2 if closing else 0) : tail_end].strip(b" \t"):
            continue  # a line that merely starts with the boundary text
        if open_at is not None:
            parts.append((open_at, max(part_end, open_at)))
        if closing:
            return parts
        open_at = end if line_end < 0 else line_end + 2
    if open_at is not None:
        parts.append((open_at, end))
    return parts


def _delimiter_candidates(
    raw: bytes, start: int, end: int, dashes: bytes
) -> Iterator[tuple[int, int]]:
    """(where the previous part ends, where the text after "--boundary" starts)."""
    if raw.startswith(dashes, start, end):
        yield start, start + len(dashes)
    marker = CRLF + dashes
    position = raw.find(marker, start, end)
    while position >= 0:
        yield position, position + len(marker)
        position = raw.find(marker, position + len(marker), end)
