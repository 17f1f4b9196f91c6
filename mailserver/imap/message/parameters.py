"""MIME header values with parameters (RFC 2045 §5.1 Content-Type, RFC 2183
Content-Disposition): `value; name=token; name="quoted"`. Parameter values are returned
as written (quotes removed), which is what BODYSTRUCTURE carries; RFC 2231 continuations
are left for the client, as other servers do."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PARAM = re.compile(rb';\s*([^\s=;"]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]*))', re.DOTALL)
_COMMENT = re.compile(rb"\([^()]*\)")


@dataclass(frozen=True, slots=True)
class Parameterised:
    value: str  # lowercase token before the first ";"
    params: tuple[tuple[bytes, bytes], ...]  # (name as written, value)

    def get(self, name: str) -> bytes | None:
        wanted = name.lower().encode()
        for key, value in self.params:
            if key.lower() == wanted:
                return value
        return None


def parse(raw: bytes | None, max_params: int = 64) -> Parameterised | None:
    if raw is None:
        return None
    text = _COMMENT.sub(b"", raw)
    head, _, _ = text.partition(b";")
    params: list[tuple[bytes, bytes]] = []
    for found in _PARAM.finditer(text, len(head)):
        quoted, bare = found.group(2), found.group(3)
        value = re.sub(rb"\\(.)", rb"\1", quoted) if quoted is not None else bare or b""
        params.append((found.group(1), value))
        if len(params) >= max_params:
            break
    return Parameterised(head.strip().decode("latin-1").lower(), tuple(params))
