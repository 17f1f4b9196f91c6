"""IHE XDM packages (ITI-32, ITI TF-1 §16, TF-3 §4.2.3): read and check.

A package is a zip with README.TXT and INDEX.HTM (XHTML) at its root and one or more
`IHE_XDM/SUBSETnn/` folders, each with a METADATA.XML and the documents it lists. Every
document entry's URI must name an entry of its subset, and its size and SHA-1 hash must
match the bytes (ITI TF-3 Table 4.2.3.2-1). XML documents are read as CDA R2.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from gateway.attachments import cda
from gateway.attachments.cda import CdaDocument
from gateway.attachments.codes import Code
from gateway.attachments.errors import CdaError, XdmError
from gateway.attachments.index_page import index_page_fault
from gateway.attachments.parties import IdScheme, Party
from gateway.attachments.xdm_metadata import EntryMetadata, read_metadata
from gateway.attachments.xml_reader import XmlLimits, parse_xml
from gateway.attachments.zip_reader import ZipLimits, read_zip

_METADATA = re.compile(r"IHE_XDM/(SUBSET\d{1,6})/METADATA\.XML", re.IGNORECASE)
_SAFE_URI = re.compile(r"[^/\\:\x00-\x1f]+(/[^/\\:\x00-\x1f]+)*")
_XML_TYPES = ("text/xml", "application/xml", "application/hl7-v3+xml")


@dataclass(frozen=True, slots=True)
class XdmLimits:
    zip: ZipLimits = field(default_factory=ZipLimits)
    xml: XmlLimits = field(default_factory=XmlLimits)


@dataclass(frozen=True, slots=True)
class XdmEntry:
    """One document of a package, checked against its metadata."""

    path: str  # entry name in the zip
    mime_type: str
    title: str
    type_code: Code | None
    creation_time: str
    author: str
    content: bytes
    cda: CdaDocument | None  # when the document is XML


@dataclass(frozen=True, slots=True)
class XdmSubmission:
    subset: str  # "SUBSET01"
    submission_time: str
    author: str
    recipients: tuple[Party, ...]
    entries: tuple[XdmEntry, ...]
    patient_id_present: bool


@dataclass(frozen=True, slots=True)
class XdmPackage:
    submissions: tuple[XdmSubmission, ...]

    @property
    def entries(self) -> tuple[XdmEntry, ...]:
        return tuple(e for s in self.submissions for e in s.entries)

    @property
    def recipients(self) -> tuple[Party, ...]:
        return tuple(r for s in self.submissions for r in s.recipients)

    @property
    def patient_id_present(self) -> bool:
        return any(s.patient_id_present for s in self.submissions)


def is_xdm_layout(names: list[str]) -> bool:
    return any(_METADATA.fullmatch(n) for n in names)


def read(data: bytes, limits: XdmLimits) -> XdmPackage:
    """Read and check a package; raise XdmError (or CdaError for a document) naming the fault."""
    contents = read_zip(data, limits.zip, XdmError)
    by_upper = {name.upper(): name for name in contents}
    if "README.TXT" not in by_upper:
        raise XdmError("XDM package has no README.TXT at its root")
    if "INDEX.HTM" not in by_upper:
        raise XdmError("XDM package has no INDEX.HTM at its root")
    fault = index_page_fault(contents[by_upper["INDEX.HTM"]])
    if fault:
        raise XdmError(f"INDEX.HTM is not well-formed XHTML: {fault}")
    subsets = sorted((m.group(1), name) for name in contents if (m := _METADATA.fullmatch(name)))
    if not subsets:
        raise XdmError("no IHE_XDM/SUBSETnn/METADATA.XML in the package")
    return XdmPackage(tuple(_submission(s, n, contents, limits) for s, n in subsets))


def _submission(
    subset: str, metadata_name: str, contents: dict[str, bytes], limits: XdmLimits
) -> XdmSubmission:
    try:
        root = parse_xml(contents[metadata_name], limits.xml, XdmError)
    except XdmError as exc:
        raise XdmError(f"{metadata_name}: {exc.fault}") from None
    metadata = read_metadata(root)
    folder = metadata_name[: -len("METADATA.XML")]
    entries = tuple(_entry(folder, e, contents, limits) for e in metadata.entries)
    patient = any(i.scheme is IdScheme.PATIENT for i in metadata.patient_ids)
    patient = patient or any(
        i.scheme is IdScheme.PATIENT for e in metadata.entries for i in e.patient_ids
    )
    patient = patient or any(e.cda is not None and e.cda.patient_id_present for e in entries)
    return XdmSubmission(
        subset.upper(),
        metadata.submission_time,
        metadata.author,
        metadata.recipients,
        entries,
        patient,
    )


def _entry(
    folder: str, meta: EntryMetadata, contents: dict[str, bytes], limits: XdmLimits
) -> XdmEntry:
    if not _SAFE_URI.fullmatch(meta.uri) or ".." in meta.uri.split("/"):
        raise XdmError(f"document URI {meta.uri[:100]!r} is not a name inside its subset")
    path = folder + meta.uri
    content = contents.get(path)
    if content is None:
        raise XdmError(f"document {meta.uri!r} listed in METADATA.XML is not in {folder}")
    if meta.size != str(len(content)):
        raise XdmError(
            f"XDM size mismatch for {meta.uri}: METADATA.XML says {meta.size[:20]}, "
            f"the document has {len(content)} bytes"
        )
    digest = hashlib.sha1(content, usedforsecurity=False).hexdigest()
    if meta.hash.lower() != digest:
        raise XdmError(
            f"XDM hash mismatch for {meta.uri}: METADATA.XML says {meta.hash[:40]}, "
            f"the document's SHA-1 is {digest}"
        )
    document = None
    if meta.mime_type.lower() in _XML_TYPES:
        try:
            document = cda.read(content, limits.xml)
        except CdaError as exc:
            raise CdaError(f"{meta.uri}: {exc.fault}", code=exc.code) from None
    return XdmEntry(
        path,
        meta.mime_type,
        meta.title,
        meta.type_code,
        meta.creation_time,
        meta.author,
        content,
        document,
    )
