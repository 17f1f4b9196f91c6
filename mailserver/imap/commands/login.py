"""Commands of the not-authenticated state: STARTTLS (RFC 3501 §6.2.1), LOGIN (§6.2.3),
AUTHENTICATE (§6.2.2, with the RFC 4959 initial response)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailserver.imap.grammar import atoms, strings
from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader

# RFC 4959: the initial response in base64, or "=" for an empty one.
_BASE64 = re.compile(rb"=|(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


@dataclass(frozen=True, slots=True)
class StartTls:
    tag: str


@dataclass(frozen=True, slots=True)
class Login:
    tag: str
    user: str
    password: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    tag: str
    mechanism: str
    initial: bytes | None  # base64 text as sent; b"=" is an empty response


def parse_login(tag: str, r: Reader) -> Login:
    r.sp()
    user = strings.text_of(strings.astring(r, "a user name"), "the user name")
    r.sp()
    password = strings.text_of(strings.astring(r, "a password"), "the password")
    return Login(tag, user, password)


def parse_authenticate(tag: str, r: Reader) -> Authenticate:
    r.sp()
    mechanism = atoms.atom(r, "a SASL mechanism").upper()
    initial = None
    if r.skip(b" "):
        found = r.match(_BASE64)
        if found is None or not found.group(0):
            raise ParseError("initial response is not base64")
        initial = found.group(0)
    return Authenticate(tag, mechanism, initial)
