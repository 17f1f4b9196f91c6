"""What an encrypted OpenPGP message may contain, checked before and after decryption
(RFC 4880 §11.3 message grammar, §5.13 SEIPD, §5.14 MDC; RFC 9580 §5.13.1).

Before decryption (public structure, `MessageRefused` with a reason): Public-Key
Encrypted Session Key packets, then exactly one SEIPD v1 packet, and nothing after it.
A Symmetrically Encrypted Data packet (no MDC) is refused, never decrypted: pgpy would
decrypt it. AEAD packets (GnuPG's OCB, SEIPD v2) and passphrase-only messages are not
what Salus peers send.

After decryption (inside the integrity-protected data, so failures are the opaque
`DecryptionError`): at most one compression layer, bounded when inflated; one literal
data packet; signatures either after it with matching one-pass packets before it, or
(old style) before it.
"""

from __future__ import annotations

import bz2
import zlib
from dataclasses import dataclass

from crypto import policy
from crypto.errors import DecryptionError
from crypto.openpgp.errors import MessageRefused, Refusal
from crypto.openpgp.packets import PacketError, RawPacket, Tag, read_packets

_SEIPD_VERSION = 1
_MDC_LENGTH = 22  # 0xD3 0x14 and a SHA-1 digest (§5.14)


@dataclass(frozen=True, slots=True)
class Envelope:
    session_keys: list[RawPacket]  # PKESK packets, in order
    encrypted: RawPacket  # the one SEIPD v1 packet


@dataclass(frozen=True, slots=True)
class Contents:
    data: bytes  # the literal data (the inner MIME entity)
    signatures: list[RawPacket]


def envelope(message: bytes) -> Envelope:
    """The session keys and the integrity-protected data of a binary OpenPGP message."""
    try:
        packets = [p for p in read_packets(message) if p.tag != Tag.MARKER]
    except PacketError as exc:
        raise MessageRefused(Refusal.MALFORMED, "OpenPGP packet framing is broken") from exc
    tags = [p.tag for p in packets]
    if Tag.SED in tags:
        raise MessageRefused(
            Refusal.NO_INTEGRITY, "OpenPGP message without integrity protection (no MDC)"
        )
    if not tags or tags[-1] != Tag.SEIPD or tags.count(Tag.SEIPD) != 1:
        raise MessageRefused(
            Refusal.UNSUPPORTED_PACKET, "expected session keys then one SEIPD packet"
        )
    session_keys = [p for p in packets[:-1] if p.tag == Tag.PKESK]
    # Passphrase session keys (SKESK) may ride along; anything else may not.
    if not session_keys or any(p.tag not in (Tag.PKESK, Tag.SKESK) for p in packets[:-1]):
        raise MessageRefused(Refusal.UNSUPPORTED_PACKET, "no public-key session key")
    encrypted = packets[-1]
    if not encrypted.body or encrypted.body[0] != _SEIPD_VERSION:
        raise MessageRefused(Refusal.UNSUPPORTED_PACKET, "SEIPD packet of another version")
    return Envelope(session_keys, encrypted)


def without_mdc(plaintext: bytes) -> bytes:
    """The decrypted packets without the trailing MDC packet that pgpy checked."""
    if len(plaintext) < _MDC_LENGTH or plaintext[-_MDC_LENGTH:-20] != b"\xd3\x14":
        raise DecryptionError()
    return plaintext[:-_MDC_LENGTH]


def contents(plaintext: bytes) -> Contents:
    """The literal data and the signature packets of a decrypted message."""
    packets = _packets(plaintext)
    if len(packets) == 1 and packets[0].tag == Tag.COMPRESSED:
        packets = _packets(_inflate(packets[0].body))
    tags = [p.tag for p in packets]
    if tags.count(Tag.LITERAL) != 1:
        raise DecryptionError()
    at = tags.index(Tag.LITERAL)
    before, after = tags[:at], tags[at + 1 :]
    one_pass = before.count(Tag.ONE_PASS_SIGNATURE)
    well_formed = set(after) <= {Tag.SIGNATURE} and (
        before == [Tag.ONE_PASS_SIGNATURE] * len(after)
        or (not after and set(before) <= {Tag.SIGNATURE})
    )
    if not well_formed or (one_pass and one_pass != len(after)):
        raise DecryptionError()
    literal = packets[at].body
    signatures = [p for p in packets if p.tag == Tag.SIGNATURE]
    return Contents(_literal_data(literal), signatures)


def _packets(data: bytes) -> list[RawPacket]:
    try:
        return [p for p in read_packets(data) if p.tag != Tag.MARKER]
    except PacketError as exc:
        raise DecryptionError() from exc


def _literal_data(body: bytes) -> bytes:
    """§5.9: format octet, file name (length-prefixed), four-octet date, then data."""
    if len(body) < 6 or len(body) < 6 + body[1]:
        raise DecryptionError()
    return body[6 + body[1] :]


def _inflate(body: bytes) -> bytes:
    """§5.6, with a bound: a compressed packet may not inflate past the policy limit."""
    limit = policy.OPENPGP_MAX_PLAINTEXT
    if not body:
        raise DecryptionError()
    algorithm, data = body[0], body[1:]
    try:
        if algorithm == 0:
            return data
        if algorithm in (1, 2):  # ZIP = raw DEFLATE, ZLIB = with zlib framing
            inflater = zlib.decompressobj(-15 if algorithm == 1 else 15)
            out = inflater.decompress(data, limit + 1)
            if len(out) > limit or inflater.unconsumed_tail:
                raise DecryptionError()
            return out
        if algorithm == 3:
            bunzip = bz2.BZ2Decompressor()
            out = bunzip.decompress(data, max_length=limit + 1)
            if len(out) > limit or not bunzip.eof:
                raise DecryptionError()
            return out
    except (zlib.error, OSError, EOFError) as exc:
        raise DecryptionError() from exc
    raise DecryptionError()
