"""The little MIME that S/MIME needs, on bytes, without re-encoding bodies.

`email`'s generator re-encodes whole bodies in Python (what makes `Encoding.SMIME` slow,
DESIGN section 7); signatures cover exact bytes anyway. So entities are split at the
first empty line, headers are read with `email`'s parameter parser (RFC 2045/2231), and
bodies stay the bytes they were. Line ends are canonical CRLF (RFC 8551 §3.1.1).
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.message import Message

from crypto.smime.der import Buffer

CRLF = b"\r\n"
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_MAX_DEPTH = 20


class MimeError(ValueError):
    """The bytes are not the MIME structure expected (the caller maps it)."""


@dataclass(frozen=True)
class Entity:
    """One MIME entity: its raw header block and its body, exactly as received."""

    headers: tuple[tuple[str, str], ...]
    body: bytes

    def get(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @functools.cached_property
    def _content_type(self) -> Message:
        msg = Message()
        msg["Content-Type"] = self.get("Content-Type") or "text/plain"
        return msg

    @property
    def content_type(self) -> str:
        """`type/subtype`, lower case (text/plain when absent, RFC 2045 §5.2)."""
        return self._content_type.get_content_type()

    def param(self, name: str) -> str | None:
        value = self._content_type.get_param(name)
        if value is None:
            return None
        return value if isinstance(value, str) else str(value[2])

    def decoded_body(self) -> bytes:
        """The body with its Content-Transfer-Encoding undone (base64 or identity)."""
        cte = (self.get("Content-Transfer-Encoding") or "7bit").strip().lower()
        if cte == "base64":
            try:
                # Characters outside the alphabet (line ends) are skipped, in C (RFC 2045 §6.8).
                return base64.b64decode(self.body)
            except binascii.Error as exc:
                raise MimeError("the base64 body does not decode") from exc
        if cte in ("7bit", "8bit", "binary"):
            return self.body
        raise MimeError(f"unexpected Content-Transfer-Encoding {cte!r}")


def parse(data: bytes) -> Entity:
    """Split an entity into unfolded headers and its body (bytes untouched)."""
    if data.startswith((b"\r\n", b"\n")):
        return Entity((), data[2:] if data.startswith(b"\r\n") else data[1:])
    match = _HEADER_END.search(data)
    head, body = (data, b"") if match is None else (data[: match.start()], data[match.end() :])
    headers: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n", _FOLD.sub(b"", head)):
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise MimeError("a header line has no name")
        headers.append((name.decode("ascii", "replace"), value.strip().decode("utf-8", "replace")))
    return Entity(tuple(headers), body)


def to_crlf(data: bytes) -> bytes:
    """Canonical line ends: every bare LF becomes CRLF (RFC 8551 §3.1.1); canonical
    input, the usual case, comes back as it is, after one C-speed scan."""
    if not has_bare_lf(data):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def has_bare_lf(data: bytes) -> bool:
    """True when an LF in `data` does not follow a CR. The io module's universal-newline
    scan records the kinds of line end it meets, in C (~0.4 ms per MB, where counting LFs
    and CRLFs with bytes.count costs ~1.2 ms: a two-byte pattern is searched slowly). It
    reads text: each 64 KB slice is viewed as latin-1 (one character per byte), a small
    copy that stays in cache; a CR at the end of a slice is held for the next one."""
    scan = io.IncrementalNewlineDecoder(None, translate=False)
    view = memoryview(data)
    for offset in range(0, len(view), _SCAN):
        scan.decode(str(view[offset : offset + _SCAN], "latin-1"))
    scan.decode("", final=True)
    seen = scan.newlines  # None, one kind ("\n", "\r", "\r\n") or a tuple of them
    return seen == "\n" or (isinstance(seen, tuple) and "\n" in seen)


_SCAN = 64 * 1024


def base64_body(data: Buffer, head: bytes = b"") -> bytes:
    """`head` (a header block, ending in its empty line) then `data` in base64, in
    76-character lines ending in CRLF (RFC 2045 §6.8)."""
    return base64_parts([data], head)


def base64_parts(parts: Iterable[Buffer], head: bytes = b"") -> bytes:
    """`base64_body` of the concatenation of `parts`, which is never made.

    A Python step per line (slicing, or base64.encodebytes' loop per 57 bytes) costs
    ~2.5 ms per MB, twice the encoding itself. Here each block of 256 lines is encoded
    by one C call and cut into lines by one `struct` unpack, which leaves ~0.25 ms per
    MB over the bare encoding. The head joins the blocks in the one final copy (the
    CRLF that ends it is the join's first)."""
    if head and not head.endswith(CRLF):
        raise ValueError("a header block ends with CRLF")
    pieces = [head[:-2]] if head else []
    rest: Buffer = b""
    for chunk in _chunks(parts, _CHUNK):
        if len(chunk) < _CHUNK:
            rest = chunk  # the last one
            break
        pieces.append(CRLF.join(_LINES.unpack(binascii.b2a_base64(chunk, newline=False))))
    encoded = binascii.b2a_base64(rest, newline=False)
    pieces.extend(encoded[i : i + _LINE] for i in range(0, len(encoded), _LINE))
    pieces.append(b"")  # the CRLF after the last line
    return CRLF.join(pieces)


def _chunks(parts: Iterable[Buffer], size: int) -> Iterator[Buffer]:
    """The concatenation of `parts` in slices of `size` bytes, then a last shorter one
    (maybe empty), copying only the slices that span two parts."""
    carry = bytearray()
    for part in parts:
        view = memoryview(part)
        if carry:
            take = size - len(carry)
            carry += view[:take]
            view = view[take:]
            if len(carry) < size:
                continue
            yield bytes(carry)
            carry = bytearray()
        whole = len(view) - len(view) % size
        for offset in range(0, whole, size):
            yield view[offset : offset + size]
        carry += view[whole:]
    yield bytes(carry)


_LINE = 76  # characters, from 57 bytes
_LINES = struct.Struct(f"{_LINE}s" * 256)
_CHUNK = 57 * 256


def header_block(headers: Sequence[tuple[str, str]]) -> bytes:
    return b"".join(f"{name}: {value}".encode("ascii") + CRLF for name, value in headers) + CRLF


@dataclass(frozen=True, slots=True)
class Multipart:
    parts: tuple[bytes, ...]
    epilogue: bytes
    closed: bool


def split_multipart(body: bytes, boundary: str) -> Multipart:
    """The body parts of a multipart body (RFC 2046 §5.1.1): the CRLF before each
    delimiter belongs to the delimiter, so each part is exactly the bytes signed. A
    delimiter is "--boundary" at the start of a line, then "--" for the last one, then
    only spaces or tabs to the end of the line (found with bytes.find: a regex over a
    1 MB body costs ~50 ms)."""
    marker = b"--" + boundary.encode("ascii", "replace")
    parts: list[bytes] = []
    start: int | None = None
    pos = 0
    while (at := body.find(marker, pos)) >= 0:
        pos = at + 1
        if at > 0 and body[at - 1] != 0x0A:
            continue
        after = at + len(marker)
        closing = body[after : after + 2] == b"--"
        eol = body.find(b"\n", after)
        end = len(body) if eol < 0 else eol + 1
        if body[after + 2 * closing : end].rstrip(b"\r\n").strip(b" \t"):
            continue  # a longer word that starts with the boundary
        if start is not None:
            cut = at - 2 if body[at - 2 : at] == CRLF else at - 1
            parts.append(body[start:cut])
        if closing:
            return Multipart(tuple(parts), body[end:], closed=True)
        start = pos = end
    if start is not None:
        parts.append(body[start:])
    return Multipart(tuple(parts), b"", closed=False)


def contains_signed_part(entity: Entity, depth: int = 0) -> bool:
    """True when a signed entity is nested somewhere below `entity` (a signature that
    covers part of a message only: RFC 8551 §3.5 "partially signed")."""
    if depth > _MAX_DEPTH or not entity.content_type.startswith("multipart/"):
        return False
    boundary = entity.param("boundary")
    if not boundary:
        return False
    for raw in split_multipart(entity.body, boundary).parts:
        try:
            part = parse(raw)
        except MimeError:
            continue
        if is_signed(part) or contains_signed_part(part, depth + 1):
            return True
    return False


def is_signed(entity: Entity) -> bool:
    ctype = entity.content_type
    if ctype == "multipart/signed":
        return True
    return ctype in PKCS7_MIME and (entity.param("smime-type") or "").lower() == "signed-data"


PKCS7_MIME = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
PKCS7_SIGNATURE = frozenset({"application/pkcs7-signature", "application/x-pkcs7-signature"})


def split_message(message: bytes) -> tuple[bytes, bytes]:
    """(outer header block, MIME entity) of an RFC 5322 message: the entity keeps the
    Content-* headers and the body; the outer block keeps the rest (From, To, Subject,
    Message-ID, ...) and MIME-Version, each header with its original bytes and folding."""
    match = _HEADER_END.search(message)
    head, body = (
        (message, b"") if match is None else (message[: match.start()], message[match.end() :])
    )
    outer: list[bytes] = []
    content: list[bytes] = []
    for field in re.split(rb"\r?\n(?![ \t])", to_crlf(head)):
        if not field:
            continue
        (content if field[:8].lower() == b"content-" else outer).append(field + CRLF)
    return b"".join(outer), b"".join(content) + CRLF + to_crlf(body)


def join_message(outer_headers: bytes, entity: bytes) -> bytes:
    """The message with `outer_headers` (from `split_message`) over a protected entity;
    adds MIME-Version (RFC 2045 §4) when the original message had none."""
    if re.search(rb"(?im)^mime-version:", outer_headers) is None:
        outer_headers += b"MIME-Version: 1.0" + CRLF
    return outer_headers + entity
