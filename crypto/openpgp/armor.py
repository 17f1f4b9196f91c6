"""ASCII armor (RFC 4880 §6.2) for OpenPGP messages and keys.

pgpy's own un-armoring takes the first block it finds in any text and ignores the rest,
and insists on the CRC-24 line. The rules here: exactly one block of the expected kind,
nothing but whitespace around it. The CRC-24 footer is written but not
checked. Written, because gpg 2.2 (Debian 12's, what many clients run) misreads armor
without it whenever the data's length is a multiple of 3: the base64 then ends without
`=` padding and gpg takes the END line for data ("invalid packet (ctb=10)"; measured,
docs/decisions.md). Not checked, because RFC 9580 §6.1 says a reader must not reject an
object for a missing or wrong footer: integrity is the MDC's and the signature's job.
The CRC runs in C (anycrc): a pure-Python CRC-24 costs ~70 ms per MB.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

import anycrc

_LINE = 64
_CRC24: Final = anycrc.Model("CRC24-OPENPGP")  # RFC 4880 §6.1

_BEGIN = re.compile(rb"\A\s*-----BEGIN PGP (?P<kind>[A-Z ,/0-9]+)-----[ \t]*\r?\n")
_HEADER = re.compile(rb"[^\r\n:]+: [^\r\n]*\r?\n")
_BLANK = re.compile(rb"[ \t]*\r?\n")


class ArmorError(ValueError):
    """The text is not one well-formed armor block of the expected kind."""


def armor(kind: str, data: bytes) -> str:
    """`data` as one armor block "-----BEGIN PGP {kind}-----", LF line ends."""
    b64 = base64.b64encode(data).decode("ascii")
    lines = [b64[i : i + _LINE] for i in range(0, len(b64), _LINE)]
    crc = "=" + base64.b64encode(crc24(data).to_bytes(3, "big")).decode("ascii")
    return "\n".join(
        [f"-----BEGIN PGP {kind}-----", "", *lines, crc, f"-----END PGP {kind}-----", ""]
    )


def crc24(data: bytes) -> int:
    """The armor checksum of `data` (RFC 4880 §6.1: CRC-24, init 0xB704CE)."""
    return int(_CRC24.calc(data))


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
