"""The one way Salus parses XML from a message: no DTD, no entities, no network.

lxml with `resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
huge_tree=False` (depth and text-node limits stay on). A document with a DOCTYPE is refused
before parsing (XXE, billion laughs and external DTDs all need one), and again after
parsing from the parser's own view in case an encoding hid it from the byte scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.attachments.errors import AttachmentError

# lxml is untyped (pyproject mypy override): elements are `Any` at this boundary.
Element = Any

_DOCTYPE = "<!DOCTYPE"
_DOCTYPE_MARKERS = tuple(_DOCTYPE.encode(c) for c in ("ascii", "utf-16-le", "utf-16-be"))


@dataclass(frozen=True, slots=True)
class XmlLimits:
    max_bytes: int = 16 * 1024 * 1024


def parse_xml(data: bytes, limits: XmlLimits, error: type[AttachmentError]) -> Element:
    """Parse `data` and return the root element; raise `error` with the fault."""
    if len(data) > limits.max_bytes:
        raise error(f"XML of {len(data)} bytes is over the {limits.max_bytes}-byte limit")
    if any(marker in data for marker in _DOCTYPE_MARKERS):
        raise error("XML with a DOCTYPE is refused (no DTDs or entity declarations)")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise error(f"not well-formed XML ({exc.msg})") from None
    except ValueError as exc:  # lxml refuses some inputs before parsing (e.g. bad encoding)
        raise error(f"not readable as XML ({exc})") from None
    if root is None:
        raise error("not well-formed XML (no root element)")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise error("XML with a DOCTYPE is refused (no DTDs or entity declarations)")
    return root


def local_name(element: Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def namespace(element: Element) -> str:
    tag = element.tag
    return (etree.QName(tag).namespace or "") if isinstance(tag, str) else ""


def stylesheet_hrefs(root: Element) -> list[str]:
    """The href of each xml-stylesheet processing instruction before the root element."""
    hrefs = []
    for node in root.itersiblings(preceding=True):
        if isinstance(node, etree._ProcessingInstruction) and node.target == "xml-stylesheet":
            hrefs.append(str(node.get("href") or ""))
    return hrefs
