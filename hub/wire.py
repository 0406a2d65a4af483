"""The agent ⇄ hub wire format: JSON text frames over one websocket, no I/O here.

Both sides call :func:`encode` to turn a message into a text frame and
:func:`decode` to turn a received frame back into a message. Anything that is
not one of the messages below raises :class:`WireError`, whose text names the
offending field (``event.body.segment.start must be a finite number``); the
receiver closes the connection with the close code of the table below and
that reason, and survives.

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
stores each (courtroom, seq) exactly once together with a digest of its kind
and body: an identical resend is a silent duplicate, a *different* event under
a seq already held is refused (close :data:`CLOSE_SEQ_CONFLICT`, logged). The
hub acks only the highest seq it holds with no gap below it. An event the
archive cannot store or apply (a hearing id of another courtroom, a database
refusal) is quarantined — kept raw, logged, alarmed as ``hub.quarantine`` —
and acknowledged, so a courtroom's archive never stalls. Partials and camera
thumbnails are best-effort live previews: never spooled, dropped while
disconnected, never archived; the hub forwards at most a bounded rate of
partials per courtroom.

Values (checked once, here, by both sides):

==================  =====================================================
every number        finite (``1e400`` is refused, ``NaN``/``Infinity`` too);
                    an integer within the signed 64-bit range
every string        at most :data:`MAX_STRING` characters unless below
every array/object  at most :data:`MAX_ITEMS` items, keys at most
                    :data:`MAX_KEY` characters, nesting at most :data:`MAX_DEPTH`
seq                 ``event.seq`` 1..2^63−1; ``ack.seq``/``welcome.acked_seq``
                    0..2^63−1
ids                 courtroom and camera: 1-64 of letters, digits ``-_.``;
                    hearing_id: 1-:data:`MAX_ID` characters
times               hearing-clock seconds: finite, within ±:data:`MAX_TIME`;
                    wall times: ISO-8601 strings of at most 64 characters
channel             0..:data:`MAX_CHANNEL`
confidence, conf    0..1
role, camera, kind  at most :data:`MAX_NAME` characters
title, error        at most :data:`MAX_TITLE` characters
device meaning/raw  at most 2000 / 8192 characters (raw is hex)
token               1-:data:`MAX_TOKEN` characters
thumbnail.jpeg      base64 of at most :data:`MAX_THUMBNAIL_BYTES` bytes
==================  =====================================================

Event kinds and their ``body`` (one frozen dataclass each, :data:`BODY_TYPES`;
fields with ``?`` are optional, ``+`` means further keys are allowed, each a
bounded JSON value as above):

``hearing.opened``   :class:`HearingOpened` ``{"hearing_id", "title"?, "opened_at"?,
                     "roles"?, "resumed_at"?, "resumed_from"?}``
``hearing.closed``   :class:`HearingClosed` ``{"hearing_id", "closed_at"?, "duration"?,
                     "interrupted"?, "error"?}``
``transcript.final`` :class:`TranscriptFinal` ``{"hearing_id", "segment"}``, the segment
                     :meth:`Final.to_json`: ``{"start", "end", "channel", "role", "text",
                     "confidence"?, "words"?: [{"word", "start", "end", "conf"?}]}``
``status``           :class:`StatusReport` free-form health report of the agent
                     (an object: bounded JSON only)
``device``           :class:`DeviceReport` ``{"time", "device", "direction", "meaning",
                     "raw"?, "hearing_id"?}`` one entry of the equipment audit trail
``av.alarm``         :class:`AvAlarm` ``{"hearing_id", "kind", "message"?, +}`` a
                     microphone or recorder alarm raised or cleared
``camera``           :class:`CameraReport` ``{"hearing_id", "camera", "message"?, +}``
                     a camera went online/offline or raised/cleared an alarm

Close codes:

=====  ==========================================================
1007   :data:`CLOSE_INVALID` — a frame that is not a valid message
       (reason names the field); an event whose envelope is valid but
       whose body is not is quarantined and acked before the close
1009   :data:`CLOSE_TOO_BIG` — a frame over :data:`MAX_FRAME_BYTES`
1011   the archive is unreachable; retry later
4401   :data:`CLOSE_UNAUTHORIZED` — missing or wrong courtroom token
4409   the connection was replaced by a newer one of the same courtroom
       (:data:`hub.agent_ws.CLOSE_REPLACED`)
4410   :data:`CLOSE_SEQ_CONFLICT` — an event whose seq the hub already
       holds with a different kind or body (reason names the seq);
       nothing is stored, the hub logs a WARNING
=====  ==========================================================
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Final

__all__ = [
    "BODY_TYPES",
    "CLOSE_INVALID",
    "CLOSE_SEQ_CONFLICT",
    "CLOSE_TOO_BIG",
    "CLOSE_UNAUTHORIZED",
    "EVENT_KINDS",
    "MAX_FRAME_BYTES",
    "MAX_SEQ",
    "MAX_THUMBNAIL_BYTES",
    "Ack",
    "AgentMessage",
    "AvAlarm",
    "BodyError",
    "CameraReport",
    "DeviceReport",
    "Event",
    "EventBody",
    "HearingClosed",
    "HearingOpened",
    "Hello",
    "HubMessage",
    "Message",
    "Partial",
    "Segment",
    "StatusReport",
    "Thumbnail",
    "TranscriptFinal",
    "Welcome",
    "WireError",
    "Word",
    "decode",
    "digest",
    "encode",
]

MAX_FRAME_BYTES: Final = 256 * 1024
"""Largest frame either side accepts; larger frames close with CLOSE_TOO_BIG."""
MAX_THUMBNAIL_BYTES: Final = 128 * 1024
"""Largest camera thumbnail (JPEG bytes) a Thumbnail message may carry."""
MAX_SEQ: Final = 2**63 - 1
"""Largest seq (the archive stores it in a signed 64-bit column)."""
_INT_MIN: Final = -(2**63)
MAX_DEPTH: Final = 16
"""Deepest nesting of arrays/objects in a frame (the frame itself is depth 1)."""
MAX_STRING: Final = 16 * 1024
"""Longest string (characters) anywhere, unless a field has a lower bound."""
MAX_ITEMS: Final = 4096
"""Most items of one array or keys of one object."""
MAX_KEY: Final = 64
"""Longest object key (characters)."""
MAX_ID: Final = 128
"""Longest hearing id (the archive's column)."""
MAX_NAME: Final = 64
"""Longest role, camera, device, alarm kind."""
MAX_TITLE: Final = 500
"""Longest hearing title or error text."""
MAX_TIME: Final = 1e9
"""Largest magnitude of a hearing-clock time in seconds (~31 years)."""
MAX_CHANNEL: Final = 1023
"""Highest audio channel number."""
MAX_TOKEN: Final = 1024
"""Longest courtroom token."""

CLOSE_INVALID: Final = 1007
"""Websocket close code for a frame that is not a valid message."""
CLOSE_TOO_BIG: Final = 1009
"""Websocket close code for a frame over MAX_FRAME_BYTES."""
CLOSE_UNAUTHORIZED: Final = 4401
"""Websocket close code for a missing or wrong courtroom token."""
CLOSE_SEQ_CONFLICT: Final = 4410
"""Websocket close code for a seq the hub holds with a different body."""


class WireError(ValueError):
    """A frame is not a valid message. ``str(err)`` is the close reason."""


class BodyError(WireError):
    """An event's envelope (seq, kind) is valid but its body is not.

    Attributes:
        seq: the event's seq (1..MAX_SEQ).
        kind: the event's kind (one of EVENT_KINDS).
        raw: the body as received, re-encoded as JSON text (for quarantine).
    """

    def __init__(self, message: str, *, seq: int, kind: str, raw: str) -> None:
        super().__init__(message)
        self.seq = seq
        self.kind = kind
        self.raw = raw


# -- value checks: each takes the field's path and value, returns it typed ----


def _check_json(where: str, value: Any, depth: int = 1) -> Any:
    """Any bounded JSON value: finite numbers, int64 ints, bounded strings/depth/size."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= MAX_SEQ:
            raise WireError(f"{where} must be within the signed 64-bit range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise WireError(f"{where} must be a finite number")
        return value
    if isinstance(value, str):
        return _string(where, value, MAX_STRING)
    if depth >= MAX_DEPTH and isinstance(value, (list, dict)):
        raise WireError(f"{where} is nested deeper than {MAX_DEPTH}")
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            raise WireError(f"{where} has more than {MAX_ITEMS} items")
        for i, item in enumerate(value):
            _check_json(f"{where}[{i}]", item, depth + 1)
        return value
    if isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            raise WireError(f"{where} has more than {MAX_ITEMS} keys")
        for key, item in value.items():
            if not isinstance(key, str) or len(key) > MAX_KEY:
                raise WireError(f"{where} has a key longer than {MAX_KEY} characters")
            _check_json(f"{where}.{key}", item, depth + 1)
        return value
    raise WireError(f"{where} is not a JSON value")


def _string(where: str, value: Any, limit: int, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise WireError(f"{where} must be a string")
    if len(value) > limit:
        raise WireError(f"{where} exceeds {limit} characters")
    if not empty and not value:
        raise WireError(f"{where} must not be empty")
    return value


def _number(where: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WireError(f"{where} must be a finite number")
    if not math.isfinite(value):
        raise WireError(f"{where} must be a finite number")
    if not low <= value <= high:
        raise WireError(f"{where} must be within {low:g}..{high:g}")
    return float(value)


def _integer(where: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{where} must be an integer")
    if not low <= value <= high:
        raise WireError(f"{where} must be within {low}..{high}")
    return value


def _time(where: str, value: Any) -> float:
    return _number(where, value, -MAX_TIME, MAX_TIME)


def _unit(where: str, value: Any) -> float:
    return _number(where, value, 0.0, 1.0)


def _hearing_id(where: str, value: Any) -> str:
    return _string(where, value, MAX_ID, empty=False)


def _name(where: str, value: Any) -> str:
    return _string(where, value, MAX_NAME)


def _title(where: str, value: Any) -> str:
    return _string(where, value, MAX_TITLE)


def _text(where: str, value: Any) -> str:
    return _string(where, value, MAX_STRING)


def _flag(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise WireError(f"{where} must be true or false")
    return value


def _iso(where: str, value: Any) -> str:
    text = _string(where, value, 64)
    try:
        datetime.fromisoformat(text)
    except ValueError as exc:
        raise WireError(f"{where} must be an ISO-8601 time") from exc
    return text


def _roles(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_CHANNEL + 1:
        raise WireError(f"{where} must be a list of at most {MAX_CHANNEL + 1} roles")
    return tuple(_name(f"{where}[{i}]", role) for i, role in enumerate(value))


def _id(value: str, what: str) -> str:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > 64
        or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in value)
    ):
        raise WireError(f"{what} must be 1-64 characters of letters, digits, '-', '_' or '.'")
    return value


def _camera(where: str, value: Any) -> str:
    return _id(value, where)


# -- event bodies -----------------------------------------------------------

_Check = Callable[[str, Any], Any]


def _parse(
    data: Any, where: str, spec: Mapping[str, tuple[_Check, bool]], *, extra: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(typed known fields, other keys) of the object ``data``.

    An optional field given as ``null`` counts as absent.

    Raises:
        WireError: not an object, a required field missing, a field invalid,
            or (``extra`` False) a key not in ``spec``; names the field.
    """
    if not isinstance(data, dict):
        raise WireError(f"{where} must be an object")
    known: dict[str, Any] = {}
    for name, (check, required) in spec.items():
        value = data.get(name)
        if value is None:
            if required:
                raise WireError(f"{where}.{name} is missing")
            continue
        known[name] = check(f"{where}.{name}", value)
    others = {key: value for key, value in data.items() if key not in spec}
    if others and not extra:
        raise WireError(f"{where}: unexpected fields {sorted(others)[:8]}")
    return known, others


def _validate(body: Any, where: str) -> None:
    """Check a body built in code as :func:`_parse` checks one received.

    Raises:
        WireError: a field is out of its range; names the field.
    """
    for name, (check, _required) in body.SPEC.items():
        value = getattr(body, name)
        if value is not None:
            check(f"{where}.{name}", value)
    extra = getattr(body, "extra", None)
    if extra is not None:
        declared = set(extra) & set(body.SPEC)
        if declared:
            raise WireError(f"{where}: {sorted(declared)} are declared fields, not extras")
        _check_json(where, dict(extra))


@dataclass(frozen=True, slots=True, kw_only=True)
class Word:
    """One recognised word: ``{"word", "start", "end", "conf"?}`` (conf 0..1, default 1)."""

    word: str
    start: float
    end: float
    conf: float = 1.0

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "word": (_name, True),
        "start": (_time, True),
        "end": (_time, True),
        "conf": (_unit, False),
    }

    def __post_init__(self) -> None:
        _validate(self, "word")

    @classmethod
    def from_json(cls, data: Any, where: str) -> Word:
        known, _ = _parse(data, where, cls.SPEC, extra=False)
        return cls(**known)


