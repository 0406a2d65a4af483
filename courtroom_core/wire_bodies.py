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
from courtroom_core.hearing import HearingAction, HearingState, InterruptionReason

__all__ = [
    "ACTION_CODES",
    "ACTION_OUTCOMES",
    "ALARM_SEVERITIES",
    "ALARM_SOURCES",
    "BODY_TYPES",
    "COMMAND_NAMES",
    "COMMAND_TYPES",
    "EVENT_KINDS",
    "EVIDENCE_ACTIONS",
    "FAILURE_POLICIES",
    "FIVE_SYNC_PARTS",
    "INCIDENT_STATES",
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
    "OUTCOMES",
    "REASON_CODES",
    "STATE_CODES",
    "Alarm",
    "AvAlarm",
    "BodyError",
    "CameraReport",
    "Case",
    "CommandBody",
    "CommandReport",
    "DeviceAction",
    "DeviceReport",
    "DisplayReport",
    "EventBody",
    "EvidenceLog",
    "EvidenceOrder",
    "EvidencePresented",
    "EvidenceWithdrawn",
    "HearingClosed",
    "HearingOpened",
    "HearingOrder",
    "HearingRecessed",
    "HearingResumed",
    "Incident",
    "JoinHearing",
    "Party",
    "RuleFired",
    "ScreenShown",
    "Segment",
    "SourceState",
    "SpeakerChanged",
    "StatusReport",
    "TranscriptFinal",
    "UploadReport",
    "WireError",
    "Word",
    "alarm_of",
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
    "parse_code",
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


def _reason(where: str, value: Any) -> str:
    return parse_code(where, value, REASON_CODES)


def _action(where: str, value: Any) -> str:
    return parse_code(where, value, ACTION_CODES)


def _command_action(where: str, value: Any) -> str:
    return parse_code(where, value, ACTION_CODES | EVIDENCE_ACTIONS)


def parse_code(where: str, value: Any, codes: frozenset[str]) -> str:
    """``value`` if it is one of ``codes``; WireError naming ``where`` otherwise."""
    if not isinstance(value, str) or value not in codes:
        raise WireError(f"{where} must be one of {', '.join(sorted(codes))}")
    return value


REASON_CODES: Final = frozenset(r.value for r in InterruptionReason)
ACTION_CODES: Final = frozenset(a.value for a in HearingAction)
STATE_CODES: Final = frozenset(s.value for s in HearingState)
OUTCOMES: Final = frozenset({"done", "refused", "failed"})
"""A command's outcome: carried out, refused (the hearing's state does not
allow it; HTTP 409), or failed (the agent tried and a recorder or device said
no; HTTP 502)."""
MAX_PARTIES: Final = 64


def _state(where: str, value: Any) -> str:
    return parse_code(where, value, STATE_CODES)


def _outcome(where: str, value: Any) -> str:
    return parse_code(where, value, OUTCOMES)


def _channel(where: str, value: Any) -> int:
    return check_integer(where, value, 0, MAX_CHANNEL)


def _nested(cls: Any) -> _Check:
    """A check that parses an object field into ``cls`` (or keeps a ``cls`` as is)."""

    def check(where: str, value: Any) -> Any:
        return value if isinstance(value, cls) else cls.from_json(value, where)

    return check


class _Json:
    """``from_json``/``to_json`` for a body class from its ``SPEC`` table."""

    __slots__ = ()

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]]
    EXTRA: ClassVar[bool] = False

    @classmethod
    def from_json(cls, data: Any, where: str) -> Any:
        if isinstance(data, dict):
            check_json(where, data)
        known, others = _parse(data, where, cls.SPEC, extra=cls.EXTRA)
        if cls.EXTRA:
            known["extra"] = others
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        """The body as sent: fields left at None are left out."""
        out: dict[str, Any] = {}
        for name in self.SPEC:
            value = getattr(self, name)
            if value is not None:
                out[name] = _plain(value)
        extra = getattr(self, "extra", None)
        if extra:
            out |= dict(extra)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, _Json):
        return value.to_json()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Party(_Json):
    """A party of a case and the seat (microphone channel) it speaks from."""

    role: str
    """审判长, 审判员, 书记员, 原告, 被告, 公诉人, 辩护人 … (at most MAX_NAME)."""
    name: str = ""
    channel: int | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "role": (lambda w, v: check_string(w, v, MAX_NAME, empty=False), True),
        "name": (_title, False),
        "channel": (_channel, False),
    }

    def __post_init__(self) -> None:
        _validate(self, "party")


