"""People and organisations named by documents, with their identifiers normalised.

MSSanté convention (DESIGN section 4): a practitioner's national identifier is `8` + RPPS
or `0` + ADELI, issued under the OID 1.2.250.1.71.4.2.1 (identifiant national de PS);
structures are identified under 1.2.250.1.71.4.2.2. Patients carry an INS (NIR or NIA,
and their test OIDs). Any other authority (a US NPI, a local id) is a *foreign* id: kept
to be named in a refusal, never matched against the directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

PRACTITIONER_OID = "1.2.250.1.71.4.2.1"
STRUCTURE_OID = "1.2.250.1.71.4.2.2"
NPI_OID = "2.16.840.1.113883.4.6"
# INS-NIR, INS-NIA and their test OIDs (ANS, "Référentiel INS").
PATIENT_OIDS = frozenset(
    {"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"}
)
# HL7 v2 identifier type codes (table 0203 and the French extension).
PRACTITIONER_TYPE_CODES = frozenset({"IDNPS", "RPPS", "ADELI"})
PATIENT_TYPE_CODES = frozenset({"INS", "INS-C", "INS-NIR", "INS-NIA"})

_RPPS_NATIONAL = re.compile(r"8\d{11}")
_RPPS_BARE = re.compile(r"\d{11}")
_ADELI_NATIONAL = re.compile(r"0\d[0-9AB]\d{7}")  # ADELI: department (2A/2B in Corsica) first


class IdScheme(StrEnum):
    NATIONAL = "national"  # practitioner national id, routable
    STRUCTURE = "structure"  # organisation id
    PATIENT = "patient"  # INS: a patient, never routed through the practitioner directory
    FOREIGN = "foreign"  # any other authority: named in refusals, never matched


@dataclass(frozen=True, slots=True)
class PartyId:
    scheme: IdScheme
    value: str  # the national id, structure id, or "authority:value"

    def __str__(self) -> str:
        if self.scheme is IdScheme.PATIENT:
            return "a patient INS"  # patient identifiers never leave in a reply or a header
        return self.value if self.scheme is IdScheme.NATIONAL else f"{self.scheme} id {self.value}"


@dataclass(frozen=True, slots=True)
class Party:
    """A recipient (or author) as a document names it."""

    role: str  # where it is named: "OBR-16", "PRT RCT", "informationRecipient", …
    ids: tuple[PartyId, ...] = ()
    name: str = ""
    address: str | None = None  # a mail address the document gives (PRT-15 X.400, XTN)

    def first(self, scheme: IdScheme) -> str | None:
        return next((i.value for i in self.ids if i.scheme is scheme), None)

    @property
    def national_id(self) -> str | None:
        return self.first(IdScheme.NATIONAL)

    @property
    def structure_id(self) -> str | None:
        return self.first(IdScheme.STRUCTURE)

    @property
    def is_patient(self) -> bool:
        return any(i.scheme is IdScheme.PATIENT for i in self.ids)

    def label(self) -> str:
        """How a refusal names this party: its ids, else its address, else its role."""
        if self.ids:
            return ", ".join(str(i) for i in self.ids)
        if self.address:
            return self.address
        return f"the {self.role} recipient (no identifier)"


def party_id(authority: str, value: str, *, namespace: str = "", type_code: str = "") -> PartyId:
    """Classify one identifier from its authority OID (or HL7 namespace / type code)."""
    value = value.strip()
    authority = authority.strip()
    upper_type = type_code.strip().upper()
    if authority == PRACTITIONER_OID or (not authority and upper_type in PRACTITIONER_TYPE_CODES):
        national = national_practitioner_id(value)
        if national is not None:
            return PartyId(IdScheme.NATIONAL, national)
    if authority == STRUCTURE_OID:
        return PartyId(IdScheme.STRUCTURE, value)
    if authority in PATIENT_OIDS or upper_type in PATIENT_TYPE_CODES:
        return PartyId(IdScheme.PATIENT, value)
    where = authority or namespace.strip() or upper_type or "unknown authority"
    return PartyId(IdScheme.FOREIGN, f"{where}:{value}")


def national_practitioner_id(value: str) -> str | None:
    """`8`+RPPS (or a bare 11-digit RPPS, prefixed) or `0`+ADELI; None if neither."""
    if _RPPS_NATIONAL.fullmatch(value) or _ADELI_NATIONAL.fullmatch(value):
        return value
    if _RPPS_BARE.fullmatch(value):
        return "8" + value
    return None


def patient_id_present(ids: list[PartyId] | tuple[PartyId, ...]) -> bool:
    return any(i.scheme is IdScheme.PATIENT for i in ids)
