"""Commands of the authenticated state on folders: SELECT/EXAMINE, CREATE, DELETE,
RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST (with RFC 5258 options), LSUB, STATUS (RFC 3501
§6.3) and APPEND (§6.3.11, with RFC 7888 non-synchronising literals)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mailserver.imap.grammar import atoms, dates, flags, list_patterns, mailbox_names, strings
from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader

STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN")
LIST_SELECTION = ("SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE")
LIST_RETURN = ("SUBSCRIBED", "CHILDREN", "SPECIAL-USE")


@dataclass(frozen=True, slots=True)
class Select:
    tag: str
    mailbox: str
    readonly: bool  # EXAMINE


@dataclass(frozen=True, slots=True)
class Create:
    tag: str
    mailbox: str


@dataclass(frozen=True, slots=True)
class Delete:
    tag: str
    mailbox: str


@dataclass(frozen=True, slots=True)
class Rename:
    tag: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    tag: str
    mailbox: str
    subscribe: bool


@dataclass(frozen=True, slots=True)
class ListFolders:
    """LIST and LSUB. `selection`/`returns` are the RFC 5258 options (LSUB is LIST with
    SUBSCRIBED selection and the old response name)."""

    tag: str
    reference: str
    patterns: tuple[str, ...]
    lsub: bool = False
    selection: frozenset[str] = frozenset()
    returns: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Status:
    tag: str
    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Append:
    tag: str
    mailbox: str
    flags: tuple[str, ...]
    date: dt.datetime | None
    message: bytes


def parse_select(tag: str, r: Reader, *, readonly: bool) -> Select:
    r.sp()
    return Select(tag, mailbox_names.mailbox(r), readonly)


def parse_create(tag: str, r: Reader) -> Create:
    r.sp()
    return Create(tag, mailbox_names.mailbox(r))


def parse_delete(tag: str, r: Reader) -> Delete:
    r.sp()
    return Delete(tag, mailbox_names.mailbox(r))


def parse_rename(tag: str, r: Reader) -> Rename:
    r.sp()
    old = mailbox_names.mailbox(r)
    r.sp()
    return Rename(tag, old, mailbox_names.mailbox(r))


def parse_subscribe(tag: str, r: Reader, *, subscribe: bool) -> Subscribe:
    r.sp()
    return Subscribe(tag, mailbox_names.mailbox(r), subscribe)


def _options(r: Reader, allowed: tuple[str, ...]) -> frozenset[str]:
    r.expect(b"(")
    found: set[str] = set()
    while not r.skip(b")"):
        if found:
            r.sp()
        name = atoms.atom(r, "a LIST option").upper()
        if name not in allowed:
            raise ParseError("unsupported LIST option")
        found.add(name)
    return frozenset(found)


def parse_list(tag: str, r: Reader) -> ListFolders:
    r.sp()
    selection: frozenset[str] = frozenset()
    if r.peek() == b"(":
        selection = _options(r, LIST_SELECTION)
        r.sp()
    reference = mailbox_names.mailbox(r)
    r.sp()
    if r.skip(b"("):
        patterns = [list_patterns.list_mailbox(r)]
        while r.skip(b" "):
            patterns.append(list_patterns.list_mailbox(r))
        r.expect(b")")
    else:
        patterns = [list_patterns.list_mailbox(r)]
    returns: frozenset[str] = frozenset()
    if r.skip(b" RETURN "):
        returns = _options(r, LIST_RETURN)
    return ListFolders(tag, reference, tuple(patterns), False, selection, returns)


def parse_lsub(tag: str, r: Reader) -> ListFolders:
    r.sp()
    reference = mailbox_names.mailbox(r)
    r.sp()
    pattern = list_patterns.list_mailbox(r)
    return ListFolders(tag, reference, (pattern,), True, frozenset({"SUBSCRIBED"}))


def parse_status(tag: str, r: Reader) -> Status:
    r.sp()
    mailbox = mailbox_names.mailbox(r)
    r.sp()
    r.expect(b"(")
    items: list[str] = []
    while not r.skip(b")"):
        if items:
            r.sp()
        name = atoms.atom(r, "a status item").upper()
        if name not in STATUS_ITEMS:
            raise ParseError("unknown status item")
        items.append(name)
    if not items:
        raise ParseError("STATUS needs at least one item")
    return Status(tag, mailbox, tuple(items))


def parse_append(tag: str, r: Reader, *, max_message: int) -> Append:
    r.sp()
    mailbox = mailbox_names.mailbox(r)
    r.sp()
    flag_names: list[str] = []
    if r.peek() == b"(":
        flag_names = flags.flag_list(r)
        r.sp()
    date = None
    if r.peek() == b'"':
        date = dates.date_time(r)
        r.sp()
    message = strings.literal(r, binary=True, max_size=max_message)
    return Append(tag, mailbox, tuple(flag_names), date, message)
