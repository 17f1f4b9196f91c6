"""PGP/MIME framing (RFC 3156): building multipart/encrypted entities and taking them
apart, strictly, on raw bytes.

Reading refuses anything but one multipart/encrypted entity with exactly the two parts
of §4: a message that carries plaintext parts beside an encrypted part is refused as a
whole, never decrypted and spliced (EFAIL's "direct exfiltration" relies on clients that
do). Preamble and epilogue are never returned. The nested method's multipart/signed
(§5, §6.1) is split here too.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import quopri
import re
import secrets
from dataclasses import dataclass

from crypto.openpgp.errors import MessageRefused, Refusal

CRLF = b"\r\n"
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_CONTINUATION = re.compile(rb"\r?\n[ \t]")
_ARMOR_BEGIN = b"-----BEGIN PGP MESSAGE-----"


@dataclass(frozen=True, slots=True)
class Part:
    """One MIME entity: its Content-Type (type/subtype lowercase, parameters) and the
    raw bytes of its body."""

    content_type: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes


def build_encrypted(armored: str) -> bytes:
    """The RFC 3156 §4 multipart/encrypted entity (header fields and body, CRLF) that
    carries the armored OpenPGP message."""
    boundary = "=_salus_" + secrets.token_hex(16)  # "_" never occurs in armor (base64)
    lines = [
        "Content-Type: multipart/encrypted;",
        ' protocol="application/pgp-encrypted";',
        f' boundary="{boundary}"',
        "Content-Transfer-Encoding: 7bit",
        "",
        "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)",
        f"--{boundary}",
        "Content-Type: application/pgp-encrypted",
        "Content-Description: PGP/MIME version identification",
        "",
        "Version: 1",
        "",
        f"--{boundary}",
        'Content-Type: application/octet-stream; name="encrypted.asc"',
        "Content-Description: OpenPGP encrypted message",
        'Content-Disposition: inline; filename="encrypted.asc"',
        "",
        armored.rstrip("\n").replace("\n", "\r\n"),
        "",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode("ascii")


def encrypted_payload(entity: bytes) -> bytes:
    """The armored OpenPGP message inside a PGP/MIME encrypted entity (RFC 3156 §4).
    MessageRefused unless the entity is exactly that."""
    top = parse_entity(entity)
    if top.content_type != "multipart/encrypted":
        if top.content_type.startswith("multipart/") and _holds_encrypted(top.body):
            raise MessageRefused(
                Refusal.MIXED_CONTENT,
                "an encrypted part sits beside other parts: refused, never spliced",
            )
        raise MessageRefused(Refusal.NOT_PGP_MIME, "not a PGP/MIME encrypted message")
    if top.params.get("protocol", "").lower() != "application/pgp-encrypted":
        raise MessageRefused(Refusal.NOT_PGP_MIME, "multipart/encrypted of another protocol")
    parts = split_multipart(top)
    if len(parts) != 2:
        raise MessageRefused(
            Refusal.MIXED_CONTENT, "PGP/MIME encrypted message with other than two parts"
        )
    control, payload = (parse_entity(p) for p in parts)
    if control.content_type != "application/pgp-encrypted" or not re.search(
        rb"^Version: 1\r?$", control.body, re.MULTILINE
    ):
        raise MessageRefused(Refusal.NOT_PGP_MIME, "PGP/MIME control part is not Version: 1")
    if payload.content_type != "application/octet-stream":
        raise MessageRefused(
            Refusal.NOT_PGP_MIME, "PGP/MIME payload is not application/octet-stream"
        )
    return decoded_body(payload)


def signed_parts(entity: bytes) -> tuple[bytes, bytes] | None:
    """(signed entity bytes, armored detached signature) if `entity` is an RFC 3156 §5
    multipart/signed with protocol application/pgp-signature; None if it is not
    multipart/signed at all. MessageRefused when it claims to be one and is not exactly
    two parts (an appended unsigned part is refused, not ignored)."""
    try:
        top = parse_entity(entity)
    except MessageRefused:  # not even a MIME entity: certainly not multipart/signed
        return None
    if top.content_type != "multipart/signed":
        return None
    if top.params.get("protocol", "").lower() != "application/pgp-signature":
        raise MessageRefused(Refusal.NOT_PGP_MIME, "multipart/signed of another protocol")
    parts = split_multipart(top)
    if len(parts) != 2:
        raise MessageRefused(Refusal.MIXED_CONTENT, "multipart/signed with other than two parts")
    signature = parse_entity(parts[1])
    if signature.content_type != "application/pgp-signature":
        raise MessageRefused(Refusal.NOT_PGP_MIME, "second part is not application/pgp-signature")
    return parts[0], decoded_body(signature)


def parse_entity(entity: bytes) -> Part:
    """Header fields and body of one entity (RFC 5322 §2.1; RFC 2045 §5 defaults)."""
    end = _HEADER_END.search(entity)
    if end is None:
        head, body = entity, b""
    else:
        head, body = entity[: end.start()], entity[end.end() :]
    headers: dict[str, str] = {}
    for line in _CONTINUATION.sub(b" ", head).splitlines():
        name, colon, value = line.partition(b":")
        if not colon:
            raise MessageRefused(Refusal.MALFORMED, "a header line without a colon")
        key = name.strip().lower().decode("latin-1")
        if key in headers and key.startswith("content-"):
            # Readers disagree on which one counts: refuse rather than guess (RFC 2045 §3).
            raise MessageRefused(Refusal.MALFORMED, f"{key} appears twice")
        headers.setdefault(key, value.strip().decode("latin-1"))
    parser = email.message.Message()
    parser["Content-Type"] = headers.get("content-type", "text/plain")
    params = {str(k).lower(): str(v) for k, v in parser.get_params(failobj=[])[1:]}
    return Part(parser.get_content_type(), params, headers, body)


def split_multipart(part: Part) -> list[bytes]:
    """The body parts between the boundary delimiter lines (RFC 2046 §5.1.1); the CRLF
    before each delimiter belongs to the delimiter. Preamble and epilogue are dropped."""
    boundary = part.params.get("boundary", "")
    if not 0 < len(boundary) <= 70:
        raise MessageRefused(Refusal.MALFORMED, "multipart without a usable boundary")
    body = part.body
    marker = b"--" + boundary.encode("latin-1")
    pieces: list[bytes] = []
    start = None
    pos = 0
    # bytes.find, not a regex: a regex that may start at any line costs ~40 ms per MB.
    while (found := body.find(marker, pos)) >= 0:
        pos = found + len(marker)
        closing = body.startswith(b"--", pos)
        line_end = body.find(b"\n", pos)
        rest = body[pos + (2 if closing else 0) : len(body) if line_end < 0 else line_end]
        if (found and body[found - 1] != 0x0A) or rest.strip(b" \t\r"):
            continue
        if start is not None:
            cut = found - 2 if body[found - 2 : found] == CRLF else found - 1
            pieces.append(body[start:cut])
        if closing:
            return pieces
        start = len(body) if line_end < 0 else line_end + 1
    raise MessageRefused(Refusal.MALFORMED, "multipart without a close delimiter")


def decoded_body(part: Part) -> bytes:
    """The body with its Content-Transfer-Encoding undone (RFC 2045 §6)."""
    encoding = part.headers.get("content-transfer-encoding", "7bit").lower()
    if encoding in ("7bit", "8bit", "binary"):
        return part.body
    if encoding == "base64":
        try:
            return base64.b64decode(part.body, validate=False)
        except binascii.Error as exc:
            raise MessageRefused(Refusal.MALFORMED, "bad base64 body") from exc
    if encoding == "quoted-printable":
        return quopri.decodestring(part.body)
    raise MessageRefused(Refusal.MALFORMED, "unknown Content-Transfer-Encoding")


def _holds_encrypted(body: bytes) -> bool:
    return b"application/pgp-encrypted" in body.lower() or _ARMOR_BEGIN in body
