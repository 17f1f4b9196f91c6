"""National identifiers of practitioners, validated by pluggable schemes.

The MSSanté convention ("Identification nationale PP" of the extraction file) prefixes
the identifier with its type: `8` + RPPS, `0` + ADELI. A scheme knows its prefix, checks
the identifier that follows it, and can compute a check digit where one is defined:

- RPPS (Répertoire Partagé des Professionnels de Santé): 11 digits, the last a Luhn
  (ISO/IEC 7812-1 annex B, "mod 10") check digit over the first ten. Checked.
- ADELI (Automatisation DEs LIstes): 9 characters: a département code (two digits, or
  `2A`/`2B` for Corsica) then 7 digits (profession, sequence, key). The ADELI key
  algorithm is not published by the ANS in any source we could find, so only the shape
  and the département code are checked; see docs/decisions.md.

Other schemes (a foreign operator's identifiers, for instance) register with `register`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from directory.errors import InvalidInput


class InvalidNationalId(InvalidInput):
    """A national identifier that no scheme accepts, with the reason."""


class Scheme(Protocol):
    """A kind of national identifier, recognised by its one-character prefix."""

    name: str
    prefix: str

    def problem(self, identifier: str) -> str | None:
        """Why `identifier` (without the prefix) is not valid, or None when it is."""
        ...


@dataclass(frozen=True, slots=True)
class NationalId:
    """A validated national identifier: `value` is prefix + identifier."""

    value: str
    scheme: str

    @property
    def identifier(self) -> str:
        """The identifier without its type prefix (the "Identifiant PP" column)."""
        return self.value[1:]

    @property
    def prefix(self) -> str:
        """The type prefix (the "Type Identifiant PP" column)."""
        return self.value[:1]


# Each digit's value, and its value doubled (less 9 when above 9), by character.
_PLAIN = {str(d): d for d in range(10)}
_DOUBLED = {str(d): (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)[d] for d in range(10)}


def luhn_check_digit(digits: str) -> int:
    """The Luhn check digit to append to `digits` (a non-empty string of 0-9)."""
    # From the right, the last digit and every second one before it are doubled: they
    # sit at even positions once the check digit is appended.
    doubled = sum(map(_DOUBLED.__getitem__, digits[-1::-2]))
    plain = sum(map(_PLAIN.__getitem__, digits[-2::-2]))
    return (10 - (doubled + plain) % 10) % 10


def luhn_valid(digits: str) -> bool:
    """True when the last digit of `digits` is the Luhn check digit of the others."""
    return (
        len(digits) >= 2
        and digits.isascii()
        and digits.isdigit()
        and luhn_check_digit(digits[:-1]) == ord(digits[-1]) - 48
    )


class Rpps:
    name = "rpps"
    prefix = "8"
    length = 11

    def problem(self, identifier: str) -> str | None:
        if len(identifier) != self.length or not (identifier.isascii() and identifier.isdigit()):
            return f"an RPPS number has {self.length} digits"
        if not luhn_valid(identifier):
            return "the RPPS check digit (Luhn) does not match"
        return None

    def with_check_digit(self, first_ten: str) -> str:
        """A valid RPPS number from its first ten digits (for tests and synthetic data)."""
        return first_ten + str(luhn_check_digit(first_ten))


_DEPARTMENTS = frozenset(
    [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B", "97", "98", "99"]
)


class Adeli:
    name = "adeli"
    prefix = "0"
    length = 9

    def problem(self, identifier: str) -> str | None:
        if len(identifier) != self.length or not identifier.isascii():
            return f"an ADELI number has {self.length} characters"
        if identifier[:2].upper() not in _DEPARTMENTS:
            return f"an ADELI number starts with a département code, not {identifier[:2]!r}"
        if not identifier[2:].isdigit():
            return "an ADELI number ends with 7 digits"
        return None


_SCHEMES: dict[str, Scheme] = {}


def register(scheme: Scheme) -> None:
    """Add a scheme; its prefix must be free."""
    if scheme.prefix in _SCHEMES:
        raise ValueError(
            f"prefix {scheme.prefix!r} is already used by {_SCHEMES[scheme.prefix].name}"
        )
    _SCHEMES[scheme.prefix] = scheme


def unregister(prefix: str) -> None:
    _SCHEMES.pop(prefix, None)


def schemes() -> Iterable[Scheme]:
    return tuple(_SCHEMES.values())


def problem(value: str) -> str | None:
    """Why `value` is not a valid national identifier, or None (the fast path for imports)."""
    scheme = _SCHEMES.get(value[:1])
    if scheme is None:
        if not value:
            return "the national identifier is empty"
        known = ", ".join(f"{s.prefix} ({s.name})" for s in _SCHEMES.values())
        return f"unknown identifier type {value[:1]!r} (known: {known})"
    return scheme.problem(value[1:])


def parse(value: str) -> NationalId:
    """Validate `value` (prefix + identifier, surrounding blanks ignored)."""
    value = value.strip().upper()
    reason = problem(value)
    if reason is not None:
        raise InvalidNationalId(f"invalid national identifier {value!r}: {reason}")
    return NationalId(value, _SCHEMES[value[:1]].name)


def scheme_name(value: str) -> str:
    """The scheme of an already validated identifier."""
    return _SCHEMES[value[:1]].name


register(Rpps())
register(Adeli())
