"""``/ws/agent``: the hub side of the agent ⇄ hub conversation (see :mod:`courtroom_core.wire`).

One courtroom has at most one agent connection; a newer one replaces the
older, which is closed with :data:`CLOSE_REPLACED`. Events are stored before
they are acknowledged (cumulatively, with the courtroom's watermark) and then
shown live; partials are only shown live. A bad frame closes that one
connection with the wire close code and reason, and is logged; everyone else
keeps being served.

Versions and commands: a hello of protocol :data:`courtroom_core.wire.OLDEST_PROTOCOL`
to :data:`courtroom_core.wire.PROTOCOL_VERSION` is accepted (absent: 1); any
other closes 1007 naming ``hello.version``. ``Welcome.version`` (the lower of
the two) goes only to an agent that sent a version: a protocol-1 agent
refuses unknown fields. Each connection is a :class:`hub.commands.AgentLink`
on the status board, through which ``POST /api/courtrooms/{id}/hearing``
sends a command; a ``result`` frame resolves its pending command (an unknown
id is logged and ignored; from a protocol-1 agent it closes 1007), and its
``state`` becomes the courtroom's hearing state. When the connection ends,
its pending commands fail at once (503), never queued for the next one.
Lifecycle events and status reports move the hearing state too
(:mod:`hub.hearing_state`); every change is pushed as ``hearing_state``.

Refusals and what survives them:

- a frame that does not decode: close 1007 naming the field (WARNING);
- an event whose seq and kind decode but whose body does not: quarantined
  (kept raw, ERROR, ``hub.quarantine`` alarm), acked, then close 1007 naming
  the field — the agent's next connection starts after it;
- an event the archive cannot store or apply (another courtroom's hearing
  id, a value the database refuses): quarantined, alarmed and acked; the
  connection stays open;
- a seq the hub holds with another body: close
  :data:`courtroom_core.wire.CLOSE_SEQ_CONFLICT` naming the seq (WARNING); nothing stored;
- partials beyond :data:`PARTIALS_PER_SECOND` (burst :data:`PARTIAL_BURST`)
  per connection are dropped, not forwarded; the next final replaces
  whatever partial a browser shows;
- live previews (partials and thumbnails) beyond :data:`FRAMES_PER_SECOND`
  or :data:`BYTES_PER_SECOND` (with their bursts) hold back the next read
  until the connection is within budget again: uvicorn stops reading the
  socket and TCP pushes back on the sender. An agent flooding previews at
  line rate then costs the hub a bounded amount of decoding and slows only
  its own courtroom (its events queue behind its flood); every other
  courtroom keeps its pace. Events are not charged: their pace is set by the
  archive and the agent's window of 256 unacknowledged events, so a spool
  resent after an outage is never held back. An agent's real previews (a
  partial per talking seat a few times a second, a thumbnail per camera every
  few seconds) stay far below the budget.

The quarantine alarm, published to the courtroom's page and the patrol wall::

    {"type": "alarm", "courtroom": ID, "kind": "hub.quarantine", "seq": SEQ,
     "body": {"quarantine_id", "kind", "error", "message"}}

and stored as the ``hub.quarantine`` event of that seq, so
``GET /api/courtrooms/{id}/events?kind=hub.quarantine`` lists past ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import sqlalchemy as sa
from starlette.websockets import WebSocket, WebSocketDisconnect

from courtroom_core.wire import (
    CLOSE_INVALID,
    CLOSE_SEQ_CONFLICT,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHORIZED,
    MAX_FRAME_BYTES,
    OLDEST_PROTOCOL,
    PROTOCOL_VERSION,
    Ack,
    BodyError,
    Event,
    Hello,
    Message,
    Partial,
    Result,
    Thumbnail,
    Welcome,
    WireError,
    alarm_of,
    decode,
    encode,
)
from hub.commands import AgentLink
from hub.errors import AuthError
from hub.hearing_state import HearingStatus, apply_event
from hub.ratelimit import TokenBucket
from hub.state import HubState
from hub.store import QUARANTINE_KIND, SeqConflict, SeqGap, StoreResult

__all__ = [
    "BYTES_PER_SECOND",
    "BYTE_BURST",
    "CLOSE_REPLACED",
    "FRAMES_PER_SECOND",
    "FRAME_BURST",
    "PARTIALS_PER_SECOND",
    "PARTIAL_BURST",
    "FrameTooBig",
    "PartialGate",
    "ReadBudget",
    "agent_endpoint",
    "close_quietly",
    "receive_text",
]

log = logging.getLogger(__name__)

CLOSE_REPLACED: Final = 4409
"""Close code for an agent connection replaced by a newer one of the same courtroom."""
CLOSE_INTERNAL: Final = 1011
HELLO_TIMEOUT: Final = 10.0
PARTIALS_PER_SECOND: Final = 20.0
"""Partials forwarded to browsers per courtroom connection, sustained."""
PARTIAL_BURST: Final = 20
"""Partials forwarded back to back before :data:`PARTIALS_PER_SECOND` applies."""


FRAMES_PER_SECOND: Final = 400.0
"""Live previews read per agent connection per second, sustained (then reads wait)."""
FRAME_BURST: Final = 800
BYTES_PER_SECOND: Final = 2 * 1024 * 1024
"""Bytes of live previews read per agent connection per second, sustained."""
BYTE_BURST: Final = 8 * 1024 * 1024


class FrameTooBig(Exception):
    """A received frame is larger than the endpoint accepts."""


class PartialGate:
    """Token bucket deciding which partials are forwarded (no I/O, time passed in).

    Args:
        rate: tokens added per second.
        burst: most tokens held.
    """

    def __init__(self, *, rate: float = PARTIALS_PER_SECOND, burst: int = PARTIAL_BURST) -> None:
        self._bucket = TokenBucket(rate=rate, burst=burst)
        self.dropped = 0

    def admit(self, now: float) -> bool:
        """True to forward the partial arriving at monotonic time ``now``; False to drop it."""
        if self._bucket.take(now):
            return True
        self.dropped += 1
        return False


class ReadBudget:
    """How long to wait before reading the next frame (no I/O, time passed in).

    Two token buckets, frames and bytes; a frame's bytes are charged after it
    is read, so a large frame may leave the byte bucket in debt, which the
    next read then waits out.

    Args:
        frames_per_second, frame_burst: the frame bucket.
        bytes_per_second, byte_burst: the byte bucket.
    """

    def __init__(
        self,
        *,
        frames_per_second: float = FRAMES_PER_SECOND,
        frame_burst: int = FRAME_BURST,
        bytes_per_second: float = BYTES_PER_SECOND,
        byte_burst: int = BYTE_BURST,
    ) -> None:
        self._frames = TokenBucket(rate=frames_per_second, burst=frame_burst)
        self._bytes = TokenBucket(rate=bytes_per_second, burst=byte_burst)
        self.waited = 0.0

    def delay(self, now: float) -> float:
        """Seconds to wait, from ``now``, before the next frame may be read."""
        wait = max(self._frames.wait(now, 1.0), self._bytes.wait(now, 0.0))
        self.waited += wait
        return wait

    def charge(self, now: float, size: int) -> None:
        """Count one frame of ``size`` bytes read at ``now``."""
        self._frames.spend(now, 1.0)
        self._bytes.spend(now, float(size))


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
        check_version(hello)
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
    link = AgentLink(
        courtroom=courtroom,
        protocol=min(hello.protocol, PROTOCOL_VERSION),
        send=websocket.send_text,
        close=lambda code, reason: close_quietly(websocket, code, reason),
    )
    # A protocol-1 agent refuses unknown fields: it gets no version back.
    version = None if hello.version is None else link.protocol
    await _session(websocket, state, link, peer, hello.agent, version)


def check_version(hello: Hello) -> None:
    """Raises: WireError: ``hello.version`` outside OLDEST_PROTOCOL..PROTOCOL_VERSION."""
    if not OLDEST_PROTOCOL <= hello.protocol <= PROTOCOL_VERSION:
        raise WireError(
            f"hello.version {hello.protocol} is not supported: this hub speaks "
            f"{OLDEST_PROTOCOL}..{PROTOCOL_VERSION}"
        )


async def _session(
    websocket: WebSocket,
    state: HubState,
    link: AgentLink,
    peer: str,
    agent: str,
    version: int | None,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    courtroom = link.courtroom
    previous = state.board.attach(courtroom, link)
    if isinstance(previous, AgentLink):
        log.info("courtroom %s: agent %s replaces the previous connection", courtroom, peer)
        await previous.close(CLOSE_REPLACED, "replaced by a newer agent connection")
    _set_status(state, courtroom, online=True)
    gate = PartialGate()
    budget = ReadBudget()
    try:
        acked = await state.runner.write(state.runner.archive.acked_seq, courtroom)
        await link.send_text(encode(Welcome(acked_seq=acked, version=version)))
        log.info(
            "courtroom %s: agent %s (%s, protocol %d) online, acked_seq=%d",
            courtroom,
            peer,
            agent,
            link.protocol,
            acked,
        )
        while state.board.is_current(courtroom, link):
            wait = budget.delay(monotonic())
            if wait > 0:  # over budget: leave the socket unread, TCP pushes back
                await asyncio.sleep(wait)
            try:
                message = await _receive_message(websocket, budget, monotonic)
            except BodyError as exc:
                await _quarantine_body(link, state, exc)
                raise
            if message is None:
                break
            state.board.update(courtroom, now=state.clock())
            if isinstance(message, Event):
                result = await state.runner.write(
                    state.runner.archive.store_event, courtroom, message, now=state.clock()
                )
                _publish_effects(state, courtroom, message, result)
                if not state.board.is_current(courtroom, link):
                    break
                await link.send_text(encode(Ack(seq=result.acked_seq)))
            elif isinstance(message, Result) and link.protocol >= 2:
                if link.resolve(message) and message.state is not None:
                    _apply_result_state(state, courtroom, message)
            elif isinstance(message, Partial):
                if gate.admit(monotonic()):
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
    except SeqGap as exc:
        log.warning(
            "courtroom %s: agent %s refused, close %d: %s", courtroom, peer, CLOSE_INVALID, exc
        )
        await close_quietly(websocket, CLOSE_INVALID, str(exc))
    except SeqConflict as exc:
        log.warning(
            "courtroom %s: agent %s refused, close %d: %s", courtroom, peer, CLOSE_SEQ_CONFLICT, exc
        )
        await close_quietly(websocket, CLOSE_SEQ_CONFLICT, str(exc))
    except sa.exc.SQLAlchemyError as exc:
        log.error("courtroom %s: archive write failed, dropping agent %s: %s", courtroom, peer, exc)
        await close_quietly(websocket, CLOSE_INTERNAL, "archive unavailable, retry later")
    except WebSocketDisconnect:
        pass
    finally:
        if gate.dropped or budget.waited >= 1.0:
            log.info(
                "courtroom %s: %d partials over the rate limit dropped, reads held back %.1f s",
                courtroom,
                gate.dropped,
                budget.waited,
            )
        link.drop()
        if state.board.detach(courtroom, link):
            _set_status(state, courtroom, online=False)
            log.info("courtroom %s: agent %s offline", courtroom, peer)


async def _quarantine_body(link: AgentLink, state: HubState, exc: BodyError) -> None:
    """Quarantine and ack an event whose body did not decode; the caller then closes.

    Raises:
        SeqConflict: the seq is held with another body.
        SeqGap: the seq skips ahead of the next one in order.
        sqlalchemy.exc.SQLAlchemyError: the archive failed.
    """
    courtroom = link.courtroom
    result = await state.runner.write(
        state.runner.archive.quarantine,
        courtroom,
        seq=exc.seq,
        kind=exc.kind,
        raw=exc.raw,
        error=str(exc),
        now=state.clock(),
    )
    _publish_quarantine(state, courtroom, exc.seq, result)
    if state.board.is_current(courtroom, link):
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await link.send_text(encode(Ack(seq=result.acked_seq)))


def _publish_quarantine(state: HubState, courtroom: str, seq: int, result: StoreResult) -> None:
    quarantined = result.quarantined
    if quarantined is None:
        return
    log.error(
        "courtroom %s: event %d (%s) quarantined (id %d) and acknowledged: %s",
        courtroom,
        seq,
        quarantined.kind,
        quarantined.id,
        quarantined.error,
    )
    alarm = {
        "type": "alarm",
        "courtroom": courtroom,
        "kind": QUARANTINE_KIND,
        "seq": seq,
        "body": quarantined.summary(),
    }
    state.broadcaster.publish(courtroom, alarm)


async def _receive_message(
    websocket: WebSocket,
    budget: ReadBudget | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> Message | None:
    """The next message; a live preview is charged to ``budget``."""
    frame = await receive_text(websocket, limit=MAX_FRAME_BYTES)
    if frame is None:
        return None
    message = decode(frame)
    if budget is not None and isinstance(message, _PREVIEWS):
        budget.charge(monotonic(), len(frame))
    return message


_PREVIEWS: Final = (Partial, Thumbnail)
"""Volatile messages, charged to the connection's :class:`ReadBudget`."""


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
    and ``status`` (see :mod:`hub.live`), an ``av.alarm`` event (or a ``camera``
    alarm or online/offline change of an agent before protocol 2) becomes::

        {"type": "alarm", "courtroom": ID, "kind": "av.alarm" | "camera",
         "seq": SEQ, "body": {...the alarm in its one shape, wire.Alarm...}}

    ``kind`` is the event's kind in the archive; a body of an older shape is
    mapped (:func:`courtroom_core.wire.alarm_of`). A camera gap publishes nothing.

    A quarantined event publishes only its ``hub.quarantine`` alarm.

    ``seq`` is the archive's seq of the event, so a page that also reads
    ``GET /api/courtrooms/{id}/events?kind=…`` can tell which it has seen.
    A ``status`` event's body becomes ``status.report`` of the usual
    ``{"type": "status", "courtroom", "status": {"online", "last_seen", "report"}}``.
    """
    if result.duplicate:
        return
    if result.quarantined is not None:
        _publish_quarantine(state, courtroom, event.seq, result)
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
    _apply_hearing_effect(state, courtroom, event)
    if event.kind in _MARKER_KINDS:
        # 举证 / 撤回 as a line in the live transcript, at its hearing time.
        body = event.body
        marker = {
            "type": "marker",
            "courtroom": courtroom,
            "hearing_id": body.get("hearing_id"),
            "kind": event.kind,
            "seq": event.seq,
            "time": body.get("time"),
            "exhibit": body.get("exhibit"),
            "label": body.get("label", ""),
            "by": body.get("by", ""),
        }
        state.broadcaster.publish(courtroom, marker)
    if state.compliance is not None:
        state.compliance.add(courtroom, event.kind, event.body)  # 五同步 lights, throttled
    if event.kind == "status":
        _set_status(state, courtroom, report=event.body)
    elif event.kind in _ALARM_KINDS:
        try:
            raised = alarm_of(event.kind, event.body)
        except WireError as exc:  # an old agent's camera body (free extras) that is no alarm
            log.warning(
                "courtroom %s: event %d not shown as an alarm: %s", courtroom, event.seq, exc
            )
            return
        if raised is None:  # a camera gap: for the record, not an alarm
            return
        alarm: dict[str, Any] = {
            "type": "alarm",
            "courtroom": courtroom,
            "kind": event.kind,
            "seq": event.seq,
            "body": raised.to_json(),
        }
        state.broadcaster.publish(courtroom, alarm)


_MARKER_KINDS: Final = frozenset({"evidence.presented", "evidence.withdrawn"})
"""Events shown as a marker line in the clerk page's live transcript."""


def _apply_hearing_effect(state: HubState, courtroom: str, event: Event) -> None:
    """Follow the courtroom's hearing state (:mod:`hub.hearing_state`); a status
    report whose ``hearing_state`` does not fit is logged and leaves it as it was."""
    try:
        after = apply_event(event.data, state.board.hearing(courtroom))
    except WireError as exc:
        log.warning(
            "courtroom %s: event %d: %s; hearing state unchanged", courtroom, event.seq, exc
        )
        return
    if after is not None:
        state.set_hearing(courtroom, after)


def _apply_result_state(state: HubState, courtroom: str, result: Result) -> None:
    try:
        after = HearingStatus.from_json(result.state, "result.state")
    except WireError as exc:
        log.warning("courtroom %s: %s; hearing state unchanged", courtroom, exc)
        return
    state.set_hearing(courtroom, after)


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
