"""Recognise a structured attachment from its content, and hold it to what it declares.

Content decides (DESIGN section 6): `MSH` plus a delimiter starts an HL7 v2 message, `<`
starts XML, the zip local-header magic starts a zip, and a zip is an XDM package when it
holds `IHE_XDM/SUBSETnn/METADATA.XML`. The declared media type and the file name must not
contradict the content: a zip declared as XML, XML declared as a zip, or a file named
`.hl7` that is not HL7 is refused by name, so that no client renders one thing as another.
"""

from __future__ import annotations

import re
from enum import StrEnum

from gateway.attachments.errors import DetectError
from gateway.attachments.xdm import is_xdm_layout
from gateway.attachments.zip_reader import ZIP_MAGIC, ZipLimits, entry_names

# "MSH", the field separator, 4 (or 5) encoding characters, the separator again (HL7 v2.5 §2.5.1).
_MSH = re.compile(rb"MSH([^A-Za-z0-9\s])[^A-Za-z0-9\s]{4,5}(?:\1|[\r\n]|\Z)")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_HL7_TYPES = frozenset(
    {
        "application/hl7-v2",
        "application/x-hl7",
        "x-application/hl7-v2+er7",
        "application/edi-hl7",
        "text/hl7",
    }
)
_ZIP_TYPES = frozenset({"application/zip", "application/x-zip", "application/x-zip-compressed"})
_XML_TYPES = frozenset({"text/xml", "application/xml"})
_NAMES = {".hl7": "hl7v2", ".er7": "hl7v2", ".xml": "xml", ".zip": "zip"}
_WORDS = {"hl7v2": "an HL7 v2 message", "xml": "XML", "zip": "a zip archive"}


class Kind(StrEnum):
    HL7V2 = "hl7v2"
    CDA = "cda"  # XML; `cda.looks_clinical` decides whether it is meant as a document
    XDM = "xdm"


def detect(content: bytes, declared_type: str, filename: str, limits: ZipLimits) -> Kind | None:
    """The kind of structured document, None for an ordinary attachment; DetectError on a lie."""
    found = content_kind(content)
    declared = declared_kinds(declared_type, filename)
    for kind in declared:
        if found != kind:
            said = f"declared as {_WORDS[kind]}"
            if found is None:
                raise DetectError(f"{said} but the content is not {_WORDS[kind]}")
            raise DetectError(f"{_WORDS[found]} {said}")
    if found == "hl7v2":
        return Kind.HL7V2
    if found == "xml":
        return Kind.CDA
    if found == "zip":
        names = entry_names(content, limits, DetectError)
        return Kind.XDM if is_xdm_layout(names) else None
    return None


def content_kind(content: bytes) -> str | None:
    for bom in _BOMS:
        if content.startswith(bom):
            return "xml" if bom != _BOMS[0] else content_kind(content[len(bom) :])
    if _MSH.match(content):
        return "hl7v2"
    if content.startswith(ZIP_MAGIC):
        return "zip"
    head = content[:64].lstrip()
    if head.startswith(b"<?xml") or (head.startswith(b"<") and head[1:2].isalpha()):
        return "xml"
    return None


def declared_kinds(declared_type: str, filename: str) -> list[str]:
    media = declared_type.split(";", maxsplit=1)[0].strip().lower()
    kinds = []
    if media in _HL7_TYPES:
        kinds.append("hl7v2")
    elif media in _XML_TYPES or media.endswith("+xml"):
        kinds.append("xml")
    elif media in _ZIP_TYPES:
        kinds.append("zip")
    suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    by_name = _NAMES.get(f".{suffix}")
    if by_name and by_name not in kinds:
        kinds.append(by_name)
    return kinds
