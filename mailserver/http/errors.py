"""HTTP errors that render themselves as a response (and never echo the request)."""

from __future__ import annotations

from http import HTTPStatus

from mailserver.http.response import Response


class HttpError(Exception):
    """A request the server answers with an error status and a short fixed reason."""

    def __init__(self, status: HTTPStatus, reason: str = "", *, allow: str = "") -> None:
        self.status = status
        self.reason = reason or status.phrase
        self.allow = allow
        super().__init__(f"{int(status)} {self.reason}")

    def response(self) -> Response:
        headers = (("Allow", self.allow),) if self.allow else ()
        return Response.text(self.status, self.reason + "\n", headers=headers)
