"""What the hub knows of each courtroom's hearing state (空闲 / 庭审中 / 休庭中).

The agent runs the hearing; the hub only follows it, from three sources, the
newest winning:

- archived events (:data:`EVENT_EFFECTS`, one entry per kind)::

      hearing.opened    → open, or recess (+ reason) when ``body.state`` is ``recess``
      hearing.recessed  → recess + ``body.reason``
      hearing.resumed   → open
      hearing.closed    → idle (only for the hearing followed, or none followed)

- a ``status`` report carrying ``"hearing_state": {"state", "reason"?, "hearing_id"?}``;
- a command's :class:`courtroom_core.wire.Result` ``state`` (same shape).

A value that does not fit raises :class:`courtroom_core.wire.WireError`
naming the field; the caller logs it and keeps the state it had. At startup
the state is read back from each courtroom's newest lifecycle event
(:func:`states_from_archive`), so a restarted hub shows a hearing in recess
before the agent's next report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from courtroom_core.hearing import HearingState, InterruptionReason
from courtroom_core.wire import (
    EventBody,
    HearingClosed,
    HearingOpened,
    HearingRecessed,
    HearingResumed,
    StatusReport,
    WireError,
)
from courtroom_core.wire_bodies import REASON_CODES, check_hearing_id, parse_body

__all__ = [
    "EVENT_EFFECTS",
    "LIFECYCLE_KINDS",
    "HearingStatus",
    "apply_event",
    "states_from_archive",
]


@dataclass(frozen=True, slots=True)
class HearingStatus:
    """A courtroom's hearing state; ``reason`` only in a recess.

    Raises:
        WireError: a reason outside a recess.
    """

    state: HearingState = HearingState.IDLE
    reason: InterruptionReason | None = None
    hearing_id: str | None = None

    def __post_init__(self) -> None:
        if self.reason is not None and self.state is not HearingState.RECESS:
            raise WireError(f"hearing_state.reason is only given in a recess, not {self.state}")

    def to_json(self) -> dict[str, Any]:
        """``{"state", "reason", "hearing_id"}`` (null when absent), for pages and the API."""
        return {
            "state": self.state.value,
            "reason": None if self.reason is None else self.reason.value,
            "hearing_id": self.hearing_id,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> HearingStatus:
        """Parse ``{"state", "reason"?, "hearing_id"?}`` (a status report's or a result's).

        The agent also sends ``time``, ``title`` and ``case`` (bounded JSON,
        checked by the wire); the hub follows only the state, so they are
        not kept here.

        Raises:
            WireError: not an object, an unknown key, or a value out of its
                range; names the field under ``where``.
        """
        if not isinstance(data, dict):
            raise WireError(f"{where} must be an object")
        extra = set(data) - {"state", "reason", "hearing_id", "time", "title", "case"}
        if extra:
            raise WireError(f"{where}: unexpected fields {sorted(extra)[:8]}")
        try:
            state = HearingState(str(data.get("state")))
        except ValueError:
            choices = ", ".join(s.value for s in HearingState)
            raise WireError(f"{where}.state must be one of {choices}") from None
        reason = data.get("reason")
        if reason is not None and reason not in REASON_CODES:
            raise WireError(f"{where}.reason must be one of {', '.join(sorted(REASON_CODES))}")
        hearing_id = data.get("hearing_id")
        if hearing_id is not None:
            check_hearing_id(f"{where}.hearing_id", hearing_id)
        return cls(
            state=state,
            reason=None if reason is None else InterruptionReason(reason),
            hearing_id=None if state is HearingState.IDLE else hearing_id,
        )


def _reason(code: str | None) -> InterruptionReason | None:
    return None if code is None else InterruptionReason(code)


def _opened(body: Any, _now: HearingStatus) -> HearingStatus:
    assert isinstance(body, HearingOpened)
    if body.state == HearingState.RECESS.value:
        return HearingStatus(HearingState.RECESS, _reason(body.reason), body.hearing_id)
    return HearingStatus(HearingState.OPEN, None, body.hearing_id)


def _recessed(body: Any, _now: HearingStatus) -> HearingStatus:
    assert isinstance(body, HearingRecessed)
    return HearingStatus(HearingState.RECESS, InterruptionReason(body.reason), body.hearing_id)


def _resumed(body: Any, _now: HearingStatus) -> HearingStatus:
    assert isinstance(body, HearingResumed)
    return HearingStatus(HearingState.OPEN, None, body.hearing_id)


def _closed(body: Any, now: HearingStatus) -> HearingStatus | None:
    assert isinstance(body, HearingClosed)
    if now.hearing_id not in (None, body.hearing_id):
        return None  # an older hearing's 闭庭 (a resent spool): not the one in session
    return HearingStatus()


def _status(body: Any, _now: HearingStatus) -> HearingStatus | None:
    assert isinstance(body, StatusReport)
    if "hearing_state" not in body.extra:
        return None
    return HearingStatus.from_json(body.extra["hearing_state"], "event.body.hearing_state")


_Effect = Callable[[EventBody, HearingStatus], HearingStatus | None]

EVENT_EFFECTS: Final[Mapping[type, _Effect]] = {
    HearingOpened: _opened,
    HearingRecessed: _recessed,
    HearingResumed: _resumed,
    HearingClosed: _closed,
    StatusReport: _status,
}
"""Event body class → its effect on the state (None: unchanged)."""

LIFECYCLE_KINDS: Final = ("hearing.opened", "hearing.recessed", "hearing.resumed", "hearing.closed")
"""The archived kinds the state is read back from at startup."""


def apply_event(body: EventBody, now: HearingStatus) -> HearingStatus | None:
    """The state after an event with ``body``; None when the event does not change it.

    Raises:
        WireError: a status report's ``hearing_state`` does not fit (names the field).
    """
    effect = EVENT_EFFECTS.get(type(body))
    return None if effect is None else effect(body, now)


def states_from_archive(
    newest: Callable[[str, str], dict[str, Any] | None], courtrooms: Iterable[str]
) -> dict[str, HearingStatus]:
    """Each courtroom's state after its newest lifecycle event.

    Args:
        newest: ``(courtroom, kind)`` → that kind's newest stored event
            (``{"seq", "kind", "body"}``) or None.
        courtrooms: the courtroom ids.

    A stored body that no longer parses is skipped (it was quarantined).
    """
    states: dict[str, HearingStatus] = {}
    for courtroom in courtrooms:
        found = [e for kind in LIFECYCLE_KINDS if (e := newest(courtroom, kind)) is not None]
        if not found:
            continue
        event = max(found, key=lambda e: int(e["seq"]))
        try:
            body = parse_body(event["kind"], event["body"], "event.body")
        except WireError:
            continue
        after = apply_event(body, HearingStatus())
        if after is not None:
            states[courtroom] = after
    return states
