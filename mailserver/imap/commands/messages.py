"""Commands of the selected state: CLOSE, UNSELECT (RFC 3691), EXPUNGE and UID EXPUNGE
(RFC 4315), SEARCH, FETCH, STORE, COPY (RFC 3501 §6.4) and MOVE (RFC 6851), each with
its UID form (RFC 3501 §6.4.8)."""

from __future__ import annotations

from dataclasses import dataclass

from mailserver.imap.grammar import fetch_attributes, flags, mailbox_names, search_keys
from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.fetch_attributes import FetchItem
from mailserver.imap.grammar.reader import Reader
from mailserver.imap.grammar.search_keys import SearchKey
from mailserver.imap.grammar.sequence_sets import SequenceSet, sequence_set
from mailserver.store.writes import FlagMode


@dataclass(frozen=True, slots=True)
class Close:
    tag: str


@dataclass(frozen=True, slots=True)
class Unselect:
    tag: str


@dataclass(frozen=True, slots=True)
class Expunge:
    tag: str
    uids: SequenceSet | None = None  # UID EXPUNGE


@dataclass(frozen=True, slots=True)
class Search:
    tag: str
    key: SearchKey
    uid: bool


@dataclass(frozen=True, slots=True)
class Fetch:
    tag: str
    numbers: SequenceSet
    items: tuple[FetchItem, ...]
    uid: bool


@dataclass(frozen=True, slots=True)
class Store:
    tag: str
    numbers: SequenceSet
    mode: FlagMode
    silent: bool
    flags: tuple[str, ...]
    uid: bool


@dataclass(frozen=True, slots=True)
class Copy:
    tag: str
    numbers: SequenceSet
    mailbox: str
    uid: bool
    move: bool


def parse_uid_expunge(tag: str, r: Reader) -> Expunge:
    r.sp()
    return Expunge(tag, sequence_set(r))


def parse_search(tag: str, r: Reader, *, uid: bool) -> Search:
    r.sp()
    return Search(tag, search_keys.program(r), uid)


def parse_fetch(tag: str, r: Reader, *, uid: bool) -> Fetch:
    r.sp()
    numbers = sequence_set(r)
    r.sp()
    return Fetch(tag, numbers, tuple(fetch_attributes.items(r)), uid)


_STORE_ITEMS = {
    b"FLAGS": (FlagMode.REPLACE, False),
    b"FLAGS.SILENT": (FlagMode.REPLACE, True),
    b"+FLAGS": (FlagMode.ADD, False),
    b"+FLAGS.SILENT": (FlagMode.ADD, True),
    b"-FLAGS": (FlagMode.REMOVE, False),
    b"-FLAGS.SILENT": (FlagMode.REMOVE, True),
}


def parse_store(tag: str, r: Reader, *, uid: bool) -> Store:
    r.sp()
    numbers = sequence_set(r)
    r.sp()
    end = r.buf.find(b" ", r.pos)
    if end < 0:
        raise ParseError("expected FLAGS, +FLAGS or -FLAGS and a flag list")
    item = _STORE_ITEMS.get(r.buf[r.pos : end].upper())
    if item is None:
        raise ParseError("expected FLAGS, +FLAGS or -FLAGS")
    r.pos = end + 1
    mode, silent = item
    return Store(tag, numbers, mode, silent, tuple(flags.store_flags(r)), uid)


def parse_copy(tag: str, r: Reader, *, uid: bool, move: bool) -> Copy:
    r.sp()
    numbers = sequence_set(r)
    r.sp()
    return Copy(tag, numbers, mailbox_names.mailbox(r), uid, move)
