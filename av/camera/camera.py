"""One courtroom camera, kept running: capture, watch, record, thumbnail, reconnect.

:class:`Camera` is the long-running part. Its :meth:`Camera.run` opens a
:class:`~av.camera.source.CameraCapture`, feeds every frame to the
:class:`~av.camera.watchdog.CameraWatchdog`, the optional
:class:`~av.camera.writer.CameraRecorder` and
:class:`~av.camera.thumbnails.Thumbnailer`, and publishes what the watchdog
reports through ``on_event``. When the source fails, cannot be opened, or
delivers nothing for ``no_frame_timeout``, it is closed and opened again after
a jittered backoff (:class:`courtroom_core.backoff.Backoff`, reset by the
first frame). Meanwhile the recorder keeps writing "no signal" frames so the
video stays on the audio's timeline, and the gap is recorded.

Logging follows the house rule: the first failure and the recovery are
logged, the retries in between only at DEBUG.

Typical use::

    async with CameraRecorder(camera="cam1", directory=d, fps=25, overlay=o) as rec, \\
            Camera(CameraAddress.parse(url), camera="cam1", hearing_clock=hearing.clock,
                   recorder=rec, on_event=spool_camera_event,
                   on_thumbnail=send_thumbnail) as cam, asyncio.TaskGroup() as tg:
        tg.create_task(cam.run(), name="camera cam1")
        rec.roll(0, hearing.clock())        # the audio recorder rolls later segments
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random as _random
from collections.abc import Callable
from typing import Self

from av.camera.errors import CameraOpenError, CameraStreamError
from av.camera.events import CameraEvent, CameraState
from av.camera.source import CameraAddress, CameraCapture, Frame
from av.camera.thumbnails import Thumbnail, Thumbnailer
from av.camera.watchdog import CameraWatchdog, PictureProbe
from av.camera.writer import CameraRecorder
from courtroom_core.backoff import Backoff, BackoffPolicy

__all__ = ["DEFAULT_BACKOFF", "Camera"]

#: Reconnect pacing: 1 s, 2 s, 4 s … up to 30 s, each shortened by up to 20 %.
DEFAULT_BACKOFF = BackoffPolicy(initial=1.0, maximum=30.0)

_log = logging.getLogger(__name__)


class Camera:
    """Capture with watchdog and reconnect for one camera.

    Args:
        address: where the picture comes from.
        camera: camera id.
        hearing_clock: the hearing's monotonic clock in seconds (thread-safe).
        recorder: records the frames; its segments are rolled by the caller.
        thumbnailer: makes patrol-wall thumbnails, given to ``on_thumbnail``.
        on_event: receives alarms, state changes and gaps; must not block.
        on_thumbnail: receives thumbnails; must not block.
        backoff: reconnect pacing.
        no_frame_timeout, frozen_after, frozen_threshold, black_after,
        black_threshold: see :class:`~av.camera.watchdog.CameraWatchdog`.
        check_interval: seconds between watchdog checks while no frame comes.
        queue_frames, open_timeout, read_timeout, pace_files, loop_file,
        capture_latency: see :class:`~av.camera.source.CameraCapture`.
        random: jitter source for the backoff (seeded in tests).
    """

    def __init__(
        self,
        address: CameraAddress,
        *,
        camera: str,
        hearing_clock: Callable[[], float],
        recorder: CameraRecorder | None = None,
        thumbnailer: Thumbnailer | None = None,
        on_event: Callable[[CameraEvent], None] | None = None,
        on_thumbnail: Callable[[Thumbnail], None] | None = None,
        backoff: BackoffPolicy = DEFAULT_BACKOFF,
        no_frame_timeout: float = 5.0,
        frozen_after: float = 10.0,
        frozen_threshold: float = 0.5,
        black_after: float = 10.0,
        black_threshold: float = 16.0,
        check_interval: float = 0.5,
        queue_frames: int = 8,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
        pace_files: bool = True,
        loop_file: bool = False,
        capture_latency: float = 0.0,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if check_interval <= 0:
            raise ValueError("check_interval must be positive")
        self.address = address
        self.camera = camera
        self._hearing_clock = hearing_clock
        self.recorder = recorder
        self.thumbnailer = thumbnailer
        self._on_event = on_event
        self._on_thumbnail = on_thumbnail
        self._backoff = Backoff(backoff, random=random)
        self._new_watchdog = functools.partial(
            CameraWatchdog,
            camera,
            no_frame_timeout=no_frame_timeout,
            frozen_after=frozen_after,
            frozen_threshold=frozen_threshold,
            black_after=black_after,
            black_threshold=black_threshold,
        )
        self._new_watchdog(start=0.0)  # validates the options now, not in run()
        self._check_interval = check_interval
        self._open_capture = functools.partial(
            CameraCapture,
            address,
            camera=camera,
            hearing_clock=hearing_clock,
            queue_frames=queue_frames,
            open_timeout=open_timeout,
            read_timeout=read_timeout,
            pace_files=pace_files,
            loop_file=loop_file,
            capture_latency=capture_latency,
        )
        self._probe = PictureProbe()
        self.watchdog: CameraWatchdog | None = None
        self.frames_received = 0
        self.frames_dropped = 0
        """Frames the capture queues dropped because this consumer lagged."""
        self.connects = 0

    @property
    def state(self) -> CameraState:
        return CameraState.CONNECTING if self.watchdog is None else self.watchdog.state

    async def __aenter__(self) -> Self:
        self.watchdog = self._new_watchdog(start=self._hearing_clock())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Nothing to release: :meth:`run` closes its capture when cancelled."""

    async def run(self) -> None:
        """Capture until cancelled, reconnecting as needed.

        Raises:
            CameraRecordingError: the recorder failed; the recorder is
                unusable afterwards. The caller logs it, raises an alarm and
                starts a new :class:`CameraRecorder` at the next segment index
                (reconnecting the camera would not help).
            RuntimeError: the camera was not entered with ``async with``.
        """
        watchdog = self.watchdog
        if watchdog is None:
            raise RuntimeError("use 'async with Camera(...)' before run()")
        failures = 0
        while True:
            try:
                self.connects += 1
                async with self._open_capture() as capture:
                    try:
                        reason = await self._pump(capture, watchdog)
                    finally:
                        self.frames_dropped += capture.stats.frames_dropped
            except (CameraOpenError, CameraStreamError) as exc:
                # Source trouble only; a CameraRecordingError is not cured by reconnecting.
                reason = str(exc)
                if isinstance(exc, CameraStreamError) and exc.ended:
                    reason = "end of file"
            if watchdog.state is CameraState.ONLINE or failures == 0:
                _log.warning("camera %s (%s) lost: %s", self.camera, self.address.redacted, reason)
            else:
                _log.debug("camera %s: still failing: %s", self.camera, reason)
            failures += 1
            await self._publish(watchdog.disconnected(self._hearing_clock(), reason))
            await self._idle(self._backoff.next(), watchdog)
            if watchdog.state is CameraState.ONLINE:
                failures = 0

    async def _pump(self, capture: CameraCapture, watchdog: CameraWatchdog) -> str:
        """Move frames until the watchdog wants a reconnect; return why."""
        self._probe.reset()
        while True:
            frame = await capture.read(wait=self._check_interval)
            if frame is None:
                now = self._hearing_clock()
                await self._publish(watchdog.check(now))
                if self.recorder is not None:
                    await self.recorder.advance(now)
                if watchdog.needs_reconnect:
                    return f"no frames for {now - watchdog.last_frame:.1f} s"
                continue
            await self._handle(frame, watchdog)

    async def _handle(self, frame: Frame, watchdog: CameraWatchdog) -> None:
        assert frame.hearing_time is not None
        self.frames_received += 1
        was_online = watchdog.state is CameraState.ONLINE
        events = watchdog.frame(frame.hearing_time, self._probe.measure(frame.image))
        if not was_online:
            self._backoff.reset()
            if self.connects > 1:
                _log.info("camera %s: frames arriving again", self.camera)
        await self._publish(events)
        if self.recorder is not None:
            await self.recorder.push(frame)
        if self.thumbnailer is not None and self._on_thumbnail is not None:
            thumbnail = self.thumbnailer.offer(frame)
            if thumbnail is not None:
                self._on_thumbnail(thumbnail)

    async def _idle(self, delay: float, watchdog: CameraWatchdog) -> None:
        """Wait ``delay`` seconds before reconnecting, keeping alarms and recording going."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while (remaining := deadline - loop.time()) > 0:
            await asyncio.sleep(min(remaining, self._check_interval))
            now = self._hearing_clock()
            await self._publish(watchdog.check(now))
            if self.recorder is not None:
                await self.recorder.advance(now)

    async def _publish(self, events: list[CameraEvent]) -> None:
        if self._on_event is None:
            return
        for event in events:
            self._on_event(event)
