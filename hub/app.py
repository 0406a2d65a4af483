"""The hub's ASGI application: REST API, websockets and the clerk page.

``create_app(config)`` returns a FastAPI app whose lifespan opens and migrates
the archive (off the event loop) and closes it on shutdown. Routes:

==========================================  =====================================
``GET /``                                   the clerk page (``hub/static``)
``GET /patrol``                             the patrol wall 庭审巡查 (``hub/static``)
``GET /healthz``                            liveness, no auth
``GET /admin``                              the admin page 系统管理 (``hub/static``)
``POST /api/login``                         {"username", "password"} → {"token", "expires_at"};
                                            throttled: 429 + Retry-After
``POST /api/logout``                        revoke this token's session
``GET /api/me``                             who the token speaks for
``GET /api/courtrooms``                     id, name, online, current hearing, hearing state
``GET /api/hearings?courtroom=ID``          hearings it opened or joined, newest first
``GET /api/hearings/{id}/transcript``       segments (Final.to_json + seq, site, site_name),
                                            paged with ``before_seq``/``after_seq`` (+ its
                                            ``site``) and ``limit``; every site's lines
                                            for a user of the owner courtroom, a joined
                                            site's own for a user of that site only
``GET /api/courtrooms/{id}/events``         stored events by seq, asc or desc, paged
``POST /api/courtrooms/{id}/hearing``       开庭/休庭/继续开庭/闭庭, forwarded to the agent
                                            (:mod:`hub.hearing_api`)
``GET /api/hearings/{id}/compliance``       the 五同步 compliance report; and its
                                            incidents, explained and signed off
                                            (:mod:`hub.compliance_api`)
``GET /api/courtrooms/{id}/cameras``        cameras with a thumbnail, and its time
``GET /api/courtrooms/{id}/cameras/{cam}/thumbnail``  that camera's latest JPEG
``/api/users``, ``/api/audit``, …           admin only: :mod:`hub.admin_api`
``GET /openapi.json``                       the API schema (any valid token)
``WS /ws/agent``                            agents (:mod:`hub.agent_ws`)
``WS /ws/live?token=…``                     browsers (:mod:`hub.live_ws`)
==========================================  =====================================

Every ``/api`` route but login needs ``Authorization: Bearer <token>`` of an
open session (401 otherwise). Roles and courtrooms (:mod:`hub.users`): a
courtroom outside the caller's scope is **403** everywhere (also for a
courtroom that does not exist, so scope never reveals existence); admin
routes are 403 for every other role. Every 401/403 is audited. ``/docs``
and ``/redoc`` are off (Swagger UI would load from a CDN).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from hub.admin_api import admin_router
from hub.agent_ws import agent_endpoint
from hub.audit import Action, AuditQueue
from hub.auth import AUTH_RESPONSES, User, client_of, hub_state, require_scope
from hub.compliance_api import compliance_router
from hub.config import HubConfig
from hub.edge_asgi import install_edge, unprocessable
from hub.errors import AuthError
from hub.evidence_api import evidence_router
from hub.hearing_api import HearingStateOut, hearing_router
from hub.live_ws import live_endpoint
from hub.security import Clock, utc_now
from hub.state import open_hub_state
from hub.store import HearingInfo
from hub.throttle import HashPoolBusy, LoginThrottled
from hub.users import Principal, Role

__all__ = ["create_app"]

_STATIC = Path(__file__).with_name("static")

EVENTS_LIMIT: Final = 5000
"""Largest page ``GET /api/courtrooms/{id}/events`` returns (``limit`` above is 422)."""
_MAX_SEQ: Final = 2**63 - 1  # a seq bound the database's BIGINT can hold
TRANSCRIPT_LIMIT: Final = 5000
"""Largest ``limit`` of ``GET /api/hearings/{id}/transcript`` (above is 422)."""


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(min_length=1, max_length=1024)


_LOGIN: Final[dict[int | str, dict[str, Any]]] = {
    401: {"description": "Wrong credentials"},
    429: {"description": "Too many attempts; see Retry-After 登录尝试过多"},
    503: {"description": "Password checks busy; see Retry-After 登录繁忙"},
}


class LoginResponse(BaseModel):
    token: str
    expires_at: datetime
    username: str


class MeOut(BaseModel):
    username: str
    role: Role
    courtrooms: list[str]
    expires_at: datetime


class SiteOut(BaseModel):
    courtroom: str = Field(description="the joined site's courtroom id")
    name: str = Field(description="its display name")
    joined_at: datetime
    left_at: datetime | None = Field(description="its own 闭庭; null while it takes part")


class HearingOut(BaseModel):
    id: str
    courtroom: str = Field(description="the courtroom that opened it (its owner)")
    title: str
    opened_at: datetime | None
    closed_at: datetime | None
    duration: float | None
    sites: list[SiteOut] = Field(
        default_factory=list, description="remote sites that joined it 远程参与方"
    )


class CourtroomOut(BaseModel):
    id: str
    name: str
    online: bool
    last_seen: datetime | None
    hearing: HearingOut | None
    hearing_state: HearingStateOut = Field(description="空闲 idle / 庭审中 open / 休庭中 recess")


class EventOut(BaseModel):
    seq: int
    kind: str
    body: dict[str, Any]
    received_at: datetime


class CameraOut(BaseModel):
    camera: str
    hearing_time: float = Field(description="hearing-clock seconds of the latest thumbnail")


class WordOut(BaseModel):
    word: str
    start: float
    end: float
    conf: float


class SegmentOut(BaseModel):
    seq: int = Field(description="the seq of its site's courtroom")
    site: str = Field(description="the courtroom id whose agent heard it")
    site_name: str = Field(description="that courtroom's display name")
    start: float
    end: float
    channel: int
    role: str
    text: str
    confidence: float
    words: list[WordOut]


def create_app(
    config: HubConfig,
    *,
    admin_password: str | None = None,
    clock: Clock = utc_now,
    env: Mapping[str, str] | None = None,
) -> FastAPI:
    """Build the hub application; nothing is opened until its lifespan starts.

    Args:
        config: validated hub configuration.
        admin_password: if given, user ``admin`` gets this password at startup.
        clock: current UTC time (tokens, timestamps); tests inject their own.
        env: where ``*_env`` settings are read (default ``os.environ``).

    The lifespan raises :class:`hub.errors.ConfigError` or
    :class:`hub.errors.ArchiveError` when the hub cannot start.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await asyncio.to_thread(
            open_hub_state, config, clock=clock, admin_password=admin_password, env=env
        )
        state.audit = AuditQueue(state.audit_log, state.runner)
        app.state.hub = state
        tasks = [
            asyncio.create_task(state.audit.run(), name="hub-audit"),
            asyncio.create_task(state.watch_agent_tokens(), name="hub-agent-tokens"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(state.hash_pool.close)
            await asyncio.to_thread(state.runner.close)

    app = FastAPI(
        title="Courtroom hub 法庭中心",
        version="0.1.0",
        description="Archive and live transcript of digital courtrooms.",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    install_edge(app, max_body_bytes=config.limits.max_body_bytes)
    app.add_api_websocket_route("/ws/agent", agent_endpoint)
    app.add_api_websocket_route("/ws/live", live_endpoint)
    api = APIRouter(responses=AUTH_RESPONSES)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(_user: _User) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.post("/api/login", tags=["auth"], responses=_LOGIN)
    async def login(body: LoginRequest, request: Request) -> LoginResponse:
        state = _state(request)
        try:
            issued = await state.login(body.username, body.password, client=_client(request))
        except LoginThrottled as exc:
            raise HTTPException(
                429, str(exc), headers={"Retry-After": str(exc.retry_after)}
            ) from exc
        except HashPoolBusy as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from exc
        except AuthError as exc:
            raise HTTPException(401, str(exc)) from exc
        return LoginResponse(
            token=issued.token, expires_at=issued.expires_at, username=issued.username
        )

    @api.post("/api/logout", tags=["auth"], status_code=204)
    async def logout(request: Request, user: _User) -> Response:
        """End this token's session: the token and its live sockets stop working."""
        state = _state(request)
        await state.runner.write(state.users.revoke_session, user.jti, now=state.clock())
        state.record(Action.LOGOUT, actor=user.username, client=_client(request))
        return Response(status_code=204)

    @api.get("/api/me", tags=["auth"])
    async def me(user: _User) -> MeOut:
        return MeOut(
            username=user.username,
            role=user.role,
            courtrooms=sorted(user.courtrooms),
            expires_at=user.expires_at,
        )

    @api.get("/api/courtrooms", tags=["archive"])
    async def courtrooms(request: Request, user: _User) -> list[CourtroomOut]:
        """The courtrooms this user may see (clerk, judge: their own)."""
        state = _state(request)
        rows = await state.runner.read(state.runner.archive.courtrooms)
        out = []
        for courtroom_id, name, hearing in rows:
            if not user.sees(courtroom_id):
                continue
            status = state.board.get(courtroom_id)
            out.append(
                CourtroomOut(
                    id=courtroom_id,
                    name=name,
                    online=status.online,
                    last_seen=status.last_seen,
                    hearing=None if hearing is None else HearingOut(**hearing.to_json()),
                    hearing_state=HearingStateOut(**state.board.hearing(courtroom_id).to_json()),
                )
            )
        return out

    @api.get("/api/hearings", tags=["archive"])
    async def hearings(
        request: Request,
        user: _User,
        courtroom: Annotated[str | None, Query(max_length=64)] = None,
    ) -> list[HearingOut]:
        state = _state(request)
        if courtroom is not None:
            _require_scope(request, user, courtroom)
        rows = await state.runner.read(state.runner.archive.hearings, courtroom)
        return [HearingOut(**row.to_json()) for row in rows if _viewpoint(user, row) is not None]

    @api.get(
        "/api/hearings/{hearing_id}/transcript",
        tags=["archive"],
        responses={
            404: {"description": "No such hearing"},
            422: {"description": "Both before_seq and after_seq, or a value out of range"},
        },
    )
    async def transcript(
        hearing_id: str,
        request: Request,
        user: _User,
        before_seq: Annotated[
            int | None,
            Query(ge=1, le=_MAX_SEQ, description="only segments before the one with this seq"),
        ] = None,
        after_seq: Annotated[
            int | None,
            Query(ge=1, le=_MAX_SEQ, description="only segments after the one with this seq"),
        ] = None,
        limit: Annotated[
            int | None,
            Query(ge=1, le=TRANSCRIPT_LIMIT, description="page size (default: every segment)"),
        ] = None,
        site: Annotated[
            str | None,
            Query(
                max_length=64,
                description="the site of the before_seq/after_seq segment "
                "(default: the courtroom the transcript is seen from)",
            ),
        ] = None,
    ) -> list[SegmentOut]:
        """A hearing's segments in transcript order (start, seq, site). Page towards
        the start with ``before_seq`` = the first segment's seq held and ``site``
        its site (the clerk page's 加载更早的笔录), towards the end with ``after_seq``.

        Who sees which lines: a user who may see the hearing's owner courtroom
        gets every site's segments; a user who may see only a joined site gets
        that site's own; anyone else 403."""
        if before_seq is not None and after_seq is not None:
            raise unprocessable(("query", "after_seq"), "give before_seq or after_seq, not both")
        state = _state(request)
        hearing = await state.runner.read(state.runner.archive.hearing, hearing_id)
        if hearing is None:
            raise HTTPException(404, f"no hearing {hearing_id[:128]!r} 无此庭审")
        viewpoint = _viewpoint(user, hearing)
        if viewpoint is None:
            _require_scope(request, user, hearing.courtroom)  # raises 403, audited
        seen_from = viewpoint or hearing.courtroom
        rows = await state.runner.read(
            state.runner.archive.transcript,
            hearing_id,
            seen_from,
            site=site,
            before_seq=before_seq,
            after_seq=after_seq,
            limit=limit,
        )
        state.record(
            Action.ARCHIVE_READ,
            actor=user.username,
            target=hearing_id,
            client=_client(request),
            detail={"courtroom": hearing.courtroom},
        )
        return [SegmentOut.model_validate(row) for row in rows]

    @api.get(
        "/api/courtrooms/{courtroom}/events",
        tags=["archive"],
        responses={404: {"description": "No such courtroom"}},
    )
    async def events(
        courtroom: str,
        request: Request,
        user: _User,
        kind: Annotated[str | None, Query(max_length=32, description="only this kind")] = None,
        order: Annotated[
            Literal["asc", "desc"], Query(description="seq order: asc (default) or desc")
        ] = "asc",
        after: Annotated[int, Query(ge=0, le=_MAX_SEQ, description="only seq above this")] = 0,
        before: Annotated[
            int | None, Query(ge=1, le=_MAX_SEQ, description="only seq below this")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=EVENTS_LIMIT, description="page size")] = 500,
    ) -> list[EventOut]:
        """A courtroom's stored events, one page, e.g. ``kind=device``: the equipment
        audit trail. Oldest first by default: page with ``after`` = the last seq
        received. ``order=desc`` gives the newest first (the patrol wall reads the
        latest alarms this way): page with ``before`` = the last seq received.
        Both bounds may be combined in either order; out-of-range values are 422."""
        state = _state(request)
        _require_scope(request, user, courtroom)
        if courtroom not in state.names:  # configured ones skip a query per courtroom
            known = await state.runner.read(state.runner.archive.courtrooms)
            if courtroom not in {row[0] for row in known}:
                raise HTTPException(404, f"no courtroom {courtroom!r} 无此法庭")
        rows = await state.runner.read(
            state.runner.archive.events,
            courtroom,
            kind=kind,
            after_seq=after,
            before_seq=before,
            limit=limit,
            newest_first=order == "desc",
        )
        return [EventOut.model_validate(row) for row in rows]

    @api.get(
        "/api/courtrooms/{courtroom}/cameras",
        tags=["patrol"],
        responses={404: {"description": "No such courtroom"}},
    )
    async def cameras(courtroom: str, request: Request, user: _User) -> list[CameraOut]:
        """The courtroom's cameras that have sent a thumbnail since the hub started."""
        state = _state(request)
        _require_scope(request, user, courtroom)
        if courtroom not in state.names:
            raise HTTPException(404, f"no courtroom {courtroom!r} 无此法庭")
        out = []
        for camera in state.thumbnails.cameras(courtroom):
            latest = state.thumbnails.get(courtroom, camera)
            if latest is not None:
                out.append(CameraOut(camera=camera, hearing_time=latest[1]))
        return out

    @api.get(
        "/api/courtrooms/{courtroom}/cameras/{camera}/thumbnail",
        tags=["patrol"],
        response_class=Response,
        responses={
            200: {"content": {"image/jpeg": {}}, "description": "The camera's latest picture"},
            404: {"description": "No picture from this camera yet"},
        },
    )
    async def thumbnail(courtroom: str, camera: str, request: Request, user: _User) -> Response:
        """A camera's latest thumbnail for the patrol wall (庭审巡查)."""
        _require_scope(request, user, courtroom)
        latest = _state(request).thumbnails.get(courtroom, camera)
        if latest is None:
            raise HTTPException(404, f"no picture from {courtroom}/{camera} 暂无画面")
        jpeg, hearing_time = latest
        return Response(
            content=jpeg,
            media_type="image/jpeg",
            headers={"Cache-Control": "no-store", "X-Hearing-Time": f"{hearing_time:.3f}"},
        )

    app.include_router(api)
    app.include_router(admin_router())
    app.include_router(hearing_router())
    app.include_router(evidence_router())
    app.include_router(compliance_router())

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(_STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/patrol", include_in_schema=False)
    async def patrol() -> FileResponse:
        return FileResponse(_STATIC / "patrol.html", headers={"Cache-Control": "no-cache"})

    @app.get("/admin", include_in_schema=False)
    async def admin_page() -> FileResponse:
        return FileResponse(_STATIC / "admin.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    return app


# The routes above use these short names; the dependencies live in hub.auth.
_state = hub_state
_client = client_of
_require_scope = require_scope
_User = User


def _viewpoint(user: Principal, hearing: HearingInfo) -> str | None:
    """The courtroom a user sees ``hearing`` from, None when it may not see it.

    The owner courtroom when the user may see it (every site's lines), else
    the first joined site it may see (that site's lines only).
    """
    if user.sees(hearing.courtroom):
        return hearing.courtroom
    return next((s.courtroom for s in hearing.sites if user.sees(s.courtroom)), None)
