"""What a camera reports: alarms, online/offline changes, recording gaps.

All three are frozen dataclasses stamped with the hearing clock; each says
under which event kind the agent spools it (``EVENT_KIND``, the same lossless
channel as transcripts). Alarms and online/offline changes are alarms in the
wire's one shape (:class:`courtroom_core.wire_bodies.Alarm`, kind ``av.alarm``,
source ``camera``, subject the camera id; going offline raises the ``offline``
alarm, coming online clears it) which the hub shows on the patrol wall; gaps
travel under :data:`CAMERA_EVENT_KIND` for the record. Messages are Chinese
first, then English, for the clerk's screen.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from courtroom_core.wire_bodies import Alarm

__all__ = [
    "ALARM_EVENT_KIND",
    "CAMERA_EVENT_KIND",
    "AlarmKind",
    "CameraAlarm",
    "CameraEvent",
    "CameraGap",
    "CameraState",
    "CameraStateChange",
]

#: Spool / wire event kind under which the agent publishes camera gaps.
CAMERA_EVENT_KIND = "camera"
#: Spool / wire event kind of camera alarms and online/offline changes.
ALARM_EVENT_KIND = "av.alarm"


class CameraState(enum.StrEnum):
    CONNECTING = "connecting"
    """Not yet delivered a frame since the camera was started."""
    ONLINE = "online"
    """Frames are arriving."""
    OFFLINE = "offline"
    """No frames for the watchdog's timeout, or the source failed; reconnecting."""


class AlarmKind(enum.StrEnum):
    NO_FRAMES = "no_frames"
    FROZEN = "frozen"
    BLACK = "black"
    RECORDING_STALLED = "recording_stalled"
    """Frames are not reaching the video file (encoder hung or dead)."""


_RAISED = {
    AlarmKind.NO_FRAMES: (
        "摄像机 {c} 无画面：{s:.0f} 秒未收到视频帧",
        "camera {c}: no frames for {s:.0f} s",
    ),
    AlarmKind.FROZEN: (
        "摄像机 {c} 画面静止已 {s:.0f} 秒",
        "camera {c}: picture frozen for {s:.0f} s",
    ),
    AlarmKind.BLACK: ("摄像机 {c} 黑屏已 {s:.0f} 秒", "camera {c}: black picture for {s:.0f} s"),
    AlarmKind.RECORDING_STALLED: (
        "摄像机 {c} 录像中断：{s:.0f} 秒未写入视频文件",
        "camera {c}: nothing written to the video file for {s:.0f} s",
    ),
}
_SEVERITY = {
    AlarmKind.NO_FRAMES: "critical",
    AlarmKind.FROZEN: "warning",
    AlarmKind.BLACK: "warning",
    AlarmKind.RECORDING_STALLED: "critical",
}
_CLEARED = {
    AlarmKind.NO_FRAMES: ("摄像机 {c} 恢复画面", "camera {c}: frames arriving again"),
    AlarmKind.FROZEN: ("摄像机 {c} 画面恢复变化", "camera {c}: picture moving again"),
    AlarmKind.BLACK: ("摄像机 {c} 画面恢复亮度", "camera {c}: picture no longer black"),
    AlarmKind.RECORDING_STALLED: ("摄像机 {c} 恢复录像", "camera {c}: video being written again"),
}


def _check_time(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"camera event {name} must be finite, not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraAlarm:
    """An alarm raised (``active``) or cleared.

    Attributes:
        camera: camera id.
        kind: what is wrong.
        active: True when raised, False when cleared.
        time: hearing seconds when the watchdog decided.
        since: hearing seconds when the condition began (the last frame for
            ``NO_FRAMES``).

    Raises:
        ValueError: on construction, for an empty camera id, non-finite
            times, or ``since`` after ``time``.
    """

    camera: str
    kind: AlarmKind
    active: bool
    time: float
    since: float

    EVENT_KIND: ClassVar[str] = ALARM_EVENT_KIND

    def __post_init__(self) -> None:
        if not self.camera:
            raise ValueError("camera alarm needs a camera id")
        _check_time("time", self.time)
        _check_time("since", self.since)
        if self.since > self.time:
            raise ValueError("camera alarm cannot begin after it is reported")

    @property
    def message(self) -> str:
        """``中文 / English``, for the clerk's screen."""
        zh, en = (_RAISED if self.active else _CLEARED)[self.kind]
        seconds = self.time - self.since
        return f"{zh.format(c=self.camera, s=seconds)} / {en.format(c=self.camera, s=seconds)}"

    def to_alarm(self, hearing_id: str | None = None) -> Alarm:
        """This alarm in the wire's one shape (source ``camera``, subject the camera).

        Raises:
            WireError: the camera or hearing id is out of the wire's bounds.
        """
        return Alarm(
            kind=self.kind.value,
            active=self.active,
            severity=_SEVERITY[self.kind],
            source="camera",
            subject=self.camera,
            hearing_id=hearing_id,
            time=round(self.time, 3),
            since=round(self.since, 3),
            message=self.message,
        )

    def to_json(self) -> dict[str, Any]:
        """The ``av.alarm`` body (:meth:`to_alarm` without a hearing id)."""
        return self.to_alarm().to_json()


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraStateChange:
    """The camera went online or offline.

    Raises:
        ValueError: on construction, for an empty camera id or a non-finite time.
    """

    camera: str
    state: CameraState
    time: float
    reason: str = ""

    EVENT_KIND: ClassVar[str] = ALARM_EVENT_KIND

    def __post_init__(self) -> None:
        if not self.camera:
            raise ValueError("camera state change needs a camera id")
        _check_time("time", self.time)

    @property
    def message(self) -> str:
        zh = {"online": "在线", "offline": "离线", "connecting": "连接中"}[self.state.value]
        text = f"摄像机 {self.camera} {zh} / camera {self.camera} {self.state.value}"
        return f"{text}: {self.reason}" if self.reason else text

    def to_alarm(self, hearing_id: str | None = None) -> Alarm:
        """The camera's ``offline`` alarm: raised when it goes offline, cleared
        otherwise; ``detail`` is the reason.

        Raises:
            WireError: the camera or hearing id is out of the wire's bounds.
        """
        return Alarm(
            kind="offline",
            active=self.state is CameraState.OFFLINE,
            severity="critical",
            source="camera",
            subject=self.camera,
            hearing_id=hearing_id,
            time=round(self.time, 3),
            message=self.message[:500],
            detail=self.reason[:500] or None,
        )

    def to_json(self) -> dict[str, Any]:
        """The ``av.alarm`` body (:meth:`to_alarm` without a hearing id)."""
        return self.to_alarm().to_json()


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraGap:
    """Hearing time without pictures from a camera, for the manifest.

    Attributes:
        start: hearing seconds of the last frame before the gap (or when the
            camera was started, if it never delivered).
        end: hearing seconds of the first frame after it; None while open.

    Raises:
        ValueError: on construction, for non-finite times or ``end < start``.
    """

    camera: str
    start: float
    end: float | None = None

    EVENT_KIND: ClassVar[str] = CAMERA_EVENT_KIND

    def __post_init__(self) -> None:
        _check_time("start", self.start)
        if self.end is not None:
            _check_time("end", self.end)
            if self.end < self.start:
                raise ValueError("camera gap ends before it starts")

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def to_json(self) -> dict[str, Any]:
        return {"type": "gap", "camera": self.camera, "start": self.start, "end": self.end}


CameraEvent = CameraAlarm | CameraStateChange | CameraGap
