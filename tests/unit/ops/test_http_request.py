"""The request-head parser: strict, pure, and never failing with anything but HttpError."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailserver.http.errors import HttpError
from mailserver.http.request import body_length, parse_head


def test_parses_method_path_query_and_lowercase_headers() -> None:
    request = parse_head(
        b"GET /mail/config-v1.1.xml?emailaddress=a%40salus.test HTTP/1.1\r\n"
        b"Host: Autoconfig.Salus.test:8025\r\nUser-Agent:  Thunderbird \r\n\r\n",
        max_fields=10,
    )
    assert request.method == "GET"
    assert request.path == "/mail/config-v1.1.xml"
    assert request.query == {"emailaddress": "a@salus.test"}
    assert request.headers["user-agent"] == "Thunderbird"
    assert request.host == "autoconfig.salus.test"


def test_http_1_0_needs_no_host() -> None:
    assert parse_head(b"GET /healthz HTTP/1.0\r\n\r\n", max_fields=4).host == ""


def test_ipv6_host_keeps_brackets() -> None:
    request = parse_head(b"GET / HTTP/1.1\r\nHost: [::1]:8025\r\n\r\n", max_fields=4)
    assert request.host == "[::1]"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        (b"a=1&a=2", HTTPStatus.BAD_REQUEST),
        (b"&".join(b"k%d=1" % n for n in range(20)), HTTPStatus.BAD_REQUEST),
        (b"emailaddress=%ff%40salus.test", HTTPStatus.BAD_REQUEST),
        (b"noequals", HTTPStatus.BAD_REQUEST),
    ],
)
def test_bad_query_strings(query: bytes, status: HTTPStatus) -> None:
    with pytest.raises(HttpError) as info:
        parse_head(b"GET /x?" + query + b" HTTP/1.1\r\nHost: h\r\n\r\n", max_fields=4)
    assert info.value.status == status


def test_content_length_rules() -> None:
    def head(*fields: bytes) -> bytes:
        return b"\r\n".join([b"POST /x HTTP/1.1", b"Host: h", *fields, b"", b""])

    assert body_length(parse_head(head(), max_fields=4), limit=10) == 0
    assert body_length(parse_head(head(b"Content-Length: 10"), max_fields=4), limit=10) == 10
    with pytest.raises(HttpError) as info:
        body_length(parse_head(head(b"Content-Length: 11"), max_fields=4), limit=10)
    assert info.value.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    for bad in (b"Content-Length: 1e3", b"Content-Length: +5", b"Content-Length: \xd9\xa3"):
        with pytest.raises(HttpError):
            body_length(parse_head(head(bad), max_fields=4), limit=10_000)


def test_error_response_never_echoes_the_request() -> None:
    with pytest.raises(HttpError) as info:
        parse_head(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: <script>\x01\r\n\r\n", max_fields=4)
    assert b"<script>" not in info.value.response().render()


@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_request_or_an_http_error(data: bytes) -> None:
    try:
        request = parse_head(data + b"\r\n\r\n", max_fields=16)
    except HttpError as exc:
        assert 400 <= exc.status < 600
    else:
        assert request.path.startswith("/")


@given(
    st.sampled_from(["GET", "POST", "HEAD"]),
    st.from_regex(r"/[a-z0-9./_-]{0,30}", fullmatch=True),
    st.dictionaries(
        st.from_regex(r"X-[A-Za-z0-9-]{1,10}", fullmatch=True),
        st.from_regex(r"[ -~]{0,20}", fullmatch=True).map(str.strip),
        max_size=5,
    ),
)
def test_well_formed_heads_round_trip(method: str, path: str, fields: dict[str, str]) -> None:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: salus.test",
        *(f"{k}: {v}" for k, v in fields.items()),
    ]
    request = parse_head(("\r\n".join(lines) + "\r\n\r\n").encode(), max_fields=16)
    assert (request.method, request.path) == (method, path)
    lowered: dict[str, list[str]] = {}
    for k, v in fields.items():
        lowered.setdefault(k.lower(), []).append(v)
    for key, values in lowered.items():
        assert request.headers[key] == ", ".join(values)