def _words(where: str, value: Any) -> tuple[Word, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_ITEMS:
        raise WireError(f"{where} must be a list of at most {MAX_ITEMS} words")
    return tuple(
        item if isinstance(item, Word) else Word.from_json(item, f"{where}[{i}]")
        for i, item in enumerate(value)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """A final segment (:meth:`transcription.segments.Final.to_json`).

    Times are hearing-clock seconds; ``channel`` 0..MAX_CHANNEL; ``role`` at
    most MAX_NAME characters; ``text`` at most MAX_STRING; ``confidence`` 0..1.
    """

    start: float
    end: float
    channel: int
    role: str
    text: str
    confidence: float = 1.0
    words: tuple[Word, ...] = ()

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "start": (_time, True),
        "end": (_time, True),
        "channel": (lambda w, v: _integer(w, v, 0, MAX_CHANNEL), True),
        "role": (_name, True),
        "text": (_text, True),
        "confidence": (_unit, False),
        "words": (_words, False),
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body.segment")

    @classmethod
    def from_json(cls, data: Any, where: str) -> Segment:
        known, _ = _parse(data, where, cls.SPEC, extra=False)
        return cls(**known)


@dataclass(frozen=True, slots=True, kw_only=True)
class HearingOpened:
    """``hearing.opened``: 开庭, or a restarted agent continuing the hearing."""

    hearing_id: str
    title: str = ""
    opened_at: str | None = None
    roles: tuple[str, ...] = ()
    resumed_at: str | None = None
    resumed_from: float | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "hearing_id": (_hearing_id, True),
        "title": (_title, False),
        "opened_at": (_iso, False),
        "roles": (_roles, False),
        "resumed_at": (_iso, False),
        "resumed_from": (_time, False),
    }
    EXTRA: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class HearingClosed:
    """``hearing.closed``: 闭庭, or the end of a failed run (``interrupted``)."""

    hearing_id: str
    closed_at: str | None = None
    duration: float | None = None
    interrupted: bool = False
    error: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "hearing_id": (_hearing_id, True),
        "closed_at": (_iso, False),
        "duration": (lambda w, v: _number(w, v, 0.0, MAX_TIME), False),
        "interrupted": (_flag, False),
        "error": (_title, False),
    }
    EXTRA: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptFinal:
    """``transcript.final``: one final segment of a hearing."""

    hearing_id: str
    segment: Segment

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "hearing_id": (_hearing_id, True),
        "segment": (lambda w, v: v if isinstance(v, Segment) else Segment.from_json(v, w), True),
    }
    EXTRA: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReport:
    """``status``: the agent's free-form health report (bounded JSON, see the table)."""

    hearing_id: str | None = None
    state: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "hearing_id": (_hearing_id, False),
        "state": (_name, False),
    }
    EXTRA: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceReport:
    """``device``: one equipment audit-trail entry (:class:`devices.events.DeviceEvent`)."""

    time: float
    device: str
    direction: str
    meaning: str
    raw: str = ""
    hearing_id: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "time": (_time, True),
        "device": (_name, True),
        "direction": (_name, True),
        "meaning": (lambda w, v: _string(w, v, 4 * MAX_TITLE), True),
        "raw": (lambda w, v: _string(w, v, 8 * 1024), False),
        "hearing_id": (_hearing_id, False),
    }
    EXTRA: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class AvAlarm:
    """``av.alarm``: a microphone or recorder alarm; further keys are bounded JSON."""

    hearing_id: str
    kind: str
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "hearing_id": (_hearing_id, True),
        "kind": (_name, True),
        "message": (_title, False),
    }
    EXTRA: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraReport:
    """``camera``: a camera state change or alarm; further keys are bounded JSON."""

    hearing_id: str
    camera: str
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "hearing_id": (_hearing_id, True),
        "camera": (_camera, True),
        "message": (_title, False),
    }
    EXTRA: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _validate(self, "event.body")


