"""Directory import benchmark: a synthetic MSSanté extraction file of N rows imported into
SQLite (and PostgreSQL when SALUS_TEST_DATABASE_URL is set), for several N.

For each N it prints the import rate (rows/s), the rate of a re-import of the same file
(every row unchanged), and the peak memory of the importing process (ru_maxrss and the
tracemalloc peak of a separate traced run), so that memory can be seen flat in N. The
reference, measured in the same run on the same file, is the floor of any importer: the
file read, split and bulk-inserted as raw strings into one bare table with the stdlib
sqlite3 module (no validation, no upsert, no indexes); Salus's rate is printed as a ratio
of it.

    .venv/bin/python bench/directory_import.py --rows 546000
    .venv/bin/python bench/directory_import.py --rows 68250,136500,273000,546000 --no-postgres

Synthetic data only: invented names (syllables), `.test` domains, valid-looking RPPS
numbers (Luhn) and ADELI numbers, structures with a skewed size distribution (a few large
hospitals, many small practices), mailbox types and professions in proportions close to
the national directory's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from directory.importer.mssante import HEADER  # noqa: E402
from directory.importer.run import import_file  # noqa: E402
from directory.national_id import luhn_check_digit  # noqa: E402
from storage import migrate  # noqa: E402
from storage.database import Database  # noqa: E402

LOCAL_DOMAIN = "salus.test"
SYLLABLES = [c + v for c in "bdflmnrstv" for v in "aeiou"] + [
    "an",
    "en",
    "in",
    "on",
    "ar",
    "er",
    "el",
]
# (code, label, share) of the professions in the MSSanté directory, approximately.
PROFESSIONS = [
    ("10", "Médecin", 0.42),
    ("60", "Infirmier", 0.22),
    ("21", "Pharmacien", 0.11),
    ("70", "Masseur-Kinésithérapeute", 0.09),
    ("40", "Chirurgien-Dentiste", 0.06),
    ("50", "Sage-Femme", 0.04),
    ("91", "Orthophoniste", 0.03),
    ("96", "Psychomotricien", 0.03),
]
SPECIALTIES = [("SM26", "Qualifié en Médecine Générale"), ("SM54", "Pédiatrie"),
               ("SM04", "Cardiologie"), ("SM53", "Radio-diagnostic"), ("", "")]  # fmt: skip
STREET_TYPES = ["R", "AV", "BD", "PL", "CHE", "ALL", "IMP", "QUA"]
COUNTRIES = ["99100"] * 97 + ["99127", "99109", "99131"]


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts))


class Generator:
    """Deterministic synthetic rows of the extraction file."""

    def __init__(self, seed: int, rows: int) -> None:
        self.rng = random.Random(seed)
        self.structures = max(50, rows // 14)
        self.operator_domains = ["mssante-national.test", "espace-sante.test"] + [
            f"ch-{_word(self.rng, 2)}.test" for _ in range(40)
        ]

    def _structure(self, index: int) -> list[str]:
        rng = random.Random(index * 7919)
        postal = f"{rng.randint(1, 95):02d}{rng.randint(0, 999):03d}"
        city = _word(rng, 3).upper()
        name = f"{rng.choice(['CH', 'CLINIQUE', 'CABINET', 'LABORATOIRE', 'EHPAD'])} {_word(rng, 3).upper()}"
        return [
            "1", f"1{index:09d}", name, name if rng.random() < 0.3 else "",
            rng.choice(["", "BATIMENT A", "2EME ETAGE"]), rng.choice(["", "BP 12"]),
            str(rng.randint(1, 250)), rng.choice(["", "", "", "B", "T"]),
            rng.choice(STREET_TYPES), _word(rng, 3).upper(), "",
            f"{postal} {city}", postal, postal[:2], rng.choice(COUNTRIES),
        ]  # fmt: skip

    def _structure_index(self) -> int:
        # Skewed: the largest structure (a university hospital) holds a few percent of
        # the mailboxes, most structures (practices, labs) only a handful.
        return int(self.structures * self.rng.random() ** 3)

    def _national_id(self, index: int) -> tuple[str, str, str]:
        if self.rng.random() < 0.85:
            first_ten = f"1{index:09d}"
            return "8", first_ten + str(luhn_check_digit(first_ten)), ""
        department = self.rng.choice([d for d in range(1, 96) if d != 20])
        return "0", f"{department:02d}{index % 10_000_000:07d}", ""

    def row(self, index: int) -> str:
        rng = self.rng
        kind = rng.choices(["PER", "ORG", "APP", "CAB"], [0.82, 0.11, 0.04, 0.03])[0]
        domain = LOCAL_DOMAIN if rng.random() < 0.03 else rng.choice(self.operator_domains)
        structure = (
            self._structure(self._structure_index())
            if kind != "PER" or rng.random() < 0.6
            else [""] * 15
        )
        pp = [""] * 13
        if kind in ("PER", "CAB"):
            id_type, identifier, _ = self._national_id(index)
            code, label, _ = rng.choices(PROFESSIONS, [p[2] for p in PROFESSIONS])[0]
            specialty = rng.choice(SPECIALTIES) if code == "10" else ("", "")
            first, last = _word(rng, 2).capitalize(), _word(rng, 3).upper()
            pp = [id_type, identifier, id_type + identifier, rng.choice(["DR", "M", "MME", ""]),
                  last, first, "C", "Civil", code, label, specialty[0], specialty[1]]  # fmt: skip
            local = f"{first.lower()}.{last.lower()}.{index}"
        else:
            pp = [""] * 12
            local = f"{rng.choice(['secretariat', 'accueil', 'labo', 'resultats', 'dmp'])}.{index}"
        service = (
            rng.choice(["", "", "Cardiologie", "Urgences", "Radiologie"]) if kind != "PER" else ""
        )
        values = [kind, f"{local}@{domain}", *pp[:3], structure[0], structure[1], service,
                  *pp[3:], "O" if rng.random() < 0.7 else "N", *structure[2:]]  # fmt: skip
        return "|".join(values)

    def write(self, path: Path, rows: int) -> None:
        with path.open("w", encoding="utf-8", newline="\n") as out:
            out.write("|".join(HEADER) + "\n")
            for index in range(rows):
                out.write(self.row(index) + "\n")


def reference_rate(path: Path, workdir: Path) -> float:
    """Rows/s of the floor: read, split, executemany raw strings into a bare table."""
    db = workdir / "reference.db"
    db.unlink(missing_ok=True)
    start = time.perf_counter()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"CREATE TABLE raw ({', '.join(f'c{i}' for i in range(31))})")
    rows = 0
    with path.open(encoding="utf-8") as source:
        next(source)
        batch = []
        for line in source:
            batch.append(line.rstrip("\n").split("|"))
            if len(batch) == 2000:
                conn.executemany(f"INSERT INTO raw VALUES ({', '.join('?' * 31)})", batch)
                conn.commit()
                rows += len(batch)
                batch = []
        conn.executemany(f"INSERT INTO raw VALUES ({', '.join('?' * 31)})", batch)
        conn.commit()
        rows += len(batch)
    conn.close()
    return rows / (time.perf_counter() - start)


async def _import(url: str, path: Path, traced: bool) -> dict[str, float]:
    db = Database(url)
    await migrate.upgrade(db)
    gc.collect()
    try:
        if traced:
            tracemalloc.start()
        start, cpu = time.perf_counter(), time.process_time()
        summary = await import_file(
            db, path, file_format="mssante", local_domains=(LOCAL_DOMAIN,), actor="bench"
        )
        first, cpu = time.perf_counter() - start, time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
        tracemalloc.stop()
        start = time.perf_counter()
        again = await import_file(
            db, path, file_format="mssante", local_domains=(LOCAL_DOMAIN,), actor="bench"
        )
        second = time.perf_counter() - start
    finally:
        await db.dispose()
    rows = summary.created + summary.updated + summary.unchanged
    assert again.unchanged == rows and summary.rejected == 0, (summary, again)
    return {
        "rows": rows,
        "seconds": first,
        "cpu_seconds": cpu,
        "reimport_seconds": second,
        "python_peak_mib": peak / 2**20,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run_child(url: str, path: Path, traced: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", "--url", url, "--file", str(path)]
    out = subprocess.run(command + (["--traced-child"] if traced else []), check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return dict(json.loads(out.strip().splitlines()[-1]))


async def _create_postgres(base: str, name: str) -> str:
    import asyncpg  # noqa: PLC0415

    conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{base.rpartition('/')[0]}/{name}"


async def _drop_postgres(base: str, name: str) -> None:
    import asyncpg  # noqa: PLC0415

    conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _measure(backend: str, size: int, path: Path, workdir: Path, traced: bool) -> dict[str, float]:
    """One import (and re-import) in a fresh database and a fresh process."""
    base = os.environ.get("SALUS_TEST_DATABASE_URL", "")
    name = f"salus_bench_{size}_{int(traced)}"
    if backend == "sqlite":
        db_file = workdir / f"{name}.db"
        db_file.unlink(missing_ok=True)
        return _run_child(f"sqlite+aiosqlite:///{db_file}", path, traced)
    url = asyncio.run(_create_postgres(base, name))
    try:
        return _run_child(url, path, traced)
    finally:
        asyncio.run(_drop_postgres(base, name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows",
        default="68250,136500,273000,546000",
        help="comma-separated sizes (default: 1/8, 1/4, 1/2 and all of 546,000)",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--traced",
        action="store_true",
        help="also measure the tracemalloc peak (a second, slower import per size)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--traced-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_import(args.url, Path(args.file), args.traced_child))))
        return
    backends = ["sqlite"]
    if not args.no_postgres and os.environ.get("SALUS_TEST_DATABASE_URL"):
        backends.append("postgresql")
    print(f"command: {Path(sys.executable).name} {' '.join(sys.argv)}")
    print(f"{'backend':<11}{'rows':>8}{'import s':>10}{'cpu s':>7}{'rows/s':>9}{'ref rows/s':>12}"
          f"{'ratio':>7}{'re-import s':>13}{'maxrss MiB':>12}{'py peak MiB':>13}{'load':>6}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="salus-bench-") as tmp:
        workdir = Path(tmp)
        for size in (int(n) for n in args.rows.split(",")):
            path = workdir / f"extraction-{size}.txt"
            Generator(seed=size, rows=size).write(path, size)
            reference = reference_rate(path, workdir)
            for backend in backends:
                result = _measure(backend, size, path, workdir, traced=False)
                peak = (
                    _measure(backend, size, path, workdir, traced=True)["python_peak_mib"]
                    if args.traced
                    else float("nan")
                )
                rate = result["rows"] / result["seconds"]
                print(f"{backend:<11}{int(result['rows']):>8}{result['seconds']:>10.1f}"
                      f"{result['cpu_seconds']:>7.1f}{rate:>9.0f}{reference:>12.0f}"
                      f"{rate / reference:>7.2f}{result['reimport_seconds']:>13.1f}"
                      f"{result['maxrss_mib']:>12.0f}{peak:>13.1f}{os.getloadavg()[0]:>6.1f}",
                      flush=True)  # fmt: skip
            path.unlink()


if __name__ == "__main__":
    main()
