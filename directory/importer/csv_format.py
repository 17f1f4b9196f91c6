"""A plain CSV format for hand-made lists (RFC 4180: commas, double quotes, UTF-8), with
a header line naming the columns, in any order:

  kind               PER, ORG, APP, CAB, or personal, organizational, applicative, practice (required)
  address            the mailbox address (required)
  national_id        8 + RPPS or 0 + ADELI, for a practitioner's mailbox
  civility           DR, PR, M, MME...
  last_name          required with national_id
  first_name
  profession         profession code (10 physician, 21 pharmacist, 60 nurse...)
  specialty          savoir-faire code (SM26 general practice...)
  organisation_id    FINESS-like identifier of the organisation
  organisation_name  its name (the identifier when empty)
  service            the service the mailbox belongs to

Columns left out are empty. Rows become the same entries as the MSSanté extraction's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from directory import national_id
from directory.addresses import address_problem
from directory.admin.organisations import organisation_id_problem
from directory.importer.entry import Entry, OrganisationFields, PractitionerFields, Rejection
from directory.models import BAL_TYPES, MailboxKind

COLUMNS = (
    "kind",
    "address",
    "national_id",
    "civility",
    "last_name",
    "first_name",
    "profession",
    "specialty",
    "organisation_id",
    "organisation_name",
    "service",
)
REQUIRED = ("kind", "address")
_KINDS = {code: kind.value for code, kind in BAL_TYPES.items()} | {
    kind.value.upper(): kind.value for kind in MailboxKind
}
_MAX_FIELD = 255


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each known column sits in a row."""

    positions: dict[str, int]
    width: int

    def value(self, row: Sequence[str], name: str) -> str:
        index = self.positions.get(name)
        return "" if index is None else row[index].strip()


def layout(header: Sequence[str]) -> Layout | str:
    """The layout named by a header row, or why it is not a valid header."""
    names = [name.strip().lower() for name in header]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        return f"unknown column {unknown[0]!r} (known: {', '.join(COLUMNS)})"
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        return f"the header lacks the {missing[0]!r} column"
    if len(set(names)) != len(names):
        return "a column is named twice in the header"
    return Layout({name: index for index, name in enumerate(names)}, len(names))


class _Refused(Exception):
    """A row is refused: the message is the reason."""


def _practitioner(cols: Layout, row: Sequence[str]) -> PractitionerFields | None:
    identifier = cols.value(row, "national_id").upper()
    if not identifier:
        return None
    reason = national_id.problem(identifier)
    if reason is not None:
        raise _Refused(f"invalid national identifier {identifier!r}: {reason}")
    last_name = cols.value(row, "last_name")
    if not last_name:
        raise _Refused(f"practitioner {identifier} has no last_name")
    return PractitionerFields(
        national_id=identifier,
        id_scheme=national_id.scheme_name(identifier),
        civility=cols.value(row, "civility"),
        last_name=last_name,
        first_name=cols.value(row, "first_name"),
        category="",
        category_label="",
        profession=cols.value(row, "profession"),
        profession_label="",
        specialty=cols.value(row, "specialty"),
        specialty_label="",
    )


def _organisation(cols: Layout, row: Sequence[str]) -> OrganisationFields | None:
    org_id = cols.value(row, "organisation_id")
    if not org_id:
        return None
    reason = organisation_id_problem(org_id)
    if reason is not None:
        raise _Refused(f"invalid organisation_id {org_id!r}: {reason}")
    blank = [""] * 12
    return OrganisationFields(org_id, "", cols.value(row, "organisation_name") or org_id, *blank)


def _entry(cols: Layout, row: Sequence[str], number: int, local_domains: tuple[str, ...]) -> Entry:
    if len(row) != cols.width:
        raise _Refused(f"expected {cols.width} columns, found {len(row)}")
    if any(len(value) > _MAX_FIELD for value in row):
        raise _Refused(f"a value is longer than {_MAX_FIELD} characters")
    kind_text = cols.value(row, "kind")
    kind = _KINDS.get(kind_text.upper())
    if kind is None:
        raise _Refused(f"unknown kind {kind_text!r} (PER, ORG, APP, CAB or their names)")
    address = cols.value(row, "address").lower()
    reason = address_problem(address)
    if reason is not None:
        raise _Refused(f"address {cols.value(row, 'address')!r}: {reason}")
    person = _practitioner(cols, row)
    org = _organisation(cols, row)
    service = cols.value(row, "service")
    display = f"{person.first_name} {person.last_name}".strip() if person else ""
    return Entry(
        line=number,
        address=address,
        kind=kind,
        local=address.rpartition("@")[2] in local_domains,
        display_name=display or service or (org.name if org else ""),
        service=service,
        dematerialisation="",
        practitioner=person,
        organisation=org,
    )


def parse_row(
    cols: Layout, row: Sequence[str], number: int, local_domains: tuple[str, ...]
) -> Entry | Rejection:
    """One CSV row as an entry, or the reason it is refused."""
    try:
        return _entry(cols, row, number, local_domains)
    except _Refused as refused:
        return Rejection(number, str(refused))
