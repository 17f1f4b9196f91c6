"""Attacks on the certificate lookup (DESIGN section 5.8): strangers get no answer,
peers get exact addresses only (no listing, no search, no patterns), and an unknown,
suspended or keyless mailbox all look the same."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest

from mailserver.tls import client_context
from tests.integration.trust.operators import SUSPENDED, Operator, doctor, operators


def ask(b: Operator, context: ssl.SSLContext, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", b.port("lookup")), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=None) as tls:
            tls.sendall(request)
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
            return answer


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: lookup.b.test\r\n\r\n".encode()


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def body(answer: bytes) -> bytes:
    return answer.partition(b"\r\n\r\n")[2]


async def _started(ops: dict[str, Operator]) -> tuple[Operator, Operator, ssl.SSLContext]:
    a, b = ops["a.test"], ops["b.test"]
    await b.serve("lookup")
    await b.trust(a)
    context = client_context(a.runtime.tls.material, [b.ca_chain().decode("ascii")])
    return a, b, context


@pytest.mark.parametrize("path", [f"/v1/mailboxes/{doctor(1, 'b.test')}", "/v1/crl"])
async def test_strangers_get_no_answer(
    operator_templates: dict[str, Path], tmp_path: Path, path: str
) -> None:
    async with operators(
        operator_templates, tmp_path, domains=("a.test", "b.test", "c.test")
    ) as ops:
        _, b, _ = await _started(ops)
        c = ops["c.test"]
        anonymous = ssl.create_default_context(cadata=b.ca_chain().decode("ascii"))
        anonymous.check_hostname = False
        untrusted = client_context(c.runtime.tls.material, [b.ca_chain().decode("ascii")])
        for context in (anonymous, untrusted):
            with pytest.raises((ssl.SSLError, ConnectionError)):
                answer = await asyncio.to_thread(ask, b, context, get(path))
                if not answer:  # TLS 1.3: the refusal may arrive as a closed connection
                    raise ConnectionError("closed without an answer")
        assert await b.audit("lookup.mailbox") == []
        assert await b.audit("lookup.crl") == []


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (get("/v1/mailboxes/"), 400),
        (get("/v1/mailboxes"), 404),
        (get("/v1/mailboxes?search=doctor"), 404),
        (get("/v1/mailboxes/doctor.1@b.test?fields=all"), 400),
        (get("/v1/mailboxes/doctor.*"), 400),
        (get("/v1/mailboxes/doctor.1@b.test/../doctor.2@b.test"), 400),
        (get("/v1/mailboxes/doctor.1%40b.test%2F.."), 400),
        (get("/v1/domains/b.test"), 404),
        (
            b"POST /v1/mailboxes/doctor.1@b.test HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            405,
        ),
        (b"GET /v1/mailboxes/doctor.1@b.test HTTP/1.1\r\n\r\n", 400),  # no Host
        (get("/v1/crl?since=1"), 404),
        (get("/v1/crl/1"), 404),
        (b"POST /v1/crl HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
    ],
)
async def test_only_exact_addresses_are_answered(
    operator_templates: dict[str, Path], tmp_path: Path, request_bytes: bytes, expected: int
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        _, b, context = await _started(ops)
        answer = await asyncio.to_thread(ask, b, context, request_bytes)
        assert status(answer) == expected
        assert b"BEGIN CERTIFICATE" not in answer


async def test_unknown_suspended_and_keyless_look_the_same(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        _, b, context = await _started(ops)
        answers = [
            await asyncio.to_thread(ask, b, context, get(f"/v1/mailboxes/{address}"))
            for address in (
                "nobody@b.test",
                doctor(SUSPENDED, "b.test"),
                doctor(5, "b.test"),
                doctor(1, "a.test"),
            )
        ]
        assert {(status(a), body(a)) for a in answers} == {(404, b'{"error": "not-published"}')}
        found = await asyncio.to_thread(
            ask, b, context, get(f"/v1/mailboxes/{doctor(1, 'B.TEST')}")
        )
        assert status(found) == 200 and b"BEGIN CERTIFICATE" in body(found)
        assert len(await b.audit("lookup.mailbox")) == 5
