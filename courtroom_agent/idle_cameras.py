"""The cameras while the courtroom is idle: thumbnails for the patrol wall, nothing recorded.

Between hearings the patrol wall still shows each courtroom's picture. The
agent runs each configured camera without a recorder — capture, watchdog,
thumbnails — and stops them before a hearing opens, so the hearing's cameras
(:mod:`courtroom_agent.hearing_cameras`) get the devices (a USB camera opens
once). Alarms and online/offline go to the hub as ``av.alarm`` without a
hearing id; a camera's recording gaps do not exist here and are not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from av.camera import Camera, CameraAddress, CameraEvent, Thumbnail, Thumbnailer
from av.camera.events import ALARM_EVENT_KIND
from courtroom_agent.config import CameraConfig

__all__ = ["IdleCameras"]

logger = logging.getLogger(__name__)


class IdleCameras:
    """Runs the cameras for thumbnails between :meth:`start` and :meth:`stop`.

    Args:
        cameras: the courtroom's cameras.
        clock: seconds now on the agent's capture clock (stamps the thumbnails).
        publish: sends an event (``publish(kind, body)``).
        send_thumbnail: sends a thumbnail to the hub (best effort).
    """

    def __init__(
        self,
        cameras: Sequence[CameraConfig],
        *,
        clock: Callable[[], float],
        publish: Callable[[str, dict[str, Any]], object],
        send_thumbnail: Callable[[Thumbnail], None],
    ) -> None:
        self._configs = list(cameras)
        self._clock = clock
        self._publish = publish
        self._send_thumbnail = send_thumbnail
        self._stack: contextlib.AsyncExitStack | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return self._stack is not None

    async def start(self) -> None:
        """Start every camera (a camera that cannot open retries with backoff)."""
        if self._stack is not None or not self._configs:
            return
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        self._stack = stack
        for config in self._configs:
            camera = Camera(
                CameraAddress.parse(config.source),
                camera=config.id,
                hearing_clock=self._clock,
                thumbnailer=Thumbnailer(config.id, interval=config.thumbnail_interval),
                on_thumbnail=self._send_thumbnail,
                on_event=self._on_event,
                loop_file=config.loop,
                no_frame_timeout=config.no_frame_timeout,
                frozen_after=config.frozen_after,
                black_after=config.black_after,
            )
            await stack.enter_async_context(camera)
            self._tasks.append(asyncio.create_task(camera.run(), name=f"idle camera {config.id}"))

    async def stop(self) -> None:
        """Stop every camera and release its device."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def _on_event(self, event: CameraEvent) -> None:
        if event.EVENT_KIND == ALARM_EVENT_KIND:
            self._publish(ALARM_EVENT_KIND, event.to_json())
