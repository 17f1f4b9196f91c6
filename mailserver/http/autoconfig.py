"""Mail client autoconfiguration documents (pure).

- Thunderbird autoconfig, "clientConfig" version 1.1 (Mozilla's ISPDB format), served at
  `/.well-known/autoconfig/mail/config-v1.1.xml` and `/mail/config-v1.1.xml`.
- Outlook Autodiscover, "Plain Old XML" (MS-OXDSCLI §2.2.4): a POST whose body names the
  address, answered with the `outlook/responseschema/2006a` account settings.

Both publish IMAP over implicit TLS and submission over implicit TLS (RFC 8314 §3.3 and
§5.1), on the listen ports or the `http.public_*` ports. The user name is the address.
Only addresses of the operator's own domains get an answer; whether the mailbox exists is
not revealed (every address of a local domain gets the same answer), so the endpoint
cannot be used to enumerate the directory. Every value is escaped (ElementTree for
Thunderbird, a fixed template for Outlook), and addresses are checked against the dot-atom
grammar first, so nothing from the request can change a document's structure.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from config.settings import Settings

# The placeholder Thunderbird replaces with the address the user typed.
EMAIL_PLACEHOLDER = "%EMAILADDRESS%"
REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"

# RFC 5322 §3.2.3 dot-atom for the local part (no quoted strings: our mailboxes have none).
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+")
MAX_ADDRESS = 254


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a mail client connects, as published to it."""

    hostname: str
    imap_port: int
    submission_port: int
    local_domains: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Endpoints:
        return cls(
            hostname=settings.service.hostname,
            imap_port=settings.http.public_imap_port or settings.imap.listen_tls.port,
            submission_port=settings.http.public_submission_port or settings.smtp.submissions.port,
            local_domains=tuple(d.lower() for d in settings.service.local_domains),
        )


def local_address(text: str, local_domains: Iterable[str]) -> str | None:
    """The address with its domain lowercased, if it is well formed and local; else None."""
    if len(text) > MAX_ADDRESS or text.count("@") != 1:
        return None
    local, _, domain = text.partition("@")
    domain = domain.lower()
    if len(local) > 64 or not _LOCAL_PART.fullmatch(local) or not _DOMAIN.fullmatch(domain):
        return None
    return f"{local}@{domain}" if domain in local_domains else None


def local_domain(host: str, local_domains: Iterable[str]) -> str | None:
    """The local domain a Host header names (`DOMAIN` or `autoconfig.DOMAIN`), if any."""
    host = host.lower().rstrip(".")
    for candidate in (host, host.removeprefix("autoconfig."), host.removeprefix("autodiscover.")):
        if candidate in local_domains:
            return candidate
    return None


def thunderbird_config(endpoints: Endpoints, domain: str, username: str) -> bytes:
    """The clientConfig document for `domain`; `username` is an address or the placeholder."""
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domain)
    _text(provider, "domain", domain)
    _text(provider, "displayName", f"Salus ({domain})")
    _text(provider, "displayShortName", "Salus")
    for tag, kind, port in (
        ("incomingServer", "imap", endpoints.imap_port),
        ("outgoingServer", "smtp", endpoints.submission_port),
    ):
        server = ET.SubElement(provider, tag, type=kind)
        _text(server, "hostname", endpoints.hostname)
        _text(server, "port", str(port))
        _text(server, "socketType", "SSL")
        _text(server, "authentication", "password-cleartext")
        _text(server, "username", username)
    return _document(root)


def autodiscover_address(body: bytes) -> str:
    """The EMailAddress of a POX Autodiscover request; ValueError when it is not one.

    A request with a document type declaration is refused before parsing: POX requests
    never carry one, and refusing it rules out entity expansion and external entities.
    """
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise ValueError("document type declarations are not accepted")
    try:
        root = ET.fromstring(body)  # noqa: S314 - no DTD reaches the parser (checked above)
    except ET.ParseError as exc:
        raise ValueError("not well-formed XML") from exc
    address = root.findtext(f"{{{REQUEST_NS}}}Request/{{{REQUEST_NS}}}EMailAddress")
    if root.tag != f"{{{REQUEST_NS}}}Autodiscover" or not address:
        raise ValueError("not an Outlook Autodiscover request")
    return address.strip()


def autodiscover_response(endpoints: Endpoints, address: str) -> bytes:
    """The POX response (MS-OXDSCLI §2.2.4.2) with one IMAP and one SMTP protocol.

    Written in the conventional shape (a default namespace on `Response`), which is the
    one Outlook has always been served; every value is escaped.
    """
    protocols = "".join(
        _PROTOCOL.format(
            kind=kind, server=escape(endpoints.hostname), port=port, login=escape(address)
        )
        for kind, port in (("IMAP", endpoints.imap_port), ("SMTP", endpoints.submission_port))
    )
    document = _AUTODISCOVER.format(
        response_ns=RESPONSE_NS, outlook_ns=OUTLOOK_NS, protocols=protocols
    )
    return document.encode("utf-8")


_AUTODISCOVER = (
    '<?xml version="1.0" encoding="utf-8"?>\r\n'
    '<Autodiscover xmlns="{response_ns}">'
    '<Response xmlns="{outlook_ns}">'
    "<Account><AccountType>email</AccountType><Action>settings</Action>"
    "{protocols}</Account></Response></Autodiscover>\r\n"
)
# <Encryption>SSL</Encryption> means implicit TLS; when present, clients use it over <SSL>.
_PROTOCOL = (
    "<Protocol><Type>{kind}</Type><Server>{server}</Server><Port>{port}</Port>"
    "<LoginName>{login}</LoginName><DomainRequired>off</DomainRequired><SPA>off</SPA>"
    "<SSL>on</SSL><Encryption>SSL</Encryption><AuthRequired>on</AuthRequired></Protocol>"
)


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = value


def _document(root: ET.Element) -> bytes:
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document
