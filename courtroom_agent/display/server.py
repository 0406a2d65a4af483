"""The courtroom display server: the agent serves its own screens.

The judge's, clerk's, parties' and gallery screens in the courtroom open
``http://AGENT:PORT/display/<view>`` in a full-screen browser. The agent
serves them itself, so they keep working when the hub or the WAN is down::

    async with DisplayServer(courtroom="第一法庭", evidence=folder_of_hearing,
                             host="10.0.5.2", port=8480, on_report=ledger.add) as display:
        display.publish("hearing.opened", body)        # the agent's events, as sent to the hub
        display.publish("transcript.final", body)
        display.present(Exhibit(id="P-3", kind=ExhibitKind.PDF, path="合同.pdf", page=2))
        display.update_exhibit(zoom=1.5)
        display.withdraw("P-3")

Who may connect, and what they see:
    Any client on the courtroom LAN that reaches the port. The pages are
    read-only: a page can only acknowledge what it rendered, it cannot change
    anything. A page sees the hearing's state, title and case number, the
    recent transcript (the last ``recent`` finals, as the screens in the room
    show them), and the exhibit presented now — only that file, and for a PDF
    only the page at the zoom presented — from the hearing's evidence folder;
    nothing else of the file system, nothing when no exhibit is presented. Bind ``host`` to the
    courtroom LAN's address only (never the WAN side); the pages need no login
    because everything they show is shown on the room's screens anyway. A
    websocket from a page of another site (an ``Origin`` other than this
    server) is refused, so a web page elsewhere cannot read the transcript
    through a browser on the LAN. Give ``hosts`` (the names and addresses the
    screens use) to refuse any other ``Host`` header as well, which stops a
    DNS-rebinding page from posing as this server.

Input and its bounds (the agent's loop never waits on a page):
    :meth:`~DisplayServer.publish`, :meth:`~DisplayServer.present`,
    :meth:`~DisplayServer.update_exhibit` and :meth:`~DisplayServer.withdraw`
    are synchronous and return at once; call them from the event loop's
    thread. Each updates the state and puts the resulting message in each
    page's outbox (``limits.outbox`` messages). **Overflow policy:** when a
    page's outbox is full, its queued messages are dropped and replaced by
    one snapshot of the current state (hearing state, recent finals,
    exhibit), built when it is sent; a slow page thus skips ahead but never
    shows a stale state, and its memory stays bounded. A page that does not
    take a message within ``send_timeout_s`` is closed (it reconnects and
    gets a snapshot).

Latency: a final is stamped with ``clock()`` when it reaches ``publish``; the
page acknowledges it after the DOM update; the difference is the display
latency of that screen. :class:`DisplayReport` per view goes to
``on_report`` every ``report_every`` seconds when something changed, and on
:meth:`~DisplayServer.report_now`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import math
import socket
import string
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from .evidence import IMAGE_TYPES, PdfRenderer, locate
from .model import (
    DEFAULT_VIEWS,
    MAX_PAGE,
    MAX_ZOOM,
    MIN_ZOOM,
    DisplayError,
    DisplayLimits,
    DisplayReport,
    Exhibit,
    ExhibitError,
    ExhibitKind,
    PageError,
    ViewSpec,
)
from .pages import PageLedger, ViewFigures, parse_ack
from .state import DisplayState, Outgoing

__all__ = ["DisplayServer", "EvidenceFolder"]

log = logging.getLogger(__name__)

EvidenceFolder = Callable[[], Path | None]
"""Returns the current hearing's evidence folder (None: no hearing, no evidence)."""

WS_MAX_BYTES: Final = 4096
"""uvicorn's hard ceiling on a page's frame; the server refuses smaller ones itself."""

