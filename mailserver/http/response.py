"""HTTP/1.1 responses (RFC 9112 §4, §6): status line, a few headers, a sized body."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus


@dataclass(frozen=True, slots=True)
class Response:
    """What a route answers. The server adds Date, Content-Length and Connection."""

    status: HTTPStatus
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Sequence[tuple[str, str]] = ()

    @classmethod
    def text(
        cls, status: HTTPStatus, body: str, *, headers: Sequence[tuple[str, str]] = ()
    ) -> Response:
        return cls(status, body.encode(), headers=headers)

    def render(self, *, head_only: bool = False) -> bytes:
        """The bytes on the wire; the connection always closes after one response."""
        lines = [
            f"HTTP/1.1 {int(self.status)} {self.status.phrase}",
            f"Date: {formatdate(usegmt=True)}",
            "Server: salus",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff",
            "Connection: close",
            *(f"{name}: {value}" for name, value in self.headers),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body
