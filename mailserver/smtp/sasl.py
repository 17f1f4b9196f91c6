"""SASL messages of AUTH PLAIN, LOGIN and EXTERNAL (RFC 4954 §4, RFC 4616, RFC 4422
appendix A): bytes in, fields out; no I/O."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


class SaslError(Exception):
    """The client's SASL message cannot be decoded."""


@dataclass(frozen=True, slots=True)
class PlainCredentials:
    authzid: str
    authcid: str
    password: str = ""

    def __repr__(self) -> str:  # never show the password
        return f"PlainCredentials(authzid={self.authzid!r}, authcid={self.authcid!r})"

    @property
    def authorizes_other(self) -> bool:
        """True when the client asks to act as someone other than its login."""
        return bool(self.authzid) and self.authzid.lower() != self.authcid.lower()


def decode_response(text: str) -> bytes:
    """A base64 client response; "=" is the empty response (RFC 4954 §4)."""
    if text == "=":
        return b""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise SaslError("not base64") from exc


def parse_plain(message: bytes) -> PlainCredentials:
    """[authzid] NUL authcid NUL passwd, all UTF-8 (RFC 4616 §2)."""
    fields = message.split(b"\x00")
    if len(fields) != 3:
        raise SaslError("PLAIN needs exactly two NUL separators")
    try:
        authzid, authcid, password = (f.decode("utf-8") for f in fields)
    except UnicodeDecodeError as exc:
        raise SaslError("PLAIN fields must be UTF-8") from exc
    if not authcid or not password:
        raise SaslError("PLAIN needs a login and a password")
    return PlainCredentials(authzid, authcid, password)


def utf8_field(message: bytes) -> str:
    """One UTF-8 SASL field (a LOGIN user name or password, an EXTERNAL authzid)."""
    if b"\x00" in message:
        raise SaslError("NUL in a SASL field")
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SaslError("SASL fields must be UTF-8") from exc
