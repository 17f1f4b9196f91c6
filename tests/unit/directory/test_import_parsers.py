"""The import parsers: the MSSanté extraction line and the plain CSV row, each row giving
an entry or a rejection with its line number and reason; export then re-import gives the
same entries."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directory.importer import csv_format, mssante
from directory.importer.entry import Entry, Rejection
from directory.importer.export import csv_values, mssante_values
from directory.national_id import Rpps
from tests.integration.directory.extraction import RPPS, row

LOCAL = ("salus.test",)


def parse(line: str) -> Entry | Rejection:
    return mssante.parse_line(line, 7, LOCAL)


def test_the_published_header_is_accepted(shared_fixtures: object) -> None:
    from pathlib import Path  # noqa: PLC0415

    assert isinstance(shared_fixtures, Path)
    sample = (
        shared_fixtures
        / "directory/mssante-extraction/Extraction_Correspondance_MSSante_header.txt"
    )
    assert mssante.header_problem(sample.read_text(encoding="utf-8")) is None


@pytest.mark.parametrize(
    ("line", "problem"),
    ids=["count", "name"],
    argvalues=[
        ("Type de BAL|Adresse BAL", "the header has 2 columns, expected 31"),
        (
            "|".join(("Type", *mssante.HEADER[1:])),
            "header column 1 is 'Type', expected 'Type de BAL'",
        ),
    ],
)
def test_wrong_headers_are_named(line: str, problem: str) -> None:
    assert mssante.header_problem(line) == problem


def test_header_tolerates_bom_case_and_crlf() -> None:
    line = "\ufeff" + "|".join(h.upper() for h in mssante.HEADER) + "\r\n"
    assert mssante.header_problem(line) is None


def test_a_personal_mailbox_row() -> None:
    entry = parse(row())
    assert isinstance(entry, Entry)
    assert (entry.line, entry.address, entry.kind, entry.local) == (
        7, "camille.durand@salus.test", "personal", True,
    )  # fmt: skip
    assert entry.display_name == "Camille DURAND"
    assert entry.practitioner is not None and entry.practitioner.national_id == RPPS
    assert entry.practitioner.id_scheme == "rpps" and entry.practitioner.specialty == "SM26"
    assert entry.organisation is not None and entry.organisation.id == "1990000001"
    assert entry.organisation.city == "PARIS"
    assert entry.organisation.address == "12 R DES LILAS, 75013 PARIS"


def test_an_organisational_row_without_practitioner_in_another_domain() -> None:
    entry = parse(
        row(c1="ORG", c2="cardio@ch-other.test", c3="", c4="", c5="", c8="Cardiologie", c10="")
    )
    assert isinstance(entry, Entry)
    assert entry.kind == "organizational" and not entry.local
    assert entry.practitioner is None and entry.display_name == "Cardiologie"


def test_national_id_is_rebuilt_from_type_and_identifier() -> None:
    entry = parse(row(c5=""))
    assert isinstance(entry, Entry) and entry.practitioner is not None
    assert entry.practitioner.national_id == RPPS


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"c1": "XYZ"}, "unknown Type de BAL 'XYZ'"),
        ({"c2": "no-at-sign"}, "Adresse BAL 'no-at-sign': an address is local-part@domain"),
        ({"c5": RPPS[:-1] + str((int(RPPS[-1]) + 1) % 10), "c4": ""}, "check digit"),
        ({"c5": "8" + "1" * 11}, "is not type + identifiant"),
        ({"c10": ""}, "has no Nom d'exercice"),
        ({"c7": "19 900"}, "invalid Identification Structure '19 900'"),
        ({"c10": "X" * 129}, "column 10 (Nom d'exercice) is longer than 128 characters"),
    ],
)
def test_bad_rows_are_rejected_with_line_and_reason(changes: dict[str, str], reason: str) -> None:
    rejected = parse(row(**changes))
    assert isinstance(rejected, Rejection)
    assert rejected.line == 7 and reason in rejected.reason


@pytest.mark.parametrize("count", [1, 30, 32])
def test_wrong_column_count_is_rejected(count: int) -> None:
    rejected = parse("|".join(["PER"] * count))
    assert rejected == Rejection(7, f"expected 31 columns, found {count}")


@given(st.lists(st.text(max_size=12), min_size=1, max_size=40))
def test_any_line_gives_an_entry_or_a_rejection(values: list[str]) -> None:
    result = parse("|".join(values))
    assert isinstance(result, Entry | Rejection) and result.line == 7


def field_text(max_size: int = 16) -> st.SearchStrategy[str]:
    return st.text(
        alphabet=st.characters(
            blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="|"
        ),
        max_size=max_size,
    ).map(str.strip)


rpps = st.text(alphabet="0123456789", min_size=10, max_size=10).map(
    lambda d: "8" + Rpps().with_check_digit(d)
)
address = st.tuples(
    st.from_regex(r"[a-z0-9]{1,8}(\.[a-z0-9]{1,8})?", fullmatch=True),
    st.sampled_from(["salus.test", "ch-other.test", "MSSANTE.test"]),
).map("@".join)


@st.composite
def extraction_rows(draw: st.DrawFn) -> str:
    values = [
        draw(field_text(8)) if n in (9, 12, 18, 30) else draw(field_text()) for n in range(1, 32)
    ]
    values[0] = draw(st.sampled_from(["PER", "ORG", "APP", "CAB", "per"]))
    values[1] = draw(address)
    identifier = draw(st.one_of(st.just(""), rpps))
    values[2:5] = [identifier[:1], identifier[1:], identifier]
    values[5] = draw(st.sampled_from(["", "1", "3"]))
    values[6] = draw(st.from_regex(r"([0-9A-Z]{1,12})?", fullmatch=True))
    if identifier and not values[9]:
        values[9] = "NOM"
    return "|".join(values)


@given(extraction_rows())
def test_export_then_import_gives_the_same_entry(line: str) -> None:
    entry = parse(line)
    assert isinstance(entry, Entry), entry
    again = parse(mssante.format_line(mssante_values(entry)))
    assert again == entry and again.digest == entry.digest


def _csv(header: list[str], *rows: list[str]) -> list[Entry | Rejection]:
    reader = csv.reader(io.StringIO("\n".join(",".join(r) for r in [header, *rows])))
    layout = csv_format.layout(next(reader))
    assert not isinstance(layout, str)
    return [csv_format.parse_row(layout, r, n, LOCAL) for n, r in enumerate(reader, start=2)]


def test_csv_rows_in_any_column_order() -> None:
    parsed = _csv(
        ["address", "kind", "national_id", "last_name", "organisation_id"],
        ["lab@salus.test", "APP", "", "", "LAB01"],
        ["c.durand@salus.test", "personal", RPPS, "Durand", ""],
        ["x@salus.test", "PER", "812", "Durand", ""],
    )
    assert isinstance(parsed[0], Entry) and parsed[0].kind == "applicative"
    assert parsed[0].organisation is not None and parsed[0].organisation.name == "LAB01"
    assert isinstance(parsed[1], Entry) and parsed[1].practitioner is not None
    assert isinstance(parsed[2], Rejection) and parsed[2].line == 4
    assert "invalid national identifier '812'" in parsed[2].reason


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (["kind", "address", "email"], "unknown column 'email'"),
        (["kind", "national_id"], "lacks the 'address' column"),
        (["kind", "address", "kind"], "named twice"),
    ],
)
def test_csv_headers_are_checked(header: list[str], problem: str) -> None:
    found = csv_format.layout(header)
    assert isinstance(found, str) and problem in found


@given(extraction_rows())
def test_csv_export_then_import_keeps_the_csv_fields(line: str) -> None:
    entry = parse(line)
    assert isinstance(entry, Entry)
    text = io.StringIO()
    csv.writer(text).writerows([list(csv_format.COLUMNS), csv_values(entry)])
    reader = csv.reader(io.StringIO(text.getvalue()))
    layout = csv_format.layout(next(reader))
    assert not isinstance(layout, str)
    again = csv_format.parse_row(layout, next(reader), 2, LOCAL)
    assert isinstance(again, Entry), again
    assert again.address == entry.address and again.kind == entry.kind
    assert (again.practitioner is None) == (entry.practitioner is None)
    if entry.practitioner and again.practitioner:
        assert again.practitioner.national_id == entry.practitioner.national_id
        assert again.practitioner.last_name == entry.practitioner.last_name


def test_recent_rows_skip_repeats_and_stay_bounded() -> None:
    from directory.importer.load import RecentRows  # noqa: PLC0415

    recent = RecentRows(capacity=2)
    a, b, c = {"id": "A", "name": "x"}, {"id": "B", "name": "y"}, {"id": "C", "name": "z"}
    assert recent.fresh("organisations", "id", [a, b]) == [a, b]
    assert recent.fresh("organisations", "id", [a, b]) == []
    changed = {"id": "A", "name": "renamed"}
    assert recent.fresh("organisations", "id", [changed]) == [changed]
    assert recent.fresh("organisations", "id", [c]) == [c]  # B, least recently seen, goes
    assert recent.fresh("organisations", "id", [b, changed]) == [b]
