"""`salus directory …` and `salus trust …` through the installed entry point, on SQLite
and PostgreSQL: the administrator's path end to end, and every bad input of the issue
answered by one sentence on stderr, a non-zero exit, and an unchanged directory."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from directory.authn import authenticate
from directory.models import (
    Activity,
    Credential,
    Delegation,
    Mailbox,
    Organisation,
    Practitioner,
    TrustDomain,
)
from storage.database import Database
from tests.certs import make_ca
from tests.integration.directory.extraction import practitioner_row, row, write_extraction
from tests.integration.directory.seed import rpps

SALUS = Path(sys.executable).parent / "salus"
DOCTOR = rpps(500)
PASSWORD = "a long enough password"


def salus(
    data_dir: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SALUS), *args, "--data-dir", str(data_dir)],
        check=False, input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def ok(data_dir: Path, *args: str, stdin: str = "") -> str:
    done = salus(data_dir, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(data_dir: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> str:
    """The one-sentence error of a refused command."""
    done = salus(data_dir, *args, stdin=stdin, env=env)
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("salus: "), done.stderr
    return lines[0].removeprefix("salus: ")


@pytest.fixture
def data_dir(tmp_path: Path, database_url: str) -> Path:
    """A data directory made by `salus init` on each backend (SQLite inside it)."""
    target = tmp_path / "data"
    backend = [] if database_url.startswith("sqlite") else ["--database-url", database_url]
    done = subprocess.run(
        [str(SALUS), "init", "--data-dir", str(target), "--domain", "salus.test", *backend],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return target


def _database_url(data_dir: Path) -> str:
    for line in (data_dir / "salus.toml").read_text().splitlines():
        if line.strip().startswith("url"):
            return line.split("=", 1)[1].strip().strip('"')
    return f"sqlite+aiosqlite:///{data_dir / 'salus.db'}"


def directory_state(data_dir: Path) -> dict[str, int]:
    """Row counts of every directory table."""

    async def count() -> dict[str, int]:
        db = Database(_database_url(data_dir))
        try:
            async with db.read() as s:
                return {
                    m.__tablename__: (
                        await s.execute(select(func.count()).select_from(m))
                    ).scalar_one()
                    for m in (
                        Organisation,
                        Practitioner,
                        Activity,
                        Mailbox,
                        Credential,
                        Delegation,
                        TrustDomain,
                    )
                }
        finally:
            await db.dispose()

    return asyncio.run(count())


def populate(data_dir: Path) -> None:
    ok(
        data_dir,
        "directory",
        "org",
        "add",
        "--id",
        "1990000001",
        "--name",
        "CH Test",
        "--kind",
        "hospital",
    )
    ok(data_dir, "directory", "practitioner", "add", "--national-id", DOCTOR, "--first-name",
       "Camille", "--last-name", "Durand", "--profession", "10", "--org", "1990000001")  # fmt: skip
    ok(data_dir, "directory", "mailbox", "add", "camille@salus.test", "--kind", "personal",
       "--owner", DOCTOR, "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    ok(
        data_dir,
        "directory",
        "mailbox",
        "add",
        "cardio@salus.test",
        "--kind",
        "ORG",
        "--org",
        "1990000001",
    )


def test_administrator_path(data_dir: Path, tmp_path: Path) -> None:
    populate(data_dir)
    app = ok(
        data_dir,
        "directory",
        "mailbox",
        "app-password",
        "add",
        "camille@salus.test",
        "--label",
        "phone",
    ).strip()
    listed = json.loads(
        ok(data_dir, "directory", "mailbox", "app-password", "list", "camille@salus.test", "--json")
    )
    assert [e["label"] for e in listed] == ["phone"] and app not in json.dumps(listed)
    ok(data_dir, "directory", "mailbox", "delegate", "cardio@salus.test", "--to", DOCTOR)
    ok(data_dir, "directory", "mailbox", "set", "cardio@salus.test", "--crypto", "smime-gcm",
       "--delivery", "server-decrypt", "--quota", "5000000", "--red-list")  # fmt: skip
    ok(data_dir, "directory", "mailbox", "suspend", "cardio@salus.test")
    shown = json.loads(ok(data_dir, "directory", "show", "cardio@salus.test", "--json"))
    assert (shown["crypto"], shown["delivery"], shown["quota"], shown["red_list"], shown["status"]) == (
        "smime-gcm", "server-decrypt", 5000000, True, "suspended",
    )  # fmt: skip
    assert shown["delegates"] == [DOCTOR]
    ok(data_dir, "directory", "mailbox", "resume", "cardio@salus.test")
    person = json.loads(ok(data_dir, "directory", "show", DOCTOR, "--json"))
    assert person["mailboxes"] == ["camille@salus.test"] and person["organisations"] == [
        "1990000001"
    ]
    found = json.loads(ok(data_dir, "directory", "search", "durand", "--json"))
    assert [m["address"] for m in found["mailboxes"]] == ["camille@salus.test"]
    ok(data_dir, "directory", "practitioner", "suspend", DOCTOR)
    ok(data_dir, "directory", "practitioner", "resume", DOCTOR)

    async def logins() -> list[str]:
        db = Database(_database_url(data_dir))
        try:
            return [
                (
                    await authenticate(
                        db, "camille@salus.test", secret, client="192.0.2.1", protocol="imap"
                    )
                ).method
                for secret in (PASSWORD, app)
            ]
        finally:
            await db.dispose()

    assert asyncio.run(logins()) == ["password", "app-password"]
    ok(
        data_dir,
        "directory",
        "mailbox",
        "app-password",
        "revoke",
        "camille@salus.test",
        "--label",
        "phone",
    )
    ok(
        data_dir,
        "directory",
        "mailbox",
        "passwd",
        "camille@salus.test",
        "--password-stdin",
        stdin="another long password\n",
    )
    exported = ok(data_dir, "directory", "export")
    assert "camille@salus.test" in exported and "cardio@salus.test" not in exported  # red list
    ca = tmp_path / "peer-ca.pem"
    ca.write_bytes(make_ca("Peer Operator CA").cert_pem)
    ok(
        data_dir,
        "trust",
        "add",
        "peer.test",
        "--ca",
        str(ca),
        "--relay",
        "mx.peer.test:25",
        "--lookup",
        "lookup.peer.test:443",
    )
    assert json.loads(ok(data_dir, "trust", "list", "--json")) == [
        {"anchors": 1, "domain": "peer.test", "lookup": "lookup.peer.test:443",
         "operator": "Peer Operator CA", "relay": "mx.peer.test:25"}
    ]  # fmt: skip
    assert "BEGIN CERTIFICATE" in ok(data_dir, "trust", "export-ca")
    ok(data_dir, "trust", "remove", "peer.test")
    ok(data_dir, "directory", "mailbox", "remove", "camille@salus.test", "--yes")
    ok(data_dir, "directory", "practitioner", "remove", DOCTOR)
    state = directory_state(data_dir)
    assert (
        state["practitioners"],
        state["mailboxes"],
        state["credentials"],
        state["trust_domains"],
    ) == (0, 1, 0, 0)
    assert "intact" in ok(data_dir, "audit", "verify")


def test_import_reports_rejected_lines_and_counts(data_dir: Path, tmp_path: Path) -> None:
    path = write_extraction(
        tmp_path / "extraction.txt",
        [
            row(),
            practitioner_row(1, domain="ch-other.test"),
            "PER|x",
            practitioner_row(2, c5="812345678901", c4=""),
        ],
    )
    dry = salus(data_dir, "directory", "import", str(path), "--dry-run")
    assert dry.returncode == 0 and dry.stdout.strip() == (
        "dry run, nothing written: 2 created, 0 updated, 0 unchanged, 2 rejected"
    )
    assert directory_state(data_dir)["mailboxes"] == 0
    done = salus(data_dir, "directory", "import", str(path))
    assert done.returncode == 0
    assert done.stdout.strip() == "2 created, 0 updated, 0 unchanged, 2 rejected"
    assert "extraction.txt line 4: expected 31 columns, found 2" in done.stderr
    assert "extraction.txt line 5: invalid national identifier '812345678901'" in done.stderr
    state = directory_state(data_dir)  # the rejected lines wrote nothing
    assert (state["mailboxes"], state["practitioners"], state["credentials"]) == (2, 2, 0)
    again = salus(data_dir, "directory", "import", str(path))
    assert again.stdout.strip() == "0 created, 0 updated, 2 unchanged, 2 rejected"
    shown = json.loads(ok(data_dir, "directory", "show", "camille.durand@salus.test", "--json"))
    assert shown["local"] and not shown["password_set"]


BAD_COMMANDS = [
    (
        ["directory", "practitioner", "add", "--national-id", "812345678901", "--first-name", "A",
         "--last-name", "B", "--profession", "10"],
        "invalid national identifier '812345678901': the RPPS check digit (Luhn) does not match",
    ),
    (
        ["directory", "practitioner", "add", "--national-id", rpps(501), "--first-name", "A",
         "--last-name", "B", "--profession", "10", "--org", "9999999999"],
        "unknown organisation '9999999999'",
    ),
    (
        ["directory", "mailbox", "add", "CARDIO@salus.test", "--kind", "ORG", "--org", "1990000001"],
        "mailbox 'cardio@salus.test' already exists",
    ),
    (
        ["directory", "mailbox", "passwd", "camille@salus.test", "--password-stdin"],
        "password refused: a password needs at least 12 characters",
    ),
    (
        ["directory", "mailbox", "set", "nobody@salus.test", "--quota", "1"],
        "no mailbox 'nobody@salus.test' in the directory",
    ),
    (
        ["trust", "add", "peer.test", "--ca", "/dev/null", "--relay", "mx.peer.test", "--lookup", "l.peer.test:443"],
        "--relay: 'mx.peer.test' is not HOST:PORT",
    ),
]  # fmt: skip


def _unusable_files(tmp_path: Path) -> list[tuple[Path, str]]:
    latin = write_extraction(tmp_path / "latin-1.txt", [practitioner_row(1, c15="Medecin")])
    with latin.open("ab") as out:
        out.write(practitioner_row(2, c10="HÉLÈNE", c15="Medecin").encode("latin-1") + b"\n")
    columns = tmp_path / "columns.txt"
    columns.write_text("Type de BAL|Adresse BAL\nPER|a@salus.test\n", encoding="utf-8")
    return [
        (latin, "line 3 is not UTF-8 (byte 0xc9 at column"),
        (columns, "line 1 is not a mssante header: the header has 2 columns, expected 31"),
    ]


def test_every_bad_input_changes_nothing(data_dir: Path, tmp_path: Path) -> None:
    """The bad inputs of the issue, one after the other on one populated directory."""
    populate(data_dir)
    before = directory_state(data_dir)
    for args, message in BAD_COMMANDS:
        assert refused(data_dir, *args, stdin="short\n") == message, args
        assert directory_state(data_dir) == before, args
    for path, message in _unusable_files(tmp_path):
        assert message in refused(data_dir, "directory", "import", str(path)), path
        assert directory_state(data_dir) == before, path
    env = {"SALUS_DATABASE__URL": "postgresql+asyncpg://postgres@127.0.0.1:1/absent"}
    message = refused(data_dir, "directory", "org", "add", "--id", "X1", "--name", "X", env=env)
    assert message.startswith("database unavailable:"), message
    assert directory_state(data_dir) == before


def test_unwritable_data_dir_is_one_sentence(data_dir: Path) -> None:
    if _database_url(data_dir).startswith("postgresql"):
        pytest.skip("on PostgreSQL the data directory holds no database")
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is needed to make a directory unwritable for root")
    populate(data_dir)
    before = directory_state(data_dir)
    files = [data_dir, *data_dir.glob("salus.db*")]
    made = subprocess.run(["chattr", "+i", *map(str, files)], check=False, capture_output=True)
    if made.returncode != 0:
        pytest.skip("this file system does not support the immutable attribute")
    try:
        message = refused(data_dir, "directory", "org", "add", "--id", "X1", "--name", "X")
    finally:
        subprocess.run(["chattr", "-i", *map(str, files)], check=True)
    assert message.startswith("database unavailable:"), message
    assert directory_state(data_dir) == before