EventBody = (
    HearingOpened
    | HearingClosed
    | TranscriptFinal
    | StatusReport
    | DeviceReport
    | AvAlarm
    | CameraReport
)

BODY_TYPES: Final[Mapping[str, type[EventBody]]] = {
    "hearing.opened": HearingOpened,
    "hearing.closed": HearingClosed,
    "transcript.final": TranscriptFinal,
    "status": StatusReport,
    "device": DeviceReport,
    "av.alarm": AvAlarm,
    "camera": CameraReport,
}
"""Event kind → the class of its body."""

EVENT_KINDS: Final = frozenset(BODY_TYPES)


def _body(kind: str, data: Any, where: str) -> EventBody:
    cls = BODY_TYPES[kind]
    if isinstance(data, dict):
        _check_json(where, data)
    known, others = _parse(data, where, cls.SPEC, extra=cls.EXTRA)
    if cls.EXTRA:
        known["extra"] = others
    return cls(**known)


def digest(kind: str, body: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of ``kind`` and ``body``: an event's identity."""
    text = json.dumps(
        [kind, body], ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(text.encode()).hexdigest()


# -- messages ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    courtroom: str
    token: str
    agent: str = "courtroom-agent"

    def __post_init__(self) -> None:
        _id(self.courtroom, "hello.courtroom")
        _string("hello.token", self.token, MAX_TOKEN, empty=False)
        _name("hello.agent", self.agent)


@dataclass(frozen=True, slots=True)
class Event:
    """One archived event; ``data`` is its body parsed into :data:`BODY_TYPES`.

    Raises:
        WireError: on construction, for a seq outside 1..MAX_SEQ or an unknown
            kind; :class:`BodyError` for a body that does not fit its kind.
    """

    seq: int
    kind: str
    body: dict[str, Any] = field(default_factory=dict)
    data: EventBody = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _integer("event.seq", self.seq, 1, MAX_SEQ)
        if self.kind not in BODY_TYPES:
            raise WireError(f"event.kind {self.kind[:40]!r} is not one of {sorted(EVENT_KINDS)}")
        try:
            data = _body(self.kind, self.body, "event.body")
        except WireError as exc:
            raw = json.dumps(self.body, ensure_ascii=False, default=repr)
            raise BodyError(str(exc), seq=self.seq, kind=self.kind, raw=raw) from exc
        object.__setattr__(self, "data", data)

    def digest(self) -> str:
        """:func:`digest` of this event's kind and body."""
        return digest(self.kind, self.body)


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
        _hearing_id("partial.hearing_id", self.hearing_id)
        _integer("partial.channel", self.channel, 0, MAX_CHANNEL)
        _name("partial.role", self.role)
        _time("partial.start", self.start)
        _text("partial.text", self.text)
        if self.end is not None:
            _time("partial.end", self.end)


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
        _hearing_id("thumbnail.hearing_id", self.hearing_id)
        _id(self.camera, "thumbnail.camera")
        _time("thumbnail.time", self.time)
        if not isinstance(self.jpeg, str) or len(self.jpeg) > MAX_THUMBNAIL_BYTES * 4 // 3 + 4:
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

    def __post_init__(self) -> None:
        _integer("welcome.acked_seq", self.acked_seq, 0, MAX_SEQ)


@dataclass(frozen=True, slots=True)
class Ack:
    seq: int

    def __post_init__(self) -> None:
        _integer("ack.seq", self.seq, 0, MAX_SEQ)


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
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:  # a non-finite float slipped into a body built in code
        raise WireError(f"{payload['type']}: {exc}") from exc
    if len(text.encode()) > MAX_FRAME_BYTES:
        raise WireError(f"{payload['type']} frame exceeds {MAX_FRAME_BYTES} bytes")
    return text


def decode(frame: str | bytes) -> Message:
    """Parse one received frame, checking every value against the table above.

    JSON numbers too large for a float (``1e400``) parse as infinity and are
    then refused by name; ``NaN``/``Infinity`` literals are refused outright.

    Raises:
        WireError: the frame is binary, too big, not JSON, of an unknown type,
            or has a missing, extra, mistyped or out-of-range field; the
            message names which. :class:`BodyError` (a WireError) when only
            an event's body is wrong, so the hub can quarantine it.
    """
    if isinstance(frame, bytes):
        raise WireError("binary frames are not accepted")
    if len(frame) > MAX_FRAME_BYTES or len(frame.encode(errors="replace")) > MAX_FRAME_BYTES:
        raise WireError(f"frame exceeds {MAX_FRAME_BYTES} bytes")
    try:
        payload = json.loads(frame, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"frame is not valid JSON: {str(exc)[:80]}") from exc
    if not isinstance(payload, dict):
        raise WireError("frame must be a JSON object")
    kind = payload.pop("type", None)
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise WireError(f"unknown message type {str(kind)[:40]!r}")
    fields = _FIELDS[cls]
    extra = set(payload) - set(fields)
    if extra:
        raise WireError(f"{kind}: unexpected fields {sorted(extra)[:8]}")
    for name, typ in fields.items():
        if name not in payload:
            if (cls, name) in _OPTIONAL:
                continue
            raise WireError(f"{kind}.{name} is missing")
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, typ):
            raise WireError(f"{kind}.{name} has the wrong type")
    # Each message checks its own fields on construction (ranges, lengths,
    # finiteness); an event's body is checked by its kind, naming event.body.…
    try:
        message: Message = cls(**payload)
    except TypeError as exc:  # pragma: no cover - fields were checked above
        raise WireError(f"{kind}: {exc}") from exc
    return message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")
