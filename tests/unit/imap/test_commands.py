"""`parse_command`: each command family to its typed value, errors with the tag, and no
input of any shape escaping as anything but CommandSyntaxError."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailserver.imap.commands import folders, login, messages, session
from mailserver.imap.commands.parse import CommandLimits, CommandSyntaxError, parse_command
from mailserver.imap.grammar import search_keys as k
from mailserver.imap.grammar.fetch_attributes import BodySection, Section, Simple
from mailserver.imap.grammar.limits import Limits
from mailserver.imap.grammar.sequence_sets import STAR, SequenceSet
from mailserver.store.writes import FlagMode

LIMITS = CommandLimits(Limits(), max_message=1 << 20)


def parse(text: bytes) -> object:
    return parse_command(text, LIMITS)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"a CAPABILITY", session.Capability("a")),
        (b"a1 noop", session.Noop("a1")),
        (
            b'x ID ("name" "mutt" "version" NIL)',
            session.Id("x", (("name", "mutt"), ("version", None))),
        ),
        (b"x ENABLE CONDSTORE utf8=accept", session.Enable("x", ("CONDSTORE", "UTF8=ACCEPT"))),
        (b't LOGIN bob@h.test "p w"', login.Login("t", "bob@h.test", "p w")),
        (b"t LOGIN {3}\r\nbob {1+}\r\np", login.Login("t", "bob", "p")),
        (b"t AUTHENTICATE PLAIN AGEAYg==", login.Authenticate("t", "PLAIN", b"AGEAYg==")),
        (b"t AUTHENTICATE EXTERNAL =", login.Authenticate("t", "EXTERNAL", b"=")),
        (b's EXAMINE "Sent"', folders.Select("s", "Sent", True)),
        (b"s RENAME a &AOk-", folders.Rename("s", "a", "\u00e9")),
        (b'l LIST "" *', folders.ListFolders("l", "", ("*",))),
        (
            b'l LIST (SUBSCRIBED) "" (INBOX "a/%") RETURN (CHILDREN)',
            folders.ListFolders(
                "l", "", ("INBOX", "a/%"), False, frozenset({"SUBSCRIBED"}), frozenset({"CHILDREN"})
            ),
        ),
        (b'l LSUB "" %', folders.ListFolders("l", "", ("%",), True, frozenset({"SUBSCRIBED"}))),
        (
            b"s STATUS INBOX (UIDNEXT MESSAGES)",
            folders.Status("s", "INBOX", ("UIDNEXT", "MESSAGES")),
        ),
        (
            b'a APPEND Sent (\\Seen) "01-Jan-2024 00:00:00 +0000" {2+}\r\nhi',
            folders.Append("a", "Sent", ("\\Seen",), dt.datetime(2024, 1, 1, tzinfo=dt.UTC), b"hi"),
        ),
        (b"e UID EXPUNGE 1:3", messages.Expunge("e", SequenceSet(((1, 3),)))),
        (
            b"f UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)",
            messages.Fetch(
                "f",
                SequenceSet(((1, STAR),)),
                (
                    Simple("FLAGS"),
                    BodySection(Section((), "HEADER.FIELDS", ("From", "To")), True, (0, 100)),
                ),
                True,
            ),
        ),
        (
            b"f FETCH 2 (BODY[1.2.MIME] RFC822)",
            messages.Fetch(
                "f",
                SequenceSet(((2, 2),)),
                (BodySection(Section((1, 2), "MIME")), BodySection(Section(), alias="RFC822")),
                False,
            ),
        ),
        (
            b"s UID STORE 5 -FLAGS.SILENT (\\Seen)",
            messages.Store("s", SequenceSet(((5, 5),)), FlagMode.REMOVE, True, ("\\Seen",), True),
        ),
        (
            b"m UID MOVE 1,3 Trash",
            messages.Copy("m", SequenceSet(((1, 1), (3, 3))), "Trash", True, True),
        ),
        (
            b's SEARCH CHARSET UTF-8 OR SEEN (FROM "Martin" SINCE 1-Jan-2024) UID 4:*',
            messages.Search(
                "s",
                k.AndKey(
                    (
                        k.OrKey(
                            k.FlagKey("\\Seen", True),
                            k.AndKey(
                                (
                                    k.HeaderKey("from", "Martin"),
                                    k.DateKey("internal", "since", dt.date(2024, 1, 1)),
                                )
                            ),
                        ),
                        k.SetKey(SequenceSet(((4, STAR),)), uid=True),
                    )
                ),
                False,
            ),
        ),
    ],
)
def test_commands_parse_to_values(line: bytes, expected: object) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize(
    ("line", "tag", "message"),
    [
        (b"a1 SELECT", "a1", "expected a space"),
        (b"a1 FETCH 1 (FLAGS", "a1", "expected )"),
        (b"a1 FETCH 1 BODY[99999999999]", "a1", "expected ]"),
        (b"a1 FETCH 1 BODY[MIME]", "a1", "expected a section specifier"),
        (b"a1 STORE 1 FLAGSX (\\Seen)", "a1", "expected FLAGS, +FLAGS or -FLAGS"),
        (b"a1 UID NOOP", "a1", "unknown command"),
        (b"a1 SEARCH CHARSET ISO-2022-JP ALL", "a1", "charset ISO-2022-JP is not supported"),
        (b"(bad) NOOP", "*", "a command starts with a tag"),
        (b"a1 NOOP extra", "a1", "unexpected characters at the end of the command"),
    ],
)
def test_errors_carry_the_tag(line: bytes, tag: str, message: str) -> None:
    with pytest.raises(CommandSyntaxError) as caught:
        parse(line)
    assert caught.value.tag == tag
    assert message in caught.value.message


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_fail_cleanly(data: bytes) -> None:
    with contextlib.suppress(CommandSyntaxError):
        parse(b"t " + data)


@settings(max_examples=300)
@given(
    st.lists(
        st.sampled_from(
            [
                b"(",
                b")",
                b" ",
                b"NOT",
                b"OR",
                b"ALL",
                b"1:*",
                b"{0}\r\n",
                b'"x"',
                b"HEADER",
                b"UID",
                b"BODY[",
                b"]",
                b"<1.2>",
            ]
        ),
        max_size=40,
    ),
    st.sampled_from([b"SEARCH ", b"FETCH 1 ", b"STORE 1 FLAGS ", b"LIST ", b"APPEND x "]),
)
def test_grammar_shaped_noise_fails_cleanly(parts: list[bytes], verb: bytes) -> None:
    with contextlib.suppress(CommandSyntaxError):
        parse(b"t " + verb + b"".join(parts))