def _parties(where: str, value: Any) -> tuple[Party, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_PARTIES:
        raise WireError(f"{where} must be a list of at most {MAX_PARTIES} parties")
    return tuple(_nested(Party)(f"{where}[{i}]", item) for i, item in enumerate(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class Case(_Json):
    """The case a hearing hears: 案号, 案由 and the parties with their seats."""

    number: str
    """案号, e.g. (2026)京0105民初1234号."""
    title: str = ""
    """案由 / the hearing's title."""
    parties: tuple[Party, ...] = ()

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "number": (lambda w, v: check_string(w, v, MAX_NAME, empty=False), True),
        "title": (_title, False),
        "parties": (_parties, False),
    }

    def __post_init__(self) -> None:
        _validate(self, "case")

    def role_of(self, channel: int, default: str) -> str:
        """The role speaking from ``channel`` in this hearing (``default`` when none is seated)."""
        for party in self.parties:
            if party.channel == channel:
                return party.role
        return default


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinHearing(_Json):
    """A remote site joining a hearing another site opened: its id and 开庭 time."""

    hearing_id: str
    opened_at: str

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "hearing_id": (check_hearing_id, True),
        "opened_at": (_iso, True),
    }

    def __post_init__(self) -> None:
        _validate(self, "join")


@dataclass(frozen=True, slots=True, kw_only=True)
class HearingRecessed(_Json):
    """``hearing.recessed``: recording, transcript and live output stop, for ``reason``."""

    hearing_id: str
    reason: str
    time: float
    """Hearing-clock seconds at which the recording stopped."""
    at: str
    """UTC, ISO 8601."""
    ordered_by: str = ""

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "hearing_id": (check_hearing_id, True),
        "reason": (_reason, True),
        "time": (check_time, True),
        "at": (_iso, True),
        "ordered_by": (check_name, False),
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class HearingResumed(_Json):
    """``hearing.resumed``: 继续开庭 after the interruption for ``reason``."""

    hearing_id: str
    reason: str
    """The interruption that ended."""
    time: float
    at: str
    ordered_by: str = ""

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = HearingRecessed.SPEC

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandReport(_Json):
    """``command``: a hearing command and its outcome, for the ledger.

    ``source`` is ``hub`` (a hub user, ``by``) or ``local`` (the courtroom PC's
    operator, through ``courtroom hearing``).
    """

    id: str
    action: str
    by: str
    source: str
    outcome: str
    at: str
    state: str
    """The hearing's state after the command (unchanged when refused or failed)."""
    hearing_id: str | None = None
    reason: str | None = None
    message: str = ""

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "id": (lambda w, v: check_id(v, w), True),
        "action": (_command_action, True),
        "by": (check_name, True),
        "source": (lambda w, v: parse_code(w, v, frozenset({"hub", "local"})), True),
        "outcome": (_outcome, True),
        "at": (_iso, True),
        "state": (_state, True),
        "hearing_id": (check_hearing_id, False),
        "reason": (_reason, False),
        "message": (_title, False),
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class HearingOrder(_Json):
    """The body of a ``hearing`` command: what the court orders, and who."""

    action: str
    by: str
    """The hub user who ordered it."""
    reason: str | None = None
    case: Case | None = None
    join: JoinHearing | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "action": (_action, True),
        "by": (lambda w, v: check_string(w, v, MAX_NAME, empty=False), True),
        "reason": (_reason, False),
        "case": (_nested(Case), False),
        "join": (_nested(JoinHearing), False),
    }

    def __post_init__(self) -> None:
        _validate(self, "command.body")


