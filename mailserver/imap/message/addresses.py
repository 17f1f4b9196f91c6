"""Address lists (RFC 5322 §3.4) as ENVELOPE carries them (RFC 3501 §7.4.2): each
address is (name adl mailbox host); a group is opened by (NIL NIL name NIL) and closed
by (NIL NIL NIL NIL). Values stay as written (encoded words are the client's to decode).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ADDRESSES = 500
MISSING_MAILBOX = b"MISSING_MAILBOX"
MISSING_DOMAIN = b"MISSING_DOMAIN"


@dataclass(frozen=True, slots=True)
class Address:
    name: bytes | None
    adl: bytes | None
    mailbox: bytes | None
    host: bytes | None


GROUP_END = Address(None, None, None, None)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word" (atom or quoted), "comment", "angle", or a special: , : ; @ .
    text: bytes


def _scan_delimited(raw: bytes, i: int, close: int, nested: bool) -> tuple[bytes, int]:
    """The content from raw[i] (an opening character) to its closing one."""
    depth, j, out = 1, i + 1, bytearray()
    opening = raw[i]
    while j < len(raw):
        c = raw[j]
        if c == 0x5C and j + 1 < len(raw):  # backslash quotes the next character
            out.append(raw[j + 1])
            j += 2
            continue
        if nested and c == opening:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return bytes(out), j + 1
        out.append(c)
        j += 1
    return bytes(out), j


def tokens(raw: bytes) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(raw):
        c = raw[i : i + 1]
        if c.isspace():
            i += 1
        elif c == b'"':
            text, i = _scan_delimited(raw, i, ord('"'), nested=False)
            out.append(_Token("word", text))
        elif c == b"(":
            text, i = _scan_delimited(raw, i, ord(")"), nested=True)
            out.append(_Token("comment", text))
        elif c == b"<":
            end = raw.find(b">", i)
            end = len(raw) if end < 0 else end
            out.append(_Token("angle", raw[i + 1 : end].strip()))
            i = end + 1
        elif c in (b",", b":", b";", b"@", b"."):
            out.append(_Token(c.decode(), c))
            i += 1
        else:
            j = i
            while j < len(raw) and raw[j : j + 1] not in b'"(<,:;@. \t\r\n':
                j += 1
            out.append(_Token("word", raw[i:j]))
            i = j
    return out


def parse(raw: bytes | None) -> list[Address]:
    """The addresses of a header value; [] when there is none."""
    if raw is None:
        return []
    out: list[Address] = []
    current: list[_Token] = []
    in_group = False
    for token in tokens(raw):
        if token.kind == ":" and not in_group and not any(t.kind == "@" for t in current):
            out.append(Address(None, None, _phrase(current) or b"", None))
            current, in_group = [], True
        elif token.kind == ";" and in_group:
            out.extend(_mailbox(current))
            out.append(GROUP_END)
            current, in_group = [], False
        elif token.kind == ",":
            out.extend(_mailbox(current))
            current = []
        else:
            current.append(token)
        if len(out) > MAX_ADDRESSES:
            break
    out.extend(_mailbox(current))
    if in_group:
        out.append(GROUP_END)
    return out[:MAX_ADDRESSES]


def _phrase(tokens_: list[_Token]) -> bytes | None:
    words = [t.text for t in tokens_ if t.kind in ("word", ".")]
    return b" ".join(words) if words else None


def _mailbox(tokens_: list[_Token]) -> list[Address]:
    if not tokens_:
        return []
    angle = next((t for t in tokens_ if t.kind == "angle"), None)
    if angle is not None:
        before = tokens_[: tokens_.index(angle)]
        adl, spec = _route(angle.text)
        local, host = _addr_spec(tokens(spec))
        return [Address(_phrase(before), adl, local, host)]
    local, host = _addr_spec(tokens_)
    comment = next((t.text for t in tokens_ if t.kind == "comment"), None)
    return [Address(comment, None, local, host)]


def _route(text: bytes) -> tuple[bytes | None, bytes]:
    """Obsolete source routes: "<@a,@b:user@host>" (RFC 5322 §4.4)."""
    if text.startswith(b"@") and b":" in text:
        adl, _, spec = text.partition(b":")
        return adl, spec
    return None, text


def _addr_spec(tokens_: list[_Token]) -> tuple[bytes, bytes]:
    parts = [t for t in tokens_ if t.kind in ("word", ".", "@")]
    if not parts:
        return MISSING_MAILBOX, MISSING_DOMAIN
    at = max((i for i, t in enumerate(parts) if t.kind == "@"), default=-1)
    if at < 0:
        return b"".join(t.text for t in parts), MISSING_DOMAIN
    local = b"".join(t.text for t in parts[:at]) or MISSING_MAILBOX
    host = b"".join(t.text for t in parts[at + 1 :]) or MISSING_DOMAIN
    return local, host
