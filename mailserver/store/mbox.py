"""One stored message as an mbox entry (pure): what `salus directory mailbox export`
writes for a practitioner who leaves, in the conventions mutt writes and mbox readers
(Python's `mailbox.mbox` among them) read.

The format is mboxrd: a `From sender date` separator line, the message with LF line
ends (mbox readers split on LF; RFC 4155 §2 leaves the local convention to the file),
every line that reads `From ` after any number of `>` quoted with one more `>` (so a
reader can undo it exactly), and a blank line after the message. The store's metadata
travels in header fields: `X-Folder` (the store folder), mutt's `Status` (R when
\\Seen, O: the message is not new) and `X-Status` (A \\Answered, F \\Flagged,
D \\Deleted, T \\Draft), Dovecot's `X-Keywords`. Fields of those names already in the
message are dropped, so a sender cannot set them.
The message is otherwise the stored form, byte for byte: ciphertext for client-decrypt
mailboxes, the verified plaintext for server-decrypt ones.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from email.header import Header
from email.utils import getaddresses

from mailserver.store.flags import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, Flags

# The separator's sender when the message names none usable (RFC 4155 §2 asks for an
# address without spaces; mail systems write this one for their own messages).
NO_SENDER = "MAILER-DAEMON"
_X_STATUS = ((ANSWERED, "A"), (FLAGGED, "F"), (DELETED, "D"), (DRAFT, "T"))
_OURS = frozenset({b"status", b"x-status", b"x-folder", b"x-keywords"})
_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)
_ADDR_SPEC = re.compile(r"^[^\s@]+@[^\s@]+$")


def entry(message: bytes, *, folder: str, flags: Flags, internal_date: dt.datetime) -> bytes:
    """The mbox entry of one stored message, separator line and trailing blank line
    included."""
    text = message.replace(b"\r\n", b"\n")
    header, body = _split(text)
    fields = _fields(header)
    kept = b"".join(f for f in fields if _name(f) not in _OURS)
    content = kept + _store_fields(folder, flags) + body
    if not content.endswith(b"\n"):
        content += b"\n"
    return separator(_sender(fields), internal_date) + quote(content) + b"\n"


def separator(sender: str, internal_date: dt.datetime) -> bytes:
    """`From sender Www Mmm dd hh:mm:ss yyyy` in UTC, as asctime(3) writes it."""
    when = time.asctime(internal_date.astimezone(dt.UTC).timetuple())
    return f"From {sender} {when}\n".encode("ascii")


def quote(content: bytes) -> bytes:
    """mboxrd quoting: one more `>` before every `>*From ` line."""
    return _FROM_LINE.sub(rb">\1", content)


def _split(text: bytes) -> tuple[bytes, bytes]:
    """(header fields, blank line and body); a message without a blank line is all
    header, one that starts with it has no fields."""
    if text.startswith(b"\n"):
        return b"", text
    end = text.find(b"\n\n")
    if end < 0:
        return (text if text.endswith(b"\n") else text + b"\n"), b""
    return text[: end + 1], text[end + 1 :]


def _fields(header: bytes) -> list[bytes]:
    """Header fields, each with its continuation lines and line end (RFC 5322 §2.2.3)."""
    fields: list[bytes] = []
    for line in header.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def _name(field: bytes) -> bytes:
    return field.split(b":", 1)[0].strip().lower() if b":" in field else b""


def _store_fields(folder: str, flags: Flags) -> bytes:
    status = "RO" if flags.has(SEEN) else "O"
    lines = [f"X-Folder: {_header_text(folder)}", f"Status: {status}"]
    x_status = "".join(letter for bit, letter in _X_STATUS if flags.has(bit))
    if x_status:
        lines.append(f"X-Status: {x_status}")
    if flags.keywords:
        lines.append(f"X-Keywords: {flags.keywords_text}")
    return "".join(line + "\n" for line in lines).encode("ascii")


def _header_text(value: str) -> str:
    """ASCII as is, anything else as an RFC 2047 encoded word."""
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(linesep="\n")


def _sender(fields: list[bytes]) -> str:
    """The first address of the From field, when it is one without spaces."""
    for field in fields:
        if _name(field) == b"from":
            value = field.split(b":", 1)[1].decode("utf-8", "replace")
            for _, address in getaddresses([" ".join(value.split())]):
                if _ADDR_SPEC.match(address):
                    return address
            break
    return NO_SENDER
