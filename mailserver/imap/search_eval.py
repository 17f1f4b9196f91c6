"""Evaluating a SEARCH key on one message (RFC 3501 §6.4.4), pure: metadata keys on the
stored row, header keys on the header section, BODY and TEXT on the decoded text parts.
String matches are case-insensitive substrings; an empty HEADER value matches any
message that has the field."""

from __future__ import annotations

import datetime as dt
import email.utils
from dataclasses import dataclass
from functools import cached_property

from mailserver.imap.fetch_items import FULL, HEADER, NONE, MessageView
from mailserver.imap.grammar import search_keys as k
from mailserver.imap.message import headers
from mailserver.imap.message.text import body_text
from mailserver.store.flags import SYSTEM_FLAGS
from mailserver.store.reads import MessageMeta


def content_needed(key: k.SearchKey) -> int:  # noqa: PLR0911 - one arm per key kind
    match key:
        case k.HeaderKey():
            return HEADER
        case k.DateKey(source="sent"):
            return HEADER
        case k.TextKey():
            return FULL
        case k.NotKey(key=inner):
            return content_needed(inner)
        case k.OrKey(left=left, right=right):
            return max(content_needed(left), content_needed(right))
        case k.AndKey(keys=keys):
            return max((content_needed(x) for x in keys), default=NONE)
    return NONE


@dataclass
class Candidate:
    seq: int
    meta: MessageMeta
    message: MessageView | None
    max_seq: int
    max_uid: int

    @cached_property
    def body(self) -> str:
        if self.message is None:
            return ""
        return body_text(self.message.entity)

    @cached_property
    def header_text(self) -> str:
        if self.message is None:
            return ""
        return headers.decoded(self.message.header).casefold()


def matches(key: k.SearchKey, c: Candidate) -> bool:  # noqa: PLR0911 - one arm per key kind
    match key:
        case k.AllKey():
            return True
        case k.NoneKey():
            return False
        case k.FlagKey(flag=flag, present=present):
            return _has_flag(c.meta, flag) == present
        case k.DateKey():
            return _date_matches(key, c)
        case k.SizeKey(larger=larger, size=size):
            return c.meta.size > size if larger else c.meta.size < size
        case k.HeaderKey(name=name, value=value):
            return _header_matches(c, name, value)
        case k.TextKey(value=value, whole=whole):
            needle = value.casefold()
            return needle in c.body or (whole and needle in c.header_text)
        case k.SetKey(numbers=numbers, uid=uid):
            if uid:
                return numbers.contains(c.meta.uid, c.max_uid)
            return numbers.contains(c.seq, c.max_seq)
        case k.NotKey(key=inner):
            return not matches(inner, c)
        case k.OrKey(left=left, right=right):
            return matches(left, c) or matches(right, c)
        case k.AndKey(keys=keys):
            return all(matches(x, c) for x in keys)
    return False


def _has_flag(meta: MessageMeta, flag: str) -> bool:
    bit = SYSTEM_FLAGS.get(flag.lower())
    if bit is not None:
        return meta.flags.has(bit)
    lowered = flag.lower()
    return any(kw.lower() == lowered for kw in meta.flags.keywords)


def _header_matches(c: Candidate, name: str, value: str) -> bool:
    if c.message is None:
        return False
    values = c.message.searchable.get(name)
    if values is None:
        return False
    needle = value.casefold()
    return any(needle in v for v in values)


def _sent_date(c: Candidate) -> dt.date:
    raw = headers.first(c.message.fields, "date") if c.message is not None else None
    if raw:
        try:
            return email.utils.parsedate_to_datetime(raw.decode("ascii", "replace")).date()
        except (TypeError, ValueError, IndexError):
            pass
    return c.meta.internal_date.date()


def _date_matches(key: k.DateKey, c: Candidate) -> bool:
    # RFC 3501: dates disregard time and timezone; the internal date is kept in UTC.
    day = c.meta.internal_date.date() if key.source == "internal" else _sent_date(c)
    if key.relation == "before":
        return day < key.date
    if key.relation == "on":
        return day == key.date
    return day >= key.date
