"""Importing and exporting the MSSanté extraction file (and the plain CSV format) on
SQLite and PostgreSQL: created / updated / unchanged / rejected with line numbers,
idempotence, administrator fields kept, local mailboxes without credentials, whole-file
errors that change nothing, dry runs that change nothing, and export round trips."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from directory.admin import credentials, mailboxes
from directory.importer.export import export
from directory.importer.reader import ImportFileError
from directory.importer.run import ImportAborted, ImportSummary, import_file
from directory.models import Activity, Credential, Mailbox, Organisation, Practitioner
from storage import audit
from storage.database import Database
from tests.integration.directory.extraction import (
    HEADER_LINE,
    RPPS,
    practitioner_row,
    row,
    write_extraction,
)

LOCAL = ("salus.test",)


async def _import(db: Database, path: Path, **options: object) -> ImportSummary:
    return await import_file(
        db, path, file_format=str(options.pop("file_format", "mssante")), local_domains=LOCAL,
        actor="cli:test", **options,  # type: ignore[arg-type]
    )  # fmt: skip


async def _counts(db: Database) -> dict[str, int]:
    async with db.read() as s:
        return {
            model.__tablename__: (
                await s.execute(select(func.count()).select_from(model))
            ).scalar_one()
            for model in (Mailbox, Practitioner, Organisation, Activity, Credential)
        }


async def _directory(db: Database) -> list[tuple[object, ...]]:
    async with db.read() as s:
        rows = await s.execute(
            select(Mailbox.address, Mailbox.kind, Mailbox.local, Mailbox.owner_id,
                   Mailbox.organisation_id, Mailbox.display_name, Mailbox.crypto,
                   Mailbox.status, Mailbox.red_list).order_by(Mailbox.address)
        )  # fmt: skip
        return [tuple(r) for r in rows]


def _sample(tmp_path: Path) -> Path:
    return write_extraction(
        tmp_path / "extraction.txt",
        [
            row(),  # line 2: local personal mailbox
            row(
                c1="ORG",
                c2="cardio@ch-other.test",
                c3="",
                c4="",
                c5="",
                c8="Cardiologie",
                c10="",
                c7="2990000002",
                c19="CH AUTRE",
            ),  # line 3: remote organisational
            "PER|only|three",  # line 4: wrong column count
            practitioner_row(1, c5="812345678901", c4=""),  # line 5: bad Luhn
            practitioner_row(2, domain="ch-other.test", c7="3990000003"),  # line 6: remote
            row(c2="camille.durand@salus.test", c10="AUTRE"),  # line 7: repeated address
            "",  # blank line: skipped
        ],
    )


async def test_import_creates_entries_and_reports_rejections(db: Database, tmp_path: Path) -> None:
    summary = await _import(db, _sample(tmp_path))
    assert summary.counts() == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 3}
    assert [(r.line, r.reason) for r in summary.rejections] == [
        (4, "expected 31 columns, found 3"),
        (
            5,
            "invalid national identifier '812345678901': the RPPS check digit (Luhn) does not match",
        ),
        (7, "address camille.durand@salus.test repeated (first on line 2)"),
    ]
    directory = await _directory(db)
    assert [(a, k, local) for a, k, local, *_ in directory] == [
        ("camille.durand@salus.test", "personal", True),
        ("cardio@ch-other.test", "organizational", False),
        ("doctor.2@ch-other.test", "personal", False),
    ]
    assert directory[0][3:6] == (RPPS, "1990000001", "Camille DURAND")
    counts = await _counts(db)
    # Local mailboxes get no credentials; the rejected line 5 wrote nothing (its
    # practitioner is absent), so three organisations and two practitioners.
    assert counts == {
        "mailboxes": 3,
        "practitioners": 2,
        "organisations": 3,
        "activities": 2,
        "credentials": 0,
    }
    actions = [e["action"] async for e in audit.export(db)]
    assert actions == ["directory.import.batch", "directory.import"]


async def test_reimport_is_idempotent_and_keeps_administrator_fields(
    db: Database, tmp_path: Path
) -> None:
    path = _sample(tmp_path)
    await _import(db, path)
    async with db.write() as s:
        await mailboxes.set_mailbox(
            s, "cli:test", "camille.durand@salus.test", crypto="openpgp", red_list=True
        )
        await credentials.set_password(
            s, "cli:test", "camille.durand@salus.test", "a long enough password"
        )
    again = await _import(db, path)
    assert again.counts() == {"created": 0, "updated": 0, "unchanged": 3, "rejected": 3}
    changed = write_extraction(
        tmp_path / "changed.txt", [row(c10="DURAND-MARTIN"), practitioner_row(3)]
    )
    summary = await _import(db, changed)
    assert summary.counts() == {"created": 1, "updated": 1, "unchanged": 0, "rejected": 0}
    directory = {d[0]: d for d in await _directory(db)}
    camille = directory["camille.durand@salus.test"]
    assert camille[5] == "Camille DURAND-MARTIN"
    assert (camille[6], camille[8]) == ("openpgp", True)
    async with db.read() as s:
        person = await s.get_one(Practitioner, RPPS)
    assert person.last_name == "DURAND-MARTIN"
    assert (await _counts(db))["credentials"] == 1


async def test_dry_run_counts_without_writing(db: Database, tmp_path: Path) -> None:
    path = _sample(tmp_path)
    dry = await _import(db, path, dry_run=True)
    assert dry.counts() == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 3}
    assert await _counts(db) == dict.fromkeys(
        ("mailboxes", "practitioners", "organisations", "activities", "credentials"), 0
    )
    assert [e async for e in audit.export(db)] == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            f"{HEADER_LINE}\n{row(c15='Medecin')}\n".encode()
            + row(c2="a@salus.test", c10="HÉLÈNE", c15="Medecin").encode("latin-1"),
            "line 3 is not UTF-8 (byte 0xc9 at column",
        ),
        (b"Type de BAL;Adresse BAL\n", "line 1 is not a mssante header: the header has 1 columns"),
        (b"", "is empty"),
    ],
    ids=["latin-1", "header", "empty"],
)
async def test_whole_file_errors_change_nothing(
    db: Database, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=re.escape(message)):
        # batch_size=1: even the valid line 2 would have been committed had the file
        # not been checked as a whole first.
        await _import(db, path, batch_size=1)
    assert (await _counts(db))["mailboxes"] == 0
    assert [e async for e in audit.export(db)] == []


async def test_missing_file_is_a_clear_error(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"cannot read .*absent\.txt: No such file"):
        await _import(db, tmp_path / "absent.txt")


async def test_progress_reaches_the_last_line(db: Database, tmp_path: Path) -> None:
    path = write_extraction(tmp_path / "many.txt", [practitioner_row(n) for n in range(25)])
    seen: list[tuple[int, int]] = []
    summary = await _import(
        db, path, batch_size=10, progress=lambda done, total: seen.append((done, total))
    )
    assert summary.created == 25
    assert seen == [(11, 26), (21, 26), (26, 26)]


async def test_export_then_reimport_is_unchanged(db: Database, tmp_path: Path) -> None:
    await _import(db, _sample(tmp_path))
    async with db.write() as s:
        await mailboxes.set_mailbox(s, "cli:test", "doctor.2@ch-other.test", red_list=True)
    out = io.StringIO()
    assert (
        await export(db, out, file_format="mssante") == 2
    )  # the red-listed entry is not published
    exported = tmp_path / "exported.txt"
    exported.write_text(out.getvalue(), encoding="utf-8")
    assert out.getvalue().splitlines()[0] == HEADER_LINE
    again = await _import(db, exported)
    assert again.counts() == {"created": 0, "updated": 0, "unchanged": 2, "rejected": 0}
    everything = io.StringIO()
    assert await export(db, everything, file_format="mssante", include_red_list=True) == 3


async def test_csv_import_and_export(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "hand-made.csv"
    path.write_text(
        "address,kind,national_id,last_name,first_name,organisation_id,organisation_name\n"
        f"c.durand@salus.test,PER,{RPPS},Durand,Camille,1990000001,CH Test\n"
        'labo@salus.test,applicative,,,,LAB01,"Laboratoire, Test"\n'
        "bad@salus.test,PER,0ZZ1234567,Durand,,,\n",
        encoding="utf-8",
    )
    summary = await _import(db, path, file_format="csv")
    assert summary.counts() == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 1}
    assert summary.rejections[0].line == 4
    async with db.read() as s:
        org = await s.get_one(Organisation, "LAB01")
    assert org.name == "Laboratoire, Test"
    out = io.StringIO()
    await export(db, out, file_format="csv")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("kind,address,national_id")
    assert f"PER,c.durand@salus.test,{RPPS},,Durand,Camille" in lines[1]
    exported = tmp_path / "exported.csv"
    exported.write_text(out.getvalue(), encoding="utf-8")
    again = await _import(db, exported, file_format="csv")
    assert again.counts() == {"created": 0, "updated": 0, "unchanged": 2, "rejected": 0}


_REFUSE_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER refuse_one BEFORE INSERT ON mailboxes WHEN NEW.address = 'doctor.7@salus.test' "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN "
        "IF NEW.address = 'doctor.7@salus.test' THEN RAISE EXCEPTION 'refused by the test trigger'; "
        "END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_one BEFORE INSERT ON mailboxes FOR EACH ROW EXECUTE FUNCTION refuse_one()",
    ],
}


async def test_a_refused_batch_is_rolled_back_whole(db: Database, tmp_path: Path) -> None:
    """The database refuses one row of the second batch: the first batch stays, nothing
    of the second is written (not its organisations or practitioners either)."""
    async with db.write() as s:
        connection = await s.connection()
        for statement in _REFUSE_TRIGGER[connection.dialect.name]:
            await connection.exec_driver_sql(statement)
    lines = [practitioner_row(n, c7=f"ORG{n}") for n in range(10)]
    path = write_extraction(tmp_path / "refused.txt", lines)
    with pytest.raises(
        ImportAborted,
        match=r"lines 7-11: the database refused the batch \(.*refused by the test trigger",
    ) as aborted:
        await _import(db, path, batch_size=5)
    assert aborted.value.summary.created == 5
    counts = await _counts(db)
    assert (counts["mailboxes"], counts["practitioners"], counts["organisations"]) == (5, 5, 5)
