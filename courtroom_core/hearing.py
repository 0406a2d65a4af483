"""The hearing lifecycle: states, actions and the transition table.

One table, read by the agent (which runs the hearing), the hub (which shows
it and forwards the clerk's commands) and the pages (through the labels)::

                 open (开庭)
        idle ─────────────────▶ open ◀──────────┐
         ▲                       │  │           │ resume (继续开庭)
         │      close (闭庭)      │  │ recess    │
         ├───────────────────────┘  ▼ (reason)  │
         │                        recess ───────┘
         └──────── close (闭庭) ─────┘

``recess`` takes a reason code: the SPC rule (《关于人民法院庭审录音录像的若干
规定》, 2017) lets a hearing's recording be interrupted only for 休庭
(``recess``), for evidence examined in private within a public hearing
(``closed-evidence``) and for mediation unfit to be recorded (``mediation``).
Any other stop of the recording is an incident.

As in h11's ``_state.py``, a transition is looked up, never decided by nested
ifs; one not in :data:`TRANSITIONS` raises :class:`TransitionRefused`, whose
text names the state and the action.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from courtroom_core.errors import CourtroomError

__all__ = [
    "ACTION_LABELS",
    "REASON_LABELS",
    "STATE_LABELS",
    "TRANSITIONS",
    "HearingAction",
    "HearingState",
    "InterruptionReason",
    "TransitionRefused",
    "next_state",
    "parse_action",
    "parse_reason",
]


class HearingState(StrEnum):
    """Where a courtroom is in its day."""

    IDLE = "idle"
    """No hearing: microphones metered, devices connected, nothing recorded."""
    OPEN = "open"
    """宣布开庭 until 闭庭, outside a recess: recording and transcribing."""
    RECESS = "recess"
    """A lawful interruption: recording, transcript and live output stopped."""


class HearingAction(StrEnum):
    """What the court orders."""

    OPEN = "open"
    RECESS = "recess"
    RESUME = "resume"
    CLOSE = "close"


class InterruptionReason(StrEnum):
    """The reasons the SPC rule allows a hearing's recording to be interrupted."""

    RECESS = "recess"
    CLOSED_EVIDENCE = "closed-evidence"
    MEDIATION = "mediation"


TRANSITIONS: Final[Mapping[tuple[HearingState, HearingAction], HearingState]] = {
    (HearingState.IDLE, HearingAction.OPEN): HearingState.OPEN,
    (HearingState.OPEN, HearingAction.RECESS): HearingState.RECESS,
    (HearingState.RECESS, HearingAction.RESUME): HearingState.OPEN,
    (HearingState.OPEN, HearingAction.CLOSE): HearingState.IDLE,
    (HearingState.RECESS, HearingAction.CLOSE): HearingState.IDLE,
}
"""(state, action) → the state after it; every pair not listed is refused."""

NEEDS_REASON: Final = frozenset({HearingAction.RECESS})
"""Actions that must name an :class:`InterruptionReason`."""

STATE_LABELS: Final[Mapping[HearingState, str]] = {
    HearingState.IDLE: "空闲 · idle",
    HearingState.OPEN: "庭审中 · in session",
    HearingState.RECESS: "休庭中 · in recess",
}
ACTION_LABELS: Final[Mapping[HearingAction, str]] = {
    HearingAction.OPEN: "开庭 · open",
    HearingAction.RECESS: "休庭 · recess",
    HearingAction.RESUME: "继续开庭 · resume",
    HearingAction.CLOSE: "闭庭 · close",
}
REASON_LABELS: Final[Mapping[InterruptionReason, str]] = {
    InterruptionReason.RECESS: "休庭 · recess",
    InterruptionReason.CLOSED_EVIDENCE: "不公开举证质证 · evidence examined in private",
    InterruptionReason.MEDIATION: "调解 · mediation",
}


class TransitionRefused(CourtroomError):
    """An action that the hearing's state does not allow (HTTP 409 at the hub).

    Attributes:
        state: the state the hearing is in.
        action: the action refused.
    """

    def __init__(self, state: HearingState, action: HearingAction, detail: str = "") -> None:
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s is state)
        message = detail or (
            f"cannot {action.value} a hearing that is {state.value} "
            f"({STATE_LABELS[state]} 时不能{ACTION_LABELS[action].split(' ')[0]}); "
            f"allowed: {', '.join(allowed)}"
        )
        super().__init__(message)
        self.state = state
        self.action = action


def next_state(
    state: HearingState, action: HearingAction, reason: InterruptionReason | None = None
) -> HearingState:
    """The state after ``action``.

    Raises:
        TransitionRefused: ``action`` is not allowed in ``state``, a recess
            without a reason, or a reason given to another action.
    """
    after = TRANSITIONS.get((state, action))
    if after is None:
        raise TransitionRefused(state, action)
    if (action in NEEDS_REASON) != (reason is not None):
        detail = (
            f"{action.value} needs a reason: one of "
            f"{', '.join(r.value for r in InterruptionReason)} (休庭须说明理由)"
            if action in NEEDS_REASON
            else f"{action.value} takes no reason"
        )
        raise TransitionRefused(state, action, detail)
    return after


def parse_action(where: str, value: Any) -> HearingAction:
    """``value`` as an action; ValueError naming ``where`` otherwise."""
    try:
        return HearingAction(value)
    except ValueError:
        choices = ", ".join(a.value for a in HearingAction)
        raise ValueError(f"{where} must be one of {choices}") from None


def parse_reason(where: str, value: Any) -> InterruptionReason:
    """``value`` as a reason code; ValueError naming ``where`` otherwise."""
    try:
        return InterruptionReason(value)
    except ValueError:
        choices = ", ".join(r.value for r in InterruptionReason)
        raise ValueError(f"{where} must be one of {choices}") from None


@dataclass(frozen=True, slots=True)
class Transition:
    """One transition as it happened: for the ledger and the status report."""

    action: HearingAction
    before: HearingState
    after: HearingState
    reason: InterruptionReason | None
    ordered_by: str
    at: str
    """UTC, ISO 8601."""
    hearing_time: float
    """Hearing-clock seconds."""
