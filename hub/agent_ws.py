"""``/ws/agent``: the hub side of the agent ⇄ hub conversation (see :mod:`hub.wire`).

One courtroom has at most one agent connection; a newer one replaces the
older, which is closed with :data:`CLOSE_REPLACED`. Events are stored before
they are acknowledged (cumulatively, with the courtroom's watermark) and then
shown live; partials are only shown live. A bad frame closes that one
connection with the wire close code and reason, and is logged; everyone else
keeps being served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

import sqlalchemy as sa
from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.errors import AuthError
from hub.state import HubState
from hub.store import StoreResult
from hub.wire import (
    CLOSE_INVALID,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHORIZED,
    MAX_FRAME_BYTES,
    Ack,
    Event,
    Hello,
    Message,
    Partial,
    Thumbnail,
    Welcome,
    WireError,
    decode,
    encode,
)

__all__ = [
    "CLOSE_REPLACED",
    "FrameTooBig",
    "agent_endpoint",
    "close_quietly",
    "receive_text",
]

log = logging.getLogger(__name__)

CLOSE_REPLACED: Final = 4409
"""Close code for an agent connection replaced by a newer one of the same courtroom."""
CLOSE_INTERNAL: Final = 1011
HELLO_TIMEOUT: Final = 10.0


class FrameTooBig(Exception):
    """A received frame is larger than the endpoint accepts."""


async def receive_text(websocket: WebSocket, *, limit: int) -> str | bytes | None:
    """Next data frame, or None once the peer has gone.

    Raises:
        FrameTooBig: the frame exceeds ``limit`` bytes.
    """
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    data: str | bytes | None = message.get("text")
    if data is None:
        data = message.get("bytes") or b""
    size = len(data) if isinstance(data, bytes) else len(data.encode())
    if size > limit:
        raise FrameTooBig(f"frame of {size} bytes exceeds {limit} bytes")
    return data


async def close_quietly(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with ``code`` and ``reason`` (cut to the 123 bytes a close frame allows)."""
    reason_bytes = reason.encode()[:123]
    # Already closed by the peer or by a replacing connection: nothing to do.
    with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
        await websocket.close(code, reason_bytes.decode(errors="ignore"))


def peer_of(websocket: WebSocket) -> str:
    client = websocket.client
    return f"{client.host}:{client.port}" if client else "?"


async def agent_endpoint(websocket: WebSocket) -> None:
    """Serve one agent connection until it closes or misbehaves."""
    state: HubState = websocket.app.state.hub
    peer = peer_of(websocket)
    await websocket.accept()
    try:
        async with asyncio.timeout(HELLO_TIMEOUT):  # not wait_for: 3.11 may lose a cancel
            hello = await _receive_message(websocket)
        if hello is None:
            return
        if not isinstance(hello, Hello):
            raise AuthError("first frame must be hello")
        state.check_agent_token(hello.courtroom, hello.token)
    except TimeoutError:
        log.warning("agent %s sent no hello within %.0f s", peer, HELLO_TIMEOUT)
        await close_quietly(websocket, CLOSE_UNAUTHORIZED, "no hello received")
        return
    except AuthError as exc:
        log.warning("agent %s refused: %s", peer, exc)
        await close_quietly(websocket, CLOSE_UNAUTHORIZED, str(exc))
        return
    except (WireError, FrameTooBig) as exc:
        await _refuse(websocket, peer, exc)
        return
    courtroom = hello.courtroom
    await _session(websocket, state, courtroom, peer, hello.agent)


