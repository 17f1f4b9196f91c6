"""One directory entry as read from an import file: a mailbox, and the practitioner and
organisation it names, normalised and validated. Pure values, no database.

The practitioner and organisation fields are named tuples: a national file makes a
million of them, and a tuple is built several times faster than a frozen dataclass."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import NamedTuple


class PractitionerFields(NamedTuple):
    national_id: str
    id_scheme: str
    civility: str
    last_name: str
    first_name: str
    category: str
    category_label: str
    profession: str
    profession_label: str
    specialty: str
    specialty_label: str


class OrganisationFields(NamedTuple):
    id: str
    id_type: str
    name: str
    trade_name: str
    address_location: str
    address_distribution: str
    street_number: str
    street_number_complement: str
    street_type: str
    street_name: str
    locality: str
    routing_line: str
    postal_code: str
    department: str
    country: str

    @property
    def city(self) -> str:
        """The town of the L6 routing line ("75013 PARIS" -> "PARIS")."""
        head, _, rest = self.routing_line.partition(" ")
        return rest.strip() if head.isdigit() else self.routing_line

    @property
    def address(self) -> str:
        """The address on one line, for display and search."""
        street = " ".join(
            part
            for part in (
                self.street_number,
                self.street_number_complement,
                self.street_type,
                self.street_name,
            )
            if part
        )
        parts = (self.address_location, self.address_distribution, street, self.locality)
        return ", ".join(p for p in (*parts, self.routing_line) if p)


@dataclass(frozen=True, slots=True)
class Entry:
    """A valid row: `line` is its line number in the file."""

    line: int
    address: str
    kind: str
    local: bool
    display_name: str
    service: str
    dematerialisation: str
    practitioner: PractitionerFields | None
    organisation: OrganisationFields | None
    # A digest of everything the row says (and of where it is served): equal digests mean
    # an unchanged row.
    digest: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        values = (
            self.address,
            self.kind,
            str(self.local),
            self.display_name,
            self.service,
            self.dematerialisation,
            *(self.practitioner or ("",)),
            *(self.organisation or ("",)),
        )
        digest = hashlib.blake2b("\x1f".join(values).encode(), digest_size=16).hexdigest()
        object.__setattr__(self, "digest", digest)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that was not imported, and why."""

    line: int
    reason: str
