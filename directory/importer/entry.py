"""One directory entry as read from an import file: a mailbox, and the practitioner and
organisation it names, normalised and validated. Pure values, no database."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any


@dataclass(frozen=True, slots=True)
class PractitionerFields:
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


@dataclass(frozen=True, slots=True)
class OrganisationFields:
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
            *(_practitioner_values(self.practitioner) if self.practitioner else ("",)),
            *(_organisation_values(self.organisation) if self.organisation else ("",)),
        )
        digest = hashlib.blake2b("\x1f".join(values).encode(), digest_size=16).hexdigest()
        object.__setattr__(self, "digest", digest)


def _values_getter(cls: type[Any]) -> attrgetter[tuple[str, ...]]:
    return attrgetter(*(f.name for f in fields(cls)))


_practitioner_values = _values_getter(PractitionerFields)
_organisation_values = _values_getter(OrganisationFields)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that was not imported, and why."""

    line: int
    reason: str