_STATIC: Final = resources.files(__package__) / "static"
_HEADERS: Final = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; "
        b"form-action 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class _SecurityHeaders:
    """Adds the headers above to every HTTP response (pure ASGI, websockets pass)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class _Page:
    """One connected display page: its outbox and what it acknowledged."""

    def __init__(self, view: str, spec: ViewSpec, figures: ViewFigures, outbox: int) -> None:
        self.view = view
        self.spec = spec
        self.ledger = PageLedger(figures)
        self.outbox: deque[Outgoing] = deque()
        self.limit = outbox
        self.resync = True  # the first thing a page gets is a snapshot
        self.wake = asyncio.Event()
        self.wake.set()
        self.overflows = 0

    def wants(self, audience: str) -> bool:
        return (
            audience == "all"
            or (audience == "transcript" and self.spec.transcript)
            or (audience == "exhibits" and self.spec.exhibits)
        )

    def offer(self, out: Outgoing) -> None:
        """Queue a message; never blocks (see the overflow policy)."""
        if not self.wants(out.audience):
            return
        if not self.resync:  # a snapshot already on its way includes this message
            if len(self.outbox) >= self.limit:
                self.outbox.clear()
                self.resync = True
                self.overflows += 1
            else:
                self.outbox.append(out)
        self.wake.set()


class DisplayServer:
    """The courtroom's display pages, served by the agent on the courtroom LAN.

    Args:
        courtroom: the courtroom's name, shown on every screen.
        evidence: returns the current hearing's evidence folder.
        views: view id → what that screen shows (default :data:`DEFAULT_VIEWS`).
        host: address to listen on (the courtroom LAN side).
        port: TCP port; 0 picks a free one (see :attr:`url`).
        clock: monotonic clock (seconds) for display latency.
        on_report: receives a :class:`DisplayReport` per view.
        report_every: seconds between reports while something changed.
        limits: the server's bounds.
        hosts: the only ``Host`` names accepted (e.g. ``["10.0.5.2", "court-1.local"]``);
            None accepts any.

    Raises:
        DisplayError: (from ``__aenter__``) the address cannot be bound or
            the server does not start.
    """

    def __init__(
        self,
        *,
        courtroom: str,
        evidence: EvidenceFolder,
        views: Mapping[str, ViewSpec] = DEFAULT_VIEWS,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        on_report: Callable[[DisplayReport], None] | None = None,
        report_every: float = 5.0,
        limits: DisplayLimits | None = None,
        hosts: Sequence[str] | None = None,
    ) -> None:
        for view in views:
            if not view.isascii() or not view.replace("-", "").isalnum() or len(view) > 32:
                raise DisplayError(f"views: {view!r} must be 1-32 letters, digits or '-'")
        self.courtroom = courtroom
        self.views = dict(views)
        self.host = host
        self.limits = limits = limits or DisplayLimits()
        self._port = port
        self._evidence = evidence
        self._clock = clock
        self._on_report = on_report
        self._report_every = report_every
        self.state = DisplayState(recent=limits.recent, clock=clock)
        self._figures = {
            view: ViewFigures(samples=deque(maxlen=limits.samples)) for view in self.views
        }
        self._figures_hearing: str | None = None
        self._refused = dict.fromkeys(self.views, 0)
        self._pages: set[_Page] = set()
        self._renderer = PdfRenderer(max_pixels=limits.max_pixels)
        self._socket: socket.socket | None = None
        self._tasks: list[asyncio.Task[None]] = []
        app: ASGIApp = self._app()
        if hosts is not None:
            app = TrustedHostMiddleware(app, allowed_hosts=list(hosts), www_redirect=False)
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                _SecurityHeaders(app),
                log_config=None,
                access_log=False,
                lifespan="off",
                ws="websockets-sansio",
                ws_max_size=WS_MAX_BYTES,
                ws_ping_interval=10.0,
                ws_ping_timeout=10.0,
                timeout_graceful_shutdown=1,
                # Pages, plus their asset and evidence requests: beyond this, 503.
                limit_concurrency=2 * limits.max_pages + 16,
                server_header=False,
            )
        )

    # -- lifecycle ----------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://host:port`` the screens open (``/display`` lists the views)."""
        if self._socket is None:
            raise RuntimeError("DisplayServer is not entered")
        port = self._socket.getsockname()[1]
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    async def __aenter__(self) -> Self:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP so asyncio sets TCP_NODELAY (no 40 ms Nagle + delayed-ACK stall).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
        except OSError as exc:
            sock.close()
            raise DisplayError(
                f"display: cannot listen on {self.host}:{self._port}: {exc}"
            ) from exc
        sock.listen(64)
        sock.setblocking(False)
        self._socket = sock
        serving = asyncio.create_task(self._uvicorn.serve([sock]), name="display-uvicorn")
        self._tasks = [serving]
        while not self._uvicorn.started:  # uvicorn offers no startup event
            if serving.done():
                break
            await asyncio.sleep(0.005)
        if not self._uvicorn.started:
            await self._close()
            raise DisplayError("display server failed to start; see the log")
        self._tasks.append(asyncio.create_task(self._reporting(), name="display-reports"))
        log.info("courtroom display on %s/display", self.url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        self._uvicorn.should_exit = True
        for task in self._tasks[1:]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    # -- input from the agent (synchronous, never waits) ---------------------

    def publish(self, kind: str, body: Mapping[str, Any]) -> None:
        """Show one agent event (``hearing.*``, ``transcript.final``, ``transcript.partial``).

        Other kinds are ignored. Returns at once.

        Raises:
            DisplayError: the body does not fit its kind; names the field.
        """
        self._fan_out(self.state.apply(kind, body))

    def present(self, exhibit: Exhibit) -> None:
        """Show ``exhibit`` on every view that shows exhibits, in place of the transcript.

        Raises:
            ExhibitError: its file is not in the hearing's evidence folder, too
                large or of the wrong type.
        """
        if exhibit.kind is not ExhibitKind.LIVE:
            locate(self._evidence(), exhibit, max_file=self.limits.max_file)
        self._fan_out(self.state.present(exhibit))

    def update_exhibit(self, *, page: int | None = None, zoom: float | None = None) -> None:
        """Follow the presenter: the exhibit's page and zoom.

        Raises:
            ExhibitError: no exhibit presented, or a value out of range.
        """
        self._fan_out(self.state.update(page=page, zoom=zoom))

    def withdraw(self, exhibit_id: str) -> None:
        """Take the exhibit off the screens (back to the transcript); another id is ignored."""
        self._fan_out(self.state.withdraw(exhibit_id))

    def _fan_out(self, messages: list[Outgoing]) -> None:
        hearing = self.state.hearing.hearing_id
        if hearing is not None and hearing != self._figures_hearing:
            self._figures_hearing = hearing  # a new hearing: its own figures
            for figures in self._figures.values():
                figures.reset()
        for out in messages:
            for page in self._pages:
                page.offer(out)

    # -- reports --------------------------------------------------------------

    def report_now(self) -> list[DisplayReport]:
        """Each view's report, also given to ``on_report``."""
        reports = [self._report(view) for view in self.views]
        for report in reports:
            self._figures[report.view].changed = False
            if self._on_report is not None:
                self._on_report(report)
        return reports

    def samples(self, view: str) -> tuple[float, ...]:
        """The view's latency samples (seconds, oldest first) over the current hearing.

        Raises:
            KeyError: no such view.
        """
        return tuple(self._figures[view].samples)

    def _report(self, view: str) -> DisplayReport:
        pages = sum(1 for page in self._pages if page.view == view)
        return self._figures[view].report(view, pages, self._refused[view])

    async def _reporting(self) -> None:
        while True:
            await asyncio.sleep(self._report_every)
            changed = [view for view, figures in self._figures.items() if figures.changed]
            for view in changed:
                self._figures[view].changed = False
                if self._on_report is not None:
                    try:
                        self._on_report(self._report(view))
                    except Exception:  # the callback's failure must not stop the screens
                        log.exception("display: on_report failed")

    # -- the web app ------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", lambda _r: RedirectResponse("/display")),
                Route("/display", self._index),
                Route("/display-wall", self._wall),
                Mount("/display/static", app=StaticFiles(directory=str(_STATIC))),
                Route("/display/evidence/{name:path}", self._evidence_file),
                WebSocketRoute("/display/ws/{view}", self._socket_of_page),
                Route("/display/{view}", self._view_page),
            ]
        )

    async def _index(self, _request: Request) -> Response:
        items = "\n".join(
            f'<li><a href="/display/{html.escape(view)}">{html.escape(spec.title_zh)}'
            f' <span class="en">{html.escape(spec.title_en)}</span></a></li>'
            for view, spec in self.views.items()
        )
        return HTMLResponse(
            _template("index.html").substitute(courtroom=html.escape(self.courtroom), views=items)
        )

    async def _wall(self, _request: Request) -> Response:
        """屏幕总览: every view at once, each in a frame that is a live page of its own."""
        frames = "\n".join(
            f"<figure><figcaption>{html.escape(spec.title_zh)} · {html.escape(spec.title_en)}"
            f'</figcaption><iframe src="/display/{html.escape(view)}" '
            f'title="{html.escape(spec.title_zh)}"></iframe></figure>'
            for view, spec in self.views.items()
        )
        return HTMLResponse(
            _template("wall.html").substitute(courtroom=html.escape(self.courtroom), frames=frames)
        )

    async def _view_page(self, request: Request) -> Response:
        view = request.path_params["view"]
        spec = self.views.get(view)
        if spec is None:
            return Response("未知的屏幕 · unknown view", status_code=404, media_type="text/plain")
        return HTMLResponse(
            _template("display.html").substitute(
                courtroom=html.escape(self.courtroom),
                view=html.escape(view),
                title_zh=html.escape(spec.title_zh),
                title_en=html.escape(spec.title_en),
                lines=spec.lines,
            )
        )

    async def _evidence_file(self, request: Request) -> Response:
        """The presented exhibit's file; a PDF page rendered at ``?page=&zoom=``."""
        exhibit = self.state.exhibit
        name = request.path_params["name"]
        if exhibit is None or exhibit.kind is ExhibitKind.LIVE or exhibit.path != name:
            return _refuse(404, "未在展示 · not presented")
        try:
            located = locate(self._evidence(), exhibit, max_file=self.limits.max_file)
            if exhibit.kind is ExhibitKind.IMAGE:
                media = IMAGE_TYPES[located.path.suffix.lower()]
                return FileResponse(located.path, media_type=media)
            page = _query_number(request, "page", 1, MAX_PAGE, integer=True)
            zoom = _query_number(request, "zoom", MIN_ZOOM, MAX_ZOOM, integer=False)
            if (page, zoom) != (exhibit.page, exhibit.zoom):
                # Only what the presenter shows: no page browsing, no renders on demand.
                return _refuse(404, "未在展示的页 · page or zoom not presented")
            png = await self._renderer.render(located, exhibit.page, exhibit.zoom)
        except ExhibitError as exc:
            return _refuse(404, str(exc))
        except _BadQuery as exc:
            return _refuse(400, str(exc))
        return Response(png, media_type="image/png")

    async def _socket_of_page(self, websocket: WebSocket) -> None:
        view = websocket.path_params["view"]
        await websocket.accept()
        spec = self.views.get(view)
        reason = None
        if spec is None:
            reason = "unknown view"
        elif not _same_origin(websocket):
            reason = "Origin is not this display server"
        elif len(self._pages) >= self.limits.max_pages:
            self._refused[view] += 1
            await websocket.close(1013, f"too many display pages (max {self.limits.max_pages})")
            return
        if reason is not None or spec is None:
            if view in self._refused:
                self._refused[view] += 1
            await websocket.close(1008, reason)
            return
        page = _Page(view, spec, self._figures[view], self.limits.outbox)
        self._pages.add(page)
        self._figures[view].changed = True
        try:
            await _first_done(self._write(page, websocket), self._read(page, websocket))
        except PageError as exc:
            self._refused[view] += 1
            log.info("display: page of %s refused: %s", view, exc)
            with contextlib.suppress(Exception):
                await websocket.close(exc.code, str(exc))
        except (TimeoutError, WebSocketDisconnect, OSError):
            pass
        finally:
            self._pages.discard(page)
            self._figures[view].changed = True

    async def _write(self, page: _Page, websocket: WebSocket) -> None:
        while True:
            await page.wake.wait()
            page.wake.clear()
            while page.resync or page.outbox:
                if page.resync:
                    page.resync = False
                    page.outbox.clear()
                    message = self.state.snapshot(
                        transcript=page.spec.transcript, exhibits=page.spec.exhibits
                    )
                    published = None
                else:
                    out = page.outbox.popleft()
                    message, published = out.message, out.published_at
                page.ledger.sent(message, published)  # before sending: the ack may be fast
                text = json.dumps(message, ensure_ascii=False)
                await asyncio.wait_for(websocket.send_text(text), self.limits.send_timeout_s)

    async def _read(self, page: _Page, websocket: WebSocket) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            ack = parse_ack(message.get("text"), max_message=self.limits.max_message)
            page.ledger.acknowledge(ack, self._clock())


class _BadQuery(DisplayError):
    pass


def _query_number(request: Request, name: str, low: float, high: float, *, integer: bool) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return 1.0
    try:
        value = int(raw) if integer else float(raw)
    except ValueError as exc:
        raise _BadQuery(f"{name} must be a number") from exc
    if not math.isfinite(value) or not low <= value <= high:
        raise _BadQuery(f"{name} must be within {low:g}..{high:g}")
    return value


def _refuse(status: int, reason: str) -> Response:
    return Response(reason, status_code=status, media_type="text/plain; charset=utf-8")


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:  # not a browser: nothing a foreign page could borrow
        return True
    return urlsplit(origin).netloc == websocket.headers.get("host")


def _template(name: str) -> string.Template:
    return string.Template((_STATIC / name).read_text(encoding="utf-8"))


async def _first_done(*jobs: Awaitable[None]) -> None:
    """Run ``jobs`` until one ends; cancel the others; re-raise its error."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    for task in done:
        task.result()
