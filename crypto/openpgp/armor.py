"""ASCII armor (RFC 4880 §6.2) for OpenPGP messages and keys.

pgpy's own un-armoring takes the first block it finds in any text and ignores the rest,
and insists on the CRC-24 line. The rules here: exactly one block of the expected kind,
nothing but whitespace around it. The CRC-24 footer is neither written nor checked
(RFC 9580 §6.1: writers SHOULD NOT emit it; integrity is the MDC's and the signature's
job), which also saves a pure-Python CRC over every byte; gpg 2.2 reads armor without it.
"""

from __future__ import annotations

import base64
import binascii
import re

_LINE = 64

_BEGIN = re.compile(rb"\A\s*-----BEGIN PGP (?P<kind>[A-Z ,/0-9]+)-----[ \t]*\r?\n")
_HEADER = re.compile(rb"[^\r\n:]+: [^\r\n]*\r?\n")
_BLANK = re.compile(rb"[ \t]*\r?\n")


class ArmorError(ValueError):
    """The text is not one well-formed armor block of the expected kind."""


def armor(kind: str, data: bytes) -> str:
    """`data` as one armor block "-----BEGIN PGP {kind}-----", LF line ends."""
    b64 = base64.b64encode(data).decode("ascii")
    lines = [b64[i : i + _LINE] for i in range(0, len(b64), _LINE)]
    return "\n".join([f"-----BEGIN PGP {kind}-----", "", *lines, f"-----END PGP {kind}-----", ""])


def armor_kind(text: bytes) -> str | None:
    """The kind of the armor block `text` starts with ("MESSAGE", "PUBLIC KEY BLOCK"…)."""
    match = _BEGIN.match(text)
    return None if match is None else match["kind"].decode("ascii")


def dearmor(text: bytes, *kinds: str) -> bytes:
    """The binary content of the only armor block in `text`, whose kind is in `kinds`."""
    begin = _BEGIN.match(text)
    if begin is None or begin["kind"].decode("ascii") not in kinds:
        raise ArmorError(f"expected one PGP {' or '.join(kinds)} armor block")
    pos = begin.end()
    while header := _HEADER.match(text, pos):
        pos = header.end()
    blank = _BLANK.match(text, pos)
    if blank is None:
        raise ArmorError("armor headers do not end with a blank line")
    end_line = b"-----END PGP " + begin["kind"] + b"-----"
    stop = text.find(end_line, blank.end())
    if stop < 0 or text[stop + len(end_line) :].strip():
        raise ArmorError("armor block has no END line or text follows it")
    body = text[blank.end() : stop].rstrip()
    last = body.rfind(b"\n") + 1
    if body[last : last + 1] == b"=" and len(body) - last == 5:  # the CRC-24 line
        body = body[:last]
    try:
        return base64.b64decode(body.translate(None, b" \t\r\n"), validate=True)
    except binascii.Error as exc:
        raise ArmorError("armor body is not base64") from exc
