"""Mail clients fetch their settings: Thunderbird's autoconfig and Outlook's Autodiscover,
fetched with the standard library's HTTP client and parsed with ElementTree as clients do."""

from __future__ import annotations

import asyncio
import http.client
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

from mailserver.http.autoconfig import OUTLOOK_NS, REQUEST_NS, RESPONSE_NS
from tests.protocol.http.running import http_settings, running_http

A = f"{{{OUTLOOK_NS}}}"


def _fetch(
    port: int, method: str, path: str, body: bytes | None = None, host: str = "salus.test"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Host": host}
        if body is not None:
            headers["Content-Type"] = "text/xml"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


async def fetch(
    port: int, method: str, path: str, body: bytes | None = None, host: str = "salus.test"
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_fetch, port, method, path, body, host)


def _servers(document: bytes) -> dict[str, dict[str, str]]:
    root = ET.fromstring(document)
    assert root.tag == "clientConfig"
    assert root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None
    servers = {}
    for server in [*provider.findall("incomingServer"), *provider.findall("outgoingServer")]:
        servers[server.get("type", "")] = {child.tag: child.text or "" for child in server}
    return servers


async def test_thunderbird_gets_imap_and_submission_over_tls(tmp_path: Path) -> None:
    async with running_http(tmp_path) as server:
        query = urllib.parse.urlencode({"emailaddress": "Dr.Martin@Salus.test"})
        status, headers, body = await fetch(server.port, "GET", f"/mail/config-v1.1.xml?{query}")
    assert status == 200
    assert headers["Content-Type"].startswith("application/xml")
    servers = _servers(body)
    assert servers["imap"] == {
        "hostname": "mail.salus.test",
        "port": "1993",
        "socketType": "SSL",
        "authentication": "password-cleartext",
        "username": "Dr.Martin@salus.test",
    }
    assert servers["smtp"]["port"] == "1465"
    assert servers["smtp"]["socketType"] == "SSL"
    assert servers["smtp"]["username"] == "Dr.Martin@salus.test"


async def test_well_known_path_without_address_uses_the_host_and_placeholder(
    tmp_path: Path,
) -> None:
    async with running_http(tmp_path) as server:
        status, _, body = await fetch(
            server.port,
            "GET",
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            host="autoconfig.clinique.test:8025",
        )
    assert status == 200
    root = ET.fromstring(body)
    assert root.findtext("emailProvider/domain") == "clinique.test"
    assert _servers(body)["imap"]["username"] == "%EMAILADDRESS%"


async def test_public_ports_are_published_behind_a_load_balancer(tmp_path: Path) -> None:
    settings = http_settings(tmp_path, public_imap_port=993, public_submission_port=465)
    async with running_http(tmp_path, settings=settings) as server:
        _, _, thunderbird = await fetch(
            server.port, "GET", "/mail/config-v1.1.xml?emailaddress=a%40salus.test"
        )
        _, _, outlook = await fetch(
            server.port, "POST", "/autodiscover/autodiscover.xml", _pox("a@salus.test")
        )
    assert _servers(thunderbird)["imap"]["port"] == "993"
    assert _servers(thunderbird)["smtp"]["port"] == "465"
    ports = {
        p.findtext(f"{A}Type"): p.findtext(f"{A}Port")
        for p in ET.fromstring(outlook).iter(f"{A}Protocol")
    }
    assert ports == {"IMAP": "993", "SMTP": "465"}


def _pox(address: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>'
        f'<Autodiscover xmlns="{REQUEST_NS}"><Request>'
        f"<EMailAddress>{address}</EMailAddress>"
        f"<AcceptableResponseSchema>{OUTLOOK_NS}</AcceptableResponseSchema>"
        f"</Request></Autodiscover>"
    ).encode()


async def test_outlook_autodiscover_pox(tmp_path: Path) -> None:
    async with running_http(tmp_path) as server:
        status, _, body = await fetch(
            server.port, "POST", "/Autodiscover/Autodiscover.xml", _pox("labo@clinique.test")
        )
    assert status == 200
    root = ET.fromstring(body)
    assert root.tag == f"{{{RESPONSE_NS}}}Autodiscover"
    account = root.find(f"{A}Response/{A}Account")
    assert account is not None
    assert account.findtext(f"{A}AccountType") == "email"
    assert account.findtext(f"{A}Action") == "settings"
    protocols = {p.findtext(f"{A}Type"): p for p in account.iter(f"{A}Protocol")}
    assert set(protocols) == {"IMAP", "SMTP"}
    for protocol in protocols.values():
        assert protocol.findtext(f"{A}Server") == "mail.salus.test"
        assert protocol.findtext(f"{A}LoginName") == "labo@clinique.test"
        assert protocol.findtext(f"{A}SSL") == "on"
        assert protocol.findtext(f"{A}Encryption") == "SSL"
        assert protocol.findtext(f"{A}SPA") == "off"
    assert protocols["IMAP"].findtext(f"{A}Port") == "1993"
    assert protocols["SMTP"].findtext(f"{A}Port") == "1465"


async def test_autodiscover_over_get_is_refused_with_allow(tmp_path: Path) -> None:
    async with running_http(tmp_path) as server:
        status, headers, _ = await fetch(server.port, "GET", "/autodiscover/autodiscover.xml")
    assert status == 405
    assert headers["Allow"] == "POST"


async def test_head_answers_like_get_without_body(tmp_path: Path) -> None:
    async with running_http(tmp_path) as server:
        status, headers, body = await fetch(
            server.port, "HEAD", "/mail/config-v1.1.xml?emailaddress=a%40salus.test"
        )
    assert status == 200
    assert int(headers["Content-Length"]) > 0
    assert body == b""
