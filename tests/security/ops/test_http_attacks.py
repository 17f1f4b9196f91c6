"""Hostile HTTP clients: each attack gets a fixed, safe answer and nothing else."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mailserver.http.autoconfig import REQUEST_NS
from mailserver.http.server import HttpLimits
from tests.protocol.http.running import raw_exchange, running_http, status_of, until_open

MARKER = b"ZZ-INJECTED-ZZ"


def _get(target: bytes, *extra: bytes, host: bytes = b"salus.test") -> bytes:
    return b"\r\n".join([b"GET " + target + b" HTTP/1.1", b"Host: " + host, *extra, b"", b""])


async def _status(
    tmp_path: Path, data: bytes, limits: HttpLimits | None = None
) -> tuple[int, bytes]:
    async with running_http(tmp_path, limits) as server:
        answer = await raw_exchange(server.port, data)
    return status_of(answer), answer


async def test_oversized_header_block_gets_431(tmp_path: Path) -> None:
    huge = b"X-Filler: " + b"a" * 40_000
    status, answer = await _status(tmp_path, _get(b"/healthz", huge))
    assert status == 431
    assert b"aaaa" not in answer


async def test_too_many_header_fields_gets_431(tmp_path: Path) -> None:
    fields = [b"X-F%d: 1" % n for n in range(100)]
    status, _ = await _status(tmp_path, _get(b"/healthz", *fields))
    assert status == 431


async def test_slowloris_is_cut_at_the_read_deadline(tmp_path: Path) -> None:
    limits = HttpLimits(read_deadline=0.5)
    async with running_http(tmp_path, limits) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)

        async def trickle() -> None:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: salus.test\r\n")
            while True:  # one header line every 50 ms, never the blank line
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
                await asyncio.sleep(0.05)

        sender = asyncio.create_task(trickle())
        try:
            # Without a deadline this read never ends and wait_for fails the test.
            answer = await asyncio.wait_for(reader.read(), 30)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            writer.close()
        await asyncio.wait_for(until_open(server, 0), 30)
    assert status_of(answer) == 408


@pytest.mark.parametrize(
    "target",
    [
        b"/.well-known/autoconfig/../../metrics",
        b"/.well-known/autoconfig/mail/%2e%2e/%2e%2e/healthz",
        b"/mail/../etc/passwd",
        b"//healthz",
        b"/healthz/.",
        b"/HEALTHZ",
    ],
)
async def test_path_tricks_reach_no_route(tmp_path: Path, target: bytes) -> None:
    status, answer = await _status(tmp_path, _get(target))
    assert status == 404
    assert b"ok" not in answer.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    "target",
    [b"http://salus.test/healthz", b"*", b"/health\x7fz", b"/a b"],
)
async def test_non_origin_form_targets_get_400(tmp_path: Path, target: bytes) -> None:
    status, _ = await _status(tmp_path, _get(target))
    assert status == 400


async def test_unknown_domain_gets_404(tmp_path: Path) -> None:
    for data in (
        _get(b"/mail/config-v1.1.xml?emailaddress=dr%40gmail.test"),
        _get(b"/.well-known/autoconfig/mail/config-v1.1.xml", host=b"autoconfig.evil.test"),
    ):
        status, answer = await _status(tmp_path, data)
        assert status == 404
        assert b"clientConfig" not in answer


@pytest.mark.parametrize(
    "address",
    [
        b"a%40salus.test%3C%2Fusername%3E%3Cusername%3E" + MARKER,
        b"%3Cx%3E" + MARKER + b"%40salus.test",
        b"a%22%20" + MARKER + b"%3D%22%40salus.test",
        b"a%0d%0aX-Injected:%20" + MARKER + b"%40salus.test",
        b"a%40salus.test%00" + MARKER,
    ],
)
async def test_xml_injection_in_emailaddress_is_refused(tmp_path: Path, address: bytes) -> None:
    status, answer = await _status(tmp_path, _get(b"/mail/config-v1.1.xml?emailaddress=" + address))
    assert status == 404
    assert MARKER not in answer


async def test_escaped_characters_stay_text(tmp_path: Path) -> None:
    # '&' is legal in a dot-atom local part: it must come back as text, escaped.
    status, answer = await _status(
        tmp_path, _get(b"/mail/config-v1.1.xml?emailaddress=o%26b%40salus.test")
    )
    assert status == 200
    root = ET.fromstring(answer.partition(b"\r\n\r\n")[2])
    assert {e.text for e in root.iter("username")} == {"o&b@salus.test"}


def _post(body: bytes, *extra: bytes) -> bytes:
    head = [
        b"POST /autodiscover/autodiscover.xml HTTP/1.1",
        b"Host: salus.test",
        b"Content-Length: %d" % len(body),
        *extra,
    ]
    return b"\r\n".join([*head, b"", b""]) + body


@pytest.mark.parametrize(
    "body",
    [
        # billion laughs
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<Autodiscover xmlns="'
        + REQUEST_NS.encode()
        + b'"><Request><EMailAddress>&lol2;@salus.test</EMailAddress></Request></Autodiscover>',
        # external entity
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<Autodiscover xmlns="'
        + REQUEST_NS.encode()
        + b'"><Request><EMailAddress>&xxe;</EMailAddress></Request></Autodiscover>',
        b"<Autodiscover><Request><EMailAddress>a@salus.test",
        b"not xml at all",
        b"<Other xmlns='urn:x'><Request><EMailAddress>a@salus.test</EMailAddress></Request></Other>",
    ],
)
async def test_hostile_autodiscover_bodies_get_400(tmp_path: Path, body: bytes) -> None:
    status, answer = await _status(tmp_path, _post(body))
    assert status == 400
    assert b"root:" not in answer


async def test_autodiscover_body_over_the_limit_gets_413(tmp_path: Path) -> None:
    status, _ = await _status(tmp_path, _post(b"<" + b"a" * 20_000 + b"/>"))
    assert status == 413


async def test_chunked_body_is_not_accepted(tmp_path: Path) -> None:
    data = (
        b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: salus.test\r\n"
        b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"
    )
    status, _ = await _status(tmp_path, data)
    assert status == 501


@pytest.mark.parametrize(
    "data",
    [
        b"GET /healthz HTTP/1.1\nHost: salus.test\n\n\r\n\r\n",  # bare LF
        b"GET /healthz HTTP/1.1\r\nHost : salus.test\r\n\r\n",  # space before colon
        b"GET /healthz HTTP/1.1\r\nHost: salus.test\r\n folded\r\n\r\n",  # obs-fold
        b"GET /healthz HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",  # two hosts
        b"GET /healthz HTTP/1.1\r\n\r\n",  # no Host
        b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: salus.test\r\n"
        b"Content-Length: 3\r\nContent-Length: 30\r\n\r\nabc",  # two lengths
        b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: salus.test\r\n"
        b"Content-Length: -1\r\n\r\n",
        b"GET  /healthz HTTP/1.1\r\nHost: salus.test\r\n\r\n",
    ],
)
async def test_ambiguous_requests_get_400(tmp_path: Path, data: bytes) -> None:
    status, _ = await _status(tmp_path, data)
    assert status == 400


async def test_unsupported_version_gets_505(tmp_path: Path) -> None:
    status, _ = await _status(tmp_path, b"GET /healthz HTTP/2.0\r\nHost: salus.test\r\n\r\n")
    assert status == 505
