"""What the courtroom screens should show, without I/O.

:class:`DisplayState` takes the agent's events (the wire's kinds and bodies,
checked by :func:`courtroom_core.wire_bodies.parse_body`) and exhibit orders,
and returns the messages every page must be sent. It keeps the hearing's
state, the recent finals (a ring buffer) and the exhibit on show, so a page
that connects or falls behind gets one :meth:`snapshot` of all of it.

Messages to pages (JSON objects; ``id`` increases by one per message)::

    {"type": "state",    "id", "state": idle|open|recess, "reason"?, "hearing"?}
    {"type": "final",    "id", "role", "text", "start", "end", "channel"}
    {"type": "partial",  "id", "role", "text", "channel"}        (no ack)
    {"type": "exhibit",  "id", "exhibit": {...} | null}
    {"type": "snapshot", "id", "state": {...}, "finals": [...], "exhibit": ...}

A page acknowledges each message but ``partial`` once it rendered it (see
:mod:`.pages`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from courtroom_core.hearing import HearingState
from courtroom_core.wire_bodies import (
    HearingClosed,
    HearingOpened,
    HearingRecessed,
    HearingResumed,
    TranscriptFinal,
    WireError,
    check_name,
    check_text,
    parse_body,
)

from .model import DisplayError, Exhibit, ExhibitError, ExhibitKind

__all__ = ["PARTIAL_KIND", "DisplayState", "Message", "Outgoing"]

PARTIAL_KIND: Final = "transcript.partial"
"""Not a wire event: the agent's live partial ``{"channel", "role", "text"}``."""

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for pages, and which views it concerns.

    ``published_at`` is the clock reading when a final reached ``publish``
    (the start of its display latency); None for other messages.
    """

    message: Message
    audience: str
    """``all``, ``transcript`` (views showing it) or ``exhibits``."""
    published_at: float | None = None


@dataclass(slots=True)
class _Hearing:
    hearing_id: str | None = None
    title: str = ""
    case_number: str = ""
    state: HearingState = HearingState.IDLE
    reason: str | None = None

    def to_json(self) -> Message:
        out: Message = {"state": self.state.value}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.hearing_id is not None:
            out["hearing"] = {
                "id": self.hearing_id,
                "title": self.title,
                "case": self.case_number,
            }
        return out


@dataclass(slots=True)
class DisplayState:
    """The screens' state; every method returns what to send.

    Args:
        recent: how many finals a (re)connecting page is given.
        clock: the monotonic clock that stamps a final's arrival.
    """

    recent: int
    clock: Callable[[], float]
    hearing: _Hearing = field(default_factory=_Hearing)
    finals: deque[tuple[Message, float]] = field(init=False)
    exhibit: Exhibit | None = None
    last_id: int = 0
    ignored: int = 0
    """Events of a kind the screens do not show, or for another hearing."""

    def __post_init__(self) -> None:
        self.finals = deque(maxlen=self.recent)

    # -- input -------------------------------------------------------------

    def apply(self, kind: str, body: Mapping[str, Any]) -> list[Outgoing]:
        """Take one agent event; return the messages for pages.

        Kinds the screens do not show (status, device …) are counted and ignored.

        Raises:
            DisplayError: the body does not fit its kind; names the field.
        """
        stamp = self.clock()
        handler = _HANDLERS.get(kind)
        if handler is None:
            self.ignored += 1
            return []
        try:
            return handler(self, body, stamp)
        except WireError as exc:
            raise DisplayError(f"{kind}: {exc}") from exc

    def present(self, exhibit: Exhibit) -> list[Outgoing]:
        self.exhibit = exhibit
        return [self._exhibit_message()]

    def update(self, *, page: int | None, zoom: float | None) -> list[Outgoing]:
        """Follow the presenter's page and zoom.

        Raises:
            ExhibitError: no exhibit is shown, or the value is out of range.
        """
        if self.exhibit is None:
            raise ExhibitError("no exhibit is presented")
        changes: dict[str, Any] = {}
        if page is not None:
            if self.exhibit.kind is not ExhibitKind.PDF:
                raise ExhibitError("exhibit.page is only for a PDF exhibit")
            changes["page"] = page
        if zoom is not None:
            changes["zoom"] = zoom
        updated = replace(self.exhibit, **changes)  # re-checks every field
        if updated == self.exhibit:
            return []
        self.exhibit = updated
        return [self._exhibit_message()]

    def withdraw(self, exhibit_id: str) -> list[Outgoing]:
        """Withdraw the exhibit; a stale id (another exhibit is on show) changes nothing."""
        if self.exhibit is None or self.exhibit.id != exhibit_id:
            return []
        self.exhibit = None
        return [self._exhibit_message()]

    # -- output ------------------------------------------------------------

    def snapshot(self, *, transcript: bool, exhibits: bool) -> Message:
        """Everything a page of a view needs at once (a new id)."""
        return {
            "type": "snapshot",
            "id": self._next(),
            "state": self.hearing.to_json(),
            "finals": [message for message, _ in self.finals] if transcript else [],
            "exhibit": self.exhibit.to_json() if exhibits and self.exhibit else None,
        }

    def published_at(self, final_id: int) -> float | None:
        for message, stamp in self.finals:
            if message["id"] == final_id:
                return stamp
        return None

    def _next(self) -> int:
        self.last_id += 1
        return self.last_id

    def _state_message(self) -> Outgoing:
        return Outgoing({"type": "state", "id": self._next(), **self.hearing.to_json()}, "all")

    def _exhibit_message(self) -> Outgoing:
        exhibit = None if self.exhibit is None else self.exhibit.to_json()
        return Outgoing({"type": "exhibit", "id": self._next(), "exhibit": exhibit}, "exhibits")

    # -- one handler per kind ------------------------------------------------

    def _opened(self, body: Mapping[str, Any], _stamp: float) -> list[Outgoing]:
        opened = parse_body("hearing.opened", body, "body")
        assert isinstance(opened, HearingOpened)
        continuing = opened.hearing_id == self.hearing.hearing_id
        recess = opened.state == HearingState.RECESS.value
        self.hearing = _Hearing(
            hearing_id=opened.hearing_id,
            title=opened.title or (opened.case.title if opened.case else ""),
            case_number=opened.case.number if opened.case else "",
            state=HearingState.RECESS if recess else HearingState.OPEN,
            reason=opened.reason if recess else None,
        )
        out = [self._state_message()]
        if not continuing:  # a new hearing starts with a clean screen
            self.finals.clear()
            if self.exhibit is not None:
                self.exhibit = None
                out.append(self._exhibit_message())
        return out

    def _recessed(self, body: Mapping[str, Any], _stamp: float) -> list[Outgoing]:
        recessed = parse_body("hearing.recessed", body, "body")
        assert isinstance(recessed, HearingRecessed)
        if not self._current(recessed.hearing_id):
            return []
        self.hearing.state = HearingState.RECESS
        self.hearing.reason = recessed.reason
        return [self._state_message()]

    def _resumed(self, body: Mapping[str, Any], _stamp: float) -> list[Outgoing]:
        resumed = parse_body("hearing.resumed", body, "body")
        assert isinstance(resumed, HearingResumed)
        if not self._current(resumed.hearing_id):
            return []
        self.hearing.state = HearingState.OPEN
        self.hearing.reason = None
        return [self._state_message()]

    def _closed(self, body: Mapping[str, Any], _stamp: float) -> list[Outgoing]:
        closed = parse_body("hearing.closed", body, "body")
        assert isinstance(closed, HearingClosed)
        if not self._current(closed.hearing_id):
            return []
        self.hearing = _Hearing()
        self.finals.clear()  # 闭庭: the screens go blank until the next hearing
        out = [self._state_message()]
        if self.exhibit is not None:
            self.exhibit = None
            out.append(self._exhibit_message())
        return out

    def _final(self, body: Mapping[str, Any], stamp: float) -> list[Outgoing]:
        final = parse_body("transcript.final", body, "body")
        assert isinstance(final, TranscriptFinal)
        if not self._current(final.hearing_id):
            return []
        segment = final.segment
        message: Message = {
            "type": "final",
            "id": self._next(),
            "role": segment.role,
            "text": segment.text,
            "start": segment.start,
            "end": segment.end,
            "channel": segment.channel,
        }
        self.finals.append((message, stamp))
        return [Outgoing(message, "transcript", published_at=stamp)]

    def _partial(self, body: Mapping[str, Any], _stamp: float) -> list[Outgoing]:
        if not isinstance(body, Mapping):
            raise WireError("body must be an object")
        channel = body.get("channel")
        if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel <= 1023:
            raise WireError("body.channel must be an integer within 0..1023")
        role = check_name("body.role", body.get("role", ""))
        text = check_text("body.text", body.get("text", ""))
        if self.hearing.state is not HearingState.OPEN:
            return []
        message: Message = {
            "type": "partial",
            "id": self._next(),
            "role": role,
            "text": text,
            "channel": channel,
        }
        return [Outgoing(message, "transcript")]

    def _current(self, hearing_id: str) -> bool:
        if hearing_id != self.hearing.hearing_id:
            self.ignored += 1
            return False
        return True


_Handler = Callable[[DisplayState, Mapping[str, Any], float], list[Outgoing]]

_HANDLERS: Final[Mapping[str, _Handler]] = {
    "hearing.opened": DisplayState._opened,
    "hearing.recessed": DisplayState._recessed,
    "hearing.resumed": DisplayState._resumed,
    "hearing.closed": DisplayState._closed,
    "transcript.final": DisplayState._final,
    PARTIAL_KIND: DisplayState._partial,
}
"""Event kind → how it changes the screens; other kinds are ignored."""
