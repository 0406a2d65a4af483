"""Microphone alarms from level reports: dead microphone, clipping, all silent.

:class:`MicrophoneWatch` is pure and driven by the hearing clock: it is fed
the :class:`~av.levels.LevelReport` objects of a :class:`~av.levels.LevelMeter`
and advances by each report's ``duration`` (audio actually heard), never by
wall time, so tests replay hours of courtroom in microseconds.

The three alarms, each raised once and cleared once:

``dead_mic``
    A channel stays below ``silent_below_dbfs`` while *other* channels carry
    speech (RMS at or above ``speech_above_dbfs``), for ``dead_after_s``
    seconds of such speech, during a session. Silence with nobody speaking
    (a recess, a judge reading) is no evidence against a microphone, so a
    quiet courtroom never alarms every seat. A live microphone hears its
    neighbours' speech as crosstalk 20–30 dB down; a dead one hears nothing.
``clipping``
    A channel clipped in reports adding up to ``clip_min_s`` within the last
    ``clip_window_s`` seconds: its gain is too high and the recording of that
    seat is distorted. Cleared after ``clip_window_s`` free of clipping.
    Raised whether or not a session is open (a sound check before the
    hearing should see it).
``all_silent``
    Every channel below ``silent_below_dbfs`` for ``all_silent_after_s``
    seconds of a session: the recording may be capturing nothing (muted
    mixer, unplugged interface, wrong input).

A channel *comes back* (ending its silence and clearing ``dead_mic`` and
``all_silent``) only after ``heard_after_s`` of continuous audio above the
silence level, so a click on a dead line does not reset anything. Alarms
still raised when a session closes stay raised until their condition clears.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from av.levels import FLOOR_DBFS, LevelReport
from courtroom_core.wire_bodies import Alarm

__all__ = ["AlarmKind", "AlarmState", "MicrophoneAlarm", "MicrophoneWatch", "WatchConfig"]

# Durations are sums of report durations (0.1 s each); compare with a tolerance.
_EPS = 1e-6


class AlarmKind(StrEnum):
    DEAD_MIC = "dead_mic"
    CLIPPING = "clipping"
    ALL_SILENT = "all_silent"


class AlarmState(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"


_SEVERITY = {
    AlarmKind.DEAD_MIC: "critical",  # a seat's words are not being recorded
    AlarmKind.CLIPPING: "warning",  # recorded, distorted
    AlarmKind.ALL_SILENT: "critical",  # the recording may be capturing nothing
}


@dataclass(frozen=True, slots=True)
class MicrophoneAlarm:
    """An alarm raised or cleared, for the hub, the log and the clerk.

    Attributes:
        kind: which condition.
        state: raised or cleared.
        hearing_time: hearing-clock seconds of the report that decided it.
        channel: the channel, or None for ``all_silent``.
        role: the channel's role, or None for ``all_silent``.
        message: Chinese first, then English, e.g.
            ``"原告麦克风无信号 · 原告 microphone silent for 60 s while others spoke"``.
    """

    kind: AlarmKind
    state: AlarmState
    hearing_time: float
    channel: int | None
    role: str | None
    message: str

    def __post_init__(self) -> None:
        per_channel = self.kind is not AlarmKind.ALL_SILENT
        if per_channel != (self.channel is not None) or per_channel != (self.role is not None):
            raise ValueError(f"a {self.kind} alarm {'needs' if per_channel else 'has no'} channel")
        if self.channel is not None and self.channel < 0:
            raise ValueError("channel must be >= 0")

    @property
    def raised(self) -> bool:
        return self.state is AlarmState.RAISED

    def to_alarm(self, hearing_id: str | None = None) -> Alarm:
        """This alarm in the wire's one shape (:class:`courtroom_core.wire_bodies.Alarm`):
        source ``microphone``, subject the channel number (absent for ``all_silent``).

        Raises:
            WireError: ``hearing_id`` or the role is out of the wire's bounds.
        """
        return Alarm(
            kind=self.kind.value,
            active=self.raised,
            severity=_SEVERITY[self.kind],
            source="microphone",
            subject=None if self.channel is None else str(self.channel),
            role=self.role,
            hearing_id=hearing_id,
            time=round(self.hearing_time, 3),
            message=self.message,
        )

    def to_json(self) -> dict[str, Any]:
        """The ``av.alarm`` body (:meth:`to_alarm` without a hearing id)."""
        return self.to_alarm().to_json()


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """Thresholds of :class:`MicrophoneWatch` (levels in dBFS RMS, times in seconds of audio).

    Attributes:
        silent_below_dbfs: a channel below this is silent.
        speech_above_dbfs: a channel at or above this carries speech.
        heard_after_s: continuous audio above the silence level that counts
            as a channel coming back.
        dead_after_s: others' speech a silent channel must sit through before
            ``dead_mic`` is raised.
        all_silent_after_s: silence on every channel, during a session,
            before ``all_silent`` is raised.
        clip_window_s: the sliding window in which clipping is summed.
        clip_min_s: clipping reports within the window that raise ``clipping``.

    Raises:
        ValueError: a value is out of range, or ``speech_above_dbfs`` is not
            above ``silent_below_dbfs``, or ``clip_min_s`` exceeds the window.
    """

    silent_below_dbfs: float = -60.0
    speech_above_dbfs: float = -40.0
    heard_after_s: float = 0.3
    dead_after_s: float = 60.0
    all_silent_after_s: float = 300.0
    clip_window_s: float = 10.0
    clip_min_s: float = 0.5

    def __post_init__(self) -> None:
        if not FLOOR_DBFS < self.silent_below_dbfs < self.speech_above_dbfs <= 0.0:
            raise ValueError(
                "need -96 < silent_below_dbfs < speech_above_dbfs <= 0 dBFS, got "
                f"{self.silent_below_dbfs} and {self.speech_above_dbfs}"
            )
        for name in (
            "heard_after_s",
            "dead_after_s",
            "all_silent_after_s",
            "clip_window_s",
            "clip_min_s",
        ):
            value = getattr(self, name)
            if not 0.0 < value <= 86_400.0:
                raise ValueError(f"{name} must be between 0 and 86400 s, got {value}")
        if self.clip_min_s > self.clip_window_s:
            raise ValueError("clip_min_s must not exceed clip_window_s")


@dataclass(slots=True)
class _Channel:
    silent_s: float = 0.0  # length of the current silence
    evidence_s: float = 0.0  # of which others carried speech, in session
    loud_run_s: float = 0.0  # continuous audio above the silence level
    dead: MicrophoneAlarm | None = None
    clipping: MicrophoneAlarm | None = None
    clips: collections.deque[tuple[float, float]] = field(default_factory=collections.deque)


def _secs(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"


class MicrophoneWatch:
    """Raises and clears microphone alarms from a stream of level reports.

    Args:
        config: thresholds.
        in_session: whether a session is open at the start (see
            :meth:`open_session`).
    """

    def __init__(self, *, config: WatchConfig = WatchConfig(), in_session: bool = False) -> None:
        self.config = config
        self._in_session = in_session
        self._channels: list[_Channel] = []
        self._all_quiet_s = 0.0
        self._all_silent: MicrophoneAlarm | None = None
        self._last: LevelReport | None = None

    @property
    def in_session(self) -> bool:
        return self._in_session

    def open_session(self) -> None:
        """A session opened (开庭): ``dead_mic`` and ``all_silent`` may be raised."""
        if not self._in_session:
            self._in_session = True
            self._all_quiet_s = 0.0

    def close_session(self) -> None:
        """The session closed or went into recess: evidence stops accumulating."""
        self._in_session = False

    @property
    def active_alarms(self) -> tuple[MicrophoneAlarm, ...]:
        """The alarms raised and not yet cleared: per channel in order, then ``all_silent``."""
        active = [a for c in self._channels for a in (c.dead, c.clipping) if a is not None]
        if self._all_silent is not None:
            active.append(self._all_silent)
        return tuple(active)

    def status(self) -> dict[str, Any]:
        """A snapshot for the agent's status event: session, silences, the latest
        levels per channel (the patrol view's meters), active alarms."""
        levels = [] if self._last is None else self._last.channels
        return {
            "in_session": self._in_session,
            "silent_s": [round(c.silent_s, 1) for c in self._channels],
            "all_silent_s": round(self._all_quiet_s, 1),
            "levels": [
                {
                    "channel": c.channel,
                    "role": c.role,
                    "peak_dbfs": round(c.peak_dbfs, 1),
                    "rms_dbfs": round(c.rms_dbfs, 1),
                    "clipped": c.clipped,
                }
                for c in levels
            ],
            "alarms": [a.to_json() for a in self.active_alarms],
        }

    def observe(self, report: LevelReport) -> list[MicrophoneAlarm]:
        """Advance by one report; return the alarms it raises or clears.

        Raises:
            ValueError: the report has a different channel count than the first.
        """
        if not self._channels:
            self._channels = [_Channel() for _ in report.channels]
        elif len(report.channels) != len(self._channels):
            raise ValueError(
                f"report has {len(report.channels)} channels, the watch has {len(self._channels)}"
            )
        self._last = report
        cfg = self.config
        now, step = report.hearing_time, report.duration
        speaking = [c.rms_dbfs >= cfg.speech_above_dbfs for c in report.channels]
        out: list[MicrophoneAlarm] = []
        any_heard = False
        for level, state in zip(report.channels, self._channels, strict=True):
            ch, role = level.channel, level.role
            if level.rms_dbfs < cfg.silent_below_dbfs:
                state.loud_run_s = 0.0
                state.silent_s += step
                others = any(s for i, s in enumerate(speaking) if i != ch)
                if self._in_session and others:
                    state.evidence_s += step
                if state.dead is None and state.evidence_s >= cfg.dead_after_s - _EPS:
                    state.dead = self._alarm(
                        AlarmKind.DEAD_MIC,
                        AlarmState.RAISED,
                        now,
                        ch,
                        role,
                        f"{role}麦克风无信号 · {role} microphone silent for "
                        f"{_secs(state.silent_s)} s while others spoke",
                    )
                    out.append(state.dead)
            else:
                state.loud_run_s += step
                if state.loud_run_s >= cfg.heard_after_s - _EPS:
                    any_heard = True
                    if state.dead is not None:
                        state.dead = None
                        out.append(
                            self._alarm(
                                AlarmKind.DEAD_MIC,
                                AlarmState.CLEARED,
                                now,
                                ch,
                                role,
                                f"{role}麦克风恢复信号 · {role} microphone back after "
                                f"{_secs(state.silent_s)} s of silence",
                            )
                        )
                    state.silent_s = state.evidence_s = 0.0
            out += self._watch_clipping(state, now, step, ch, role, clipped=level.clipped > 0)
        out += self._watch_all_silent(report, now, step, any_heard=any_heard)
        return out

    def _watch_clipping(
        self, state: _Channel, now: float, step: float, ch: int, role: str, *, clipped: bool
    ) -> list[MicrophoneAlarm]:
        cfg = self.config
        if clipped:
            state.clips.append((now, step))
        while state.clips and state.clips[0][0] <= now - cfg.clip_window_s + _EPS:
            state.clips.popleft()
        clip_s = sum(d for _, d in state.clips)
        if state.clipping is None and clip_s >= cfg.clip_min_s - _EPS:
            state.clipping = self._alarm(
                AlarmKind.CLIPPING,
                AlarmState.RAISED,
                now,
                ch,
                role,
                f"{role}麦克风削波失真 · {role} microphone clipping ({_secs(clip_s)} s in the "
                f"last {_secs(cfg.clip_window_s)} s): lower its gain",
            )
            return [state.clipping]
        if state.clipping is not None and not state.clips:
            state.clipping = None
            return [
                self._alarm(
                    AlarmKind.CLIPPING,
                    AlarmState.CLEARED,
                    now,
                    ch,
                    role,
                    f"{role}麦克风不再削波 · {role} microphone no longer clipping",
                )
            ]
        return []

    def _watch_all_silent(
        self, report: LevelReport, now: float, step: float, *, any_heard: bool
    ) -> list[MicrophoneAlarm]:
        cfg = self.config
        if any_heard:
            quiet_s, self._all_quiet_s = self._all_quiet_s, 0.0
            if self._all_silent is not None:
                self._all_silent = None
                return [
                    self._alarm(
                        AlarmKind.ALL_SILENT,
                        AlarmState.CLEARED,
                        now,
                        None,
                        None,
                        f"麦克风恢复有声 · sound is back after {_secs(quiet_s)} s of silence",
                    )
                ]
            return []
        if self._in_session and all(c.rms_dbfs < cfg.silent_below_dbfs for c in report.channels):
            self._all_quiet_s += step
            if self._all_silent is None and self._all_quiet_s >= cfg.all_silent_after_s - _EPS:
                s = _secs(self._all_quiet_s)
                self._all_silent = self._alarm(
                    AlarmKind.ALL_SILENT,
                    AlarmState.RAISED,
                    now,
                    None,
                    None,
                    f"所有麦克风{s}秒无声 · all microphones silent for {s} s: "
                    "is the recording capturing anything?",
                )
                return [self._all_silent]
        return []

    @staticmethod
    def _alarm(
        kind: AlarmKind,
        state: AlarmState,
        now: float,
        channel: int | None,
        role: str | None,
        message: str,
    ) -> MicrophoneAlarm:
        return MicrophoneAlarm(
            kind=kind, state=state, hearing_time=now, channel=channel, role=role, message=message
        )
