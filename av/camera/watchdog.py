"""Is the camera really delivering a usable picture? A sans-I/O watchdog.

Modelled on Frigate's ``CameraWatchdog`` but without threads or processes:
:class:`CameraWatchdog` is fed what happened with the time it happened —
:meth:`~CameraWatchdog.frame`, :meth:`~CameraWatchdog.check`,
:meth:`~CameraWatchdog.disconnected` — and returns the events to publish.
The caller (:class:`av.camera.Camera`) does the I/O: it reconnects when
:attr:`~CameraWatchdog.needs_reconnect` says so, paced by a backoff.

Three conditions, each held for a configurable time before the alarm:

* **no frames** — nothing for ``no_frame_timeout`` s: alarm, state OFFLINE,
  a :class:`~av.camera.events.CameraGap` opened at the last frame; the first
  frame afterwards closes the gap and clears the alarm (state ONLINE).
* **frozen** — consecutive frames differ by less than ``frozen_threshold``
  (mean absolute difference of a 64×36 grey thumbnail, 0–255) for
  ``frozen_after`` s: a hung encoder or a paused stream.
* **black** — mean luma under ``black_threshold`` (0–255) for
  ``black_after`` s: lens cap, dead sensor, unpowered camera behind an
  encoder. A black picture does not also count as frozen.

Times are hearing-clock seconds (or any one monotonic clock).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from av.camera.events import (
    AlarmKind,
    CameraAlarm,
    CameraEvent,
    CameraGap,
    CameraState,
    CameraStateChange,
)

__all__ = ["CameraWatchdog", "PictureMeasure", "PictureProbe"]

_PROBE_SIZE = (64, 36)


@dataclass(frozen=True, slots=True)
class PictureMeasure:
    """Mean luma (0–255) and mean absolute change from the previous frame (None at first)."""

    luma: float
    change: float | None


class PictureProbe:
    """Measures frames cheaply on a 64×36 grey copy (a few µs per frame)."""

    def __init__(self) -> None:
        self._previous: npt.NDArray[np.int16] | None = None

    def measure(self, image: npt.NDArray[np.uint8]) -> PictureMeasure:
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        small = cv2.resize(grey, _PROBE_SIZE, interpolation=cv2.INTER_AREA).astype(np.int16)
        previous, self._previous = self._previous, small
        change = None if previous is None else float(np.abs(small - previous).mean())
        return PictureMeasure(luma=float(small.mean()), change=change)

    def reset(self) -> None:
        """Forget the previous frame (after a reconnect the picture may differ)."""
        self._previous = None


class CameraWatchdog:
    """State, alarms and gaps of one camera.

    Args:
        camera: camera id stamped on events.
        start: hearing seconds when the camera was started; a camera that
            never delivers has a gap from here.
        no_frame_timeout: seconds without a frame before the camera is offline.
        frozen_after: seconds of unchanging picture before the frozen alarm.
        frozen_threshold: largest mean change (0–255) still counted as frozen.
        black_after: seconds of dark picture before the black alarm.
        black_threshold: mean luma (0–255) under which a picture is black.

    Raises:
        ValueError: a duration is not positive or a threshold is out of 0–255.
    """

    def __init__(
        self,
        camera: str,
        *,
        start: float,
        no_frame_timeout: float = 5.0,
        frozen_after: float = 10.0,
        frozen_threshold: float = 0.5,
        black_after: float = 10.0,
        black_threshold: float = 16.0,
    ) -> None:
        if min(no_frame_timeout, frozen_after, black_after) <= 0:
            raise ValueError("watchdog durations must be positive")
        if not (0 <= frozen_threshold <= 255 and 0 <= black_threshold <= 255):
            raise ValueError("watchdog thresholds must be within 0-255")
        self.camera = camera
        self.no_frame_timeout = no_frame_timeout
        self.frozen_after = frozen_after
        self.frozen_threshold = frozen_threshold
        self.black_after = black_after
        self.black_threshold = black_threshold
        self.state = CameraState.CONNECTING
        self.gaps: list[CameraGap] = [CameraGap(camera=camera, start=start)]
        self.active: dict[AlarmKind, CameraAlarm] = {}
        self._last_frame = start
        self._frozen_since: float | None = None
        self._black_since: float | None = None
        self._needs_reconnect = False

    @property
    def needs_reconnect(self) -> bool:
        """True once the camera is offline, until the next frame arrives."""
        return self._needs_reconnect

    @property
    def last_frame(self) -> float:
        return self._last_frame

    def frame(self, now: float, measure: PictureMeasure) -> list[CameraEvent]:
        """A frame arrived at hearing time ``now``; return events to publish."""
        events: list[CameraEvent] = []
        if self.state is not CameraState.ONLINE:
            events.append(CameraStateChange(camera=self.camera, state=CameraState.ONLINE, time=now))
            self.state = CameraState.ONLINE
            self._needs_reconnect = False
            if self.gaps and self.gaps[-1].end is None:
                gap = self.gaps[-1]
                self.gaps[-1] = closed = CameraGap(camera=self.camera, start=gap.start, end=now)
                events.append(closed)
            events += self._clear(AlarmKind.NO_FRAMES, now)
        previous, self._last_frame = self._last_frame, now
        if measure.luma < self.black_threshold:
            self._frozen_since = None
            events += self._clear(AlarmKind.FROZEN, now)
            if self._black_since is None:
                self._black_since = now
        else:
            self._black_since = None
            events += self._clear(AlarmKind.BLACK, now)
            if measure.change is not None and measure.change <= self.frozen_threshold:
                if self._frozen_since is None:
                    self._frozen_since = previous
            else:
                self._frozen_since = None
                events += self._clear(AlarmKind.FROZEN, now)
        return events + self.check(now)

    def check(self, now: float) -> list[CameraEvent]:
        """Time passed without a frame (call about once a second)."""
        events: list[CameraEvent] = []
        silent = now - self._last_frame
        if silent >= self.no_frame_timeout and AlarmKind.NO_FRAMES not in self.active:
            events += self._go_offline(now, f"no frames for {silent:.1f} s")
            events += self._raise(AlarmKind.NO_FRAMES, now, self._last_frame)
        if self._frozen_since is not None and now - self._frozen_since >= self.frozen_after:
            events += self._raise(AlarmKind.FROZEN, now, self._frozen_since)
        if self._black_since is not None and now - self._black_since >= self.black_after:
            events += self._raise(AlarmKind.BLACK, now, self._black_since)
        return events

    def disconnected(self, now: float, reason: str) -> list[CameraEvent]:
        """The source failed or could not be opened; the caller reconnects.

        The no-frames alarm still waits for ``no_frame_timeout`` after the
        last frame, so a quick reconnect raises no alarm, but the gap and the
        OFFLINE state are recorded at once.
        """
        return self._go_offline(now, reason) + self.check(now)

    def _go_offline(self, now: float, reason: str) -> list[CameraEvent]:
        self._needs_reconnect = True
        if self.state is CameraState.OFFLINE:
            return []
        events: list[CameraEvent] = []
        if self.state is CameraState.ONLINE:
            self.gaps.append(CameraGap(camera=self.camera, start=self._last_frame))
        self.state = CameraState.OFFLINE
        events.append(
            CameraStateChange(
                camera=self.camera, state=CameraState.OFFLINE, time=now, reason=reason
            )
        )
        self._frozen_since = self._black_since = None
        events += self._clear(AlarmKind.FROZEN, now) + self._clear(AlarmKind.BLACK, now)
        return events

    def _raise(self, kind: AlarmKind, now: float, since: float) -> list[CameraEvent]:
        if kind in self.active:
            return []
        alarm = CameraAlarm(camera=self.camera, kind=kind, active=True, time=now, since=since)
        self.active[kind] = alarm
        return [alarm]

    def _clear(self, kind: AlarmKind, now: float) -> list[CameraEvent]:
        raised = self.active.pop(kind, None)
        if raised is None:
            return []
        return [
            CameraAlarm(camera=self.camera, kind=kind, active=False, time=now, since=raised.since)
        ]
