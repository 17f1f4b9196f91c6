"""SEARCH keys the database can answer alone (flags, sizes, internal dates, UID and
sequence sets, and NOT/OR/AND of them) as one SQL condition, so that the searches
clients send most (UNSEEN, DELETED, SINCE, UID ranges) read UIDs only. Anything else
(header, text, keyword and sent-date keys) returns None and is evaluated row by row
(search_eval.py), with the same meaning: dates are UTC calendar days, as there."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, false, not_, or_, true

from mailserver.imap.grammar import search_keys as k
from mailserver.imap.grammar.sequence_sets import SequenceSet
from mailserver.store.flags import SYSTEM_FLAGS
from mailserver.store.models import Message

Condition = ColumnElement[bool]


def condition(key: k.SearchKey, uids: list[int]) -> Condition | None:  # noqa: PLR0911
    """The SQL for `key` over a session whose messages are `uids` (ascending), or None."""
    match key:
        case k.AllKey():
            return true()
        case k.NoneKey():
            return false()
        case k.FlagKey(flag=flag, present=present):
            bit = SYSTEM_FLAGS.get(flag.lower())
            if bit is None:
                return None  # keywords: matched case-insensitively in Python
            has = Message.system_flags.op("&")(bit) != 0
            return has if present else not_(has)
        case k.SizeKey(larger=larger, size=size):
            return Message.size > size if larger else Message.size < size
        case k.DateKey(source="internal", relation=relation, date=day):
            return _internal_date(relation, day)
        case k.SetKey(numbers=numbers, uid=uid):
            return _uid_ranges(numbers, uids, by_uid=uid)
        case k.NotKey(key=inner):
            sql = condition(inner, uids)
            return None if sql is None else not_(sql)
        case k.OrKey(left=left, right=right):
            both = _all([condition(left, uids), condition(right, uids)])
            return None if both is None else or_(*both)
        case k.AndKey(keys=keys):
            every = _all([condition(x, uids) for x in keys])
            return None if every is None else and_(*every)
    return None


def _all(parts: list[Condition | None]) -> list[Condition] | None:
    """The parts, or None when one of them cannot be said in SQL."""
    sure = [p for p in parts if p is not None]
    return sure if len(sure) == len(parts) else None


def _internal_date(relation: str, day: dt.date) -> Condition:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    if relation == "before":
        return Message.internal_date < start
    if relation == "on":
        return and_(Message.internal_date >= start, Message.internal_date < end)
    return Message.internal_date >= start


def _uid_ranges(numbers: SequenceSet, uids: list[int], *, by_uid: bool) -> Condition:
    if not uids:
        return false()
    if by_uid:
        spans = numbers.resolve(uids[-1])
    else:
        count = len(uids)
        spans = [
            (uids[min(lo, count) - 1], uids[min(hi, count) - 1])
            for lo, hi in numbers.resolve(count)
            if lo <= count
        ]
    return or_(false(), *(Message.uid.between(lo, hi) for lo, hi in spans))
