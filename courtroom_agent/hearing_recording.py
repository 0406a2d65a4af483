"""A hearing's recording: every microphone and every camera, cut into the same segments.

Used by the agent for each hearing and by ``courtroom av record`` for room
commissioning, so both record exactly the same way: the
:class:`~av.recording.AudioRecorder` owns the directory and the manifest; each
audio segment it opens cuts the cameras' video segments at the same hearing
time with the same index (:class:`~courtroom_agent.hearing_cameras.HearingCameras`).

Use: ``await open()`` (creates or resumes the hearing directory), read
:attr:`resume_frame` and :attr:`interrupted`, ``await start(...)`` with the
hearing frame of the source's frame 0, ``await put(block)`` per captured
block, ``await close(end=...)``.

The court's lawful interruptions (SPC rule: 休庭 ``recess``, 公开庭审中的不公开
举证质证 ``closed-evidence``, 不宜录制的调解 ``mediation``): ``await
interrupt(reason=..., ordered_by=..., at=..., utc=...)`` closes the audio
segment and stops the cameras at hearing second ``at`` and has the open
interruption on disk before it returns; no :meth:`HearingRecording.put` until
``await resume(at=..., ordered_by=..., utc=...)``, after which the next block
opens a new segment at ``at`` and the cameras start again with it. A hearing
reopened while its manifest holds an open interruption (the agent was killed
during a recess) comes back interrupted: :attr:`HearingRecording.interrupted`.

Markers (举证: an exhibit presented or withdrawn): ``await mark(kind=...,
at=..., utc=..., label=..., by=..., ref=...)`` lists the event at hearing
second ``at`` in the manifest, on disk before it returns; it never waits for
a :meth:`HearingRecording.put` and never stops the recording.
"""

from __future__ import annotations

import asyncio
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from av.audio import AudioBlock
from av.camera import Thumbnail
from av.recording import (
    AudioRecorder,
    DiskHeadroom,
    Interruption,
    InterruptionReason,
    InterruptionStateError,
    Marker,
)
from courtroom_agent.config import CameraConfig, RecordingConfig
from courtroom_agent.hearing_cameras import HearingCameras

__all__ = ["HearingRecording", "OpenInterruption", "disk_headroom"]


def _disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


def disk_headroom(config: RecordingConfig) -> DiskHeadroom:
    """The recorder's free-space rule from the room's ``[recording]`` thresholds."""
    return DiskHeadroom(
        min_free_bytes=config.disk_min_free_mib << 20,
        warn_seconds=config.disk_warn_s,
        critical_seconds=config.disk_critical_s,
    )


