"""Parsing an HTTP/1.1 request head (RFC 9112), strictly.

Pure: bytes in, a `Request` or an `HttpError` out. Anything ambiguous is refused rather
than guessed at: bare LF line ends, obsolete line folding, whitespace before a colon, a
missing or repeated Host, several Content-Length values, any Transfer-Encoding (no route
takes a chunked body). The path is matched as sent, never normalised or percent-decoded,
so `/../` and `%2e%2e` cannot reach another route.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

from mailserver.http.errors import HttpError

# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9112 §3.2.1 origin-form, restricted to visible ASCII.
_TARGET = re.compile(rb"/[\x21-\x7e]*")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
MAX_QUERY_FIELDS = 8


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request head. Header names are lowercase; each appears once."""

    method: str
    path: str
    query: Mapping[str, str]
    version: str
    headers: Mapping[str, str]

    @property
    def host(self) -> str:
        """The Host header without a port, lowercase."""
        host = self.headers.get("host", "").lower()
        if host.startswith("["):
            return host.partition("]")[0] + "]"
        return host.rpartition(":")[0] if ":" in host else host


def parse_head(block: bytes, *, max_fields: int) -> Request:
    """Parse the request line and header fields (`block` ends with CRLF CRLF)."""
    if not block.endswith(b"\r\n\r\n"):
        raise HttpError(HTTPStatus.BAD_REQUEST, "incomplete request head")
    lines = block[:-4].split(b"\r\n")
    if any(b"\n" in line or b"\r" in line for line in lines):
        raise HttpError(HTTPStatus.BAD_REQUEST, "line ends must be CRLF")
    method, target, version = _request_line(lines[0])
    if len(lines) - 1 > max_fields:
        raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "too many header fields")
    headers = _fields(lines[1:])
    if version == "HTTP/1.1" and "host" not in headers:
        raise HttpError(HTTPStatus.BAD_REQUEST, "Host header required")
    path, _, query = target.partition("?")
    return Request(method, path, _query(query), version, headers)


def _request_line(line: bytes) -> tuple[str, str, str]:
    parts = line.split(b" ")
    if len(parts) != 3:
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed request line")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed method")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        if version.startswith(b"HTTP/"):
            raise HttpError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed request line")
    if not _TARGET.fullmatch(target):
        raise HttpError(HTTPStatus.BAD_REQUEST, "request target must be an absolute path")
    return method.decode("ascii"), target.decode("ascii"), version.decode("ascii")


def _fields(lines: list[bytes]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            # RFC 9112 §5.2: obs-fold is refused with 400.
            raise HttpError(HTTPStatus.BAD_REQUEST, "folded header lines are not accepted")
        name, colon, value = line.partition(b":")
        # RFC 9112 §5.1: no whitespace between field name and colon.
        if not colon or not _TOKEN.fullmatch(name):
            raise HttpError(HTTPStatus.BAD_REQUEST, "malformed header field")
        value = value.strip(b" \t")
        if not _FIELD_VALUE.fullmatch(value):
            raise HttpError(HTTPStatus.BAD_REQUEST, "malformed header value")
        key = name.decode("ascii").lower()
        if key in headers and key in ("host", "content-length", "transfer-encoding"):
            raise HttpError(HTTPStatus.BAD_REQUEST, f"repeated {key} header")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _query(query: str) -> dict[str, str]:
    if not query:
        return {}
    try:
        pairs = urllib.parse.parse_qsl(
            query, strict_parsing=True, errors="strict", max_num_fields=MAX_QUERY_FIELDS
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed query string") from exc
    result: dict[str, str] = {}
    for key, value in pairs:
        if key in result:
            raise HttpError(HTTPStatus.BAD_REQUEST, "repeated query parameter")
        result[key] = value
    return result


def body_length(request: Request, *, limit: int) -> int:
    """How many body bytes follow the head (RFC 9112 §6.3), refusing what we do not take."""
    if "transfer-encoding" in request.headers:
        raise HttpError(HTTPStatus.NOT_IMPLEMENTED, "Transfer-Encoding is not accepted")
    text = request.headers.get("content-length")
    if text is None:
        return 0
    if not text.isdigit() or not text.isascii() or len(text) > 12:
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed Content-Length")
    length = int(text)
    if length > limit:
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    return length
