"""The agent ⇄ hub wire format: JSON text frames over one websocket, no I/O here.

Both sides call :func:`encode` to turn a message into a text frame and
:func:`decode` to turn a received frame back into a message. Anything that is
not one of the messages below raises :class:`WireError`; the receiver closes
the connection with :data:`CLOSE_INVALID` and the reason, and survives.

Conversation (agent on the left)::

    Hello(courtroom, token) ──────────────▶
                            ◀────────────── Welcome(acked_seq)   # or close 4401
    Event(seq=acked_seq+1, …) ────────────▶
    Event(seq=acked_seq+2, …) ────────────▶
                            ◀────────────── Ack(seq)             # cumulative
    Partial(…) ───────────────────────────▶                      # volatile, no seq
    Thumbnail(…) ─────────────────────────▶                      # volatile, no seq

Delivery guarantee: every :class:`Event` carries a per-courtroom sequence
number, strictly increasing from 1 with no gaps. The agent keeps each event in
its durable spool until an :class:`Ack` with ``seq >= event.seq`` arrives, and
resends everything after ``Welcome.acked_seq`` on each reconnect. The hub
stores each (courtroom, seq) exactly once, ignores a repeat, and acks only the
highest seq it holds with no gap below it. Partials and camera thumbnails
are best-effort live previews: never spooled, dropped while disconnected,
never archived (the hub keeps only each camera's latest thumbnail in memory).

Event kinds and their ``body``:

``hearing.opened``   ``{"hearing_id", "title", "opened_at"}`` (ISO-8601 wall time)
``hearing.closed``   ``{"hearing_id", "closed_at", "duration"}`` (hearing-clock seconds)
``transcript.final`` ``{"hearing_id", "segment"}`` (:meth:`Final.to_json`)
``status``           ``{"state", ...}`` free-form health report of the agent
``device``           ``{"time", "device", "direction", "meaning", "raw"}`` one entry of
                     the equipment audit trail (:class:`devices.events.DeviceEvent`),
                     plus ``hearing_id`` while a hearing is open
``av.alarm``         ``{"hearing_id", "kind", "state", "hearing_time", "channel", "role",
                     "message"}`` a microphone alarm raised or cleared (dead mic,
                     clipping, all silent) or from the recorder (disk low, writer behind)
``camera``           ``{"hearing_id", "camera", ...}`` a camera went online/offline or
                     raised/cleared an alarm (no frames, frozen, black picture)
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "CLOSE_INVALID",
    "CLOSE_TOO_BIG",
    "CLOSE_UNAUTHORIZED",
    "EVENT_KINDS",
    "MAX_FRAME_BYTES",
    "MAX_THUMBNAIL_BYTES",
    "Ack",
    "AgentMessage",
    "Event",
    "Hello",
    "HubMessage",
    "Message",
    "Partial",
    "Thumbnail",
    "Welcome",
    "WireError",
    "decode",
    "encode",
]

MAX_FRAME_BYTES: Final = 256 * 1024
"""Largest frame either side accepts; larger frames close with CLOSE_TOO_BIG."""
MAX_THUMBNAIL_BYTES: Final = 128 * 1024
"""Largest camera thumbnail (JPEG bytes) a Thumbnail message may carry."""

CLOSE_INVALID: Final = 1007
"""Websocket close code for a frame that is not a valid message."""
CLOSE_TOO_BIG: Final = 1009
"""Websocket close code for a frame over MAX_FRAME_BYTES."""
CLOSE_UNAUTHORIZED: Final = 4401
"""Websocket close code for a missing or wrong courtroom token."""

EVENT_KINDS: Final = frozenset(
    {
        "hearing.opened",
        "hearing.closed",
        "transcript.final",
        "status",
        "device",
        "av.alarm",
        "camera",
    }
)


_NO_HEARING_KINDS = frozenset({"status", "device"})


class WireError(ValueError):
    """A frame is not a valid message. ``str(err)`` is the close reason."""


@dataclass(frozen=True, slots=True)
class Hello:
    courtroom: str
    token: str
    agent: str = "courtroom-agent"

    def __post_init__(self) -> None:
        _require_id(self.courtroom, "courtroom")
        if not self.token:
            raise WireError("hello.token must not be empty")


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    kind: str
    body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.seq, bool) or not isinstance(self.seq, int) or self.seq < 1:
            raise WireError("event.seq must be an integer >= 1")
        if self.kind not in EVENT_KINDS:
            raise WireError(f"event.kind {self.kind!r} is not one of {sorted(EVENT_KINDS)}")
        if not isinstance(self.body, dict):
            raise WireError("event.body must be an object")
        if self.kind not in _NO_HEARING_KINDS and not isinstance(self.body.get("hearing_id"), str):
            raise WireError(f"event.body.hearing_id is required for {self.kind}")
        if self.kind == "transcript.final" and not isinstance(self.body.get("segment"), dict):
            raise WireError("event.body.segment must be an object")


@dataclass(frozen=True, slots=True)
class Partial:
    hearing_id: str
    channel: int
    role: str
    start: float
    text: str
    end: float | None = None
    """Hearing-clock time of the last audio sample this hypothesis reflects."""

    def __post_init__(self) -> None:
        if isinstance(self.channel, bool) or not isinstance(self.channel, int):
            raise WireError("partial.channel must be an integer")
        if self.end is not None and (
            not isinstance(self.end, (int, float)) or not math.isfinite(self.end)
        ):
            raise WireError("partial.end must be a finite number")
        if not isinstance(self.start, (int, float)) or not math.isfinite(self.start):
            raise WireError("partial.start must be a finite number")


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A camera's latest picture for the patrol wall (volatile, like a partial).

    ``jpeg`` is base64; at most :data:`MAX_THUMBNAIL_BYTES` once decoded.
    """

    hearing_id: str
    camera: str
    time: float
    jpeg: str

    def __post_init__(self) -> None:
        _require_id(self.camera, "thumbnail.camera")
        if not isinstance(self.time, (int, float)) or not math.isfinite(self.time):
            raise WireError("thumbnail.time must be a finite number")
        if len(self.jpeg) > MAX_THUMBNAIL_BYTES * 4 // 3 + 4:
            raise WireError(f"thumbnail.jpeg exceeds {MAX_THUMBNAIL_BYTES} bytes")

    def image(self) -> bytes:
        """The JPEG bytes.

        Raises:
            WireError: ``jpeg`` is not base64 of a JPEG.
        """
        try:
            data = base64.b64decode(self.jpeg, validate=True)
        except ValueError as exc:
            raise WireError("thumbnail.jpeg is not base64") from exc
        if not data.startswith(b"\xff\xd8"):
            raise WireError("thumbnail.jpeg is not a JPEG")
        return data


