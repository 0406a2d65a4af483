"""``/ws/live?token=BEARER``: the browsers' live websocket (clerk page, patrol wall).

The browser sends ``{"type": "subscribe", "courtroom": "ID"}`` (the clerk
page) or ``{"type": "patrol"}`` (the patrol wall), and may send either again
later to switch; see :mod:`hub.live` for what each then receives. Close codes:

=====  ==========================================================
4401   missing, forged, expired or revoked bearer token, or the user
       was disabled — log in again. The token is re-checked every
       ``auth.session_recheck`` seconds (default 1 s) while open.
4403   subscribe to a courtroom outside the user's scope, or patrol
       by a clerk or judge (patrol is for supervisor and admin);
       also when a re-check finds the scope no longer covers it
4404   subscribe to a courtroom that is not configured
1007   a frame that is neither a valid subscribe nor a valid patrol
       request (binary, not JSON, unknown type, missing/extra/mistyped
       key) — a page bug: do not retry blindly
1009   a frame over :data:`BROWSER_FRAME_LIMIT` bytes
1011   the snapshot could not be encoded (never expected; logged)
4008   the browser fell ``live.queue_size`` messages behind;
       reconnect for a fresh snapshot (:data:`hub.live.CLOSE_TOO_SLOW`);
       same policy for courtroom subscribers and patrollers
=====  ==========================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from starlette.websockets import WebSocket, WebSocketDisconnect

from courtroom_core.wire import CLOSE_INVALID, CLOSE_TOO_BIG, CLOSE_UNAUTHORIZED, WireError
from hub.agent_ws import FrameTooBig, close_quietly, peer_of, receive_text
from hub.audit import Action
from hub.errors import AuthError
from hub.live import (
    CLOSE_TOO_SLOW,
    LiveSubscriber,
    Patrol,
    StatusBoard,
    decode_request,
    dumps_safe,
)
from hub.state import HubState
from hub.store import Archive, HearingInfo
from hub.users import Principal

__all__ = [
    "BROWSER_FRAME_LIMIT",
    "CLOSE_FORBIDDEN",
    "CLOSE_UNKNOWN_COURTROOM",
    "SNAPSHOT_MAX_BYTES",
    "SNAPSHOT_SEGMENTS",
    "SNAPSHOT_SEGMENT_BYTES",
    "live_endpoint",
]

log = logging.getLogger(__name__)

BROWSER_FRAME_LIMIT: Final = 4096
CLOSE_UNKNOWN_COURTROOM: Final = 4404
CLOSE_INTERNAL: Final = 1011
SNAPSHOT_SEGMENTS: Final = 500
"""Most transcript segments in a courtroom snapshot (the newest ones)."""
SNAPSHOT_SEGMENT_BYTES: Final = 1024 * 1024
"""Most bytes of segment JSON in a snapshot (the newest segment always fits).

The whole snapshot frame is therefore at most this, plus one segment (a
segment is at most a wire frame, 256 KiB), plus the hearing and the status
report (at most a wire frame): under :data:`SNAPSHOT_MAX_BYTES`.
Older segments: ``GET /api/hearings/{id}/transcript?before_seq=S&limit=N``
with S the ``seq`` of the first segment held (``more_before`` says whether any)."""
SNAPSHOT_MAX_BYTES: Final = SNAPSHOT_SEGMENT_BYTES + 3 * 256 * 1024
"""Documented upper bound of a courtroom snapshot frame."""
CLOSE_FORBIDDEN: Final = 4403


class _Refuse(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(slots=True)
class _Viewer:
    """The browser's principal (refreshed by each re-check) and what it watches."""

    principal: Principal
    token: str
    peer: str
    watching: str | None = None
    patrolling: bool = False

    def check_scope(self) -> None:
        """Raises: _Refuse: 4403 when the principal may not see what it watches."""
        rights = self.principal.rights
        if self.patrolling and not rights.patrol:
            raise _Refuse(CLOSE_FORBIDDEN, "patrol is for supervisors 巡查仅限巡查员")
        if self.watching is not None and not self.principal.sees(self.watching):
            raise _Refuse(CLOSE_FORBIDDEN, "not your courtroom 无权访问此法庭")


async def live_endpoint(websocket: WebSocket) -> None:
    """Serve one browser until it leaves, misbehaves or falls behind."""
    state: HubState = websocket.app.state.hub
    peer = peer_of(websocket)
    await websocket.accept()
    token = websocket.query_params.get("token") or ""
    try:
        viewer = _Viewer(principal=await state.authenticate(token), token=token, peer=peer)
    except AuthError as exc:
        log.info("browser %s refused: %s", peer, exc)
        state.record(
            Action.ACCESS_REFUSED, target="WS /ws/live", client=_host(websocket), status=4401
        )
        await close_quietly(websocket, CLOSE_UNAUTHORIZED, str(exc))
        return
    user = viewer.principal.username
    subscriber = LiveSubscriber(queue_size=state.config.live.queue_size)
    reader = asyncio.create_task(
        _read(websocket, state, subscriber, viewer), name=f"live-read {peer}"
    )
    sender = asyncio.create_task(_send(websocket, subscriber), name=f"live-send {peer}")
    lagging = asyncio.create_task(subscriber.overflowed.wait(), name=f"live-lag {peer}")
    checker = asyncio.create_task(_recheck(state, viewer), name=f"live-auth {peer}")
    tasks = (reader, sender, lagging, checker)
    try:
        done, _ = await asyncio.wait(set(tasks), return_when="FIRST_COMPLETED")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        state.broadcaster.leave(subscriber)
    refusal = next(
        (t.exception() for t in (reader, checker) if t in done and not t.cancelled()), None
    )
    if lagging in done:
        log.warning("browser %s (%s) fell behind; disconnecting it", peer, user)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(state.config.live.close_timeout):
                await close_quietly(
                    websocket, CLOSE_TOO_SLOW, "too slow, reconnect 连接过慢，请重连"
                )
    elif isinstance(refusal, _Refuse):
        log.warning("browser %s (%s) closed %d: %s", peer, user, refusal.code, refusal)
        if refusal.code == CLOSE_FORBIDDEN:
            state.record(
                Action.ACCESS_REFUSED,
                actor=user,
                target=f"WS /ws/live {viewer.watching or 'patrol'}",
                client=_host(websocket),
                status=refusal.code,
            )
        await close_quietly(websocket, refusal.code, str(refusal))


