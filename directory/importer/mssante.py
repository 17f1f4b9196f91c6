"""The MSSanté "Extraction correspondance" file: one header line, then one mailbox per
line, 31 `|`-separated columns, UTF-8 (the ANS open-data file
`Extraction_Correspondance_MSSante`). Pure: a line in, an `Entry` or a `Rejection` out.

Column use:
  1 Type de BAL (PER, ORG, APP, CAB) -> mailbox kind; 2 Adresse BAL -> address;
  3-5 Type Identifiant PP, Identifiant PP, Identification nationale PP -> the
  practitioner's national identifier (5 = 3 + 4; 5 is rebuilt from 3 and 4 when empty);
  6-7 Type identifiant structure, Identification Structure -> the organisation's key;
  8 Service de rattachement -> mailbox service; 9-17 civility, names, profession category,
  profession, savoir-faire (specialty) with their labels -> practitioner;
  18 Dématérialisation -> kept on the mailbox; 19-31 Raison sociale, enseigne and the
  AFNOR address lines of the structure -> organisation.
"""

from __future__ import annotations

from operator import gt

from directory import national_id
from directory.addresses import address_problem
from directory.admin.organisations import organisation_id_problem
from directory.importer.entry import Entry, OrganisationFields, PractitionerFields, Rejection
from directory.models import BAL_TYPES

HEADER = (
    "Type de BAL",
    "Adresse BAL",
    "Type Identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Type identifiant structure",
    "Identification Structure",
    "Service de rattachement",
    "Civilité d'exercice",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Catégorie profession",
    "Libellé de catégorie profession",
    "Code Profession",
    "Libellé Profession",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Dématérialisation",
    "Raison Sociale structure BAL",
    "Enseigne commerciale structure BAL",
    "L2COMPLEMENTLOCALISATION structure BAL",
    "L3COMPLEMENTDISTRIBUTION structure BAL",
    "L4NUMEROVOIE structure BAL",
    "L4COMPLEMENTNUMEROVOIE structure BAL",
    "NL4TYPEVOIE structure BAL",
    "L4LIBELLEVOIE structure BAL",
    "L5LIEUDITMENTION structure BAL",
    "L6LIGNEACHEMINEMENT structure BAL",
    "Code postal structure BAL",
    "Département structure BAL",
    "Pays structure BAL",
)
COLUMNS = len(HEADER)
SEPARATOR = "|"
_KINDS = {code: kind.value for code, kind in BAL_TYPES.items()}
# Field lengths of the models: longer values are refused, not cut.
_LIMITS = {8: 255, 9: 16, 10: 128, 11: 128, 12: 8, 13: 128, 14: 32, 15: 128, 16: 32, 17: 255,
           18: 8, 19: 255, 20: 255, 21: 255, 22: 255, 23: 16, 24: 16, 25: 32, 26: 255,
           27: 255, 28: 255, 29: 16, 30: 8, 31: 64}  # fmt: skip
# Columns 1-7 are checked by their own rules (type, address, identifiers).
_LIMIT_OF_COLUMN = tuple(_LIMITS.get(index, 1 << 30) for index in range(1, COLUMNS + 1))


def header_problem(line: str) -> str | None:
    """Why the first line is not the extraction header, or None."""
    names = tuple(name.strip() for name in line.rstrip("\r\n").lstrip("\ufeff").split(SEPARATOR))
    if len(names) != COLUMNS:
        return f"the header has {len(names)} columns, expected {COLUMNS}"
    for number, (found, expected) in enumerate(zip(names, HEADER, strict=True), start=1):
        if found.casefold() != expected.casefold():
            return f"header column {number} is {found!r}, expected {expected!r}"
    return None


class _Refused(Exception):
    """A row is refused: the message is the reason."""


def _national_id(f: list[str]) -> str | None:
    given = f[4].upper()
    composed = (f[2] + f[3]).upper()
    if not given:
        given = composed
    elif f[3] and composed != given:
        raise _Refused(
            f"Identification nationale PP {given!r} is not type + identifiant {composed!r}"
        )
    if not given:
        return None
    reason = national_id.problem(given)
    if reason is not None:
        raise _Refused(f"invalid national identifier {given!r}: {reason}")
    return given


def _practitioner(f: list[str]) -> PractitionerFields | None:
    identifier = _national_id(f)
    if identifier is None:
        return None
    if not f[9]:
        raise _Refused(f"practitioner {identifier} has no Nom d'exercice")
    return PractitionerFields(
        national_id=identifier,
        id_scheme=national_id.scheme_name(identifier),
        civility=f[8],
        last_name=f[9],
        first_name=f[10],
        category=f[11],
        category_label=f[12],
        profession=f[13],
        profession_label=f[14],
        specialty=f[15],
        specialty_label=f[16],
    )


def _organisation(f: list[str]) -> OrganisationFields | None:
    if not f[6]:
        return None
    reason = organisation_id_problem(f[6])
    if reason is not None:
        raise _Refused(f"invalid Identification Structure {f[6]!r}: {reason}")
    return OrganisationFields(
        id=f[6],
        id_type=f[5],
        name=f[18] or f[19] or f[6],
        trade_name=f[19],
        address_location=f[20],
        address_distribution=f[21],
        street_number=f[22],
        street_number_complement=f[23],
        street_type=f[24],
        street_name=f[25],
        locality=f[26],
        routing_line=f[27],
        postal_code=f[28],
        department=f[29],
        country=f[30],
    )


def _fields(line: str) -> list[str]:
    f = list(map(str.strip, line.split(SEPARATOR)))
    if len(f) != COLUMNS:
        raise _Refused(f"expected {COLUMNS} columns, found {len(f)}")
    if any(map(gt, map(len, f), _LIMIT_OF_COLUMN)):
        for index, limit in _LIMITS.items():
            if len(f[index - 1]) > limit:
                raise _Refused(
                    f"column {index} ({HEADER[index - 1]}) is longer than {limit} characters"
                )
    return f


def _entry(line: str, number: int, local_domains: tuple[str, ...]) -> Entry:
    f = _fields(line)
    kind = _KINDS.get(f[0].upper())
    if kind is None:
        raise _Refused(f"unknown Type de BAL {f[0]!r} (PER, ORG, APP or CAB)")
    address = f[1].lower()
    reason = address_problem(address)
    if reason is not None:
        raise _Refused(f"Adresse BAL {f[1]!r}: {reason}")
    person = _practitioner(f)
    org = _organisation(f)
    display = f"{person.first_name} {person.last_name}".strip() if person else ""
    return Entry(
        line=number,
        address=address,
        kind=kind,
        local=address.rpartition("@")[2] in local_domains,
        display_name=display or f[7] or (org.name if org else ""),
        service=f[7],
        dematerialisation=f[17],
        practitioner=person,
        organisation=org,
    )


def parse_line(line: str, number: int, local_domains: tuple[str, ...]) -> Entry | Rejection:
    """One data line (without its end of line) as an entry, or the reason it is refused."""
    try:
        return _entry(line, number, local_domains)
    except _Refused as refused:
        return Rejection(number, str(refused))


def format_line(values: list[str]) -> str:
    """31 values as one line; separators and line breaks inside a value become blanks."""
    return SEPARATOR.join(
        v.replace(SEPARATOR, " ").replace("\r", " ").replace("\n", " ") for v in values
    )
