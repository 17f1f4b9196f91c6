"""Coded values (document type codes) as the formats carry them."""

from __future__ import annotations

from dataclasses import dataclass

LOINC_OID = "2.16.840.1.113883.6.1"
# HL7 v2 coding system names (table 0396) for the OIDs that document codes use.
_V2_SYSTEMS = {"LN": LOINC_OID, "LOINC": LOINC_OID}
_SYSTEM_NAMES = {LOINC_OID: "LOINC"}


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    system: str = ""  # an OID when known ("2.16.840.1.113883.6.1"), else the name as given
    display: str = ""

    @property
    def system_name(self) -> str:
        return _SYSTEM_NAMES.get(self.system, self.system)

    def __str__(self) -> str:
        return f"{self.code} ({self.system_name})" if self.system else self.code


def v2_code(code: str, display: str, system: str) -> Code:
    """A code from an HL7 v2 CE/CWE triplet, its coding system mapped to an OID if known."""
    return Code(code, _V2_SYSTEMS.get(system.upper(), system), display)


def readable_time(ts: str) -> str:
    """An HL7 TS ("20191203133000+0100") as "2019-12-03 13:30 +01:00"; as given if odd."""
    digits, sign, zone = ts.partition("+") if "+" in ts else ts.partition("-")
    digits = digits.split(".")[0]
    if not digits.isdigit() or len(digits) < 4:
        return ts
    text = "-".join(p for p in (digits[0:4], digits[4:6], digits[6:8]) if p)
    if len(digits) >= 12:
        text += f" {digits[8:10]}:{digits[10:12]}"
    if sign and len(zone) == 4 and zone.isdigit():
        text += f" {sign}{zone[:2]}:{zone[2:]}"
    return text
