"""The agent's own alarms, in the wire's one shape (:class:`courtroom_core.wire.Alarm`).

Microphone, recorder and camera alarms are built by their watchers in ``av``
(``to_alarm``); the alarms about the agent itself are built here, from one
table: kind → source, severity, message raised, message cleared. Messages
are Chinese first, then English; ``detail`` carries the error.

Publish ``agent_alarm(...).to_json()`` as an ``av.alarm`` event.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from courtroom_core.wire import Alarm

__all__ = ["AgentAlarm", "agent_alarm", "error_detail"]


class AgentAlarm(enum.StrEnum):
    HEARING_INTERRUPTED = "hearing_interrupted"
    """The agent's run failed: the hearing is not being recorded (cleared when
    a restarted agent continues it)."""
    TRANSCRIPTION_FAILED = "transcription_failed"
    """The recognizer failed; the recording goes on (cleared once it runs again)."""
    HUB_UNTRUSTED = "hub_untrusted"
    """The hub claimed events never sent; the spool is kept."""
    DISPLAY_UNAVAILABLE = "display_unavailable"
    """The courtroom display pages cannot be served (their port is taken); the
    hearing and its recording go on without them."""


@dataclass(frozen=True, slots=True)
class _Spec:
    source: str
    severity: str
    raised: str
    cleared: str


_SPECS: Final[dict[AgentAlarm, _Spec]] = {
    AgentAlarm.HEARING_INTERRUPTED: _Spec(
        "hearing", "critical", "庭审录制中断 · hearing recording interrupted",
        "庭审录制已恢复 · hearing recording resumed",
    ),
    AgentAlarm.TRANSCRIPTION_FAILED: _Spec(
        "transcription", "warning",
        "语音转写失败，录音不受影响 · transcription failed, the recording goes on",
        "语音转写已恢复 · transcription running again",
    ),
    AgentAlarm.HUB_UNTRUSTED: _Spec(
        "hub_link", "critical", "集控端不可信 · hub not trusted",
        "集控端恢复可信 · hub trusted again",
    ),
    AgentAlarm.DISPLAY_UNAVAILABLE: _Spec(
        "agent", "warning", "法庭显示屏无法提供，录音录像不受影响 · display pages unavailable, "
        "the recording goes on", "法庭显示屏已恢复 · display pages served again",
    ),
}  # fmt: skip

_MAX_DETAIL: Final = 500


def error_detail(error: BaseException | str | None) -> str | None:
    """``Type: text`` of an exception (or the text given), cut to the wire's bound."""
    if error is None:
        return None
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text[:_MAX_DETAIL] or None


def agent_alarm(
    kind: AgentAlarm | str,
    *,
    active: bool,
    hearing_id: str | None = None,
    time: float | None = None,
    error: BaseException | str | None = None,
) -> Alarm:
    """The alarm ``kind`` raised (``active``) or cleared, ready to publish.

    Args:
        kind: one of :class:`AgentAlarm`.
        active: True to raise, False to clear.
        hearing_id: the hearing it concerns; None for an agent-level alarm
            (no hearing open).
        time: hearing-clock seconds when it happened (rounded to 1 ms).
        error: the exception or text that caused it (``detail``, at most 500
            characters).

    Raises:
        ValueError: ``kind`` is not an :class:`AgentAlarm`.
        WireError: ``hearing_id`` or ``time`` is out of the wire's bounds.
    """
    spec = _SPECS[AgentAlarm(kind)]
    return Alarm(
        kind=AgentAlarm(kind).value,
        active=active,
        severity=spec.severity,
        source=spec.source,
        hearing_id=hearing_id or None,
        time=None if time is None else round(time, 3),
        message=spec.raised if active else spec.cleared,
        detail=error_detail(error),
    )
