"""A hearing's recording: every microphone and every camera, cut into the same segments.

Used by the agent for each hearing and by ``courtroom av record`` for room
commissioning, so both record exactly the same way: the
:class:`~av.recording.AudioRecorder` owns the directory and the manifest; each
audio segment it opens cuts the cameras' video segments at the same hearing
time with the same index (:class:`~courtroom_agent.hearing_cameras.HearingCameras`).

Use: ``await open()`` (creates or resumes the hearing directory), read
:attr:`resume_frame`, ``await start(...)`` with the hearing frame of the
source's frame 0, ``await put(block)`` per captured block, ``await close(end)``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from av.audio import AudioBlock
from av.camera import Thumbnail
from av.recording import AudioRecorder, DiskHeadroom
from courtroom_agent.config import CameraConfig, RecordingConfig
from courtroom_agent.hearing_cameras import HearingCameras

__all__ = ["HearingRecording", "disk_headroom"]


def _disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


def disk_headroom(config: RecordingConfig) -> DiskHeadroom:
    """The recorder's free-space rule from the room's ``[recording]`` thresholds."""
    return DiskHeadroom(
        min_free_bytes=config.disk_min_free_mib << 20,
        warn_seconds=config.disk_warn_s,
        critical_seconds=config.disk_critical_s,
    )


class HearingRecording:
    """Microphones and cameras of one hearing under ``<root>/<courtroom>/<hearing>/``.

    Args:
        root: the recordings root.
        courtroom, hearing_id: directory names (an existing hearing is resumed).
        sample_rate, roles: the audio source's rate and one role per channel.
        cameras: the courtroom's cameras (none: audio only).
        title, font: the courtroom's name burned into the video, and its font.
        segment_seconds: nominal segment length.
        publish: receives camera events (``publish(kind, body)``).
        send_thumbnail: receives the cameras' thumbnails.
        recording: disk headroom thresholds (default: ``RecordingConfig()``).
        free_space: probe returning free bytes for a path (a test's small disk).
    """

    def __init__(
        self,
        *,
        root: Path,
        courtroom: str,
        hearing_id: str,
        sample_rate: int,
        roles: Sequence[str],
        cameras: Sequence[CameraConfig] = (),
        title: str | None = None,
        font: Path | None = None,
        segment_seconds: float = 300.0,
        publish: Callable[[str, dict[str, Any]], object] = lambda kind, body: None,
        send_thumbnail: Callable[[Thumbnail], None] | None = None,
        recording: RecordingConfig | None = None,
        free_space: Callable[[Path], int] | None = None,
    ) -> None:
        self._courtroom = courtroom
        self._hearing_id = hearing_id
        self._rate = sample_rate
        self._camera_configs = list(cameras)
        self._title = title
        self._font = font
        self._publish = publish
        self._send_thumbnail = send_thumbnail
        self.recorder = AudioRecorder(
            root=root,
            courtroom=courtroom,
            hearing_id=hearing_id,
            sample_rate=sample_rate,
            roles=roles,
            segment_seconds=segment_seconds,
            on_segment=self._segment_opened,
            disk=disk_headroom(recording or RecordingConfig()),
            free_space=free_space or _disk_free,
        )
        self.cameras: HearingCameras | None = None
        self._first_block_seen = False

    @property
    def directory(self) -> Path:
        return self.recorder.directory

    @property
    def resume_frame(self) -> int:
        """After :meth:`open`: the first hearing frame not yet recorded."""
        return self.recorder.resume_frame

    async def open(self) -> None:
        """Create or resume the hearing directory.

        Raises:
            RecordingError, ManifestError, RecordingMismatchError, OSError:
                see :meth:`AudioRecorder.open`.
        """
        await asyncio.to_thread(self.recorder.open)

    async def start(
        self, *, origin_frame: int, epoch: datetime, hearing_clock: Callable[[], float]
    ) -> None:
        """Start recording at hearing frame ``origin_frame``; start the cameras.

        Args:
            origin_frame: hearing frame of the audio source's frame 0.
            epoch: wall time of hearing second 0 (for the burned-in time),
                provisional: at the first block it becomes what that block's
                capture stamp says, the time the manifest gives (a device may
                deliver its first frame a second or more after it opened).
            hearing_clock: hearing seconds now (stamps the camera frames).

        Raises:
            ValueError: ``origin_frame`` is inside what was already recorded.
            CameraRecordingError: ffmpeg is missing (a configuration error).
        """
        self.recorder.start_at(origin_frame)
        if not self._camera_configs:
            return
        self.cameras = HearingCameras(
            self._camera_configs,
            courtroom=self._courtroom,
            hearing_id=self._hearing_id,
            recorder=self.recorder,
            epoch=epoch,
            hearing_clock=hearing_clock,
            publish=self._publish,
            send_thumbnail=self._send_thumbnail,
            title=self._title,
            font=self._font,
        )
        await self.cameras.__aenter__()

    async def put(self, block: AudioBlock) -> None:
        """Record a captured block (see :meth:`AudioRecorder.put`)."""
        if not self._first_block_seen:
            self._first_block_seen = True
            if self.cameras is not None:
                # Before the block cuts the first video segment: no picture is
                # drawn with the provisional epoch.
                frame = (self.recorder.frame_offset or 0) + block.start_frame
                wall = self.recorder.wall_time_of(block)
                self.cameras.set_epoch(wall - timedelta(seconds=frame / self._rate))
        await self.recorder.put(block)

    async def close(self, *, end: float) -> None:
        """Close the cameras' segments at hearing time ``end``, then the audio.

        Raises:
            RecorderFailedError: the audio recording had failed.
        """
        try:
            if self.cameras is not None:
                await self.cameras.close(end=end)
        finally:
            await asyncio.to_thread(self.recorder.close)

    def _segment_opened(self, index: int, first_frame: int) -> None:
        # Video segments are cut where the audio's are, with the same index.
        if self.cameras is not None:
            self.cameras.roll(index, first_frame / self._rate)
