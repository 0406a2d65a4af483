"""Lossless, segmented, crash-safe recording of every channel of a hearing.

:class:`AudioRecorder` takes :class:`~av.audio.AudioBlock` objects and writes
them under ``<root>/<courtroom>/<hearing id>/`` as described in
``docs/recording-format.md``: one mono FLAC file per channel per segment and a
``manifest.json`` replaced atomically whenever a segment opens or closes.

Threading: :meth:`AudioRecorder.write` runs the pure
:class:`~av.recording.planner.SegmentPlanner` on the caller's thread (so frame
order errors reach the caller) and queues its actions; one writer thread
(``recorder-<hearing>``) encodes FLAC, ``fsync``\\ s the open files every
``sync_interval`` seconds, and owns the manifest.

Overflow policy — the recorder never drops audio:

* the queue is bounded by audio duration (``max_queue_seconds``). When the
  writer falls ``behind_seconds`` behind, a ``writer_behind`` alarm is raised
  (the crash guarantee "readable up to the last second" no longer holds while
  it lasts); it clears below half that;
* when the queue is full, :meth:`write` blocks until the writer catches up
  (:meth:`put` waits in a thread, leaving the event loop free). The
  back-pressure reaches the audio source, whose own bounded queue drops and
  numbers the lost frames; they arrive here as a ``start_frame`` jump and are
  declared as a ``capture`` gap. Audio is thus lost only where it is declared.
* an I/O error in the writer (disk full) stops the recording: a critical
  ``writer_failed`` alarm, and :meth:`write`/:meth:`close` raise
  :class:`~av.recording.errors.RecorderFailedError`.

Lawful interruptions: :meth:`AudioRecorder.interrupt` (休庭 ``recess``,
不公开举证质证 ``closed-evidence``, 不宜录制的调解 ``mediation``) closes the
open segment and writes the interruption into the manifest before it
returns; :meth:`AudioRecorder.resume` ends it. In between, :meth:`write`
refuses every block. A recorder opened on a hearing whose manifest holds an
open interruption (killed during a recess) comes back interrupted.

Markers: :meth:`AudioRecorder.mark` lists an event of the hearing (an
exhibit presented, 举证) at a hearing frame and returns once the manifest
holding it is on disk. It takes no part in planning the audio (no lock that
:meth:`write` takes; markers queued together are written with one manifest
write) and a marker that cannot be written is refused with
:class:`~av.recording.errors.MarkerError` while the recording goes on.

Disk headroom: free space is turned into recording time left at the
hearing's data rate — the audio's worst case (raw PCM plus FLAC framing)
plus the video's rate as measured from the growing MP4 files listed through
:meth:`record_video` (their growth over the last ``video_rate_window``
seconds), since with cameras the video is most of what is written.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

from av.audio import AudioBlock
from av.recording.alarms import AlarmKind, DiskHeadroom, RecorderAlarm, RecorderState, Severity
from av.recording.errors import (
    InterruptionStateError,
    RecorderClosedError,
    RecorderFailedError,
)
from av.recording.hearing_dir import HearingLock, check_path_component, recover_hearing
from av.recording.manifest import (
    INTERRUPTION_REASONS,
    GapReason,
    Interruption,
    InterruptionReason,
    Manifest,
    Marker,
    SegmentStatus,
    VideoFile,
    VideoGap,
    iso_utc,
    write_manifest,
)
from av.recording.planner import Action, DeclareGap, OpenSegment, SegmentPlanner, WriteFrames
from av.recording.segment_writer import SegmentFiles
from av.recording.writer_thread import (
    FINISH,
    AddMarker,
    BeginInterruption,
    EndInterruption,
    SegmentWriterThread,
    StartSession,
    VideoUpdate,
)

__all__ = ["AudioRecorder"]


def _aware(t: datetime, what: str) -> str:
    """``t`` as the manifest's UTC string.

    Raises:
        ValueError: ``t`` has no timezone (its UTC time would be a guess).
    """
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} {t.isoformat()} has no timezone")
    return iso_utc(t)


_log = logging.getLogger(__name__)

# FLAC never exceeds raw PCM by more than its frame headers; 2 % covers them.
_PCM_OVERHEAD = 1.02


class AudioRecorder:
    """Records one hearing; a context manager (sync or async).

    Args:
        root: recordings root (``<data dir>/recordings``).
        courtroom: courtroom id (a directory name).
        hearing_id: hearing id (a directory name); an existing hearing is resumed.
        sample_rate: frames per second of the blocks.
        roles: role of each channel, in channel order.
        segment_seconds: nominal segment length.
        segment_frames: the same in frames; overrides ``segment_seconds``.
            A resumed hearing keeps the length in its manifest.
        frame_offset: added to every block's ``start_frame`` to get the
            hearing frame. ``None``: 0 for a new hearing; for a resumed one,
            the hearing frame that the wall clock says the first block has
            (so a restarted source counting from 0 lands after the gap).
        max_queue_seconds: audio queued for the writer before :meth:`write` blocks.
        behind_seconds: queued audio that raises the ``writer_behind`` alarm.
        sync_interval: seconds between ``fsync`` of the open files.
        disk: free-space rule; default :class:`DiskHeadroom` ().
        disk_check_interval: seconds between free-space probes.
        video_rate_window: seconds over which the video files' growth is
            averaged for the data rate.
        free_space: probe returning free bytes for a path.
        clock: monotonic clock (the one ``AudioBlock.captured_at`` uses).
        wall_clock: UTC wall clock for the manifest.
        on_segment: called as ``on_segment(index, first_frame)`` in the caller's
            thread, when :meth:`write` opens segment ``index`` at hearing frame
            ``first_frame`` — so cameras can cut their segments at the same time.
        open_files: opens a segment's files; :class:`SegmentFiles` unless a
            test stands in a slow or failing disk.
        lock_wait: seconds :meth:`open` waits for a previous recorder of the
            hearing (or its orphaned video encoders) to let go.
    """

    def __init__(
        self,
        *,
        root: Path,
        courtroom: str,
        hearing_id: str,
        sample_rate: int,
        roles: Sequence[str],
        segment_seconds: float = 300.0,
        segment_frames: int | None = None,
        frame_offset: int | None = None,
        max_queue_seconds: float = 10.0,
        behind_seconds: float = 1.0,
        sync_interval: float = 1.0,
        disk: DiskHeadroom | None = None,
        disk_check_interval: float = 5.0,
        video_rate_window: float = 60.0,
        free_space: Callable[[Path], int] = lambda p: shutil.disk_usage(p).free,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        open_files: Callable[..., SegmentFiles] = SegmentFiles,
        on_segment: Callable[[int, int], None] | None = None,
        lock_wait: float = 10.0,
    ) -> None:
        if not roles:
            raise ValueError("at least one channel role is required")
        if not 0 < behind_seconds < max_queue_seconds:
            raise ValueError("behind_seconds must be positive and below max_queue_seconds")
        self.directory = (
            Path(root) / check_path_component(courtroom, "courtroom")
        ) / check_path_component(hearing_id, "hearing id")
        self.courtroom = courtroom
        self.hearing_id = hearing_id
        self.sample_rate = sample_rate
        self.roles = list(roles)
        self._segment_frames = segment_frames or max(1, round(segment_seconds * sample_rate))
        self._frame_offset = frame_offset
        self._max_queue = max(1, round(max_queue_seconds * sample_rate))
        self._behind = round(behind_seconds * sample_rate)
        self._sync_interval = sync_interval
        self._disk = disk or DiskHeadroom()
        self._disk_interval = disk_check_interval
        self._free_space = free_space
        self._clock = clock
        self._wall_clock = wall_clock
        self._on_segment = on_segment
        self._open_files = open_files
        self._lock_wait = lock_wait
        self._audio_rate = sample_rate * len(self.roles) * 2 * _PCM_OVERHEAD
        self._video_window = video_rate_window
        self._video_open: set[str] = set()  # video files growing (listed open)
        self._video_done: set[str] = set()  # closed since the last probe: sized once more
        self._video_sealed_bytes = 0  # final sizes of the closed ones
        self._video_samples: collections.deque[tuple[float, int]] = collections.deque()
        self._video_rate = 0.0

        self._cond = threading.Condition()
        # Held from planning a block (or an interruption) until its actions are
        # queued, so that the writer carries them out in the planned order.
        self._plan_lock = threading.Lock()
        self._interruption: Interruption | None = None
        self._queue: collections.deque[tuple[Action | StartSession | object, int]] = (
            collections.deque()
        )
        self._queued_frames = 0
        self._edges: list[RecorderAlarm] = []
        self._active: dict[AlarmKind, RecorderAlarm] = {}
        self._free_bytes: int | None = None
        self._next_disk_check = float("-inf")
        self._planner: SegmentPlanner | None = None
        self._writer: SegmentWriterThread | None = None
        self._lock: HearingLock | None = None
        self._resume_end: int | None = None
        self._resuming = False
        self._started = False
        self._gaps = 0
        self._closed = False

    # -- lifecycle ---------------------------------------------------------

    def open(self) -> None:
        """Create or resume the hearing directory and start the writer thread.

        Raises:
            RecordingError: another recorder holds the hearing.
            ManifestError: an existing manifest is invalid (nothing is changed).
            RecordingMismatchError: the hearing was recorded with other channels/rate.
            OSError: the directory cannot be created or written.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = HearingLock(self.directory, wait=self._lock_wait)
        try:
            now = iso_utc(self._wall_clock())
            resume = recover_hearing(
                self.directory, sample_rate=self.sample_rate, roles=self.roles, now=now
            )
            manifest: Manifest | None = None
            next_index, reason = 1, GapReason.RECORDER_INTERRUPTED
            interrupted_from: int | None = None
            if resume is not None:
                manifest = resume.manifest
                write_manifest(self.directory, manifest)
                self._segment_frames = manifest.segment_frames
                self._resume_end, next_index, reason = (
                    resume.end_frame,
                    resume.next_index,
                    resume.reason,
                )
                self._resuming = True
                self._gaps = len(manifest.gaps)
                self._interruption = manifest.open_interruption
                if self._interruption is not None:
                    interrupted_from = self._interruption.start_frame
                    _log.warning(
                        "%s: the recording was interrupted (%s) at frame %d and is still",
                        self.directory,
                        self._interruption.reason,
                        interrupted_from,
                    )
        except BaseException:
            self._lock.release()
            raise
        self._planner = SegmentPlanner(
            segment_frames=self._segment_frames,
            channels=len(self.roles),
            next_index=next_index,
            resume_from=self._resume_end,
            resume_reason=reason,
            interrupted_from=interrupted_from,
        )
        self._writer = SegmentWriterThread(
            self,
            manifest=manifest,
            segment_frames=self._segment_frames,
            sync_interval=self._sync_interval,
            clock=self._clock,
            wall_clock=lambda: iso_utc(self._wall_clock()),
            open_files=self._open_files,
        )
        self._writer.start()
        self._check_disk(force=True)

    def close(self) -> None:
        """Finish the open segment, mark the manifest closed, stop the writer.

        Raises:
            RecorderFailedError: the writer failed before or while closing.
        """
        if self._closed or self._writer is None or self._planner is None:
            self._closed = True
            return
        self._closed = True
        with self._cond:
            for action in self._planner.finish():
                self._queue.append((action, 0))
            self._queue.append((FINISH, 0))
            self._cond.notify_all()
        self._writer.join()
        if self._lock is not None:
            self._lock.release()
        self._raise_if_failed()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.open)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.close)

    # -- audio in ----------------------------------------------------------

    def write(self, block: AudioBlock) -> None:
        """Queue a block for recording; blocks while the queue is full.

        Raises:
            FrameOrderError: the block overlaps audio already recorded; it is
                refused and the recorder carries on.
            ValueError: the block has the wrong channel count or dtype.
            RecorderClosedError: after :meth:`close`, or before :meth:`open`.
            RecorderFailedError: the writer has failed; recording has stopped.
            InterruptionStateError: the recording is interrupted (between
                :meth:`interrupt` and :meth:`resume`); nothing is recorded.
        """
        if self._closed or self._planner is None:
            raise RecorderClosedError(f"{self.directory}: recorder is not open")
        self._raise_if_failed()
        with self._plan_lock:
            planner = self._planner
            first = not self._started
            if self._frame_offset is None and planner.interrupted_from is None:
                self._frame_offset = self._offset_for(block)
            start = block.start_frame + (self._frame_offset or 0)
            actions: list[Action | StartSession | object] = []
            actions += planner.feed(start, block.pcm)
            if not actions:
                return  # empty, or captured wholly within the interruption
            self._gaps += sum(isinstance(a, DeclareGap) for a in actions)
            if self._on_segment is not None:
                for action in actions:
                    if isinstance(action, OpenSegment):
                        self._on_segment(action.index, action.first_frame)
            if first:
                actions.insert(0, StartSession(iso_utc(self._wall_of(block)), start))
                self._started = True
            recorded = sum(a.frames for a in actions if isinstance(a, WriteFrames))
            with self._cond:
                while self._queued_frames >= self._max_queue and not self._writer_failed():
                    self._cond.wait()
                self._raise_if_failed()
                for action in actions:
                    self._queue.append((action, recorded if action is actions[-1] else 0))
                self._queued_frames += recorded
                self._cond.notify_all()
        self._check_behind()
        self._check_disk()

    async def put(self, block: AudioBlock) -> None:
        """:meth:`write` without blocking the event loop when the queue is full.

        Raises:
            the same as :meth:`write`.
        """
        if self._queued_frames < self._max_queue:
            self.write(block)
        else:
            await asyncio.to_thread(self.write, block)

    def wall_time_of(self, block: AudioBlock) -> datetime:
        """Wall time (UTC) of ``block``'s first frame, from its capture stamp.

        The manifest's ``started_at`` (and each session's) is this time for the
        first block of the run, so a picture stamped from it shows the time the
        manifest gives. A stamp not on this recorder's clock counts as now.
        """
        return self._wall_of(block)

    # -- lawful interruptions -----------------------------------------------

    def interrupt(
        self,
        *,
        reason: InterruptionReason | str,
        ordered_by: str,
        frame: int,
        utc: datetime,
    ) -> Interruption:
        """The court interrupts the recording at hearing frame ``frame``.

        Closes the open segment (audio written so far is kept; audio written
        past ``frame`` is kept too and the interruption starts where it ends),
        lists the interruption, open, in the manifest and returns once that
        manifest is on disk — a recorder killed during the interruption leaves
        it there. Blocks, possibly of a waiting :meth:`write`, already planned
        are written first. Blocking: call it in a thread from an event loop.

        Args:
            reason: one of :data:`~av.recording.manifest.INTERRUPTION_REASONS`.
            ordered_by: who ordered it (a hub user, or the local operator).
            frame: hearing frame at which the court ordered it.
            utc: wall time of the order (timezone-aware).

        Returns:
            The interruption as listed.

        Raises:
            ValueError: ``reason`` is not a listed code, ``ordered_by`` is
                empty, too long or not printable, ``utc`` is naive, or
                ``frame`` is negative; nothing changes.
            InterruptionStateError: already interrupted.
            RecorderClosedError: the recorder is not open.
            RecorderFailedError: the writer failed (before or while writing it).
        """
        if reason not in INTERRUPTION_REASONS:
            raise ValueError(
                f"interruption reason {reason!r} is not one of "
                f"{[str(r) for r in INTERRUPTION_REASONS]}"
            )
        when = _aware(utc, "utc")
        self._raise_unless_open()
        with self._plan_lock:
            assert self._planner is not None
            # Validate before the planner changes state.
            Interruption(str(reason), max(frame, 0), ordered_by, when)
            actions, start = self._planner.interrupt(frame)
            interruption = Interruption(str(reason), start, ordered_by, when)
            items: list[object] = list(actions)
            self._gaps += sum(isinstance(a, DeclareGap) for a in actions)
            if not self._started:  # nothing recorded in this run yet
                items.insert(0, StartSession(when, start))
                self._started = True
            begin = BeginInterruption(interruption)
            self._interruption = interruption
            self._queue_and_wait([*items, begin], begin.written)
        _log.warning(
            "%s: recording interrupted (%s) at frame %d by %s",
            self.directory,
            reason,
            start,
            ordered_by,
        )
        return interruption

    def resume(self, *, frame: int, resumed_by: str, utc: datetime) -> Interruption:
        """End the interruption at hearing frame ``frame``; the next block records again.

        The next block opens a new segment at ``frame`` (its samples before
        ``frame`` are part of the interruption and not recorded; if it starts
        later, the frames in between are a ``capture`` gap). Returns once the
        closed interruption is in the manifest on disk. Blocking, as
        :meth:`interrupt`.

        Returns:
            The interruption as closed.

        Raises:
            ValueError: ``frame`` is before the interruption began, ``resumed_by``
                is not a valid name, or ``utc`` is naive; nothing changes.
            InterruptionStateError: the recording is not interrupted.
            RecorderClosedError: the recorder is not open.
            RecorderFailedError: the writer failed.
        """
        when = _aware(utc, "utc")
        self._raise_unless_open()
        with self._plan_lock:
            assert self._planner is not None
            current = self._interruption
            if current is None:
                raise InterruptionStateError(
                    f"{self.directory}: the recording is not interrupted; nothing to resume"
                )
            if frame < current.start_frame:
                raise ValueError(
                    f"resume frame {frame} is before the interruption began "
                    f"(frame {current.start_frame})"
                )
            # Validates the name and time before anything changes.
            closed = dataclasses.replace(
                current, end_frame=frame, resumed_by=resumed_by, ended_at=when
            )
            self._planner.resume(frame)
            self._interruption = None
            end = EndInterruption(frame, resumed_by, when)
            self._queue_and_wait([end], end.written)
        _log.warning("%s: recording resumed at frame %d by %s", self.directory, frame, resumed_by)
        return closed

    # -- markers -------------------------------------------------------------

    def mark(
        self,
        *,
        kind: str,
        frame: int,
        utc: datetime,
        label: str = "",
        by: str = "",
        ref: str = "",
    ) -> Marker:
        """List a marker at hearing frame ``frame``; return once it is on disk.

        The manifest holding it replaces the previous one atomically before
        this returns, so a recorder killed afterwards leaves the marker
        listed. Markers are kept in frame order whatever order they come in;
        any frame is accepted (also during an interruption). The writer
        thread writes it after the audio already queued: blocking (possibly
        for as long as the writer is behind), so call it in a thread from an
        event loop. The audio path is never held up or stopped by it.

        Args:
            kind: dotted lowercase code, e.g. ``evidence.presented``
                (:data:`~av.recording.markers.MARKER_KINDS`).
            frame: hearing frame of the event.
            utc: wall time of the event (timezone-aware).
            label: text shown to a reader, at most 500 characters.
            by: who (at most 200 characters; empty if not known).
            ref: what about, e.g. the exhibit id (at most 200 characters).

        Returns:
            The marker as listed.

        Raises:
            ValueError: a field is out of bounds or ``utc`` is naive; the
                message names the field; nothing changes.
            MarkerError: the marker could not be written (disk full, the
                hearing holds :data:`~av.recording.markers.MAX_MARKERS`
                already, nothing recorded yet); the recording goes on.
            RecorderClosedError: the recorder is not open.
            RecorderFailedError: the writer had failed; the recording has stopped.
        """
        marker = Marker(kind, frame, _aware(utc, "utc"), label, by, ref)
        self._raise_unless_open()
        item = AddMarker(marker)
        self._queue_and_wait([item], item.written)
        if item.error is not None:
            raise item.error
        return marker

    @property
    def markers(self) -> tuple[Marker, ...]:
        """The markers as last written to the manifest, in frame order."""
        manifest = self.manifest
        return () if manifest is None else manifest.markers

    @property
    def interruption(self) -> Interruption | None:
        """The interruption in force (also one found open by :meth:`open`), else ``None``."""
        return self._interruption

    # -- video beside the audio -------------------------------------------

    def record_video(self, *, file: VideoFile | None = None, gap: VideoGap | None = None) -> None:
        """List a camera's segment (opened or closed) or a camera gap in the manifest.

        Thread-safe and never blocks: the entry is queued for the writer
        thread outside the audio bound (a few entries per segment and camera).
        After :meth:`close`, or once the writer failed, it is logged and dropped.
        """
        update = VideoUpdate(file=file, gap=gap)
        if self._closed or self._writer is None or self._writer_failed():
            _log.error("%s: video entry after the recording ended: %s", self.directory, update)
            return
        with self._cond:
            self._queue.append((update, 0))
            if file is not None:  # for the data rate: which files are growing
                if file.status is SegmentStatus.OPEN:
                    self._video_open.add(file.file)
                elif file.file in self._video_open:
                    self._video_open.discard(file.file)
                    self._video_done.add(file.file)
            self._cond.notify_all()

    # -- watchdog out ------------------------------------------------------

    def take_alarms(self) -> list[RecorderAlarm]:
        """Alarm edges (raised and cleared) since the last call, oldest first."""
        self._check_behind()
        with self._cond:
            edges, self._edges = self._edges, []
        return edges

    def state(self) -> RecorderState:
        """A snapshot of the recorder for the patrol view."""
        writer = self._writer
        with self._cond:
            queued = self._queued_frames
            active = tuple(self._active.values())
            free = self._free_bytes
        error = writer.error if writer is not None else None
        return RecorderState(
            hearing_id=self.hearing_id,
            directory=str(self.directory),
            recording=writer is not None and not self._closed and error is None,
            segment_index=writer.segment_index if writer is not None else None,
            written_frame=writer.written_frame if writer is not None else 0,
            queued_seconds=queued / self.sample_rate,
            free_bytes=free,
            free_seconds=None if free is None else free / self.bytes_per_second,
            gaps=self._gaps,
            alarms=active,
            error=None if error is None else str(error),
            interrupted=None if self._interruption is None else self._interruption.reason,
        )

    @property
    def bytes_per_second(self) -> float:
        """The data rate free space is divided by: audio (worst case) plus measured video."""
        return self._audio_rate + self._video_rate

    @property
    def manifest(self) -> Manifest | None:
        """The manifest as last written (``None`` before the first segment)."""
        return self._writer.manifest if self._writer is not None else None

    @property
    def lock_fd(self) -> int | None:
        """The hearing lock's descriptor while open: child processes that write
        into the hearing (video encoders) inherit it, so that a recorder
        restarted after a crash waits for them before recovering."""
        return self._lock.fd if self._lock is not None and not self._closed else None

    @property
    def frame_offset(self) -> int | None:
        """Offset from block frames to hearing frames (known after the first block)."""
        return self._frame_offset

    @property
    def resume_frame(self) -> int:
        """After :meth:`open`: the first hearing frame the recording may still take
        (0 for a new hearing; where a resumed hearing's recording stopped)."""
        return self._resume_end or 0

    def start_at(self, frame_offset: int) -> None:
        """Set the hearing frame of the source's frame 0, before the first block.

        A restarted agent continuing a hearing knows where its clock stands;
        the recorder then declares the gap up to there.

        Raises:
            ValueError: after the first block, or before :attr:`resume_frame`.
        """
        if self._started:
            raise ValueError("the recording has started; its frame offset is fixed")
        if frame_offset < self.resume_frame:
            raise ValueError(
                f"frame offset {frame_offset} is before the recorded end {self.resume_frame}"
            )
        self._frame_offset = frame_offset

    # -- used by the writer thread -----------------------------------------

    def next_item(self) -> tuple[Action | StartSession | object, int]:
        with self._cond:
            while not self._queue:
                self._cond.wait()
            return self._queue.popleft()

    def next_markers(self) -> list[AddMarker]:
        """Take the markers queued next (the writer lists them with the one in hand)."""
        with self._cond:
            taken: list[AddMarker] = []
            while self._queue and isinstance(head := self._queue[0][0], AddMarker):
                self._queue.popleft()
                taken.append(head)
            return taken

    def acknowledge(self) -> None:
        """The writer carried out an item someone waits for (an interruption)."""
        with self._cond:
            self._cond.notify_all()

    def done(self, frames: int) -> None:
        if frames:
            with self._cond:
                self._queued_frames -= frames
                self._cond.notify_all()

    def writer_failed(self, error: BaseException) -> None:
        _log.error("%s: recording stopped: %s", self.directory, error)
        with self._cond:
            self._queue.clear()
            self._queued_frames = 0
            self._edge(AlarmKind.WRITER_FAILED, Severity.CRITICAL, error=str(error))
            self._cond.notify_all()

    # -- internals ---------------------------------------------------------

    def _raise_unless_open(self) -> None:
        if self._closed or self._planner is None:
            raise RecorderClosedError(f"{self.directory}: recorder is not open")
        self._raise_if_failed()

    def _queue_and_wait(self, items: list[object], written: threading.Event) -> None:
        """Queue ``items`` (outside the audio bound) and wait until ``written`` is set.

        Raises:
            RecorderClosedError: :meth:`close` came first (checked under the
                lock that it queues its end under, so nothing is queued
                behind the end, where no one would carry it out).
            RecorderFailedError: the writer failed before carrying them out.
        """
        with self._cond:
            if self._closed:
                raise RecorderClosedError(f"{self.directory}: recorder is not open")
            self._raise_if_failed()
            self._queue.extend((item, 0) for item in items)
            self._cond.notify_all()
            while not written.is_set() and not self._writer_failed():
                self._cond.wait()
        self._raise_if_failed()

    def _writer_failed(self) -> bool:
        return self._writer is not None and self._writer.error is not None

    def _raise_if_failed(self) -> None:
        if self._writer is not None and self._writer.error is not None:
            raise RecorderFailedError(
                f"{self.directory}: recording stopped: {self._writer.error}"
            ) from self._writer.error

    def _wall_of(self, block: AudioBlock) -> datetime:
        """Wall time of the block's first frame, from its capture stamp.

        A stamp from another clock (age negative or beyond any queue) is not
        trusted: the block is then taken as captured just now.
        """
        duration = block.frames / self.sample_rate
        age = self._clock() - block.captured_at
        if not 0.0 <= age <= self._max_queue / self.sample_rate + 60.0:
            _log.warning(
                "%s: block captured_at %.3f is not on this recorder's clock; using now",
                self.directory,
                block.captured_at,
            )
            age = 0.0
        return self._wall_clock() - timedelta(seconds=age + duration)

    def _offset_for(self, block: AudioBlock) -> int:
        manifest = self._writer.manifest if self._writer is not None else None
        if not self._resuming or manifest is None:
            return 0
        origin = datetime.fromisoformat(manifest.started_at)
        elapsed = (self._wall_of(block) - origin).total_seconds()
        frame = manifest.started_frame + round(elapsed * self.sample_rate)
        return max(frame, self._resume_end or 0) - block.start_frame

    def _check_behind(self) -> None:
        with self._cond:
            queued = self._queued_frames
            active = AlarmKind.WRITER_BEHIND in self._active
            if not active and queued > self._behind:
                _log.warning("%s: writer %.1f s behind", self.directory, queued / self.sample_rate)
                self._edge(AlarmKind.WRITER_BEHIND, Severity.WARNING, queued=queued)
            elif active and queued <= self._behind // 2:
                _log.warning("%s: writer caught up", self.directory)
                self._edge(AlarmKind.WRITER_BEHIND, None, queued=queued)

    def _check_disk(self, *, force: bool = False) -> None:
        now = self._clock()
        if not force and now < self._next_disk_check:
            return
        self._next_disk_check = now + self._disk_interval
        try:
            free = self._free_space(self.directory)
        except OSError as e:
            _log.warning("%s: free-space probe failed: %s", self.directory, e)
            return
        self._measure_video(now)
        before = self._disk.level
        level = self._disk.update(free_bytes=free, bytes_per_second=self.bytes_per_second)
        with self._cond:
            self._free_bytes = free
            if level != before:
                _log.warning("%s: disk headroom %s (%d bytes free)", self.directory, level, free)
                self._edge(AlarmKind.DISK_LOW, level, free=free)

    def _measure_video(self, now: float) -> None:
        """Update the video's data rate from the sizes of its files (see the module doc)."""
        with self._cond:
            growing, done = list(self._video_open), list(self._video_done)
            self._video_done.clear()
        if not growing and not done and not self._video_samples:
            return  # no cameras
        self._video_sealed_bytes += sum(self._size(name) for name in done)
        written = self._video_sealed_bytes + sum(self._size(name) for name in growing)
        samples = self._video_samples
        samples.append((now, written))
        while len(samples) > 2 and now - samples[1][0] >= self._video_window:
            samples.popleft()
        (t0, b0), (t1, b1) = samples[0], samples[-1]
        if t1 > t0:
            self._video_rate = max(0.0, (b1 - b0) / (t1 - t0))

    def _size(self, name: str) -> int:
        try:
            return (self.directory / name).stat().st_size
        except FileNotFoundError:  # listed, not created yet (or never)
            return 0
        except OSError as e:
            _log.warning("%s: cannot size %s: %s", self.directory, name, e)
            return 0

    def _edge(
        self,
        kind: AlarmKind,
        severity: Severity | None,
        *,
        free: int | None = None,
        queued: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record an alarm raise (``severity``) or clear (``None``); holds ``_cond``."""
        previous = self._active.pop(kind, None)
        if severity is None and previous is None:
            return
        writer = self._writer
        frame = writer.written_frame if writer is not None else 0
        alarm = RecorderAlarm(
            kind=kind,
            active=severity is not None,
            severity=severity or (previous.severity if previous else Severity.WARNING),
            hearing_id=self.hearing_id,
            hearing_frame=frame,
            time=frame / self.sample_rate,
            free_bytes=free,
            free_seconds=None if free is None else free / self.bytes_per_second,
            queued_seconds=None if queued is None else queued / self.sample_rate,
            error=error,
        )
        if alarm.active:
            self._active[kind] = alarm
        self._edges.append(alarm)
