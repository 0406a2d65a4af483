"""The hub's ASGI application: REST API, websockets and the clerk page.

``create_app(config)`` returns a FastAPI app whose lifespan opens and migrates
the archive (off the event loop) and closes it on shutdown. Routes:

==========================================  =====================================
``GET /``                                   the clerk page (``hub/static``)
``GET /patrol``                             the patrol wall 庭审巡查 (``hub/static``)
``GET /healthz``                            liveness, no auth
``POST /api/login``                         {"username", "password"} → {"token", "expires_at"}
``GET /api/courtrooms``                     id, name, online, current hearing
``GET /api/hearings?courtroom=ID``          hearings, newest first
``GET /api/hearings/{id}/transcript``       segments (Final.to_json + seq)
``GET /api/courtrooms/{id}/events``         stored events by seq, asc or desc, paged
``GET /api/courtrooms/{id}/cameras``        cameras with a thumbnail, and its time
``GET /api/courtrooms/{id}/cameras/{cam}/thumbnail``  that camera's latest JPEG
``WS /ws/agent``                            agents (:mod:`hub.agent_ws`)
``WS /ws/live?token=…``                     browsers (:mod:`hub.live_ws`)
==========================================  =====================================

Every ``/api`` route but login needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from hub.agent_ws import agent_endpoint
from hub.config import HubConfig
from hub.edge_asgi import install_edge
from hub.errors import AuthError
from hub.live_ws import live_endpoint
from hub.security import Clock, utc_now
from hub.state import HubState, open_hub_state

__all__ = ["create_app"]

_STATIC = Path(__file__).with_name("static")
_bearer = HTTPBearer(auto_error=False)

EVENTS_LIMIT: Final = 5000
"""Largest page ``GET /api/courtrooms/{id}/events`` returns (``limit`` above is 422)."""
_MAX_SEQ: Final = 2**63 - 1  # a seq bound the database's BIGINT can hold


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(BaseModel):
    token: str
    expires_at: datetime
    username: str


class HearingOut(BaseModel):
    id: str
    courtroom: str
    title: str
    opened_at: datetime | None
    closed_at: datetime | None
    duration: float | None


class CourtroomOut(BaseModel):
    id: str
    name: str
    online: bool
    last_seen: datetime | None
    hearing: HearingOut | None


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
    seq: int
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
        app.state.hub = state
        try:
            yield
        finally:
            await asyncio.to_thread(state.runner.close)

    app = FastAPI(
        title="Courtroom hub 法庭中心",
        version="0.1.0",
        description="Archive and live transcript of digital courtrooms.",
        lifespan=lifespan,
    )
    install_edge(app, max_body_bytes=config.limits.max_body_bytes)
    app.add_api_websocket_route("/ws/agent", agent_endpoint)
    app.add_api_websocket_route("/ws/live", live_endpoint)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/login", tags=["auth"], responses={401: {"description": "Wrong credentials"}})
    async def login(body: LoginRequest, request: Request) -> LoginResponse:
        state = _state(request)
        try:
            username = await state.login(body.username, body.password)
        except AuthError as exc:
            raise HTTPException(401, str(exc)) from exc
        issued = state.signer.issue(username)
        return LoginResponse(token=issued.token, expires_at=issued.expires_at, username=username)

    @app.get("/api/courtrooms", tags=["archive"])
    async def courtrooms(request: Request, _user: _User) -> list[CourtroomOut]:
        state = _state(request)
        rows = await state.runner.read(state.runner.archive.courtrooms)
        out = []
        for courtroom_id, name, hearing in rows:
            status = state.board.get(courtroom_id)
            out.append(
                CourtroomOut(
                    id=courtroom_id,
                    name=name,
                    online=status.online,
                    last_seen=status.last_seen,
                    hearing=None if hearing is None else HearingOut(**hearing.to_json()),
                )
            )
        return out

    @app.get("/api/hearings", tags=["archive"])
    async def hearings(
        request: Request, _user: _User, courtroom: Annotated[str | None, Query()] = None
    ) -> list[HearingOut]:
        state = _state(request)
        rows = await state.runner.read(state.runner.archive.hearings, courtroom)
        return [HearingOut(**row.to_json()) for row in rows]

    @app.get(
        "/api/hearings/{hearing_id}/transcript",
        tags=["archive"],
        responses={404: {"description": "No such hearing"}},
    )
    async def transcript(hearing_id: str, request: Request, _user: _User) -> list[SegmentOut]:
        state = _state(request)
        hearing = await state.runner.read(state.runner.archive.hearing, hearing_id)
        if hearing is None:
            raise HTTPException(404, f"no hearing {hearing_id!r} 无此庭审")
        rows = await state.runner.read(
            state.runner.archive.transcript, hearing_id, hearing.courtroom
        )
        return [SegmentOut.model_validate(row) for row in rows]

    @app.get(
        "/api/courtrooms/{courtroom}/events",
        tags=["archive"],
        responses={404: {"description": "No such courtroom"}},
    )
    async def events(
        courtroom: str,
        request: Request,
        _user: _User,
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

    @app.get(
        "/api/courtrooms/{courtroom}/cameras",
        tags=["patrol"],
        responses={404: {"description": "No such courtroom"}},
    )
    async def cameras(courtroom: str, request: Request, _user: _User) -> list[CameraOut]:
        """The courtroom's cameras that have sent a thumbnail since the hub started."""
        state = _state(request)
        if courtroom not in state.names:
            raise HTTPException(404, f"no courtroom {courtroom!r} 无此法庭")
        out = []
        for camera in state.thumbnails.cameras(courtroom):
            latest = state.thumbnails.get(courtroom, camera)
            if latest is not None:
                out.append(CameraOut(camera=camera, hearing_time=latest[1]))
        return out

    @app.get(
        "/api/courtrooms/{courtroom}/cameras/{camera}/thumbnail",
        tags=["patrol"],
        response_class=Response,
        responses={
            200: {"content": {"image/jpeg": {}}, "description": "The camera's latest picture"},
            404: {"description": "No picture from this camera yet"},
        },
    )
    async def thumbnail(courtroom: str, camera: str, request: Request, _user: _User) -> Response:
        """A camera's latest thumbnail for the patrol wall (庭审巡查)."""
        latest = _state(request).thumbnails.get(courtroom, camera)
        if latest is None:
            raise HTTPException(404, f"no picture from {courtroom}/{camera} 暂无画面")
        jpeg, hearing_time = latest
        return Response(
            content=jpeg,
            media_type="image/jpeg",
            headers={"Cache-Control": "no-store", "X-Hearing-Time": f"{hearing_time:.3f}"},
        )

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(_STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/patrol", include_in_schema=False)
    async def patrol() -> FileResponse:
        return FileResponse(_STATIC / "patrol.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    return app


def _state(request: Request) -> HubState:
    state: HubState = request.app.state.hub
    return state


async def _require_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    try:
        return _state(request).signer.verify(
            None if credentials is None else credentials.credentials
        )
    except AuthError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc


_User = Annotated[str, Depends(_require_user)]