@dataclass(frozen=True, slots=True)
class OpenInterruption:
    """The interruption in force: the hearing is in recess (or closed evidence, mediation).

    Attributes:
        reason: its code, one of :data:`av.recording.INTERRUPTION_REASONS`
            (as read from the manifest for one found on reopening).
        start: hearing second at which the recording stopped.
        start_frame: the same in frames.
        ordered_by: who ordered it.
        started_at: wall time (UTC) of the order.
    """

    reason: str
    start: float
    start_frame: int
    ordered_by: str
    started_at: datetime

    @classmethod
    def of(cls, interruption: Interruption, sample_rate: int) -> OpenInterruption:
        return cls(
            reason=interruption.reason,
            start=interruption.start_frame / sample_rate,
            start_frame=interruption.start_frame,
            ordered_by=interruption.ordered_by,
            started_at=datetime.fromisoformat(interruption.started_at),
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
        # Serialises put / interrupt / resume: an interrupt waits for a put in flight.
        self._lock = asyncio.Lock()
        self._epoch: datetime | None = None
        # What the court last ordered, known at once (the order itself may still be
        # waiting for the lock): blocks are to be put exactly while this is False.
        self._ordered_interrupted = False
        self._hearing_clock: Callable[[], float] | None = None

    @property
    def directory(self) -> Path:
        return self.recorder.directory

    @property
    def resume_frame(self) -> int:
        """After :meth:`open`: the first hearing frame not yet recorded."""
        return self.recorder.resume_frame

    @property
    def interrupted(self) -> OpenInterruption | None:
        """The interruption in force, ``None`` while recording (or before :meth:`open`).

        After :meth:`open` on a hearing killed during a recess, the one its
        manifest holds open: the agent comes back in recess.
        """
        current = self.recorder.interruption
        return None if current is None else OpenInterruption.of(current, self._rate)

    @property
    def accepts_audio(self) -> bool:
        """Whether :meth:`put` is to be called for the blocks captured now.

        ``False`` from the moment :meth:`interrupt` is called (even while it
        waits for a :meth:`put` in flight) until :meth:`resume` is called; a
        block put after the resume was called waits for it and is recorded.
        The agent checks it before each :meth:`put`, with no ``await`` between.
        """
        return not self._ordered_interrupted

    async def open(self) -> None:
        """Create or resume the hearing directory.

        Raises:
            RecordingError, ManifestError, RecordingMismatchError, OSError:
                see :meth:`AudioRecorder.open`.
        """
        await asyncio.to_thread(self.recorder.open)
        self._ordered_interrupted = self.recorder.interruption is not None

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
        self._epoch, self._hearing_clock = epoch, hearing_clock
        if self.recorder.interruption is None:  # in recess: the cameras start at the resume
            await self._start_cameras()

    async def _start_cameras(self) -> None:
        if not self._camera_configs or self._epoch is None or self._hearing_clock is None:
            return
        cameras = HearingCameras(
            self._camera_configs,
            courtroom=self._courtroom,
            hearing_id=self._hearing_id,
            recorder=self.recorder,
            epoch=self._epoch,
            hearing_clock=self._hearing_clock,
            publish=self._publish,
            send_thumbnail=self._send_thumbnail,
            title=self._title,
            font=self._font,
        )
        await cameras.__aenter__()
        self.cameras = cameras

    async def put(self, block: AudioBlock) -> None:
        """Record a captured block (see :meth:`AudioRecorder.put`).

        Raises:
            InterruptionStateError: the recording is interrupted (a caller bug:
                nothing may be recorded between :meth:`interrupt` and
                :meth:`resume`; check :attr:`accepts_audio` before each put).
            the rest as :meth:`AudioRecorder.put`.
        """
        async with self._lock:
            if (current := self.interrupted) is not None:
                raise InterruptionStateError(
                    f"{self.directory}: recording interrupted ({current.reason}) since "
                    f"{current.start:.3f} s; resume() before putting audio"
                )
            if not self._first_block_seen:
                self._first_block_seen = True
                frame = (self.recorder.frame_offset or 0) + block.start_frame
                wall = self.recorder.wall_time_of(block)
                self._epoch = wall - timedelta(seconds=frame / self._rate)
                if self.cameras is not None:
                    # Before the block cuts the first video segment: no picture is
                    # drawn with the provisional epoch.
                    self.cameras.set_epoch(self._epoch)
            await self.recorder.put(block)

    async def interrupt(
        self, *, reason: InterruptionReason | str, ordered_by: str, at: float, utc: datetime
    ) -> None:
        """The court interrupts the recording at hearing second ``at``.

        The audio segment closes at frame ``round(at * sample_rate)`` (audio
        put up to there is kept; audio already put beyond it too, and the
        interruption then starts where it ends), the interruption is written
        to the manifest, open, before this returns, then the cameras close
        their segments there and stop until :meth:`resume`. A :meth:`put`
        in flight is finished first; :attr:`accepts_audio` is ``False`` from
        the call on.

        Args:
            reason: one of :data:`av.recording.INTERRUPTION_REASONS`.
            ordered_by: who ordered it (a hub user name, or the local operator).
            at: hearing second of the order.
            utc: wall time of the order (timezone-aware).

        Raises:
            ValueError: ``reason`` is not a listed code, ``ordered_by`` is not
                a valid name, ``utc`` is naive, or ``at`` is negative; nothing changes.
            InterruptionStateError: already interrupted.
            RecorderClosedError, RecorderFailedError: see :meth:`AudioRecorder.interrupt`.
        """
        before, self._ordered_interrupted = self._ordered_interrupted, True
        async with self._lock:
            try:
                done = await asyncio.to_thread(
                    self.recorder.interrupt,
                    reason=reason,
                    ordered_by=ordered_by,
                    frame=round(at * self._rate),
                    utc=utc,
                )
            except BaseException:
                self._ordered_interrupted = before
                raise
            cameras, self.cameras = self.cameras, None
            if cameras is not None:
                await cameras.close(end=done.start_frame / self._rate)

    async def resume(self, *, at: float, ordered_by: str, utc: datetime) -> None:
        """End the interruption at hearing second ``at``; start the cameras again.

        The next :meth:`put` opens a new segment at frame ``round(at *
        sample_rate)``; samples of that block before it are part of the
        interruption and not recorded. The closed interruption is in the
        manifest on disk before this returns.

        Raises:
            ValueError: ``at`` is before the interruption began, ``ordered_by``
                is not a valid name, or ``utc`` is naive; nothing changes.
            InterruptionStateError: the recording is not interrupted.
            RecorderClosedError, RecorderFailedError: see :meth:`AudioRecorder.resume`.
            CameraRecordingError: ffmpeg is missing (a configuration error).
        """
        before, self._ordered_interrupted = self._ordered_interrupted, False
        async with self._lock:
            try:
                await asyncio.to_thread(
                    self.recorder.resume,
                    frame=round(at * self._rate),
                    resumed_by=ordered_by,
                    utc=utc,
                )
            except BaseException:
                self._ordered_interrupted = before
                raise
            await self._start_cameras()

    async def mark(
        self,
        *,
        kind: str,
        at: float,
        utc: datetime,
        label: str = "",
        by: str = "",
        ref: str = "",
    ) -> Marker:
        """List a marker at hearing second ``at`` (see :meth:`AudioRecorder.mark`).

        Runs the write in a thread, without the lock of :meth:`put`: a marker
        neither waits for audio in flight nor holds it up. Also during an
        interruption (the marker is listed; nothing is recorded).

        Args:
            kind: e.g. ``evidence.presented`` or ``evidence.withdrawn``.
            at: hearing second of the event (frame ``round(at * sample_rate)``).
            utc: wall time of the event (timezone-aware).
            label: the exhibit's title (at most 500 characters).
            by: who presented it (at most 200 characters; empty if not known).
            ref: the exhibit id (at most 200 characters).

        Returns:
            The marker as listed.

        Raises:
            ValueError: ``at`` is negative or not finite, or a field is out of
                bounds (the message names it); nothing changes.
            MarkerError: not written (disk full, too many markers, nothing
                recorded yet); the recording goes on.
            RecorderClosedError, RecorderFailedError: see :meth:`AudioRecorder.mark`.
        """
        if not math.isfinite(at) or at < 0:
            raise ValueError(f"at {at!r} is not a hearing second (finite, not negative)")
        return await asyncio.to_thread(
            self.recorder.mark,
            kind=kind,
            frame=round(at * self._rate),
            utc=utc,
            label=label,
            by=by,
            ref=ref,
        )

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
