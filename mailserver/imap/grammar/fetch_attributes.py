"""FETCH items (RFC 3501 §6.4.5, §9 fetch-att): macros, simple items and BODY[section]
with partials."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailserver.imap.grammar import atoms, strings
from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader

SIMPLE = (
    "UID",
    "FLAGS",
    "INTERNALDATE",
    "RFC822.SIZE",
    "ENVELOPE",
    "BODYSTRUCTURE",
    "BODY",
    "RFC822",
    "RFC822.HEADER",
    "RFC822.TEXT",
)
MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_NAME = re.compile(rb"[A-Za-z0-9.]+")
_PART = re.compile(rb"[1-9][0-9]{0,8}")
_MSGTEXT = ("HEADER.FIELDS.NOT", "HEADER.FIELDS", "HEADER", "TEXT", "MIME")
MAX_PART_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Section:
    """section-spec: a part path (empty for the whole message) and an optional text
    specifier; `fields` are the header names of HEADER.FIELDS[.NOT], as written."""

    part: tuple[int, ...] = ()
    text: str = ""
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        spec = ".".join(str(p) for p in self.part)
        if self.text:
            spec = f"{spec}.{self.text}" if spec else self.text
        if self.fields:
            spec += " (" + " ".join(self.fields) + ")"
        return spec


@dataclass(frozen=True, slots=True)
class BodySection:
    """BODY[section]<partial> or BODY.PEEK[...]; also what RFC822, RFC822.HEADER and
    RFC822.TEXT stand for (`alias` keeps the name the response must use)."""

    section: Section
    peek: bool = False
    partial: tuple[int, int] | None = None  # (origin, count)
    alias: str = ""

    def response_name(self) -> str:
        if self.alias:
            return self.alias
        origin = "" if self.partial is None else f"<{self.partial[0]}>"
        return f"BODY[{self.section}]{origin}"


@dataclass(frozen=True, slots=True)
class Simple:
    name: str  # one of SIMPLE


FetchItem = Simple | BodySection


def items(r: Reader) -> list[FetchItem]:
    """ "ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")" """
    if r.skip(b"("):
        out = [item(r)]
        while r.skip(b" "):
            out.append(item(r))
            if len(out) > r.limits.max_items:
                raise ParseError("too many fetch items")
        r.expect(b")")
        return out
    mark = r.pos
    name = r.take(_NAME, "a fetch item").decode().upper()
    if name in MACROS and r.peek() != b"[":
        return [Simple(n) for n in MACROS[name]]
    r.pos = mark
    return [item(r)]


def item(r: Reader) -> FetchItem:
    name = r.take(_NAME, "a fetch item").decode().upper()
    if name in ("BODY", "BODY.PEEK") and r.peek() == b"[":
        section = _section(r)
        return BodySection(section, peek=name == "BODY.PEEK", partial=_partial(r))
    if name == "RFC822":
        return BodySection(Section(), alias="RFC822")
    if name == "RFC822.HEADER":
        return BodySection(Section(text="HEADER"), peek=True, alias="RFC822.HEADER")
    if name == "RFC822.TEXT":
        return BodySection(Section(text="TEXT"), alias="RFC822.TEXT")
    if name in SIMPLE:
        return Simple(name)
    raise ParseError("unknown fetch item")


def _section(r: Reader) -> Section:
    r.expect(b"[")
    if r.skip(b"]"):
        return Section()
    part: list[int] = []
    while (found := r.match(_PART)) is not None:
        part.append(int(found.group(0)))
        if len(part) > MAX_PART_DEPTH:
            raise ParseError("section part nested too deeply")
        if not r.skip(b"."):
            r.expect(b"]")
            return Section(tuple(part))
    text = next((t for t in _MSGTEXT if r.skip(t.encode())), None)
    if text is None or (text == "MIME" and not part):
        raise ParseError("expected a section specifier")
    fields: tuple[str, ...] = ()
    if text.startswith("HEADER.FIELDS"):
        r.sp()
        fields = _header_list(r)
    r.expect(b"]")
    return Section(tuple(part), text, fields)


def _header_list(r: Reader) -> tuple[str, ...]:
    r.expect(b"(")
    names = [strings.astring(r, "a header field name").decode("ascii", "replace")]
    while r.skip(b" "):
        names.append(strings.astring(r, "a header field name").decode("ascii", "replace"))
        if len(names) > r.limits.max_items:
            raise ParseError("too many header fields")
    r.expect(b")")
    return tuple(names)


def _partial(r: Reader) -> tuple[int, int] | None:
    if not r.skip(b"<"):
        return None
    origin = atoms.number(r, "a partial origin")
    r.expect(b".")
    count = atoms.nz_number(r, "a partial length")
    r.expect(b">")
    return origin, count
