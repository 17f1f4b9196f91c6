"""Mailbox names on the wire: modified UTF-7 (RFC 3501 §5.1.3) both ways, and the
mailbox argument (an astring; "INBOX" in any case is INBOX)."""

from __future__ import annotations

import base64
import re

from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader
from mailserver.imap.grammar.strings import astring

_SHIFTED = re.compile(rb"&([A-Za-z0-9+,]*)-")


def decode(raw: bytes) -> str:
    """Modified UTF-7 to text; raise ParseError on a malformed name."""
    if any(b < 0x20 or b > 0x7E for b in raw):
        raise ParseError("mailbox names are 7-bit (modified UTF-7)")
    out: list[str] = []
    pos = 0
    for found in _SHIFTED.finditer(raw):
        out.append(raw[pos : found.start()].decode("ascii"))
        chunk = found.group(1)
        if not chunk:
            out.append("&")
        else:
            out.append(_decode_shifted(chunk))
        pos = found.end()
    tail = raw[pos:]
    if b"&" in tail:
        raise ParseError("malformed modified UTF-7 in a mailbox name")
    out.append(tail.decode("ascii"))
    return "".join(out)


def _decode_shifted(chunk: bytes) -> str:
    padded = chunk.replace(b",", b"/") + b"=" * (-len(chunk) % 4)
    try:
        text = base64.b64decode(padded, validate=True).decode("utf-16-be")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError("malformed modified UTF-7 in a mailbox name") from exc
    if not text or any(0x20 <= ord(c) <= 0x7E for c in text):
        # RFC 3501 §5.1.3: printable US-ASCII must represent itself.
        raise ParseError("malformed modified UTF-7 in a mailbox name")
    return text


def encode(name: str) -> bytes:
    """Text to modified UTF-7."""
    out = bytearray()
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.extend(b"&" + base64.b64encode(data).rstrip(b"=").replace(b"/", b",") + b"-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.extend(b"&-" if char == "&" else char.encode("ascii"))
        else:
            pending.append(char)
    flush()
    return bytes(out)


def mailbox(r: Reader) -> str:
    """mailbox = "INBOX" / astring, decoded from modified UTF-7."""
    return decode(astring(r, "a mailbox name"))
