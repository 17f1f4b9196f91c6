"""SEARCH in SQL (mailserver/imap/search_sql.py) answers exactly what the row-by-row
evaluation answers, for random programs of flag, size, date and set keys over random
messages; and the implicit \\Seen of FETCH changes only the rows that lacked it."""

from __future__ import annotations

import datetime as dt
import random

from crypto.at_rest import AtRestCipher
from mailserver.imap.grammar import search_keys as k
from mailserver.imap.grammar.sequence_sets import STAR, SequenceSet
from mailserver.imap.search_eval import Candidate, matches
from mailserver.imap.search_sql import condition
from mailserver.store import deliver, reads, writes
from mailserver.store.flags import DELETED, SEEN
from storage.database import Database
from tests.integration.store.conftest import MakeMailbox

FLAGS = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"]
DAY0 = dt.date(2024, 3, 1)


def _random_key(rng: random.Random, depth: int = 0) -> k.SearchKey:
    choice = rng.randrange(9 if depth < 3 else 5)
    if choice == 0:
        return k.FlagKey(rng.choice(FLAGS), rng.random() < 0.5)
    if choice == 1:
        return k.SizeKey(rng.random() < 0.5, rng.randrange(40, 200))
    if choice == 2:
        relation = rng.choice(["before", "on", "since"])
        return k.DateKey("internal", relation, DAY0 + dt.timedelta(days=rng.randrange(6)))  # type: ignore[arg-type]
    if choice in (3, 4):
        lo, hi = rng.randrange(1, 40), rng.choice([STAR, rng.randrange(1, 40)])
        return k.SetKey(SequenceSet(((lo, hi),)), uid=choice == 3)
    if choice == 5:
        return k.NotKey(_random_key(rng, depth + 1))
    if choice == 6:
        return k.OrKey(_random_key(rng, depth + 1), _random_key(rng, depth + 1))
    if choice == 7:
        return k.AndKey(tuple(_random_key(rng, depth + 1) for _ in range(rng.randrange(2, 4))))
    return k.AllKey()


async def test_sql_and_python_agree(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    rng = random.Random(20240301)
    mailbox_id = await make_mailbox("bob@cabinet.test")
    async with db.write() as session:
        for n in range(30):
            when = dt.datetime.combine(DAY0, dt.time(23, 30), tzinfo=dt.UTC) + dt.timedelta(
                hours=9 * n
            )
            await deliver(
                session,
                at_rest,
                mailbox_id,
                b"Subject: m\r\n\r\n" + b"x" * rng.randrange(0, 160),
                flags=rng.sample(FLAGS, rng.randrange(3)),
                internal_date=when,
            )
    async with db.write() as session:
        inbox = await reads.folder_by_name(session, mailbox_id, "INBOX")
        assert inbox is not None
        await writes.expunge(session, mailbox_id, inbox.id)  # holes in the UIDs
    async with db.read() as session:
        metas = await reads.all_metadata(session, inbox.id)
    uids = [m.uid for m in metas]
    for _ in range(300):
        key = _random_key(rng)
        sql = condition(key, uids)
        assert sql is not None, key
        async with db.read() as session:
            by_sql = await reads.matching_uids(session, inbox.id, sql, uids[-1])
        by_python = [
            m.uid
            for seq, m in enumerate(metas, start=1)
            if matches(key, Candidate(seq, m, None, len(uids), uids[-1]))
        ]
        assert by_sql == by_python, key


async def test_implicit_seen_changes_only_rows_lacking_it(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    async with db.write() as session:
        for flags in ([], ["\\Seen", "urgent"], ["\\Deleted"]):
            stored = await deliver(session, at_rest, mailbox_id, b"S: x\r\n\r\ny", flags=flags)
    async with db.write() as session:
        result = await writes.add_system_flags(session, stored.folder_id, [1, 2, 3], SEEN)
    assert result.changed == {1, 3}
    assert result.flags[3].system == SEEN | DELETED
    async with db.read() as session:
        changes = await reads.changes_since(session, stored.folder_id, result.modseq - 1)
    assert [c.uid for c in changes] == [1, 3]
