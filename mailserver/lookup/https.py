"""One GET to a peer operator's certificate lookup over mutual TLS (the asking side).

The connection presents our service certificate and trusts only the peer domain's CA
(`TrustSpace.client_context`); after the handshake the server must prove that it speaks
for that domain (`verify_server_peer`) before anything is sent. One request per
connection; the answer's head and body are read under caps. Timeouts are the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from mailserver.trust_tls import TrustedPeer, peer_certificate, verify_server_peer
from storage.base import utcnow

MAX_HEAD_BYTES = 16 * 1024


async def get(
    peer: TrustedPeer, context: ssl.SSLContext, path: str, *, max_body: int, accept: str
) -> tuple[int, bytes]:
    """(status, body) of `GET path` at `peer`'s lookup. PeerRefused when the server is
    not `peer.domain`'s; OSError, IncompleteReadError or ValueError (a malformed or
    oversized answer) when the exchange fails."""
    reader, writer = await asyncio.open_connection(
        peer.lookup.host,
        peer.lookup.port,
        ssl=context,
        server_hostname=None,
        limit=MAX_HEAD_BYTES,
    )
    try:
        verify_server_peer(peer_certificate(writer.get_extra_info("ssl_object")), peer, utcnow())
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {peer.lookup.host}\r\n"
            f"Accept: {accept}\r\nConnection: close\r\n\r\n".encode("ascii")
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status, length = parse_response_head(head, max_body=max_body)
        body = await reader.readexactly(length) if length else b""
        return status, body
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def parse_response_head(head: bytes, *, max_body: int) -> tuple[int, int]:
    """(status, Content-Length) of an HTTP/1.1 response head; ValueError if malformed or
    if the body would exceed `max_body` bytes."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ValueError("not an HTTP/1.x response")
    length = 0
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() == "content-length":
            value = value.strip()
            if not value.isdigit():
                raise ValueError("malformed Content-Length")
            length = int(value)
    if length > max_body:
        raise ValueError("the answer is too large")
    return int(code), length
