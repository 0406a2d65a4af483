"""The agent ⇄ hub wire format: JSON text frames over one websocket, no I/O here.

Both sides call :func:`encode` to turn a message into a text frame and
:func:`decode` to turn a received frame back into a message. Anything that is
not one of the messages below raises :class:`WireError`, whose text names the
offending field (``event.body.segment.start must be a finite number``); the
receiver closes the connection with the close code of the table below and
that reason, and survives.

Conversation (agent on the left)::

    Hello(courtroom, token, version) ─────▶
                            ◀────────────── Welcome(acked_seq, version)  # or close 4401
    Event(seq=acked_seq+1, …) ────────────▶
    Event(seq=acked_seq+2, …) ────────────▶
                            ◀────────────── Ack(seq)             # cumulative
    Partial(…) ───────────────────────────▶                      # volatile, no seq
    Thumbnail(…) ─────────────────────────▶                      # volatile, no seq
                            ◀────────────── Command(id, name, body)   # protocol 2
    Result(id, outcome, message, state) ──▶

Versions: ``Hello.version`` is the agent's protocol (absent: 1). The hub
speaks :data:`PROTOCOL_VERSION` and accepts down to :data:`OLDEST_PROTOCOL`,
so agents can be upgraded one courtroom at a time. It answers with the
version both will speak in ``Welcome.version`` — left out for a protocol-1
agent, which refuses unknown fields — and sends commands only to protocol-2
agents (a courtroom whose agent is older answers a command with 503).

Commands (protocol 2): the hub sends a :class:`Command` with an id; the agent
answers with one :class:`Result` of that id: ``done`` (carried out; ``state``
is the hearing's state after it), ``refused`` (the hearing's state does not
allow it; ``message`` names the state and the action) or ``failed`` (a
recorder or device error, in ``message``). Commands are never spooled or
resent: one that cannot be delivered now is answered 503 by the hub, never
queued. The agent archives each command and its outcome as a ``command``
event. ``evidence`` (:class:`EvidenceOrder`) presents or withdraws an
exhibit; ``hearing``'s body is :class:`HearingOrder`
``{"action": open|recess|resume|close, "by", "reason"?: recess|closed-evidence|
mediation, "case"?: {"number", "title"?, "parties"?: [{"role", "name"?,
"channel"?}]}, "join"?: {"hearing_id", "opened_at"}}``.

Delivery guarantee: every :class:`Event` carries a per-courtroom sequence
number, strictly increasing from 1 with no gaps. The agent keeps each event in
its durable spool until an :class:`Ack` with ``seq >= event.seq`` arrives, and
resends everything after ``Welcome.acked_seq`` on each reconnect. The hub
stores each (courtroom, seq) exactly once together with a digest of its kind
and body: an identical resend is a silent duplicate, a *different* event under
a seq already held is refused (close :data:`CLOSE_SEQ_CONFLICT`, logged). An
event that skips ahead of ``acked_seq + 1`` is refused unstored (close
:data:`CLOSE_INVALID`, logged): storing it would let an early sender take that
seq from the genuine event. The hub acks the highest seq it holds. An event the
archive cannot store or apply (a hearing id of another courtroom, a database
refusal) is quarantined — kept raw, logged, alarmed as ``hub.quarantine`` —
and acknowledged, so a courtroom's archive never stalls. Partials and camera
thumbnails are best-effort live previews: never spooled, dropped while
disconnected, never archived; the hub forwards at most a bounded rate of
partials per courtroom.

Values (checked once, at decode, by both sides; the checks and the body
classes live in :mod:`courtroom_core.wire_bodies` and are re-exported here):

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
thumbnail.jpeg      base64 of at most :data:`MAX_THUMBNAIL_BYTES` bytes; thumbnail.hearing_id
                    absent while the courtroom is idle (no hearing open)
==================  =====================================================

Event kinds and their ``body`` (one frozen dataclass each, :data:`BODY_TYPES`;
fields with ``?`` are optional, ``+`` means further keys are allowed, each a
bounded JSON value as above):

``hearing.opened``   :class:`HearingOpened` ``{"hearing_id", "title"?, "opened_at"?,
                     "roles"?, "resumed_at"?, "resumed_from"?, "case"?, "ordered_by"?,
                     "state"?, "reason"?, "joined"?}`` — 开庭, or a restarted agent
                     continuing the hearing (``state`` ``recess`` when it comes back
                     in a recess); ``joined``: a remote site joining the hearing
``hearing.recessed`` :class:`HearingRecessed` ``{"hearing_id", "reason", "time", "at",
                     "ordered_by"?}`` — a lawful interruption begins
``hearing.resumed``  :class:`HearingResumed` (same fields) — it ends
``hearing.closed``   :class:`HearingClosed` ``{"hearing_id", "closed_at"?, "duration"?,
                     "interrupted"?, "error"?, "ordered_by"?}``
``command``          :class:`CommandReport` ``{"id", "action", "by", "source", "outcome",
                     "at", "state", "hearing_id"?, "reason"?, "message"?}`` — a
                     hearing command (from the hub or the courtroom PC) and its outcome
``transcript.final`` :class:`TranscriptFinal` ``{"hearing_id", "segment"}``, the segment
                     :meth:`Final.to_json`: ``{"start", "end", "channel", "role", "text",
                     "confidence"?, "words"?: [{"word", "start", "end", "conf"?}]}``
``status``           :class:`StatusReport` free-form health report of the agent
                     (an object: bounded JSON only)
``device``           :class:`DeviceReport` ``{"time", "device", "direction", "meaning",
                     "raw"?, "hearing_id"?}`` one entry of the equipment audit trail
``av.alarm``         :class:`Alarm` — every alarm, one shape, no further keys:
                     ``{"kind", "active", "severity", "source", "subject"?, "role"?,
                     "hearing_id"?, "time"?, "since"?, "message", "detail"?}``, see below
``camera``           :class:`CameraReport` ``{"hearing_id", "camera", "message"?, +}``
                     a camera's recording gap ``{"type": "gap", "start", "end"}``
                     (before protocol 2 also its alarms and online/offline changes)

The alarm (``av.alarm``), raised (``active`` true) or cleared (false); the
newest event of one ``(source, subject, kind)`` says whether it is raised:

============  ==============================================================
kind          what is wrong, 1-:data:`MAX_NAME` characters: ``dead_mic``,
              ``clipping``, ``all_silent``, ``disk_low``, ``writer_behind``,
              ``writer_failed``, ``no_frames``, ``frozen``, ``black``,
              ``recording_stalled``, ``offline``, ``hearing_interrupted``,
              ``transcription_failed``, ``hub_untrusted`` …
active        true (raised) or false (cleared)
severity      ``info`` | ``warning`` (act soon; the recording continues) |
              ``critical`` (the recording has failed or is about to)
source        what raised it (:data:`ALARM_SOURCES`): ``microphone``,
              ``recorder``, ``camera``, ``transcription``, ``hub_link``,
              ``hearing``, ``device``, ``agent``
subject?      which one of the source: a microphone's channel number as a
              string, a camera id, a device name (at most :data:`MAX_NAME`)
role?         the role seated at the microphone
hearing_id?   the hearing; absent for an agent-level alarm (no hearing open)
time?         hearing-clock seconds when it was decided
since?        hearing-clock seconds when the condition began
message       中文 · English for the clerk's screen (at most :data:`MAX_TITLE`)
detail?       a short text for the technician: an error, free space (≤ 500)
============  ==============================================================

For example ``{"kind": "dead_mic", "active": true, "severity": "critical",
"source": "microphone", "subject": "2", "role": "被告", "hearing_id": "h-1",
"time": 75.3, "message": "被告麦克风无信号 · 被告 microphone silent …"}``.
An ``av.alarm`` body without ``source`` is one of the four shapes agents sent
before protocol 2; it is read leniently and mapped to this one
(:meth:`Alarm.from_legacy`: its known fields are checked and mapped, other
keys dropped), as are archived ``camera`` alarms and online/offline changes
(:func:`alarm_of`). The archive keeps every body as received; the hub maps old
rows when it reads them, so browsers only ever see this shape.

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
import json
from dataclasses import dataclass, field
from typing import Any, Final

from courtroom_core.wire_bodies import (
    ALARM_SEVERITIES,
    ALARM_SOURCES,
    BODY_TYPES,
    COMMAND_NAMES,
    COMMAND_TYPES,
    EVENT_KINDS,
    EVIDENCE_ACTIONS,
    MAX_CHANNEL,
    MAX_DEPTH,
    MAX_ID,
    MAX_ITEMS,
    MAX_KEY,
    MAX_NAME,
    MAX_SEQ,
    MAX_STRING,
    MAX_TIME,
    MAX_TITLE,
    MAX_TOKEN,
    OUTCOMES,
    STATE_CODES,
    Alarm,
    AvAlarm,
    BodyError,
    CameraReport,
    Case,
    CommandBody,
    CommandReport,
    DeviceReport,
    EventBody,
    EvidenceOrder,
    HearingClosed,
    HearingOpened,
    HearingOrder,
    HearingRecessed,
    HearingResumed,
    JoinHearing,
    Party,
    Segment,
    StatusReport,
    TranscriptFinal,
    WireError,
    Word,
    alarm_of,
    check_hearing_id,
    check_id,
    check_integer,
    check_json,
    check_name,
    check_string,
    check_text,
    check_time,
    digest,
    parse_body,
    parse_code,
)

__all__ = [
    "ALARM_SEVERITIES",
    "ALARM_SOURCES",
    "BODY_TYPES",
    "CLOSE_INVALID",
    "CLOSE_SEQ_CONFLICT",
    "CLOSE_TOO_BIG",
    "CLOSE_UNAUTHORIZED",
    "COMMAND_NAMES",
    "COMMAND_TYPES",
    "EVENT_KINDS",
    "EVIDENCE_ACTIONS",
    "MAX_CHANNEL",
    "MAX_DEPTH",
    "MAX_FRAME_BYTES",
    "MAX_ID",
    "MAX_ITEMS",
    "MAX_KEY",
    "MAX_NAME",
    "MAX_SEQ",
    "MAX_STRING",
    "MAX_THUMBNAIL_BYTES",
    "MAX_TIME",
    "MAX_TITLE",
    "MAX_TOKEN",
    "OLDEST_PROTOCOL",
    "OUTCOMES",
    "PROTOCOL_VERSION",
    "Ack",
    "AgentMessage",
    "Alarm",
    "AvAlarm",
    "BodyError",
    "CameraReport",
    "Case",
    "Command",
    "CommandBody",
    "CommandReport",
    "DeviceReport",
    "Event",
    "EventBody",
    "EvidenceOrder",
    "HearingClosed",
    "HearingOpened",
    "HearingOrder",
    "HearingRecessed",
    "HearingResumed",
    "Hello",
    "HubMessage",
    "JoinHearing",
    "Message",
    "Partial",
    "Party",
    "Result",
    "Segment",
    "StatusReport",
    "Thumbnail",
    "TranscriptFinal",
    "Welcome",
    "WireError",
    "Word",
    "alarm_of",
    "decode",
    "digest",
    "encode",
]

PROTOCOL_VERSION: Final = 2
"""The protocol this code speaks: 2 adds hub → agent commands and their results."""
OLDEST_PROTOCOL: Final = 1
"""The oldest protocol the hub still accepts (an agent not yet upgraded)."""
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
CLOSE_SEQ_CONFLICT: Final = 4410
"""Websocket close code for a seq the hub holds with a different body."""


# -- messages ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """The agent's first frame. ``version`` absent means protocol 1."""

    courtroom: str
    token: str
    agent: str = "courtroom-agent"
    version: int | None = None

    def __post_init__(self) -> None:
        check_id(self.courtroom, "hello.courtroom")
        check_string("hello.token", self.token, MAX_TOKEN, empty=False)
        check_name("hello.agent", self.agent)
        if self.version is not None:
            check_integer("hello.version", self.version, 1, 2**31)

    @property
    def protocol(self) -> int:
        return self.version or 1


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
        check_integer("event.seq", self.seq, 1, MAX_SEQ)
        if self.kind not in BODY_TYPES:
            raise WireError(f"event.kind {self.kind[:40]!r} is not one of {sorted(EVENT_KINDS)}")
        try:
            data = parse_body(self.kind, self.body, "event.body")
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
        check_hearing_id("partial.hearing_id", self.hearing_id)
        check_integer("partial.channel", self.channel, 0, MAX_CHANNEL)
        check_name("partial.role", self.role)
        check_time("partial.start", self.start)
        check_text("partial.text", self.text)
        if self.end is not None:
            check_time("partial.end", self.end)


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A camera's latest picture for the patrol wall (volatile, like a partial).

    ``jpeg`` is base64; at most :data:`MAX_THUMBNAIL_BYTES` once decoded.
    """

    camera: str
    time: float
    jpeg: str
    hearing_id: str | None = None
    """The hearing it was taken in; absent while the courtroom is idle."""

    def __post_init__(self) -> None:
        if self.hearing_id is not None:
            check_hearing_id("thumbnail.hearing_id", self.hearing_id)
        check_id(self.camera, "thumbnail.camera")
        check_time("thumbnail.time", self.time)
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
    """The hub's answer to Hello. ``version`` (the protocol both will speak) is
    sent only to agents that sent one: a protocol-1 agent refuses unknown fields."""

    acked_seq: int
    version: int | None = None

    def __post_init__(self) -> None:
        check_integer("welcome.acked_seq", self.acked_seq, 0, MAX_SEQ)
        if self.version is not None:
            check_integer("welcome.version", self.version, 1, PROTOCOL_VERSION)


@dataclass(frozen=True, slots=True)
class Command:
    """Hub → agent (protocol 2): do ``name`` with ``body``; answered by a :class:`Result`.

    ``data`` is the body parsed into :data:`COMMAND_TYPES` ``[name]``.

    Raises:
        WireError: an id that is not 1-64 of letters, digits, ``-_.``, an
            unknown command, or a body that does not fit it (names the field).
    """

    id: str
    name: str
    body: dict[str, Any] = field(default_factory=dict)
    data: CommandBody = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_id(self.id, "command.id")
        cls = COMMAND_TYPES.get(self.name)
        if cls is None:
            raise WireError(
                f"command.name {self.name[:40]!r} is not one of {sorted(COMMAND_TYPES)}"
            )
        object.__setattr__(self, "data", cls.from_json(self.body, "command.body"))


@dataclass(frozen=True, slots=True)
class Result:
    """Agent → hub (protocol 2): the outcome of the :class:`Command` ``id``.

    ``outcome`` is one of :data:`OUTCOMES`; ``message`` says why it was refused
    or failed; ``state`` is the hearing's state after it (``{"state", "reason"?,
    "hearing_id"?}``).
    """

    id: str
    outcome: str
    message: str = ""
    state: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "result.id")
        parse_code("result.outcome", self.outcome, OUTCOMES)
        check_string("result.message", self.message, MAX_TITLE)
        if self.state is not None:
            check_json("result.state", self.state)
            parse_code("result.state.state", self.state.get("state"), STATE_CODES)


@dataclass(frozen=True, slots=True)
class Ack:
    seq: int

    def __post_init__(self) -> None:
        check_integer("ack.seq", self.seq, 0, MAX_SEQ)


AgentMessage = Hello | Event | Partial | Thumbnail | Result
HubMessage = Welcome | Ack | Command
Message = AgentMessage | HubMessage

_TYPES: dict[str, type[Any]] = {
    "hello": Hello,
    "event": Event,
    "partial": Partial,
    "thumbnail": Thumbnail,
    "welcome": Welcome,
    "ack": Ack,
    "command": Command,
    "result": Result,
}
_NAMES = {cls: name for name, cls in _TYPES.items()}

_FIELDS: dict[type[Any], dict[str, type | tuple[type, ...]]] = {
    Hello: {"courtroom": str, "token": str, "agent": str, "version": int},
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
    Welcome: {"acked_seq": int, "version": int},
    Ack: {"seq": int},
    Command: {"id": str, "name": str, "body": dict},
    Result: {"id": str, "outcome": str, "message": str, "state": dict},
}
_OPTIONAL = {
    (Hello, "agent"),
    (Hello, "version"),
    (Event, "body"),
    (Partial, "end"),
    (Welcome, "version"),
    (Thumbnail, "hearing_id"),
    (Result, "message"),
    (Result, "state"),
}


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
