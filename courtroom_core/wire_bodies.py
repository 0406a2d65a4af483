"""Values and event bodies of the agent ⇄ hub wire format (see :mod:`courtroom_core.wire`).

Every value a frame may carry is checked here, once, naming its field: the
bounds below, and one frozen dataclass per event kind (:data:`BODY_TYPES`),
each with a table of its fields (``SPEC``: name → check, required). A body
is checked when parsed (:func:`parse_body`) and again when built in code.

Errors::

    ValueError
    └── WireError        a frame or value is not valid; ``str(err)`` names the field
        └── BodyError    only an event's body is not; carries seq, kind, raw body
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Final

from courtroom_core.errors import CourtroomError

__all__ = [
    "BODY_TYPES",
    "EVENT_KINDS",
    "MAX_CHANNEL",
    "MAX_DEPTH",
    "MAX_ID",
    "MAX_ITEMS",
    "MAX_KEY",
    "MAX_NAME",
    "MAX_SEQ",
    "MAX_STRING",
    "MAX_TIME",
    "MAX_TITLE",
    "MAX_TOKEN",
    "AvAlarm",
    "BodyError",
    "CameraReport",
    "DeviceReport",
    "EventBody",
    "HearingClosed",
    "HearingOpened",
    "Segment",
    "StatusReport",
    "TranscriptFinal",
    "WireError",
    "Word",
    "check_hearing_id",
    "check_id",
    "check_integer",
    "check_json",
    "check_name",
    "check_string",
    "check_text",
    "check_time",
    "digest",
    "parse_body",
]

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


class WireError(CourtroomError, ValueError):
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


def check_json(where: str, value: Any, depth: int = 1) -> Any:
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
        return check_string(where, value, MAX_STRING)
    if depth >= MAX_DEPTH and isinstance(value, (list, dict)):
        raise WireError(f"{where} is nested deeper than {MAX_DEPTH}")
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            raise WireError(f"{where} has more than {MAX_ITEMS} items")
        for i, item in enumerate(value):
            check_json(f"{where}[{i}]", item, depth + 1)
        return value
    if isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            raise WireError(f"{where} has more than {MAX_ITEMS} keys")
        for key, item in value.items():
            if not isinstance(key, str) or len(key) > MAX_KEY:
                raise WireError(f"{where} has a key longer than {MAX_KEY} characters")
            check_json(f"{where}.{key}", item, depth + 1)
        return value
    raise WireError(f"{where} is not a JSON value")


def check_string(where: str, value: Any, limit: int, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise WireError(f"{where} must be a string")
    if len(value) > limit:
        raise WireError(f"{where} exceeds {limit} characters")
    if not empty and not value:
        raise WireError(f"{where} must not be empty")
    return value


def check_number(where: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WireError(f"{where} must be a finite number")
    if not math.isfinite(value):
        raise WireError(f"{where} must be a finite number")
    if not low <= value <= high:
        raise WireError(f"{where} must be within {low:g}..{high:g}")
    return float(value)


def check_integer(where: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{where} must be an integer")
    if not low <= value <= high:
        raise WireError(f"{where} must be within {low}..{high}")
    return value


def check_time(where: str, value: Any) -> float:
    return check_number(where, value, -MAX_TIME, MAX_TIME)


def _unit(where: str, value: Any) -> float:
    return check_number(where, value, 0.0, 1.0)


def check_hearing_id(where: str, value: Any) -> str:
    return check_string(where, value, MAX_ID, empty=False)


def check_name(where: str, value: Any) -> str:
    return check_string(where, value, MAX_NAME)


def _title(where: str, value: Any) -> str:
    return check_string(where, value, MAX_TITLE)


def check_text(where: str, value: Any) -> str:
    return check_string(where, value, MAX_STRING)


def _flag(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise WireError(f"{where} must be true or false")
    return value


def _iso(where: str, value: Any) -> str:
    text = check_string(where, value, 64)
    try:
        datetime.fromisoformat(text)
    except ValueError as exc:
        raise WireError(f"{where} must be an ISO-8601 time") from exc
    return text


def _roles(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_CHANNEL + 1:
        raise WireError(f"{where} must be a list of at most {MAX_CHANNEL + 1} roles")
    return tuple(check_name(f"{where}[{i}]", role) for i, role in enumerate(value))


def check_id(value: str, what: str) -> str:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > 64
        or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in value)
    ):
        raise WireError(f"{what} must be 1-64 characters of letters, digits, '-', '_' or '.'")
    return value


def _camera(where: str, value: Any) -> str:
    return check_id(value, where)


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
        check_json(where, dict(extra))


@dataclass(frozen=True, slots=True, kw_only=True)
class Word:
    """One recognised word: ``{"word", "start", "end", "conf"?}`` (conf 0..1, default 1)."""

    word: str
    start: float
    end: float
    conf: float = 1.0

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "word": (check_name, True),
        "start": (check_time, True),
        "end": (check_time, True),
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
        "start": (check_time, True),
        "end": (check_time, True),
        "channel": (lambda w, v: check_integer(w, v, 0, MAX_CHANNEL), True),
        "role": (check_name, True),
        "text": (check_text, True),
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
        "hearing_id": (check_hearing_id, True),
        "title": (_title, False),
        "opened_at": (_iso, False),
        "roles": (_roles, False),
        "resumed_at": (_iso, False),
        "resumed_from": (check_time, False),
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
        "hearing_id": (check_hearing_id, True),
        "closed_at": (_iso, False),
        "duration": (lambda w, v: check_number(w, v, 0.0, MAX_TIME), False),
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
        "hearing_id": (check_hearing_id, True),
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
        "hearing_id": (check_hearing_id, False),
        "state": (check_name, False),
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
        "time": (check_time, True),
        "device": (check_name, True),
        "direction": (check_name, True),
        "meaning": (lambda w, v: check_string(w, v, 4 * MAX_TITLE), True),
        "raw": (lambda w, v: check_string(w, v, 8 * 1024), False),
        "hearing_id": (check_hearing_id, False),
    }
    EXTRA: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class AvAlarm:
    """``av.alarm``: a microphone or recorder alarm, or one of the agent itself
    (``hub_untrusted``); further keys are bounded JSON. ``hearing_id`` is left
    out when no hearing is open (an agent-level alarm)."""

    kind: str
    hearing_id: str | None = None
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "hearing_id": (check_hearing_id, False),
        "kind": (check_name, True),
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
        "hearing_id": (check_hearing_id, True),
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


def parse_body(kind: str, data: Any, where: str) -> EventBody:
    cls = BODY_TYPES[kind]
    if isinstance(data, dict):
        check_json(where, data)
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
