"""The courtroom's cameras during one hearing (视频同步摄录).

Each ``[[cameras]]`` entry becomes an :class:`av.camera.Camera` recording
fragmented MP4 segments into the hearing's recording directory, next to the
audio, with the synchronous recording time burned into the picture and its
segments cut at the same hearing times (and with the same indexes) as the
audio segments. Camera events (online/offline, no frames, frozen or black
picture) go to the hub as ``camera`` events. Each video segment is listed in
the hearing's ``manifest.json`` as it opens and again when it closes (with
its frames and SHA-256), and each camera gap when it ends, through the audio
recorder, which owns the manifest (see docs/recording-format.md).
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
    CAMERA_EVENT_KIND,
    Camera,
    CameraAddress,
    CameraEvent,
    CameraGap,
    CameraRecorder,
    Thumbnail,
    Thumbnailer,
    TimestampOverlay,
    VideoSegment,
)
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
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self.cameras: list[Camera] = []
        self.recorders: list[CameraRecorder] = []
        self._segment = -1

    async def __aenter__(self) -> Self:
        await self._stack.__aenter__()
        for config in self._configs:
            recorder = CameraRecorder(
                camera=config.id,
                directory=self._directory,
                fps=config.fps,
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
            self.recorders.append(recorder)
            self.cameras.append(camera)
            self._tasks.append(asyncio.create_task(camera.run(), name=f"camera {config.id}"))
        return self

    def roll(self, index: int, start: float) -> None:
        """Audio segment ``index`` began at hearing time ``start``: cut video there too."""
        if index <= self._segment:
            return
        self._segment = index
        for recorder in self.recorders:
            recorder.roll(index, start)

    async def close(self, end: float) -> None:
        """Stop the cameras and close their segments at hearing time ``end``."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for recorder in self.recorders:
            await recorder.close(end=end)
        await self._stack.__aexit__(None, None, None)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._tasks:
            await self.close(self._clock())

    def _on_event(self, event: CameraEvent) -> None:
        if isinstance(event, CameraGap) and event.end is not None:
            self._recorder.record_video(gap=VideoGap(event.camera, event.start, event.end))
        self._publish(CAMERA_EVENT_KIND, event.to_json() | {"hearing_id": self._hearing_id})

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
