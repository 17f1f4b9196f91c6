"""mbox entries of stored messages, read back with Python's `mailbox.mbox`: separator,
mboxrd quoting, LF line ends, folder and flags in the fields mutt and Thunderbird read,
and the sender's own Status fields never trusted."""

from __future__ import annotations

import datetime as dt
import mailbox
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailserver.store.flags import Flags
from mailserver.store.mbox import entry, quote, separator

WHEN = dt.datetime(2026, 3, 7, 8, 5, 9, tzinfo=dt.UTC)
LETTER = (
    b"From: Dr One <doctor.1@salus.test>\r\nTo: doctor.2@salus.test\r\n"
    b"Subject: Follow-up\r\nStatus: RO\r\nX-Status: DFT\r\n\tcontinued\r\n\r\n"
    b"From the lab: potassium 4.1.\r\n>From quoted\r\nFrom\r\nFromage\r\n"
)


def _read(tmp_path: Path, data: bytes) -> list[mailbox.mboxMessage]:
    path = tmp_path / "export.mbox"
    path.write_bytes(data)
    box = mailbox.mbox(path, create=False)
    try:
        return list(box)
    finally:
        box.close()


def _unquote(body: bytes) -> bytes:
    return re.sub(rb"(?m)^>(>*From )", rb"\1", body)


def test_a_letter_reads_back_with_folder_flags_and_quoting(tmp_path: Path) -> None:
    flags = Flags.parse(["\\Seen", "\\Flagged", "\\Answered", "$Label1"])
    data = entry(LETTER, folder="Patients/Cardio", flags=flags, internal_date=WHEN)
    assert data.startswith(b"From doctor.1@salus.test Sat Mar  7 08:05:09 2026\n")
    assert b"\r" not in data and data.endswith(b"\n\n")
    assert b"\n>From the lab: potassium 4.1.\n>>From quoted\nFrom\nFromage\n" in data
    (message,) = _read(tmp_path, data)
    assert message["X-Folder"] == "Patients/Cardio"
    assert set(message.get_flags()) == set("ROAF")  # the sender's "DFT" is gone
    assert message.get_all("Status") == ["RO"] and message.get_all("X-Status") == ["AF"]
    assert message["X-Keywords"] == "$Label1"
    assert message["Subject"] == "Follow-up"
    assert message.get_from() == "doctor.1@salus.test Sat Mar  7 08:05:09 2026"


def test_unseen_deleted_draft_and_no_keywords(tmp_path: Path) -> None:
    flags = Flags.parse(["\\Deleted", "\\Draft"])
    (message,) = _read(tmp_path, entry(LETTER, folder="Drafts", flags=flags, internal_date=WHEN))
    assert message["Status"] == "O" and message["X-Status"] == "DT"
    assert "X-Keywords" not in message


def test_a_folder_name_outside_ascii_is_an_encoded_word(tmp_path: Path) -> None:
    data = entry(LETTER, folder="Archives/Réanimation", flags=Flags(), internal_date=WHEN)
    assert data.isascii()
    (message,) = _read(tmp_path, data)
    assert str(message["X-Folder"]) == "=?utf-8?q?Archives/R=C3=A9animation?="


def test_sender_fallback_and_messages_without_body_or_header(tmp_path: Path) -> None:
    local = separator("MAILER-DAEMON", WHEN.astimezone(dt.timezone(dt.timedelta(hours=2))))
    assert local == b"From MAILER-DAEMON Sat Mar  7 08:05:09 2026\n"  # always UTC
    no_from = entry(b"Subject: x", folder="INBOX", flags=Flags(), internal_date=WHEN)
    assert no_from == (
        b"From MAILER-DAEMON Sat Mar  7 08:05:09 2026\nSubject: x\nX-Folder: INBOX\nStatus: O\n\n"
    )
    spaced = entry(b'From: "a b" <not an address>\n\nhi\n', folder="INBOX", flags=Flags(),
                   internal_date=WHEN)  # fmt: skip
    assert spaced.startswith(b"From MAILER-DAEMON ")
    bare = entry(b"\nFrom here\n", folder="INBOX", flags=Flags(), internal_date=WHEN)
    assert bare.endswith(b"X-Folder: INBOX\nStatus: O\n\n>From here\n\n")


_LINES = st.lists(
    st.one_of(
        st.sampled_from(["From ", ">From ", ">>From x", "From", " From ", "", "F", "text"]),
        st.text(alphabet="From >x\t", max_size=12),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(bodies=st.lists(_LINES, min_size=1, max_size=4))
def test_any_bodies_read_back_exactly(
    tmp_path_factory: pytest.TempPathFactory, bodies: list[list[str]]
) -> None:
    """Several entries in one file: Python's reader finds each message, and undoing one
    `>` of the quoted lines gives each body back with LF line ends."""
    tmp = tmp_path_factory.mktemp("mbox")
    messages = [
        b"Subject: n\r\n\r\n" + "".join(line + "\r\n" for line in lines).encode()
        for lines in bodies
    ]
    data = b"".join(entry(m, folder="INBOX", flags=Flags(), internal_date=WHEN) for m in messages)
    read = _read(tmp, data)
    assert len(read) == len(messages)
    for original, message in zip(messages, read, strict=True):
        raw = message.as_bytes().split(b"\n\n", 1)[1]
        want = original.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1]
        assert _unquote(raw) == want


def test_quote_is_mboxrd() -> None:
    assert quote(b"From a\n>From b\n>>From c\nx From d\n") == (
        b">From a\n>>From b\n>>>From c\nx From d\n"
    )
