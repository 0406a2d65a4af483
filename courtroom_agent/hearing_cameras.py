"""The courtroom's cameras during one hearing (视频同步摄录).

Each ``[[cameras]]`` entry becomes an :class:`av.camera.Camera` recording
fragmented MP4 segments into the hearing's recording directory, next to the
audio, with the synchronous recording time burned into the picture and its
segments cut at the same hearing times (and with the same indexes) as the
audio segments. Camera events (online/offline, no frames, frozen or black
picture) go to the hub as ``camera`` events. Each video segment is listed in
the hearing's ``manifest.json`` as it opens and again when it closes (with
its frames and SHA-256), through the audio recorder, which owns the manifest
(see docs/recording-format.md).

Each camera gap (time without a picture) is listed as soon as it begins,
open-ended, and again when it ends: at the first frame afterwards, when the
camera's recording is restarted, or at the hearing's close. So a camera
offline at close, one that never delivered a frame, and one that was offline
when the agent was killed (the next run closes the gap where the recording
stopped) all leave their gap in the manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from av.camera import (
    Camera,
    CameraAddress,
    CameraAlarm,
    CameraEvent,
    CameraGap,
    CameraRecorder,
    CameraRecordingError,
    CameraState,
    CameraStateChange,
    Thumbnail,
    Thumbnailer,
    TimestampOverlay,
    VideoSegment,
)
from av.camera.recording_watch import RecordingWatch
from av.camera.watchdog import CameraWatchdog
from av.recording import AudioRecorder
from av.recording.manifest import SegmentStatus, VideoFile, VideoGap, iso_utc
from courtroom_agent.config import CameraConfig

__all__ = ["HearingCameras"]

logger = logging.getLogger(__name__)


class HearingCameras:
    """Cameras recording one hearing; ``async with``, then :meth:`roll` per segment."""

    def __init__(
        self,
        cameras: list[CameraConfig],
        *,
        courtroom: str,
        hearing_id: str,
        recorder: AudioRecorder,
        epoch: datetime,
        hearing_clock: Callable[[], float],
        publish: Callable[[str, dict[str, Any]], object],
        send_thumbnail: Callable[[Thumbnail], None] | None = None,
        title: str | None = None,
        font: Path | None = None,
        encoder: str = "ffmpeg",
        stall_after: float = 3.0,
        check_interval: float = 0.5,
    ) -> None:
        self._configs = cameras
        self._courtroom = courtroom
        self._hearing_id = hearing_id
        self._recorder = recorder
        self._directory = recorder.directory
        self._epoch = epoch
        self._clock = hearing_clock
        self._publish = publish
        self._send_thumbnail = send_thumbnail
        self._title = title
        self._font = font
        self._encoder = encoder
        self._stall_after = stall_after
        self._check_interval = check_interval
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._watch_task: asyncio.Task[None] | None = None
        self._restarts: set[asyncio.Task[None]] = set()
        self._watches: list[RecordingWatch] = []
        self.cameras: list[Camera] = []
        self.recorders: list[CameraRecorder] = []
        self._segment = -1
        self._open_gaps: set[tuple[str, float]] = set()

    async def __aenter__(self) -> Self:
        await self._stack.__aenter__()
        started = self._clock()
        for config in self._configs:
            recorder, camera = await self._start(config)
            self.recorders.append(recorder)
            self.cameras.append(camera)
            self._tasks.append(self._run(camera))
            self._watches.append(
                RecordingWatch(config.id, started=started, stall_after=self._stall_after)
            )
        self._watch_task = asyncio.create_task(self._watch(), name="cameras: is it recording")
        return self

    async def _start(self, config: CameraConfig) -> tuple[CameraRecorder, Camera]:
        recorder = CameraRecorder(
            camera=config.id,
            directory=self._directory,
            fps=config.fps,
            ffmpeg=self._encoder,
            on_open=self._opener(config.id, config.fps),
            on_segment=self._closed,
            inherit_fds=(fd,) if (fd := self._recorder.lock_fd) is not None else (),
            overlay=TimestampOverlay(
                courtroom=self._courtroom,
                camera=config.id,
                epoch=self._epoch,
                title=self._title,
                font=self._font,
            ),
        )
        await self._stack.enter_async_context(recorder)
        camera = Camera(
            CameraAddress.parse(config.source),
            camera=config.id,
            hearing_clock=self._clock,
            recorder=recorder,
            thumbnailer=Thumbnailer(config.id, interval=config.thumbnail_interval),
            on_thumbnail=self._send_thumbnail,
            on_event=self._on_event,
            loop_file=config.loop,
            no_frame_timeout=config.no_frame_timeout,
            frozen_after=config.frozen_after,
            black_after=config.black_after,
        )
        await self._stack.enter_async_context(camera)
        self._gap_began(camera.watchdog)  # no picture until its first frame
        return recorder, camera

    def _run(self, camera: Camera) -> asyncio.Task[None]:
        async def run() -> None:
            try:
                await camera.run()
            except CameraRecordingError as exc:
                # The video of this camera stops until the next segment; the
                # recording watch raises the alarm, roll() starts it again.
                logger.error("camera %s: recording failed: %s", camera.camera, exc)

        return asyncio.create_task(run(), name=f"camera {camera.camera}")

    async def _watch(self) -> None:
        """Raise ``recording_stalled`` for a camera whose video stopped reaching its file."""
        while True:
            await asyncio.sleep(self._check_interval)
            now = self._clock()
            for watch, recorder in zip(self._watches, self.recorders, strict=True):
                alarm = watch.check(now, recorder.written_until)
                if alarm is not None:
                    log = logger.error if alarm.active else logger.warning
                    log("%s", alarm.message)
                    self._on_event(alarm)

    def set_epoch(self, epoch: datetime) -> None:
        """Hearing second 0 is at wall time ``epoch``: the burned-in time follows it.

        Called before the first segment is cut, so that no picture is drawn
        with the provisional epoch; shown in the provisional epoch's zone.
        """
        self._epoch = epoch.astimezone(self._epoch.tzinfo)
        for recorder in self.recorders:
            if recorder.overlay is not None:
                recorder.overlay.epoch = self._epoch

    def roll(self, index: int, start: float) -> None:
        """Audio segment ``index`` began at hearing time ``start``: cut video there too."""
        if index <= self._segment:
            return
        self._segment = index
        for slot, (recorder, task) in enumerate(zip(self.recorders, self._tasks, strict=True)):
            if task.done():  # its recording failed: start afresh with this segment
                restart = asyncio.get_running_loop().create_task(
                    self._restart(slot, index, start), name=f"restart camera {slot}"
                )
                self._restarts.add(restart)
                restart.add_done_callback(self._restarts.discard)
            else:
                recorder.roll(index, start)

    async def _restart(self, slot: int, index: int, start: float) -> None:
        config = self._configs[slot]
        self._gap_ended(self.cameras[slot].watchdog, start)  # the new camera opens its own
        with contextlib.suppress(CameraRecordingError):
            await self.recorders[slot].close(end=start)
        recorder, camera = await self._start(config)
        recorder.roll(index, start)
        self.recorders[slot], self.cameras[slot] = recorder, camera
        self._tasks[slot] = self._run(camera)
        logger.warning("camera %s: recording again from segment %d", config.id, index)

    async def close(self, end: float) -> None:
        """Stop the cameras and close their segments at hearing time ``end``.

        A camera whose recording failed is logged, not raised: the hearing's
        audio and the other cameras are unaffected, and the manifest keeps
        its last segment as interrupted.
        """
        pending = [*self._tasks, *self._restarts]
        if self._watch_task is not None:
            pending.append(self._watch_task)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._watch_task = None
        for camera in self.cameras:
            self._gap_ended(camera.watchdog, end)  # still without picture at the close
        for recorder in self.recorders:
            try:
                await recorder.close(end=end)
            except CameraRecordingError as exc:
                logger.error("camera %s: last segment not closed cleanly: %s", recorder.camera, exc)
        await self._stack.__aexit__(None, None, None)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._tasks:
            await self.close(self._clock())

    def _on_event(self, event: CameraEvent | CameraAlarm) -> None:
        if isinstance(event, CameraGap) and event.end is not None:
            self._open_gaps.discard((event.camera, event.start))
            self._recorder.record_video(gap=VideoGap(event.camera, event.start, event.end))
        elif isinstance(event, CameraStateChange) and event.state is CameraState.OFFLINE:
            for camera in self.cameras:
                if camera.camera == event.camera:
                    self._gap_began(camera.watchdog)
        # Alarms and online/offline as av.alarm (the one alarm shape), gaps as camera.
        self._publish(event.EVENT_KIND, event.to_json() | {"hearing_id": self._hearing_id})

    def _gap_began(self, watchdog: CameraWatchdog | None) -> None:
        """List the watchdog's gap, if one is open, in the manifest (end unknown yet)."""
        if watchdog is None or not watchdog.gaps or watchdog.gaps[-1].end is not None:
            return
        gap = watchdog.gaps[-1]
        if (gap.camera, gap.start) not in self._open_gaps:
            self._open_gaps.add((gap.camera, gap.start))
            self._recorder.record_video(gap=VideoGap(gap.camera, gap.start))

    def _gap_ended(self, watchdog: CameraWatchdog | None, end: float) -> None:
        """The watchdog's open gap, if any, ends at hearing time ``end`` (its camera stops)."""
        if watchdog is None or not watchdog.gaps or watchdog.gaps[-1].end is not None:
            return
        gap = watchdog.gaps[-1]
        self._open_gaps.discard((gap.camera, gap.start))
        self._recorder.record_video(gap=VideoGap(gap.camera, gap.start, max(gap.start, end)))

    def _opener(self, camera: str, fps: float) -> Callable[[int, str, float], None]:
        def opened(index: int, name: str, start: float) -> None:
            self._recorder.record_video(
                file=VideoFile(
                    camera=camera,
                    index=index,
                    file=name,
                    status=SegmentStatus.OPEN,
                    start=start,
                    fps=fps,
                    opened_at=iso_utc(datetime.now(self._epoch.tzinfo)),
                )
            )

        return opened

    def _closed(self, segment: VideoSegment) -> None:
        # An encoder that failed may have left a damaged file: kept as found.
        sound = segment.complete and bool(segment.sha256)
        now = iso_utc(datetime.now(self._epoch.tzinfo))
        self._recorder.record_video(
            file=VideoFile(
                camera=segment.camera,
                index=segment.index,
                file=segment.file,
                status=SegmentStatus.CLOSED if sound else SegmentStatus.INTERRUPTED,
                start=segment.start,
                fps=segment.fps,
                frames=segment.frames,
                width=segment.width,
                height=segment.height,
                repeated=segment.repeated,
                missing=segment.missing,
                dropped=segment.dropped,
                sha256=segment.sha256 or None,
                opened_at=now,  # the manifest keeps the time it opened
                closed_at=now,
            )
        )
