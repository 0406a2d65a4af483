"""Segmented, crash-safe MP4 recording of one camera.

Encoder choice: raw BGR frames are piped to an ``ffmpeg`` child process that
encodes H.264 (libx264) into **fragmented** MP4
(``-movflags +frag_keyframe+empty_moov+default_base_moof``) with a keyframe
every ``keyframe_interval`` seconds. ``cv2.VideoWriter`` was not used: it only
offers MPEG-4 part 2 (``mp4v``, several times larger than H.264 for the same
picture) and writes the ``moov`` index when the file is closed, so a recording
cut by a crash or a power failure is unreadable. A fragmented file is
playable up to its last complete fragment — at most one keyframe interval is
lost, plus the ``max_delay`` (0.5 s) of pictures the pacer still holds back so
that a late segment cut lands on the audio's (:mod:`av.camera.pacer`) — and
the encoder runs in its own process, off the event loop and the GIL. ffmpeg
is told never to overwrite (``-n``).

Each frame the encoder receives is a :class:`~av.camera.pacer.Slot`: frame
``k`` of a segment shows hearing time ``start + k / fps`` with that time burned
in (:class:`~av.camera.overlay.TimestampOverlay`); a slot with no picture
gets a "NO SIGNAL" frame so that the video stays on the audio's timeline.

Backpressure: writes go through the pipe with ``drain()``, so a slow encoder
slows :meth:`CameraRecorder.push`; the camera's capture queue then drops its
oldest frames (counted there) and the pacer repeats frames to keep the rate.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import cv2
import numpy as np

from av.camera.errors import CameraRecordingError
from av.camera.overlay import Image, TimestampOverlay, no_signal_image
from av.camera.pacer import FramePacer, SegmentStart, Slot
from av.camera.source import Frame
from courtroom_core.backoff import ErrorClass

__all__ = ["CameraRecorder", "VideoSegment"]

_log = logging.getLogger(__name__)
_DEFAULT_SIZE = (640, 360)


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoSegment:
    """A closed video segment, as the manifest lists it.

    Attributes:
        camera: camera id.
        index: segment index, shared with the audio segments.
        file: file name inside the recorder's directory.
        start: hearing seconds of frame 0.
        fps: constant frame rate; frame ``k`` is at ``start + k / fps``.
        frames: frames written.
        repeated: frames showing the same picture as the one before.
        missing: "no signal" frames (no picture within ``stale_after``).
        dropped: captured frames that no output frame used.
        width, height: picture size.
        sha256: hex digest of the closed file.
        complete: the encoder finished cleanly.
    """

    camera: str
    index: int
    file: str
    start: float
    fps: float
    frames: int
    repeated: int
    missing: int
    dropped: int
    width: int
    height: int
    sha256: str
    complete: bool

    @property
    def end(self) -> float:
        return self.start + self.frames / self.fps

    def to_json(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "index": self.index,
            "file": self.file,
            "start": self.start,
            "end": self.end,
            "fps": self.fps,
            "frames": self.frames,
            "repeated": self.repeated,
            "missing": self.missing,
            "dropped": self.dropped,
            "width": self.width,
            "height": self.height,
            "sha256": self.sha256,
            "complete": self.complete,
        }


@dataclass(slots=True)
class _Open:
    start: SegmentStart
    path: Path
    process: asyncio.subprocess.Process
    width: int
    height: int
    dropped_before: int
    frames: int = 0
    repeated: int = 0
    missing: int = 0


class CameraRecorder:
    """Records one camera into constant-rate MP4 segments.

    Use as an async context manager; :meth:`roll` starts a segment (the first
    call starts recording), :meth:`push` takes frames stamped with hearing
    time, :meth:`advance` keeps the timeline going while no frames come.

    Args:
        camera: camera id, used in file names.
        directory: where segments are written (must exist).
        fps: output frame rate.
        overlay: draws the recording time; None records the bare picture.
        size: output ``(width, height)``; default the first frame's size.
        ffmpeg: the ffmpeg executable.
        preset: libx264 preset (CPU against size).
        crf: libx264 constant quality (lower is better, 18–28 sensible).
        keyframe_interval: seconds between keyframes = fragments; the most a
            crash can lose.
        stale_after, max_delay: see :class:`~av.camera.pacer.FramePacer`.
        on_segment: called with each :class:`VideoSegment` once closed, hashed
            and made read-only.
        on_open: called as ``on_open(index, file name, start)`` just before a
            segment's file is created, so the manifest lists it first.
        inherit_fds: descriptors the encoder processes inherit (the hearing
            lock, held until the last encoder has flushed and exited).

    Raises:
        CameraRecordingError: (CONFIG) on entering, if ffmpeg is not found.
        ValueError: invalid numbers.
    """

    def __init__(
        self,
        *,
        camera: str,
        directory: Path,
        fps: float,
        overlay: TimestampOverlay | None = None,
        size: tuple[int, int] | None = None,
        ffmpeg: str = "ffmpeg",
        preset: str = "veryfast",
        crf: int = 23,
        keyframe_interval: float = 1.0,
        stale_after: float = 1.0,
        max_delay: float = 0.5,
        on_segment: Callable[[VideoSegment], None] | None = None,
        on_open: Callable[[int, str, float], None] | None = None,
        inherit_fds: tuple[int, ...] = (),
    ) -> None:
        if keyframe_interval <= 0:
            raise ValueError("keyframe_interval must be positive")
        if size is not None and (size[0] < 16 or size[1] < 16):
            raise ValueError(f"video size {size} is too small")
        self.camera = camera
        self.directory = directory
        self.fps = fps
        self.overlay = overlay
        self._size = size
        self._ffmpeg = ffmpeg
        self._preset = preset
        self._crf = crf
        self._gop = max(1, round(keyframe_interval * fps))
        self._pacer = FramePacer(fps=fps, stale_after=stale_after, max_delay=max_delay)
        self._on_segment = on_segment
        self._on_open = on_open
        self._inherit_fds = inherit_fds
        self._open: _Open | None = None
        self._closing: set[asyncio.Task[VideoSegment]] = set()
        self._blank: Image | None = None
        self._last_size: tuple[int, int] | None = size
        self.segments: list[VideoSegment] = []
        """Closed segments, in order."""
        self.written_until: float | None = None
        """Hearing time up to which the video is in hand (None before the first
        frame reaches the encoder): what "is it really recording" watches.
        Slots have reached the encoder up to about ``max_delay`` before it;
        the pacer holds those last pictures back by design, not by a stall."""

    @property
    def pacer(self) -> FramePacer:
        return self._pacer

    async def __aenter__(self) -> Self:
        if shutil.which(self._ffmpeg) is None:
            raise CameraRecordingError(
                self.camera, f"{self._ffmpeg} not found", error_class=ErrorClass.CONFIG
            )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def roll(self, index: int, start: float) -> None:
        """Start segment ``index`` at hearing time ``start`` (see :meth:`FramePacer.roll`).

        Raises:
            ValueError: ``index``/``start`` do not follow the previous segment.
        """
        self._pacer.roll(index, start)

    async def push(self, frame: Frame) -> None:
        """Record a frame stamped with hearing time.

        Raises:
            CameraRecordingError: the encoder failed; this recorder is done
                (close it and start a new one at the next segment index).
        """
        self._last_size = self._last_size or (frame.width, frame.height)
        await self._write(self._pacer.push(frame))
        if frame.hearing_time is not None:
            self._caught_up(frame.hearing_time)

    async def advance(self, now: float) -> None:
        """Hearing time is ``now``: write slots no frame arrived for.

        Raises:
            CameraRecordingError: the encoder failed.
        """
        await self._write(self._pacer.advance(now))
        self._caught_up(now)

    def _caught_up(self, seen: float) -> None:
        # What the pacer released for hearing time `seen` has reached the
        # encoder (a hung encoder blocks before this, a dead one raises).
        if self.written_until is not None:
            self.written_until = max(self.written_until, seen)

    async def close(self, end: float | None = None) -> None:
        """Fill the open segment up to ``end`` (if given), close it, wait for all closes."""
        try:
            if end is not None and self._open is not None:
                await self._write(self._pacer.finish(end))
        finally:
            if self._open is not None:
                self._start_close(self._open)
                self._open = None
            if self._closing:
                await asyncio.gather(*self._closing, return_exceptions=True)

    async def _write(self, outputs: list[SegmentStart | Slot]) -> None:
        for out in outputs:
            if isinstance(out, SegmentStart):
                previous = self._open
                self._open = await self._start(out)
                if previous is not None:
                    self._start_close(previous)
                continue
            current = self._open
            assert current is not None
            image = self._picture(out, current.width, current.height)
            current.frames += 1
            current.repeated += out.repeated
            current.missing += out.frame is None
            stdin = current.process.stdin
            assert stdin is not None
            try:
                stdin.write(image.tobytes())
                await stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise CameraRecordingError(
                    self.camera,
                    f"encoder for {current.path.name} exited ({current.process.returncode})",
                    error_class=ErrorClass.TRANSIENT,
                ) from exc
            end = out.time + 1.0 / self.fps
            self.written_until = end if self.written_until is None else max(self.written_until, end)

    def _picture(self, slot: Slot, width: int, height: int) -> Image:
        if slot.frame is None:
            if self._blank is None or self._blank.shape[:2] != (height, width):
                self._blank = no_signal_image(width, height)
            image = self._blank.copy()
        elif slot.frame.image.shape[:2] != (height, width):
            resized = cv2.resize(slot.frame.image, (width, height), interpolation=cv2.INTER_AREA)
            image = np.asarray(resized, dtype=np.uint8)
        else:
            image = slot.frame.image.copy()
        if self.overlay is not None:
            self.overlay.draw(image, slot.time)
        return np.ascontiguousarray(image)

    async def _start(self, segment: SegmentStart) -> _Open:
        width, height = self._size or self._last_size or _DEFAULT_SIZE
        path = self.directory / f"{self.camera}-{segment.index:05d}.mp4"
        if self._on_open is not None:
            self._on_open(segment.index, path.name, segment.start)
        command = [
            self._ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-n",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}",
            "-framerate", f"{self.fps:g}", "-i", "pipe:0",
            "-an", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-c:v", "libx264", "-preset", self._preset, "-crf", str(self._crf),
            "-pix_fmt", "yuv420p", "-g", str(self._gop), "-keyint_min", str(self._gop),
            "-sc_threshold", "0",
            "-metadata", f"comment=camera={self.camera} segment={segment.index} "
            f"hearing_start={segment.start:.6f}",
            "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-flush_packets", "1",
            "-f", "mp4", str(path),
        ]  # fmt: skip
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=self._inherit_fds,
                # Its own session: a Ctrl-C at the terminal must not kill the
                # encoder mid-segment; the recorder ends it by closing stdin.
                start_new_session=True,
            )
        except OSError as exc:
            raise CameraRecordingError(
                self.camera, f"cannot start {self._ffmpeg}: {exc}", error_class=ErrorClass.CONFIG
            ) from exc
        _log.info("camera %s: recording segment %d to %s", self.camera, segment.index, path)
        return _Open(segment, path, process, width, height, self._pacer.stats.dropped)

    def _start_close(self, segment: _Open) -> None:
        dropped = self._pacer.stats.dropped - segment.dropped_before
        task = asyncio.create_task(
            self._finish(segment, dropped), name=f"close {segment.path.name}"
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _finish(self, segment: _Open, dropped: int) -> VideoSegment:
        process = segment.process
        if process.stdin is not None:
            process.stdin.close()
        assert process.stderr is not None
        errors = (await process.stderr.read()).decode(errors="replace").strip()
        code = await process.wait()
        if code != 0:
            _log.error("camera %s: encoder for %s failed (%d): %s",
                       self.camera, segment.path.name, code, errors[-500:])  # fmt: skip
        digest = await asyncio.to_thread(_seal, segment.path)
        closed = VideoSegment(
            camera=self.camera,
            index=segment.start.index,
            file=segment.path.name,
            start=segment.start.start,
            fps=self.fps,
            frames=segment.frames,
            repeated=segment.repeated,
            missing=segment.missing,
            dropped=dropped,
            width=segment.width,
            height=segment.height,
            sha256=digest,
            complete=code == 0,
        )
        self.segments.append(closed)
        self.segments.sort(key=lambda s: s.index)
        if self._on_segment is not None:
            self._on_segment(closed)
        return closed


def _seal(path: Path) -> str:
    """Make a closed segment read-only (nothing rewrites a record) and hash it."""
    try:
        path.chmod(0o444)
    except FileNotFoundError:
        return ""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except FileNotFoundError:
        return ""
    return digest.hexdigest()
