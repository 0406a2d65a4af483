"""The courtroom's cameras during one hearing (视频同步摄录).

Each ``[[cameras]]`` entry becomes an :class:`av.camera.Camera` recording
fragmented MP4 segments into the hearing's recording directory, next to the
audio, with the synchronous recording time burned into the picture and its
segments cut at the same hearing times as the audio segments. Camera events
(online/offline, no frames, frozen or black picture) go to the hub as
``camera`` events; the video segments and gaps are listed in ``video.json``
beside ``manifest.json`` (see docs/recording-format.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from av.camera import (
    CAMERA_EVENT_KIND,
    Camera,
    CameraAddress,
    CameraEvent,
    CameraRecorder,
    Thumbnail,
    Thumbnailer,
    TimestampOverlay,
)
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
        directory: Path,
        epoch: datetime,
        hearing_clock: Callable[[], float],
        publish: Callable[[str, dict[str, Any]], object],
        send_thumbnail: Callable[[Thumbnail], None] | None = None,
    ) -> None:
        self._configs = cameras
        self._courtroom = courtroom
        self._hearing_id = hearing_id
        self._directory = directory
        self._epoch = epoch
        self._clock = hearing_clock
        self._publish = publish
        self._send_thumbnail = send_thumbnail
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
                overlay=TimestampOverlay(
                    courtroom=self._courtroom, camera=config.id, epoch=self._epoch
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
        """Stop the cameras, close the segments at hearing time ``end``, write video.json."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for recorder in self.recorders:
            await recorder.close(end=end)
        await self._stack.__aexit__(None, None, None)
        self._write_index()

    async def __aexit__(self, *exc_info: object) -> None:
        if self._tasks:
            await self.close(self._clock())

    def _on_event(self, event: CameraEvent) -> None:
        self._publish(CAMERA_EVENT_KIND, event.to_json() | {"hearing_id": self._hearing_id})

    def _write_index(self) -> None:
        index = {
            "format": "courtroom-video/1",
            "hearing_id": self._hearing_id,
            "cameras": [
                {
                    "id": config.id,
                    "fps": config.fps,
                    "segments": [s.to_json() for s in recorder.segments],
                    "gaps": [
                        g.to_json() for g in (camera.watchdog.gaps if camera.watchdog else [])
                    ],
                }
                for config, recorder, camera in zip(
                    self._configs, self.recorders, self.cameras, strict=True
                )
            ],
        }
        path = self._directory / "video.json"
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(index, out, ensure_ascii=False, indent=2)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)
