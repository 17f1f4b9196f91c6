"""The readable summary a mail client shows for the structured documents of a message.

Type, date, author and the document's own title; whether a patient national id (INS) is
present, never its value; no other patient data (DESIGN section 6, issue 7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from gateway.attachments.codes import Code, readable_time

_KIND_NAMES = {"cda": "CDA R2 document", "hl7v2": "HL7 v2 message", "xdm": "IHE XDM package"}


class Summarised(Protocol):
    @property
    def filename(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def codes(self) -> tuple[Code, ...]: ...
    @property
    def title(self) -> str: ...
    @property
    def date(self) -> str: ...
    @property
    def author(self) -> str: ...
    @property
    def patient_id_present(self) -> bool: ...
    @property
    def message_type(self) -> str: ...


def summary_text(documents: Sequence[Summarised], packaged_in: Mapping[str, str]) -> str:
    """Plain text, one block per document; `packaged_in` maps a file name to its new home."""
    lines = [
        f"This message carries {len(documents)} structured document(s), checked on receipt:",
        "",
    ]
    for number, doc in enumerate(documents, start=1):
        kind = _KIND_NAMES.get(str(doc.kind), str(doc.kind))
        if doc.message_type:
            kind = f"{kind} {doc.message_type}"
        lines.append(f"{number}. {doc.title or doc.filename}")
        lines.append(
            f"   Type: {kind}"
            + (f", {', '.join(_code(c) for c in doc.codes)}" if doc.codes else "")
        )
        if doc.date:
            lines.append(f"   Date: {readable_time(doc.date)}")
        if doc.author:
            lines.append(f"   Author: {doc.author}")
        lines.append(
            f"   Patient national identifier (INS): {'present' if doc.patient_id_present else 'absent'}"
        )
        where = packaged_in.get(doc.filename)
        lines.append(f"   File: {where}" if where else f"   File: {doc.filename}")
        lines.append("")
    return "\n".join(lines)


def _code(code: Code) -> str:
    return f"{code} {code.display}".strip() if code.display else str(code)
