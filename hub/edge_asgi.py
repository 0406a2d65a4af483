"""Request-level defences of the hub, as pure ASGI middlewares.

- :class:`BodyLimitMiddleware`: a request body over ``max_bytes`` is refused
  with ``413`` + ``Connection: close`` — at once, unread, when its
  ``Content-Length`` says so; counted while streaming and cut at the limit when
  it is chunked. Nothing of the body is echoed. Runs before any parsing.
- :class:`SecurityHeadersMiddleware`: every HTTP response carries a
  Content-Security-Policy (a looser one only for FastAPI's ``/docs`` and
  ``/redoc``, which load Swagger/ReDoc from a CDN with an inline script),
  ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: no-referrer``; ``/api/*`` also ``Cache-Control: no-store``.
- :func:`validation_problem`: the ``422`` body lists field locations and
  messages only — never the input values (FastAPI's default echoes them, so a
  100 MB body came back 100 MB long) — at most :data:`MAX_PROBLEMS` of them.

:func:`install_edge` puts all three on an app.
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import HubError

__all__ = [
    "MAX_PROBLEMS",
    "BodyLimitMiddleware",
    "BodyTooLargeError",
    "SecurityHeadersMiddleware",
    "install_edge",
    "unprocessable",
    "validation_problem",
]

MAX_PROBLEMS: Final = 16
"""Validation problems listed in one 422 at most."""
_MAX_LOC_PARTS: Final = 8
_MAX_TEXT: Final = 160


class BodyTooLargeError(HubError):
    """A streamed request body passed the limit (raised from ``receive``)."""


def _json_response(status: int, detail: str, *extra: tuple[bytes, bytes]) -> list[Message]:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *extra,
    ]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, before anything parses them.

    Args:
        app: the wrapped ASGI app.
        max_bytes: largest body accepted.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must not be negative, not {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes
        self._too_large = _json_response(413, f"request body over {max_bytes} bytes 请求体过大")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        over = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise BodyTooLargeError(f"request body over {self.max_bytes} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:  # whatever the app made of the cut body, the answer is 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLargeError:
            if not started:
                started = True
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        for message in self._too_large:
            await send(message)


def _content_length(scope: Scope) -> int | None:
    # h11 has already refused a malformed or conflicting Content-Length.
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


_CSP_PAGES: Final = (
    "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_COMMON_HEADERS: Final = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_HEADERS_BY_PREFIX: Final = (("/api/", ((b"cache-control", b"no-store"),)),)
"""Path prefix → headers that replace the app's own."""


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP response (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        csp = _CSP_PAGES  # one policy: the hub serves no third-party script (no /docs)
        forced = [h for prefix, hs in _HEADERS_BY_PREFIX if path.startswith(prefix) for h in hs]
        added = [*_COMMON_HEADERS, (b"content-security-policy", csp.encode()), *forced]
        replaced = {name for name, _ in added}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in replaced]
                message = {**message, "headers": [*kept, *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _bounded(text: object) -> str:
    value = str(text)
    return value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 1] + "…"


def unprocessable(loc: tuple[str, ...], msg: str) -> RequestValidationError:
    """A 422 raised by a route's own check, shaped like every other 422 (the
    schema's ``HTTPValidationError``): ``raise unprocessable(("query", "x"), "…")``."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": "value_error"}])


async def validation_problem(request: Request, exc: Exception) -> JSONResponse:
    """The 422 body: where each problem is and what it is, never the input itself."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    detail: list[dict[str, Any]] = []
    for error in errors[:MAX_PROBLEMS]:
        loc = [
            part if isinstance(part, int) else _bounded(part)
            for part in error.get("loc", ())[:_MAX_LOC_PARTS]
        ]
        detail.append(
            {"loc": loc, "msg": _bounded(error.get("msg", "")), "type": _bounded(error.get("type"))}
        )
    return JSONResponse(status_code=422, content={"detail": detail})


def install_edge(app: FastAPI, *, max_body_bytes: int) -> None:
    """Install the body limit, the security headers and the bounded 422 on ``app``."""
    app.add_exception_handler(RequestValidationError, validation_problem)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: the 413 gets headers too
