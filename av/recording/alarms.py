"""What the recorder tells the watchdog: alarms, state snapshots, disk headroom.

Alarms are edges: one :class:`RecorderAlarm` with ``active=True`` when a
condition starts and one with ``active=False`` when it ends, so the hub gets
the first failure and the recovery, not every poll.

:class:`DiskHeadroom` is a pure rule: free bytes and the recording's data rate
in, alarm level out. The recorder feeds it from an injectable free-space probe.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from courtroom_core.wire_bodies import Alarm

__all__ = ["AlarmKind", "DiskHeadroom", "RecorderAlarm", "RecorderState", "Severity"]


class AlarmKind(enum.StrEnum):
    DISK_LOW = "disk_low"  # free space below the headroom threshold
    WRITER_BEHIND = "writer_behind"  # audio waiting to be encoded exceeds the limit
    WRITER_FAILED = "writer_failed"  # the writer hit an I/O error: recording stopped


class Severity(enum.StrEnum):
    WARNING = "warning"  # act soon: recording continues
    CRITICAL = "critical"  # recording has failed or is about to


_MESSAGES = {
    AlarmKind.DISK_LOW: ("录音磁盘空间不足", "recording disk is running out of space"),
    AlarmKind.WRITER_BEHIND: ("录音写入滞后", "recording writer is falling behind"),
    AlarmKind.WRITER_FAILED: (
        "录音写入失败，录音已停止",
        "recording write failed, recording stopped",
    ),
}


@dataclass(frozen=True, slots=True)
class RecorderAlarm:
    """A recorder alarm being raised (``active``) or cleared.

    Attributes:
        kind: what is wrong.
        active: ``True`` when raised, ``False`` when cleared.
        severity: how urgent (of the raise; a clear repeats the last severity).
        hearing_id: the hearing being recorded.
        hearing_frame: first hearing frame not yet recorded when it happened.
        time: the same in hearing-clock seconds (``hearing_frame`` over the
            sample rate; None when the recorder did not say).
        free_bytes: free space on the recording disk (disk alarms).
        free_seconds: recording time left at the data rate (disk alarms): the
            audio's worst case plus the video's measured rate.
        queued_seconds: audio waiting for the writer (writer alarms).
        error: the I/O error (writer failure).
    """

    kind: AlarmKind
    active: bool
    severity: Severity
    hearing_id: str
    hearing_frame: int
    time: float | None = None
    free_bytes: int | None = None
    free_seconds: float | None = None
    queued_seconds: float | None = None
    error: str | None = None

    @property
    def message(self) -> str:
        zh, en = _MESSAGES[self.kind]
        return f"{zh} · {en}" if self.active else f"已恢复：{zh} · cleared: {en}"

    @property
    def detail(self) -> str | None:
        """For the technician: the error, the free space, the audio waiting."""
        parts = [
            text.format(value)
            for text, value in (
                ("{}", self.error),
                ("{:.0f} s free", self.free_seconds),
                ("{} bytes free", self.free_bytes),
                ("{:.1f} s queued", self.queued_seconds),
            )
            if value is not None
        ]
        return "; ".join(parts)[:500] or None

    def to_alarm(self) -> Alarm:
        """This alarm in the wire's one shape (source ``recorder``).

        Raises:
            WireError: the hearing id is out of the wire's bounds.
        """
        return Alarm(
            kind=self.kind.value,
            active=self.active,
            severity=self.severity.value,
            source="recorder",
            hearing_id=self.hearing_id,
            time=None if self.time is None else round(self.time, 3),
            message=self.message,
            detail=self.detail,
        )

    def to_json(self) -> dict[str, Any]:
        """The ``av.alarm`` body (:meth:`to_alarm`)."""
        return self.to_alarm().to_json()


@dataclass(frozen=True, slots=True)
class RecorderState:
    """A snapshot of one recorder for the "is it really recording" view.

    Attributes:
        hearing_id: the hearing.
        directory: the hearing directory.
        recording: open, not failed, not closed.
        segment_index: the open segment, if any.
        written_frame: hearing frame up to which audio is handed to the encoder.
        queued_seconds: audio accepted but not yet encoded.
        free_bytes: last free-space probe (``None`` before the first).
        free_seconds: recording time that space holds at the data rate
            (audio worst case plus measured video).
        gaps: gaps declared in this hearing so far.
        alarms: alarms currently active.
        error: why the recorder failed, if it did.
        interrupted: the reason code of the court's interruption in force
            (``recess``, ``closed-evidence``, ``mediation``), ``None`` while
            recording; ``recording`` stays ``True`` then: the recorder is sound
            and idle by order.
    """

    hearing_id: str
    directory: str
    recording: bool
    segment_index: int | None
    written_frame: int
    queued_seconds: float
    free_bytes: int | None
    free_seconds: float | None
    gaps: int
    alarms: tuple[RecorderAlarm, ...]
    error: str | None
    interrupted: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "hearing_id": self.hearing_id,
            "directory": self.directory,
            "recording": self.recording,
            "segment_index": self.segment_index,
            "written_frame": self.written_frame,
            "queued_seconds": round(self.queued_seconds, 3),
            "free_bytes": self.free_bytes,
            "free_seconds": None if self.free_seconds is None else round(self.free_seconds, 1),
            "gaps": self.gaps,
            "alarms": [a.to_json() for a in self.alarms],
            "error": self.error,
            "interrupted": self.interrupted,
        }


class DiskHeadroom:
    """Free-space rule with hysteresis.

    ``WARNING`` when free space is below ``min_free_bytes`` or holds less than
    ``warn_seconds`` of recording; ``CRITICAL`` below ``critical_seconds``.
    A level is left only when the space exceeds its threshold by
    ``hysteresis`` (a ratio), so a disk hovering at the line does not flap.

    Args:
        min_free_bytes: absolute floor that raises a warning.
        warn_seconds: recording time left that raises a warning.
        critical_seconds: recording time left that raises a critical alarm.
        hysteresis: ratio above a threshold needed to clear it.
    """

    def __init__(
        self,
        *,
        min_free_bytes: int = 1 << 30,
        warn_seconds: float = 3600.0,
        critical_seconds: float = 600.0,
        hysteresis: float = 1.1,
    ) -> None:
        if min_free_bytes < 0 or not 0 <= critical_seconds <= warn_seconds or hysteresis < 1:
            raise ValueError("disk headroom thresholds are inconsistent")
        self.min_free_bytes = min_free_bytes
        self.warn_seconds = warn_seconds
        self.critical_seconds = critical_seconds
        self._hysteresis = hysteresis
        self.level: Severity | None = None

    def update(self, *, free_bytes: int, bytes_per_second: float) -> Severity | None:
        """Take a probe and return the alarm level now (``None``: enough room)."""
        seconds = free_bytes / bytes_per_second if bytes_per_second > 0 else float("inf")
        h = self._hysteresis if self.level is not None else 1.0
        critical = seconds < self.critical_seconds * (
            self._hysteresis if self.level is Severity.CRITICAL else 1.0
        )
        warning = seconds < self.warn_seconds * h or free_bytes < self.min_free_bytes * h
        self.level = Severity.CRITICAL if critical else Severity.WARNING if warning else None
        return self.level
