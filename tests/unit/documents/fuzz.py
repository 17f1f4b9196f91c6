"""A bounded mutation fuzzer over the attachment parsers, with executions and crashes counted.

Seeds are synthetic documents (and the public samples when present); each execution
mutates one seed (bit flips, byte insertions and deletions, chunk duplication, splices of
delimiter-rich tokens) and feeds it to one parser. A *crash* is any exception other than
the parser's own error (`AttachmentError`). Deterministic for a given seed.

    .venv/bin/python -m tests.unit.documents.fuzz --executions 20000
"""

from __future__ import annotations

import argparse
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.attachments import cda, hl7v2, xdm
from gateway.attachments.detect import detect
from gateway.attachments.errors import AttachmentError
from gateway.attachments.hl7v2_grammar import Hl7Limits
from gateway.attachments.xml_reader import XmlLimits
from gateway.attachments.zip_reader import ZipLimits
from tests.unit.documents.builders import cda as build_cda
from tests.unit.documents.builders import oru, xcn
from tests.unit.documents.builders import xdm as build_xdm

_TOKENS = [
    b"|",
    b"^",
    b"~",
    b"\\",
    b"&",
    b"\r",
    b"\n",
    b"MSH|^~\\&|",
    b"<!DOCTYPE x>",
    b"&x;",
    b"<",
    b"/>",
    b"PK\x03\x04",
    b"PK\x01\x02",
    b"PK\x05\x06",
    b"\xff\xff\xff\xff",
    b"\x00",
    b"\\X41\\",
    b"OBX|1|ED|",
]

Parser = Callable[[bytes], object]
PARSERS: dict[str, Parser] = {
    "hl7v2": lambda d: hl7v2.read(d, Hl7Limits()),
    "cda": lambda d: cda.read(d, XmlLimits()),
    "xdm": lambda d: xdm.read(d, xdm.XdmLimits()),
    "detect": lambda d: detect(d, "application/octet-stream", "x", ZipLimits()),
}


@dataclass
class FuzzReport:
    executions: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)


def seeds(shared: Path | None) -> dict[str, list[bytes]]:
    found = {
        "hl7v2": [
            oru(
                obr28=[xcn("801234567898")],
                prt_recipients=[("801234567899", "a@salus.test")],
                embedded=build_cda(),
            )
        ],
        "cda": [build_cda(), build_cda(stylesheet="CDA.xsl")],
        "xdm": [build_xdm()],
    }
    if shared is not None and shared.is_dir():
        found["hl7v2"] += [
            p.read_bytes()
            for p in sorted((shared / "hl7v2").rglob("*.*"))
            if p.stat().st_size < 10_000
        ]
        found["cda"] += [
            p.read_bytes()
            for p in sorted((shared / "cda").rglob("*.xml"))
            if p.stat().st_size < 100_000
        ]
        found["xdm"] += [
            p.read_bytes()
            for p in sorted((shared / "xdm").rglob("*"))
            if p.suffix.lower() == ".zip"
        ]
    found["detect"] = [s for group in found.values() for s in group]
    return found


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.randrange(5)
        at = rng.randrange(len(buf) + 1)
        if choice == 0 and buf:
            buf[min(at, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            buf[at:at] = rng.choice(_TOKENS)
        elif choice == 2 and buf:
            del buf[at : at + rng.randint(1, 64)]
        elif choice == 3 and buf:
            chunk = bytes(buf[at : at + rng.randint(1, 256)])
            buf[at:at] = chunk * rng.randint(1, 4)
        else:
            buf[at : at + 4] = rng.randbytes(4)
    return bytes(buf)


def run(executions: int, *, seed: int = 7, shared: Path | None = None) -> FuzzReport:
    rng = random.Random(seed)
    report = FuzzReport()
    corpus = seeds(shared)
    for name, parser in PARSERS.items():
        report.executions[name] = report.refused[name] = 0
        for _ in range(executions):
            data = mutate(rng.choice(corpus[name]), rng)
            report.executions[name] += 1
            try:
                parser(data)
            except AttachmentError:
                report.refused[name] += 1
            except Exception:
                report.crashes.append(f"{name}: {traceback.format_exc(limit=3)}")
    return report


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--executions", type=int, default=5000, help="executions per parser")
    args.add_argument("--seed", type=int, default=7)
    ns = args.parse_args()
    shared = Path(__file__).resolve().parents[4] / "shared" / "fixtures"
    report = run(ns.executions, seed=ns.seed, shared=shared)
    for name in PARSERS:
        print(f"{name:8} executions {report.executions[name]:7}  refused {report.refused[name]:7}")
    print(f"crashes {len(report.crashes)}")
    for crash in report.crashes[:5]:
        print(crash)


if __name__ == "__main__":
    main()
