"""A message as it is written after DATA (RFC 5321 §2.3.8, §4.1.1.4, §4.5.2).

Lines end in CRLF and nothing else: a bare CR or LF in stored content becomes CRLF, so no
peer can read a line end we did not mean (SMTP smuggling works on exactly that
disagreement). A line starting with "." gets a second one (transparency), and the data
ends with CRLF "." CRLF. Pure.
"""

from __future__ import annotations

import re

_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
END_OF_DATA = b".\r\n"


def crlf_only(content: bytes) -> bytes:
    """Every line end as CRLF (bare CR and bare LF included)."""
    return _LINE_END.sub(b"\r\n", content)


def dot_stuffed(content: bytes) -> bytes:
    """The DATA section for `content`: CRLF-only lines, leading dots doubled, the final
    line ended, then the end-of-data line."""
    lines = crlf_only(content)
    if lines and not lines.endswith(b"\r\n"):
        lines += b"\r\n"
    return _LEADING_DOT.sub(b"..", lines) + END_OF_DATA
