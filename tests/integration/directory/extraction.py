"""Synthetic lines of the MSSanté extraction file for the directory tests."""

from __future__ import annotations

from pathlib import Path

from directory.importer import mssante
from directory.national_id import Rpps

RPPS = "8" + Rpps().with_check_digit("1000000042")
HEADER_LINE = "|".join(mssante.HEADER)


def row(**changes: str) -> str:
    """A personal mailbox row of a physician at a hospital; `c7="…"` changes column 7."""
    values = dict.fromkeys(mssante.HEADER, "")
    values.update(
        {
            "Type de BAL": "PER",
            "Adresse BAL": "Camille.Durand@Salus.test",
            "Type Identifiant PP": "8",
            "Identifiant PP": RPPS[1:],
            "Identification nationale PP": RPPS,
            "Type identifiant structure": "1",
            "Identification Structure": "1990000001",
            "Civilité d'exercice": "DR",
            "Nom d'exercice": "DURAND",
            "Prénom d'exercice": "Camille",
            "Code Profession": "10",
            "Libellé Profession": "Médecin",
            "Code savoir-faire": "SM26",
            "Raison Sociale structure BAL": "CENTRE HOSPITALIER TEST",
            "L4NUMEROVOIE structure BAL": "12",
            "NL4TYPEVOIE structure BAL": "R",
            "L4LIBELLEVOIE structure BAL": "DES LILAS",
            "L6LIGNEACHEMINEMENT structure BAL": "75013 PARIS",
            "Code postal structure BAL": "75013",
        }
    )
    values.update({mssante.HEADER[int(k[1:]) - 1]: v for k, v in changes.items()})
    return "|".join(values[name] for name in mssante.HEADER)


def practitioner_row(n: int, domain: str = "salus.test", **changes: str) -> str:
    identifier = "8" + Rpps().with_check_digit(f"{1_000_000_100 + n:010d}")
    values = {
        "c2": f"doctor.{n}@{domain}",
        "c4": identifier[1:],
        "c5": identifier,
        "c10": f"NOM{n}",
    }
    return row(**(values | changes))


def write_extraction(path: Path, lines: list[str], *, encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join([HEADER_LINE, *lines]) + "\n").encode(encoding))
    return path
