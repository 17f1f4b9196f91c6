"""SEARCH evaluation on one message (pure): flags, dates, sizes, headers with encoded
words, body text, sequence and UID sets, NOT/OR/AND."""

from __future__ import annotations

import datetime as dt

import pytest

from mailserver.imap.fetch_items import FULL, HEADER, NONE, MessageView
from mailserver.imap.grammar.limits import Limits
from mailserver.imap.grammar.reader import Reader
from mailserver.imap.grammar.search_keys import program
from mailserver.imap.search_eval import Candidate, content_needed, matches
from mailserver.store.flags import Flags
from mailserver.store.reads import MessageMeta

MESSAGE = (
    b"From: =?utf-8?q?Jos=C3=A9_Garc=C3=ADa?= <jose@labo.test>\r\n"
    b"To: bob@hopital.test\r\n"
    b"Subject: =?utf-8?q?R=C3=A9sultat?= urgent\r\n"
    b"Date: Tue, 5 Mar 2024 23:30:00 -0500\r\n"
    b"X-Priority: 1\r\n"
    b"\r\n"
    b"Troponine elevee.\r\n"
)
META = MessageMeta(
    uid=42,
    flags=Flags.parse(["\\Seen", "$Urgent"]),
    internal_date=dt.datetime(2024, 3, 6, 4, 31, tzinfo=dt.UTC),
    size=len(MESSAGE),
    modseq=7,
    blob_id="x",
)


def _check(text: str) -> bool:
    key = program(Reader(text.encode(), limits=Limits()))
    return matches(key, Candidate(3, META, MessageView(MESSAGE), max_seq=5, max_uid=50))


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ALL", True),
        ("SEEN", True),
        ("UNSEEN", False),
        ("KEYWORD $urgent", True),
        ("UNKEYWORD $Urgent", False),
        ("NEW", False),
        ("OLD", True),
        ("FROM garcía", True),
        ("FROM jose@labo", True),
        ("SUBJECT résultat", True),
        ('HEADER X-Priority ""', True),
        ('HEADER X-Missing ""', False),
        ("TO alice", False),
        ("BODY troponine", True),
        ("BODY bob@hopital", False),
        ("TEXT bob@hopital", True),
        ("ON 6-Mar-2024", True),
        ("SENTON 5-Mar-2024", True),
        ("SENTSINCE 6-Mar-2024", False),
        ("BEFORE 6-Mar-2024", False),
        ("SINCE 6-Mar-2024", True),
        (f"LARGER {len(MESSAGE) - 1}", True),
        (f"SMALLER {len(MESSAGE)}", False),
        ("3", True),
        ("4:*", False),
        ("UID 40:45", True),
        ("UID *", False),
        ("NOT SEEN", False),
        ("OR UNSEEN FROM jose", True),
        ("(SEEN FLAGGED)", False),
        ("SEEN NOT (FLAGGED OR DRAFT DELETED)", True),
    ],
)
def test_keys(key: str, expected: bool) -> None:
    assert _check(key) is expected


def test_content_needed_picks_the_cheapest_source() -> None:
    def need(text: str) -> int:
        return content_needed(program(Reader(text.encode(), limits=Limits())))

    assert need("SEEN UID 1:4 LARGER 10 SINCE 1-Jan-2024") == NONE
    assert need("SEEN FROM x") == HEADER
    assert need("SENTBEFORE 1-Jan-2024") == HEADER
    assert need("OR FROM x NOT BODY y") == FULL
