"""Dates (RFC 3501 §9 date, date-time) as SEARCH and APPEND write them."""

from __future__ import annotations

import datetime as dt
import re

from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {m.lower().encode(): i + 1 for i, m in enumerate(MONTHS)}
_DATE = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")
_QUOTED_DATE = re.compile(rb'"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})"')
_DATE_TIME = re.compile(
    rb'"([ 0-9][0-9])-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"'
)


def _month(token: bytes) -> int:
    month = _MONTH_NUMBER.get(token.lower())
    if month is None:
        raise ParseError("expected a month name")
    return month


def date(r: Reader) -> dt.date:
    """date = date-text / DQUOTE date-text DQUOTE"""
    found = r.match(_QUOTED_DATE) or r.match(_DATE)
    if found is None:
        raise ParseError("expected a date like 1-Feb-2024")
    try:
        return dt.date(int(found.group(3)), _month(found.group(2)), int(found.group(1)))
    except ValueError as exc:
        raise ParseError("not a calendar date") from exc


def date_time(r: Reader) -> dt.datetime:
    """date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE"""
    found = r.match(_DATE_TIME)
    if found is None:
        raise ParseError('expected a date-time like "01-Feb-2024 10:00:00 +0100"')
    day, month, year, hh, mm, ss, sign, zh, zm = found.groups()
    offset = dt.timedelta(hours=int(zh), minutes=int(zm))
    try:
        zone = dt.timezone(offset if sign == b"+" else -offset)
        return dt.datetime(
            int(year), _month(month), int(day), int(hh), int(mm), int(ss), tzinfo=zone
        )
    except ValueError as exc:
        raise ParseError("not a valid date-time") from exc


def format_date_time(value: dt.datetime) -> str:
    """INTERNALDATE's form: "dd-Mon-yyyy hh:mm:ss +zzzz" (day padded with a space)."""
    offset = value.utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return (
        f"{value.day:2d}-{MONTHS[value.month - 1]}-{value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} {sign}{hours:02d}{mins:02d}"
    )