EVIDENCE_ACTIONS: Final = frozenset({"present", "page", "withdraw"})
"""举证 present, 翻页 page (the presenter turns the page or zooms), 撤回 withdraw."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceOrder(_Json):
    """The body of an ``evidence`` command: 举证 — show an exhibit, or take it off.

    ``file`` is a path inside the hearing's evidence folder (an image or a
    PDF, ``page`` of it at ``zoom``); ``input`` a live matrix input (the
    document camera). ``page`` follows the presenter (a new page or zoom of
    the exhibit shown); withdraw needs only ``exhibit``.
    """

    action: str
    exhibit: str
    by: str
    label: str = ""
    file: str | None = None
    input: str | None = None
    page: int | None = None
    zoom: float | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "action": (lambda w, v: parse_code(w, v, EVIDENCE_ACTIONS), True),
        "exhibit": (lambda w, v: check_string(w, v, MAX_NAME, empty=False), True),
        "by": (lambda w, v: check_string(w, v, MAX_NAME, empty=False), True),
        "label": (_title, False),
        "file": (lambda w, v: check_string(w, v, 1024, empty=False), False),
        "input": (lambda w, v: check_string(w, v, MAX_NAME, empty=False), False),
        "page": (lambda w, v: check_integer(w, v, 1, 100_000), False),
        "zoom": (lambda w, v: check_number(w, v, 0.1, 10.0), False),
    }

    def __post_init__(self) -> None:
        _validate(self, "command.body")
        if self.action == "present" and (self.file is None) == (self.input is None):
            raise WireError("command.body: present needs one of file or input")
        if self.action == "page" and self.page is None and self.zoom is None:
            raise WireError("command.body: page needs a page or a zoom")


CommandBody = HearingOrder | EvidenceOrder
COMMAND_TYPES: Final[Mapping[str, type[CommandBody]]] = {
    "hearing": HearingOrder,
    "evidence": EvidenceOrder,
}
"""Command name → the class of its body (hub → agent)."""
COMMAND_NAMES: Final[Mapping[type[CommandBody], str]] = {
    cls: name for name, cls in COMMAND_TYPES.items()
}


@dataclass(frozen=True, slots=True, kw_only=True)
class HearingOpened:
    """``hearing.opened``: 开庭, or a restarted agent continuing the hearing."""

    hearing_id: str
    title: str = ""
    opened_at: str | None = None
    roles: tuple[str, ...] = ()
    resumed_at: str | None = None
    resumed_from: float | None = None
    case: Case | None = None
    ordered_by: str | None = None
    state: str | None = None
    """``recess`` when a restarted agent continues a hearing left in recess."""
    reason: str | None = None
    """The interruption under way when ``state`` is ``recess``."""
    joined: bool | None = None
    """This site joined a hearing another site opened (a remote site)."""

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "hearing_id": (check_hearing_id, True),
        "title": (_title, False),
        "opened_at": (_iso, False),
        "roles": (_roles, False),
        "resumed_at": (_iso, False),
        "resumed_from": (check_time, False),
        "case": (_nested(Case), False),
        "ordered_by": (check_name, False),
        "state": (_state, False),
        "reason": (_reason, False),
        "joined": (_flag, False),
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
    ordered_by: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "hearing_id": (check_hearing_id, True),
        "closed_at": (_iso, False),
        "duration": (lambda w, v: check_number(w, v, 0.0, MAX_TIME), False),
        "interrupted": (_flag, False),
        "error": (_title, False),
        "ordered_by": (check_name, False),
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


ALARM_SEVERITIES: Final = frozenset({"info", "warning", "critical"})
"""How urgent an alarm is: ``info`` (for the record), ``warning`` (act soon, the
recording continues), ``critical`` (the recording has failed or is about to)."""
ALARM_SOURCES: Final = frozenset(
    {"microphone", "recorder", "camera", "transcription", "hub_link", "hearing", "device", "agent"}
)
"""What raised an alarm: a microphone (``subject`` its channel), the audio
recorder, a camera (``subject`` its id), the transcription, the agent's link to
the hub, the hearing itself, a device (``subject`` its name), or the agent."""
MAX_DETAIL: Final = 500
"""Longest alarm ``detail`` (an error text, free space, a queue length)."""


def _severity(where: str, value: Any) -> str:
    return parse_code(where, value, ALARM_SEVERITIES)


def _source(where: str, value: Any) -> str:
    return parse_code(where, value, ALARM_SOURCES)


def _alarm_kind(where: str, value: Any) -> str:
    return check_string(where, value, MAX_NAME, empty=False)


def _optional(check: _Check, where: str, value: Any) -> Any:
    return None if value is None else check(where, value)


def _detail(where: str, value: Any) -> str:
    return check_string(where, value, MAX_DETAIL)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alarm(_Json):
    """``av.alarm``: one alarm raised (``active``) or cleared, whoever raised it.

    The one shape of every alarm on the wire, in the archive and on the patrol
    wall: ``{"kind", "active", "severity", "source", "subject"?, "role"?,
    "hearing_id"?, "time"?, "since"?, "message", "detail"?}``. An alarm is
    identified by ``(source, subject, kind)``: the newest event of that key
    says whether it is raised. ``hearing_id`` is left out when no hearing is
    open (an agent-level alarm such as ``hub_untrusted``).

    Attributes:
        kind: what is wrong, e.g. ``dead_mic``, ``disk_low``, ``frozen``,
            ``offline``, ``hub_untrusted``, ``transcription_failed``.
        active: True when raised, False when cleared.
        severity: one of :data:`ALARM_SEVERITIES` (a clear repeats the raise's).
        source: one of :data:`ALARM_SOURCES`.
        subject: which one of the source: a channel number as a string, a
            camera id, a device name; None for the source as a whole.
        role: the role seated at a microphone channel.
        hearing_id: the hearing it happened in.
        time: hearing-clock seconds when it was decided.
        since: hearing-clock seconds when the condition began.
        message: 中文 · English, for the clerk's screen.
        detail: a short text for the technician (an error, free space).

    Raises:
        WireError: on construction, for a field out of its range (names it).
    """

    kind: str
    active: bool
    severity: str
    source: str
    message: str
    subject: str | None = None
    role: str | None = None
    hearing_id: str | None = None
    time: float | None = None
    since: float | None = None
    detail: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "kind": (_alarm_kind, True),
        "active": (_flag, True),
        "severity": (_severity, True),
        "source": (_source, True),
        "subject": (check_name, False),
        "role": (check_name, False),
        "hearing_id": (check_hearing_id, False),
        "time": (check_time, False),
        "since": (check_time, False),
        "message": (_title, True),
        "detail": (_detail, False),
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")

    @property
    def key(self) -> tuple[str, str, str]:
        """``(source, subject or "", kind)``: which alarm a raise or clear is about."""
        return (self.source, self.subject or "", self.kind)

    @classmethod
    def from_json(cls, data: Any, where: str) -> Alarm:
        """The alarm of an ``av.alarm`` body; a body without ``source`` is one
        of the shapes before protocol 2 and is mapped (:meth:`from_legacy`).

        Raises:
            WireError: not an object, or a field missing or invalid (names it).
        """
        if isinstance(data, dict) and "source" not in data:
            return cls.from_legacy(data, where)
        alarm: Alarm = super(Alarm, cls).from_json(data, where)
        return alarm

    @classmethod
    def from_legacy(cls, data: Any, where: str, *, source: str | None = None) -> Alarm:
        """Map an alarm body of an agent before protocol 2, or an archived one.

        The four old shapes (microphone ``{kind, state, hearing_time, channel,
        role}``, recorder ``{kind, active, severity, hearing_frame, error?, …}``,
        hearing interruption ``{kind, active, severity, time, error?}``, camera
        ``{type: alarm|state, camera, kind|state, active, time, since}``) are
        read leniently: the fields above are checked and mapped, any other key
        is dropped. ``source`` defaults by ``kind`` (:data:`_LEGACY_SOURCES`).

        Raises:
            WireError: not a bounded object, or a mapped field invalid (names it).
        """
        if not isinstance(data, dict):
            raise WireError(f"{where} must be an object")
        check_json(where, data)
        camera = data.get("camera")
        if camera is not None or data.get("type") in ("alarm", "state"):
            source = "camera"
        if data.get("type") == "state":  # a camera's online/offline change
            kind = "offline"
            active = data.get("state") == "offline"
        elif data.get("kind") is None:
            raise WireError(f"{where}.kind is missing")
        else:
            kind = _alarm_kind(f"{where}.kind", data["kind"])
            state = data.get("state")
            if state is not None:
                active = parse_code(f"{where}.state", state, frozenset({"raised", "cleared"})) == (
                    "raised"
                )
            else:
                active = _flag(f"{where}.active", data.get("active", True))
        source = source or _LEGACY_SOURCES.get(kind, "agent")
        severity = data.get("severity")
        if camera is not None:
            subject: str | None = _camera(f"{where}.camera", camera)
        elif data.get("channel") is not None:
            subject = str(_channel(f"{where}.channel", data["channel"]))
        else:
            subject = None
        time = data.get("hearing_time", data.get("time"))
        error = data.get("error") or data.get("reason")
        return cls(
            kind=kind,
            active=active,
            severity=_LEGACY_SEVERITIES.get(kind, "warning")
            if severity is None
            else _severity(f"{where}.severity", severity),
            source=source,
            subject=subject,
            role=_optional(check_name, f"{where}.role", data.get("role")),
            hearing_id=_optional(check_hearing_id, f"{where}.hearing_id", data.get("hearing_id")),
            time=_optional(check_time, f"{where}.time", time),
            since=_optional(check_time, f"{where}.since", data.get("since")),
            message=_title(f"{where}.message", data.get("message") or kind),
            detail=_optional(_detail, f"{where}.error", error or None),
        )


AvAlarm = Alarm
"""The ``av.alarm`` body's former name."""

_LEGACY_SOURCES: Final[Mapping[str, str]] = {
    "dead_mic": "microphone",
    "clipping": "microphone",
    "all_silent": "microphone",
    "disk_low": "recorder",
    "writer_behind": "recorder",
    "writer_failed": "recorder",
    "hearing_interrupted": "hearing",
    "transcription_failed": "transcription",
    "hub_untrusted": "hub_link",
}
"""The source of an alarm kind of the shapes before protocol 2 (default ``agent``)."""
_LEGACY_SEVERITIES: Final[Mapping[str, str]] = {
    "dead_mic": "critical",
    "all_silent": "critical",
    "hearing_interrupted": "critical",
    "hub_untrusted": "critical",
    "no_frames": "critical",
    "recording_stalled": "critical",
    "offline": "critical",
}
"""The severity of an alarm kind whose old shape carried none (default ``warning``)."""


def alarm_of(kind: str, body: Any) -> Alarm | None:
    """The alarm an archived event carries, in the one shape, or None.

    For the hub's readers: an ``av.alarm`` body of either protocol, and a
    ``camera`` body of an agent before protocol 2 that reported a camera alarm
    or an online/offline change (today cameras raise ``av.alarm``); a camera
    gap and every other kind carry none.

    Raises:
        WireError: the body is not a valid alarm (names the field).
    """
    if kind == "av.alarm":
        return Alarm.from_json(body, "event.body")
    if kind == "camera" and isinstance(body, dict) and body.get("type") in ("alarm", "state"):
        return Alarm.from_legacy(body, "event.body", source="camera")
    return None


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


# -- the five-sync ledger (issue 13): every rule, action, confirmation, incident --

FIVE_SYNC_PARTS: Final = (
    "recording",
    "transcript_display",
    "evidence_display",
    "video",
    "data_upload",
)
"""The five synchronisations (五同步), in the order the compliance report shows
them: 法庭同步录音录像, 笔录同步输出展示, 证据同步展示质证, 视频同步摄录播放,
数据同步载入服务器."""
ACTION_OUTCOMES: Final = frozenset({"confirmed", "unconfirmed", "unconfirmable", "failed"})
"""How a device action ended: its expected state seen in time (``confirmed``),
the device answered but the state did not follow in time (``unconfirmed``),
the protocol has no replies (``unconfirmable``: Pelco-D), or an error."""
FAILURE_POLICIES: Final = frozenset({"retry", "alarm", "incident", "ignore"})
"""What a rule does when an action is not confirmed (see ``courtroom_agent.rules``)."""
INCIDENT_STATES: Final = frozenset({"open", "explained", "signed"})
"""An incident is ``open`` until explained, then signed off by the presiding judge."""
MAX_ARGS: Final = 8
MAX_SCREENS: Final = 64


def _part(where: str, value: Any) -> str:
    return parse_code(where, value, frozenset(FIVE_SYNC_PARTS))


def _ms(where: str, value: Any) -> float:
    return check_number(where, value, 0.0, 24 * 3600 * 1000.0)


def _count(where: str, value: Any) -> int:
    return check_integer(where, value, 0, MAX_SEQ)


def _args(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_ARGS:
        raise WireError(f"{where} must be a list of at most {MAX_ARGS} strings")
    return tuple(check_name(f"{where}[{i}]", v) for i, v in enumerate(value))


_WHEN: dict[str, tuple[_Check, bool]] = {
    "hearing_id": (check_hearing_id, False),
    "time": (check_time, True),
    "at": (_iso, True),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleFired(_Json):
    """``rule.fired``: a rule's trigger happened; its actions follow as ``device.action``."""

    rule: str
    trigger: str
    """The event kind that fired it (``hearing.opened``, ``evidence.presented`` …)."""
    time: float
    """Hearing-clock seconds (0 while idle)."""
    at: str
    actions: int
    hearing_id: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "rule": (check_name, True),
        "trigger": (check_name, True),
        "actions": (_count, True),
        **_WHEN,
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceAction(_Json):
    """``device.action``: one rule action on a device, its expectation and outcome.

    ``device_ms`` is the device's own time (command sent → its reply),
    ``confirm_ms`` the whole time until the expected state was seen; the
    difference is this agent's overhead. ``part`` names the synchronisation the
    action serves, ``subject`` what it was for (an exhibit id, a seat).
    """

    rule: str
    trigger: str
    device: str
    verb: str
    outcome: str
    policy: str
    within_ms: float
    time: float
    at: str
    args: tuple[str, ...] = ()
    part: str | None = None
    subject: str | None = None
    expect: str = ""
    device_ms: float | None = None
    confirm_ms: float | None = None
    attempts: int = 1
    message: str = ""
    hearing_id: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "rule": (check_name, True),
        "trigger": (check_name, True),
        "device": (check_name, True),
        "verb": (check_name, True),
        "outcome": (lambda w, v: parse_code(w, v, ACTION_OUTCOMES), True),
        "policy": (lambda w, v: parse_code(w, v, FAILURE_POLICIES), True),
        "within_ms": (_ms, True),
        "args": (_args, False),
        "part": (_part, False),
        "subject": (check_name, False),
        "expect": (_title, False),
        "device_ms": (_ms, False),
        "confirm_ms": (_ms, False),
        "attempts": (lambda w, v: check_integer(w, v, 0, 100), False),
        "message": (_title, False),
        **_WHEN,
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")

    @property
    def ok(self) -> bool:
        """Confirmed, or sent to a device that cannot confirm anything."""
        return self.outcome in ("confirmed", "unconfirmable")


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident(_Json):
    """``incident``: an equipment failure or unexplained gap, and its paperwork.

    The agent raises one (``state`` ``open``); the SPC rule wants a written
    explanation (``explained``, by the clerk) signed off by the presiding judge
    (``signed``): those two are recorded by the hub under the same ``id``.
    """

    id: str
    kind: str
    """``recorder_failed``, ``display_failed``, ``matrix_failed``, ``recording_gap`` …"""
    state: str
    part: str
    source: str
    """What failed: a device name, ``seat:N``, ``camera:ID``."""
    message: str
    time: float
    at: str
    detail: str | None = None
    explanation: str | None = None
    by: str | None = None
    hearing_id: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "id": (lambda w, v: check_id(v, w), True),
        "kind": (check_name, True),
        "state": (lambda w, v: parse_code(w, v, INCIDENT_STATES), True),
        "part": (_part, True),
        "source": (check_name, True),
        "message": (_title, True),
        "detail": (_detail, False),
        "explanation": (lambda w, v: check_string(w, v, 4000), False),
        "by": (check_name, False),
        **_WHEN,
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidencePresented(_Json):
    """``evidence.presented``: 举证 — an exhibit shown to the court.

    ``source`` is ``file`` (an image or a PDF page of the hearing's evidence
    folder, shown by the display pages) or ``live`` (a matrix input such as the
    document camera); ``input`` is the matrix input carrying it.
    """

    exhibit: str
    label: str
    source: str
    time: float
    at: str
    by: str = ""
    input: str | None = None
    file: str | None = None
    page: int | None = None
    zoom: float | None = None
    hearing_id: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "exhibit": (check_name, True),
        "label": (_title, True),
        "source": (lambda w, v: parse_code(w, v, frozenset({"file", "live"})), True),
        "by": (check_name, False),
        "input": (check_name, False),
        "file": (_title, False),
        "page": (lambda w, v: check_integer(w, v, 1, 100_000), False),
        "zoom": (lambda w, v: check_number(w, v, 0.1, 10.0), False),
        **_WHEN,
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceWithdrawn(_Json):
    """``evidence.withdrawn``: the exhibit is taken off the screens; routing restored."""

    exhibit: str
    time: float
    at: str
    by: str = ""
    hearing_id: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "exhibit": (check_name, True),
        "by": (check_name, False),
        **_WHEN,
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenShown(_Json):
    """One screen of the evidence-display log: confirmed or failed, and how fast."""

    screen: str
    outcome: str
    device: str | None = None
    ms: float | None = None
    message: str = ""

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "screen": (check_name, True),
        "outcome": (lambda w, v: parse_code(w, v, ACTION_OUTCOMES), True),
        "device": (check_name, False),
        "ms": (_ms, False),
        "message": (_title, False),
    }

    def __post_init__(self) -> None:
        _validate(self, "screen")


def _screens(where: str, value: Any) -> tuple[ScreenShown, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_SCREENS:
        raise WireError(f"{where} must be a list of at most {MAX_SCREENS} screens")
    return tuple(_nested(ScreenShown)(f"{where}[{i}]", item) for i, item in enumerate(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceLog(_Json):
    """``evidence.log``: the evidence-display log entry of one presentation.

    Sent once the screens have confirmed or failed (``until`` absent), and
    again when it is withdrawn (``until`` set): which exhibit, from which
    source, on which screens, from when to when.
    """

    exhibit: str
    label: str
    source: str
    since: float
    time: float
    at: str
    screens: tuple[ScreenShown, ...] = ()
    until: float | None = None
    input: str | None = None
    hearing_id: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "exhibit": (check_name, True),
        "label": (_title, True),
        "source": (lambda w, v: parse_code(w, v, frozenset({"file", "live"})), True),
        "since": (check_time, True),
        "screens": (_screens, False),
        "until": (check_time, False),
        "input": (check_name, False),
        **_WHEN,
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakerChanged(_Json):
    """``speaker.changed``: a seat has carried the speech for ``held_s``; the camera follows."""

    channel: int
    role: str
    time: float
    at: str
    held_s: float = 0.0
    previous: int | None = None
    hearing_id: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "channel": (_channel, True),
        "role": (check_name, True),
        "held_s": (check_time, False),
        "previous": (_channel, False),
        **_WHEN,
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class DisplayReport(_Json):
    """``display.report``: what a courtroom display page showed, and how fast.

    ``latency_*_ms``: a final reaching the agent → the page saying it drew it.
    """

    screen: str
    pages: int
    shown: int
    time: float
    at: str
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_max_ms: float | None = None
    exhibit: str | None = None
    state: str | None = None
    hearing_id: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "screen": (check_name, True),
        "pages": (_count, True),
        "shown": (_count, True),
        "latency_p50_ms": (_ms, False),
        "latency_p95_ms": (_ms, False),
        "latency_max_ms": (_ms, False),
        "exhibit": (check_name, False),
        "state": (check_name, False),
        **_WHEN,
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceState(_Json):
    """``source.state``: one recorded source started or stopped recording.

    ``source`` is ``seat:N`` (a microphone's FLAC), ``camera:ID`` or
    ``recorder:NAME`` (a hardware recorder). ``reason`` is the interruption
    code of a lawful stop (``recess`` …), ``closed`` at 闭庭, or absent for a
    stop nobody ordered (an incident then says why).
    """

    source: str
    recording: bool
    time: float
    at: str
    reason: str | None = None
    message: str = ""
    hearing_id: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "source": (check_name, True),
        "recording": (_flag, True),
        "reason": (check_name, False),
        "message": (_title, False),
        **_WHEN,
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadReport(_Json):
    """``upload.report``: 数据同步 — events the hub has not acknowledged, and the oldest's age."""

    unacked: int
    lag_s: float
    time: float
    at: str
    connected: bool = True
    hearing_id: str | None = None

    SPEC: ClassVar[dict[str, tuple[_Check, bool]]] = {
        "unacked": (_count, True),
        "lag_s": (check_time, True),
        "connected": (_flag, False),
        **_WHEN,
    }

    def __post_init__(self) -> None:
        _validate(self, "event.body")


EventBody = (
    HearingOpened
    | HearingClosed
    | TranscriptFinal
    | StatusReport
    | DeviceReport
    | Alarm
    | CameraReport
    | HearingRecessed
    | HearingResumed
    | CommandReport
    | RuleFired
    | DeviceAction
    | Incident
    | EvidencePresented
    | EvidenceWithdrawn
    | EvidenceLog
    | SpeakerChanged
    | DisplayReport
    | SourceState
    | UploadReport
)

BODY_TYPES: Final[Mapping[str, type[EventBody]]] = {
    "hearing.opened": HearingOpened,
    "hearing.closed": HearingClosed,
    "transcript.final": TranscriptFinal,
    "status": StatusReport,
    "device": DeviceReport,
    "av.alarm": Alarm,
    "camera": CameraReport,
    "hearing.recessed": HearingRecessed,
    "hearing.resumed": HearingResumed,
    "command": CommandReport,
    "rule.fired": RuleFired,
    "device.action": DeviceAction,
    "incident": Incident,
    "evidence.presented": EvidencePresented,
    "evidence.withdrawn": EvidenceWithdrawn,
    "evidence.log": EvidenceLog,
    "speaker.changed": SpeakerChanged,
    "display.report": DisplayReport,
    "source.state": SourceState,
    "upload.report": UploadReport,
}
"""Event kind → the class of its body."""

EVENT_KINDS: Final = frozenset(BODY_TYPES)


def parse_body(kind: str, data: Any, where: str) -> EventBody:
    """The body of an event of ``kind`` (one of :data:`EVENT_KINDS`), checked.

    Raises:
        WireError: the body does not fit its kind; names the field.
    """
    cls = BODY_TYPES[kind]
    reader = getattr(cls, "from_json", None)
    if reader is not None:  # a _Json body: its own reading (Alarm maps older shapes)
        body: EventBody = reader(data, where)
        return body
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