async def _session(
    websocket: WebSocket, state: HubState, courtroom: str, peer: str, agent: str
) -> None:
    previous = state.board.attach(courtroom, websocket)
    if isinstance(previous, WebSocket):
        log.info("courtroom %s: agent %s replaces the previous connection", courtroom, peer)
        await close_quietly(previous, CLOSE_REPLACED, "replaced by a newer agent connection")
    _set_status(state, courtroom, online=True)
    try:
        acked = await state.runner.write(state.runner.archive.acked_seq, courtroom)
        await websocket.send_text(encode(Welcome(acked_seq=acked)))
        log.info("courtroom %s: agent %s (%s) online, acked_seq=%d", courtroom, peer, agent, acked)
        while state.board.is_current(courtroom, websocket):
            message = await _receive_message(websocket)
            if message is None:
                break
            state.board.update(courtroom, now=state.clock())
            if isinstance(message, Event):
                result = await state.runner.write(
                    state.runner.archive.store_event, courtroom, message, now=state.clock()
                )
                _publish_effects(state, courtroom, message, result)
                if not state.board.is_current(courtroom, websocket):
                    break
                await websocket.send_text(encode(Ack(seq=result.acked_seq)))
            elif isinstance(message, Partial):
                state.broadcaster.publish(courtroom, _partial_json(courtroom, message))
            elif isinstance(message, Thumbnail):
                state.thumbnails.put(courtroom, message.camera, message.image(), message.time)
                state.broadcaster.publish(
                    courtroom,
                    {
                        "type": "thumbnail",
                        "courtroom": courtroom,
                        "hearing_id": message.hearing_id,
                        "camera": message.camera,
                        "time": message.time,
                    },
                )
            else:
                raise WireError(f"unexpected {type(message).__name__.lower()} from agent")
    except (WireError, FrameTooBig) as exc:
        await _refuse(websocket, peer, exc, courtroom)
    except sa.exc.SQLAlchemyError as exc:
        log.error("courtroom %s: archive write failed, dropping agent %s: %s", courtroom, peer, exc)
        await close_quietly(websocket, CLOSE_INTERNAL, "archive unavailable, retry later")
    except WebSocketDisconnect:
        pass
    finally:
        if state.board.detach(courtroom, websocket):
            _set_status(state, courtroom, online=False)
            log.info("courtroom %s: agent %s offline", courtroom, peer)


async def _receive_message(websocket: WebSocket) -> Message | None:
    frame = await receive_text(websocket, limit=MAX_FRAME_BYTES)
    return None if frame is None else decode(frame)


async def _refuse(
    websocket: WebSocket, peer: str, exc: Exception, courtroom: str | None = None
) -> None:
    code = CLOSE_TOO_BIG if isinstance(exc, FrameTooBig) else CLOSE_INVALID
    log.warning("agent %s (courtroom %s) closed %d: %s", peer, courtroom or "?", code, exc)
    await close_quietly(websocket, code, str(exc))


def _set_status(
    state: HubState, courtroom: str, *, online: bool | None = None, report: Any = None
) -> None:
    status = state.board.update(courtroom, now=state.clock(), online=online, report=report)
    state.broadcaster.publish(
        courtroom, {"type": "status", "courtroom": courtroom, "status": status.to_json()}
    )


_ALARM_KINDS: Final = frozenset({"av.alarm", "camera"})
"""Event kinds re-published to browsers as ``{"type": "alarm", …}`` (the patrol wall)."""


def _publish_effects(state: HubState, courtroom: str, event: Event, result: StoreResult) -> None:
    """Tell the courtroom's browsers what a newly stored event changed.

    Nothing is published for a duplicate (an event the agent resent after a
    reconnect): browsers saw it the first time. Besides ``hearing``, ``final``
    and ``status`` (see :mod:`hub.live`), an ``av.alarm`` or ``camera`` event
    becomes::

        {"type": "alarm", "courtroom": ID, "kind": "av.alarm" | "camera",
         "seq": SEQ, "body": {...the event body, unchanged...}}

    ``seq`` is the archive's seq of the event, so a page that also reads
    ``GET /api/courtrooms/{id}/events?kind=…`` can tell which it has seen.
    A ``status`` event's body becomes ``status.report`` of the usual
    ``{"type": "status", "courtroom", "status": {"online", "last_seen", "report"}}``.
    """
    if result.duplicate:
        return
    if result.hearing is not None:
        message = {"type": "hearing", "courtroom": courtroom, "hearing": result.hearing.to_json()}
        state.broadcaster.publish(courtroom, message)
    if result.segment is not None:
        message = {
            "type": "final",
            "courtroom": courtroom,
            "hearing_id": event.body["hearing_id"],
            "segment": result.segment,
        }
        state.broadcaster.publish(courtroom, message)
    if event.kind == "status":
        _set_status(state, courtroom, report=event.body)
    elif event.kind in _ALARM_KINDS:
        alarm: dict[str, Any] = {
            "type": "alarm",
            "courtroom": courtroom,
            "kind": event.kind,
            "seq": event.seq,
            "body": event.body,
        }
        state.broadcaster.publish(courtroom, alarm)


def _partial_json(courtroom: str, partial: Partial) -> dict[str, Any]:
    message = {
        "type": "partial",
        "courtroom": courtroom,
        "hearing_id": partial.hearing_id,
        "channel": partial.channel,
        "role": partial.role,
        "start": partial.start,
        "text": partial.text,
    }
    if partial.end is not None:
        message["end"] = partial.end
    return message