@dataclass(frozen=True, slots=True)
class Welcome:
    acked_seq: int


@dataclass(frozen=True, slots=True)
class Ack:
    seq: int


AgentMessage = Hello | Event | Partial | Thumbnail
HubMessage = Welcome | Ack
Message = AgentMessage | HubMessage

_TYPES: dict[str, type[Any]] = {
    "hello": Hello,
    "event": Event,
    "partial": Partial,
    "thumbnail": Thumbnail,
    "welcome": Welcome,
    "ack": Ack,
}
_NAMES = {cls: name for name, cls in _TYPES.items()}

_FIELDS: dict[type[Any], dict[str, type | tuple[type, ...]]] = {
    Hello: {"courtroom": str, "token": str, "agent": str},
    Event: {"seq": int, "kind": str, "body": dict},
    Partial: {
        "hearing_id": str,
        "channel": int,
        "role": str,
        "start": (int, float),
        "text": str,
        "end": (int, float),
    },
    Thumbnail: {"hearing_id": str, "camera": str, "time": (int, float), "jpeg": str},
    Welcome: {"acked_seq": int},
    Ack: {"seq": int},
}
_OPTIONAL = {(Hello, "agent"), (Event, "body"), (Partial, "end")}


def encode(message: Message) -> str:
    """Return the text frame for ``message``.

    Raises:
        WireError: the encoded frame would exceed MAX_FRAME_BYTES; the caller
            has built a message that can never be delivered and must split it.
    """
    payload: dict[str, Any] = {"type": _NAMES[type(message)]}
    for name in _FIELDS[type(message)]:
        value = getattr(message, name)
        if value is not None or (type(message), name) not in _OPTIONAL:
            payload[name] = value
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if len(text.encode()) > MAX_FRAME_BYTES:
        raise WireError(f"{payload['type']} frame exceeds {MAX_FRAME_BYTES} bytes")
    return text


def decode(frame: str | bytes) -> Message:
    """Parse one received frame.

    Raises:
        WireError: the frame is binary, too big, not JSON, of an unknown type,
            or has missing, extra or mistyped fields. The message names which.
    """
    if isinstance(frame, bytes):
        raise WireError("binary frames are not accepted")
    if len(frame) > MAX_FRAME_BYTES or len(frame.encode()) > MAX_FRAME_BYTES:
        raise WireError(f"frame exceeds {MAX_FRAME_BYTES} bytes")
    try:
        payload = json.loads(frame, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"frame is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise WireError("frame must be a JSON object")
    kind = payload.pop("type", None)
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise WireError(f"unknown message type {kind!r}")
    fields = _FIELDS[cls]
    extra = set(payload) - set(fields)
    if extra:
        raise WireError(f"{kind}: unexpected fields {sorted(extra)}")
    for name, typ in fields.items():
        if name not in payload:
            if (cls, name) in _OPTIONAL:
                continue
            raise WireError(f"{kind}.{name} is missing")
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, typ):
            raise WireError(f"{kind}.{name} has the wrong type")
    if cls in (Welcome, Ack):
        seq_name = "acked_seq" if cls is Welcome else "seq"
        if payload[seq_name] < 0:
            raise WireError(f"{kind}.{seq_name} must be >= 0")
    try:
        message: Message = cls(**payload)
    except TypeError as exc:  # pragma: no cover - fields were checked above
        raise WireError(f"{kind}: {exc}") from exc
    return message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _require_id(value: str, what: str) -> None:
    if not value or len(value) > 64 or not all(c.isalnum() or c in "-_." for c in value):
        raise WireError(f"{what} must be 1-64 characters of letters, digits, '-', '_' or '.'")
