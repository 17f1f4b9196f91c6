"""Structured documents: documents per second through recognition, validation and packaging.

Each format is measured against a reference doing the least possible work on the same bytes
in the same run (lxml parse for CDA, zipfile read of every entry for XDM, a split on the
segment terminator for HL7, the email parser for a whole message), so the ratios hold on a
noisy shared machine. Inputs are synthetic (tests/unit/documents/builders.py), sized like
real ones: a ~200 KB CDA, an ORU^R01 embedding it, and the XDM package of it.

    .venv/bin/python -m bench.documents [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import io
import random
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.attachments import cda, hl7v2, xdm
from gateway.attachments.detect import detect
from gateway.attachments.hl7v2_grammar import Hl7Limits
from gateway.attachments.xml_reader import XmlLimits
from gateway.attachments.zip_reader import ZipLimits
from gateway.documents import DocumentLimits, inspect
from gateway.packaging import package
from tests.unit.documents.builders import NOW, mail, oru
from tests.unit.documents.builders import cda as build_cda
from tests.unit.documents.builders import xdm as build_xdm


def rate(work: Callable[[], object], seconds: float) -> float:
    """Calls per second over at least `seconds` (after one warm-up call)."""
    work()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        work()
        count += 1
    return count / elapsed


def big_cda(size: int = 200_000) -> bytes:
    """A CDA of about `size` bytes whose result table varies row by row, as real ones do."""
    rng = random.Random(1)
    rows, total = [], 0
    while total < size:
        row = (
            f"<tr><td>Analyte {rng.randrange(10**6)}</td><td>{rng.uniform(0, 500):.2f} "
            f"mmol/L</td><td>{rng.uniform(0, 5):.1f}-{rng.uniform(5, 900):.1f}</td></tr>"
        )
        rows.append(row)
        total += len(row)
    body = (
        "<component><structuredBody><component><section><title>Résultats</title><text><table>"
        f"{''.join(rows)}</table></text></section></component></structuredBody></component>"
    )
    return build_cda(body=body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    seconds = parser.parse_args().seconds
    document = big_cda()
    hl7 = oru(embedded=document)
    package_bytes = build_xdm([document])
    xml, zips, hl7_limits, limits = XmlLimits(), ZipLimits(), Hl7Limits(), DocumentLimits()
    cases = {
        "CDA R2": (
            document,
            "text/xml",
            "r.xml",
            lambda: etree.fromstring(document),
            lambda: cda.read(document, xml),
        ),
        "HL7 v2 ORU^R01": (
            hl7,
            "application/hl7-v2",
            "r.hl7",
            lambda: hl7.split(b"\r"),
            lambda: hl7v2.read(hl7, hl7_limits),
        ),
        "IHE XDM": (
            package_bytes,
            "application/zip",
            "IHE_XDM.ZIP",
            lambda: [
                zipfile.ZipFile(io.BytesIO(package_bytes)).read(n)
                for n in zipfile.ZipFile(io.BytesIO(package_bytes)).namelist()
            ],
            lambda: xdm.read(package_bytes, xdm.XdmLimits()),
        ),
    }
    print(
        f"{'format':16} {'bytes':>8} {'reference/s':>12} {'recognise/s':>12} {'validate/s':>11} {'x ref':>6} {'package/s':>10} {'x ref':>6}"
    )
    for name, (data, ctype, filename, reference, validate) in cases.items():
        message = mail((data, ctype, filename))
        raw = message.as_bytes(policy=email.policy.SMTP)
        ref = rate(reference, seconds)
        recognise = rate(lambda d=data, c=ctype, f=filename: detect(d, c, f, zips), seconds)  # type: ignore[misc]
        valid = rate(validate, seconds)
        mail_ref = rate(
            lambda r=raw: email.message_from_bytes(r, policy=email.policy.default), seconds
        )  # type: ignore[misc]
        packaged = rate(
            lambda m=message: package(m, inspect(m, limits), domain="salus.test", now=NOW), seconds
        )  # type: ignore[misc]
        print(
            f"{name:16} {len(data):8} {ref:12.0f} {recognise:12.0f} {valid:11.0f} {ref / valid:6.1f} {packaged:10.0f} {mail_ref / packaged:6.1f}"
        )
    plain = mail(body="x" * len(document))
    plain_raw = plain.as_bytes(policy=email.policy.SMTP)
    cda_mail = mail((document, "text/xml", "r.xml"))
    plain_rate = rate(
        lambda: inspect(email.message_from_bytes(plain_raw, policy=email.policy.default), limits),
        seconds,
    )
    cda_raw = cda_mail.as_bytes(policy=email.policy.SMTP)
    cda_rate = rate(
        lambda: inspect(email.message_from_bytes(cda_raw, policy=email.policy.default), limits),
        seconds,
    )
    print(
        f"\ngateway inspect, {len(document)} B message: plain text {plain_rate:.0f}/s, CDA attachment {cda_rate:.0f}/s "
        f"(x{plain_rate / cda_rate:.1f} the plain message's cost)"
    )
    print(f"\ncommand: .venv/bin/python -m bench.documents --seconds {seconds}")
    print(
        "columns: 'x ref' = reference rate / measured rate (how many times the bare parse costs);"
    )
    print(
        "package/s = inspect + package of a mail carrying the document, against the email parser alone."
    )


if __name__ == "__main__":
    main()
