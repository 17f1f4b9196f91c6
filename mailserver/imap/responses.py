"""Server responses (RFC 3501 §7): tagged status, untagged data and continuation
requests, each rendering itself. Response codes follow RFC 3501 §7.1 and RFC 5530."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from mailserver.imap import wire
from mailserver.imap.wire import Value


class Status(enum.StrEnum):
    OK = "OK"
    NO = "NO"
    BAD = "BAD"
    BYE = "BYE"
    PREAUTH = "PREAUTH"


@dataclass(frozen=True, slots=True)
class Tagged:
    tag: str
    status: Status
    text: str
    code: str | None = None

    def render(self) -> bytes:
        code = f"[{self.code}] " if self.code else ""
        return f"{self.tag} {self.status} {code}{self.text}\r\n".encode()


def ok(tag: str, text: str, code: str | None = None) -> Tagged:
    return Tagged(tag, Status.OK, text, code)


def untagged_status(status: Status, text: str, code: str | None = None) -> bytes:
    code_text = f"[{code}] " if code else ""
    return f"* {status} {code_text}{text}\r\n".encode()


def untagged(*parts: bytes | str) -> bytes:
    """`* ` + the parts joined by spaces + CRLF (parts already in wire form)."""
    encoded = [p.encode() if isinstance(p, str) else p for p in parts]
    return b"* " + b" ".join(encoded) + b"\r\n"


def continuation(text: str = "Ready") -> bytes:
    return f"+ {text}\r\n".encode()


def exists(count: int) -> bytes:
    return b"* %d EXISTS\r\n" % count


def expunge(seq: int) -> bytes:
    return b"* %d EXPUNGE\r\n" % seq


def fetch(seq: int, items: Sequence[tuple[str, Value]]) -> bytes:
    """`* seq FETCH (NAME value ...)`."""
    body = b" ".join(name.encode() + b" " + wire.encode(value) for name, value in items)
    return b"* %d FETCH (" % seq + body + b")\r\n"


def flag_list(names: Sequence[str]) -> wire.Atom:
    return wire.Atom("(" + " ".join(names) + ")")


class CommandFailed(Exception):
    """A command that ends NO or BAD; the text is shown to the user, so it says what to do
    and never carries internals."""

    def __init__(self, text: str, code: str | None = None, status: Status = Status.NO) -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.status = status

    def response(self, tag: str) -> Tagged:
        return Tagged(tag, self.status, self.text, self.code)


def bad(text: str) -> CommandFailed:
    return CommandFailed(text, status=Status.BAD)
