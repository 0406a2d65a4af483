"""Is the camera really being recorded? Frames reaching the video file, watched.

The camera watchdog (:mod:`av.camera.watchdog`) watches what the camera
*delivers*; this watches what reaches the *file*. An encoder that hangs (a
full or stalled disk, a wedged ffmpeg) or dies leaves the capture running and
the picture fresh on the patrol wall while nothing is recorded — exactly the
failure a court must hear about at once. :class:`RecordingWatch` is a pure
rule, checked from a task of its own (the camera's task is the one that would
be stuck): when the video written lags the hearing clock by more than
``stall_after`` seconds a ``recording_stalled`` alarm is raised; it clears
once the lag is back under ``clear_below``.
"""

from __future__ import annotations

from av.camera.events import AlarmKind, CameraAlarm

__all__ = ["RecordingWatch"]


class RecordingWatch:
    """The ``recording_stalled`` rule for one camera.

    Args:
        camera: camera id.
        started: hearing seconds when recording began (the reference until
            the first frame is written).
        stall_after: lag (s) that raises the alarm. The pacer holds frames up
            to about half a second, so a few seconds never alarm by themselves.
        clear_below: lag (s) under which a raised alarm clears (default a
            third of ``stall_after``).

    Raises:
        ValueError: ``clear_below`` is not below ``stall_after`` or not positive.
    """

    def __init__(
        self,
        camera: str,
        *,
        started: float,
        stall_after: float = 3.0,
        clear_below: float | None = None,
    ) -> None:
        if clear_below is None:
            clear_below = stall_after / 3
        if not 0 < clear_below < stall_after:
            raise ValueError("need 0 < clear_below < stall_after")
        self.camera = camera
        self._started = started
        self._stall_after = stall_after
        self._clear_below = clear_below
        self._raised_since: float | None = None

    @property
    def stalled(self) -> bool:
        return self._raised_since is not None

    def check(self, now: float, written_until: float | None) -> CameraAlarm | None:
        """The alarm edge at hearing time ``now``, given what has been written."""
        written = self._started if written_until is None else written_until
        lag = now - written
        if self._raised_since is None and lag > self._stall_after:
            self._raised_since = min(written, now)
            return CameraAlarm(
                camera=self.camera,
                kind=AlarmKind.RECORDING_STALLED,
                active=True,
                time=now,
                since=self._raised_since,
            )
        if self._raised_since is not None and lag < self._clear_below:
            since, self._raised_since = self._raised_since, None
            return CameraAlarm(
                camera=self.camera,
                kind=AlarmKind.RECORDING_STALLED,
                active=False,
                time=now,
                since=min(since, now),
            )
        return None
