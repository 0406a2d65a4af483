"""``/ws/live?token=BEARER``: the clerk page's live transcript websocket.

The browser sends ``{"type": "subscribe", "courtroom": "ID"}`` (again to
switch courtroom) and receives a snapshot of the courtroom's current hearing,
then live messages (see :mod:`hub.live`). Close codes:

=====  ==========================================================
4401   missing, forged or expired bearer token — log in again
4404   no such courtroom
1007   a frame that is not a valid subscribe message
1009   a frame over :data:`BROWSER_FRAME_LIMIT` bytes
4008   the browser fell ``live.queue_size`` messages behind;
       reconnect for a fresh snapshot (:data:`hub.live.CLOSE_TOO_SLOW`)
=====  ==========================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Final

from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.agent_ws import FrameTooBig, close_quietly, peer_of, receive_text
from hub.errors import AuthError
from hub.live import CLOSE_TOO_SLOW, LiveSubscriber, dumps
from hub.state import HubState
from hub.store import Archive
from hub.wire import CLOSE_INVALID, CLOSE_TOO_BIG, CLOSE_UNAUTHORIZED

__all__ = ["BROWSER_FRAME_LIMIT", "CLOSE_UNKNOWN_COURTROOM", "live_endpoint"]

log = logging.getLogger(__name__)

BROWSER_FRAME_LIMIT: Final = 4096
CLOSE_UNKNOWN_COURTROOM: Final = 4404


class _Refuse(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


async def live_endpoint(websocket: WebSocket) -> None:
    """Serve one browser until it leaves, misbehaves or falls behind."""
    state: HubState = websocket.app.state.hub
    peer = peer_of(websocket)
    await websocket.accept()
    try:
        user = state.signer.verify(websocket.query_params.get("token"))
    except AuthError as exc:
        log.info("browser %s refused: %s", peer, exc)
        await close_quietly(websocket, CLOSE_UNAUTHORIZED, str(exc))
        return
    subscriber = LiveSubscriber(queue_size=state.config.live.queue_size)
    reader = asyncio.create_task(_read(websocket, state, subscriber), name=f"live-read {peer}")
    sender = asyncio.create_task(_send(websocket, subscriber), name=f"live-send {peer}")
    lagging = asyncio.create_task(subscriber.overflowed.wait(), name=f"live-lag {peer}")
    try:
        done, _ = await asyncio.wait({reader, sender, lagging}, return_when="FIRST_COMPLETED")
    finally:
        for task in (reader, sender, lagging):
            task.cancel()
        await asyncio.gather(reader, sender, lagging, return_exceptions=True)
        state.broadcaster.leave(subscriber)
    if lagging in done:
        log.warning("browser %s (%s) fell behind; disconnecting it", peer, user)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(state.config.live.close_timeout):
                await close_quietly(
                    websocket, CLOSE_TOO_SLOW, "too slow, reconnect 连接过慢，请重连"
                )
    elif reader in done and isinstance(reader.exception(), _Refuse):
        refusal = reader.exception()
        assert isinstance(refusal, _Refuse)
        log.warning("browser %s (%s) closed %d: %s", peer, user, refusal.code, refusal)
        await close_quietly(websocket, refusal.code, str(refusal))


async def _read(websocket: WebSocket, state: HubState, subscriber: LiveSubscriber) -> None:
    while True:
        try:
            frame = await receive_text(websocket, limit=BROWSER_FRAME_LIMIT)
        except FrameTooBig as exc:
            raise _Refuse(CLOSE_TOO_BIG, str(exc)) from exc
        if frame is None:
            return
        courtroom = _parse_subscribe(frame)
        if courtroom not in state.names:
            raise _Refuse(CLOSE_UNKNOWN_COURTROOM, f"unknown courtroom {courtroom[:64]!r}")
        state.broadcaster.watch(subscriber, courtroom)
        hearing, segments = await state.runner.read(_snapshot, state.runner.archive, courtroom)
        if subscriber.courtroom != courtroom:
            continue  # switched again meanwhile; that snapshot will follow
        snapshot = {
            "type": "snapshot",
            "courtroom": courtroom,
            "hearing": hearing,
            "segments": segments,
            "status": state.board.get(courtroom).to_json(),
        }
        subscriber.offer_first(dumps(snapshot))


async def _send(websocket: WebSocket, subscriber: LiveSubscriber) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        while True:
            await websocket.send_text(await subscriber.next_frame())


def _parse_subscribe(frame: str | bytes) -> str:
    if isinstance(frame, bytes):
        raise _Refuse(CLOSE_INVALID, "binary frames are not accepted")
    try:
        message = json.loads(frame)
    except ValueError as exc:
        raise _Refuse(CLOSE_INVALID, "frame is not valid JSON") from exc
    if not isinstance(message, dict) or message.get("type") != "subscribe":
        raise _Refuse(CLOSE_INVALID, 'expected {"type": "subscribe", "courtroom": ID}')
    courtroom = message.get("courtroom")
    if not isinstance(courtroom, str) or set(message) != {"type", "courtroom"}:
        raise _Refuse(CLOSE_INVALID, "subscribe needs exactly a string 'courtroom'")
    return courtroom


def _snapshot(
    archive: Archive, courtroom: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    hearing = archive.current_hearing(courtroom)
    if hearing is None:
        return None, []
    return hearing.to_json(), archive.transcript(hearing.id, courtroom)