def _host(websocket: WebSocket) -> str:
    return websocket.client.host if websocket.client else "?"


async def _recheck(state: HubState, viewer: _Viewer) -> None:
    """Re-read the token's session and user every ``auth.session_recheck`` s.

    Raises:
        _Refuse: 4401 (revoked, expired, disabled) or 4403 (scope shrank).
    """
    while True:
        await asyncio.sleep(state.config.auth.session_recheck)
        try:
            viewer.principal = await state.authenticate(viewer.token)
        except AuthError as exc:
            raise _Refuse(CLOSE_UNAUTHORIZED, str(exc)) from exc
        viewer.check_scope()


async def _read(
    websocket: WebSocket, state: HubState, subscriber: LiveSubscriber, viewer: _Viewer
) -> None:
    while True:
        try:
            frame = await receive_text(websocket, limit=BROWSER_FRAME_LIMIT)
        except FrameTooBig as exc:
            raise _Refuse(CLOSE_TOO_BIG, str(exc)) from exc
        if frame is None:
            return
        try:
            request = decode_request(frame)
        except WireError as exc:
            raise _Refuse(CLOSE_INVALID, str(exc)) from exc
        if isinstance(request, Patrol):
            viewer.watching, viewer.patrolling = None, True
            viewer.check_scope()
            generation = state.broadcaster.patrol(subscriber)
            rooms = await state.runner.read(state.runner.archive.courtrooms)
            snapshot = _patrol_snapshot(rooms, state.names, state.board)
            for room in snapshot["courtrooms"]:
                room["compliance"] = _compliance(state, room["id"])
        else:
            courtroom = request.courtroom
            viewer.watching, viewer.patrolling = courtroom, False
            viewer.check_scope()
            if courtroom not in state.names:
                raise _Refuse(CLOSE_UNKNOWN_COURTROOM, f"unknown courtroom {courtroom[:64]!r}")
            generation = state.broadcaster.watch(subscriber, courtroom)
            hearing, segments, more = await state.runner.read(
                _snapshot, state.runner.archive, courtroom
            )
            # The hearing's joined sites: their lines come to this page too.
            state.broadcaster.learn(hearing)
            snapshot = {
                "type": "snapshot",
                "courtroom": courtroom,
                "hearing": hearing,
                "segments": segments,
                "more_before": more,
                "status": _status_json(state.board, courtroom),
                "hearing_state": state.board.hearing(courtroom).to_json(),
                "compliance": _compliance(state, courtroom),
            }
        frame = dumps_safe(snapshot)
        if frame is None:  # pragma: no cover - every part was encodable on its own
            raise _Refuse(CLOSE_INTERNAL, "snapshot unavailable 快照不可用")
        state.record(
            Action.LIVE_OPEN,
            actor=viewer.principal.username,
            target=viewer.watching or "patrol",
            client=_host(websocket),
        )
        if subscriber.generation == generation:  # else it switched meanwhile
            subscriber.offer_first(frame)


async def _send(websocket: WebSocket, subscriber: LiveSubscriber) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        while True:
            await websocket.send_text(await subscriber.next_frame())


def _snapshot(
    archive: Archive, courtroom: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], bool]:
    """(current hearing, the last segments of its transcript, whether older ones exist).

    The transcript as seen from ``courtroom``: every site's lines when it
    owns the hearing, its own when it joined another courtroom's.
    """
    hearing = archive.current_hearing(courtroom)
    if hearing is None:
        return None, [], False
    segments, more = archive.transcript_tail(
        hearing.id, courtroom, limit=SNAPSHOT_SEGMENTS, max_bytes=SNAPSHOT_SEGMENT_BYTES
    )
    return hearing.to_json(), segments, more


def _compliance(state: HubState, courtroom: str) -> dict[str, Any] | None:
    """The courtroom's last five-lights message, None before its first."""
    return None if state.compliance is None else state.compliance.latest(courtroom)


def _status_json(board: StatusBoard, courtroom: str) -> dict[str, Any]:
    """The courtroom's status; a report that cannot be encoded is left out (logged)."""
    status = board.get(courtroom).to_json()
    if dumps_safe(status) is None:
        status["report"] = {}
    return status


def _patrol_snapshot(
    rooms: list[tuple[str, str, HearingInfo | None]],
    names: Mapping[str, str],
    board: StatusBoard,
) -> dict[str, Any]:
    """Every configured courtroom by id (the archive may remember removed ones)."""
    hearings = {room_id: hearing for room_id, _, hearing in rooms}
    courtrooms = []
    for room_id in sorted(names):
        hearing = hearings.get(room_id)
        courtrooms.append(
            {
                "id": room_id,
                "name": names[room_id],
                "hearing": None if hearing is None else hearing.to_json(),
                "status": _status_json(board, room_id),
                "hearing_state": board.hearing(room_id).to_json(),
            }
        )
    return {"type": "patrol-snapshot", "courtrooms": courtrooms}
