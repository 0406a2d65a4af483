"""The recorder's writer thread: carries out planned actions on disk.

It is the only owner of the manifest and of the open segment's files. Each
segment open and close replaces the manifest atomically; the manifest is
written *before* a segment's files are created, so a crash in between leaves
a segment marked open whose files are missing, which recovery records as
interrupted with 0 frames — never an unlisted file.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from av.recording.errors import MarkerError, RecordingError
from av.recording.manifest import (
    CameraInfo,
    ChannelInfo,
    Gap,
    Interruption,
    Manifest,
    Segment,
    SegmentFile,
    SegmentStatus,
    Session,
    VideoFile,
    VideoGap,
    fsync_directory,
    write_manifest,
)
from av.recording.markers import MAX_MARKERS, Marker, insert_marker
from av.recording.planner import CloseSegment, DeclareGap, OpenSegment, WriteFrames
from av.recording.segment_writer import SegmentFiles, segment_file_name

if TYPE_CHECKING:
    from av.recording.recorder import AudioRecorder

__all__ = [
    "FINISH",
    "AddMarker",
    "BeginInterruption",
    "EndInterruption",
    "SegmentWriterThread",
    "StartSession",
    "VideoUpdate",
]

_log = logging.getLogger(__name__)

FINISH = object()  # queue sentinel: mark the manifest closed and stop


@dataclass(frozen=True, slots=True)
class StartSession:
    """A recorder run begins: wall time of its first frame and that frame."""

    started_at: str
    first_frame: int


@dataclass(frozen=True, slots=True)
class VideoUpdate:
    """A camera's segment opened or closed (``file``), or a camera gap began or ended (``gap``)."""

    file: VideoFile | None = None
    gap: VideoGap | None = None


@dataclass(frozen=True, slots=True, eq=False)
class BeginInterruption:
    """The court interrupted the recording: list ``interruption`` (open) and write
    the manifest at once; ``written`` is set when it is on disk."""

    interruption: Interruption
    written: threading.Event = dataclasses.field(default_factory=threading.Event)


@dataclass(frozen=True, slots=True, eq=False)
class EndInterruption:
    """The open interruption ends at ``end_frame``; the manifest is written at once."""

    end_frame: int
    resumed_by: str
    ended_at: str
    written: threading.Event = dataclasses.field(default_factory=threading.Event)


@dataclass(slots=True, eq=False)
class AddMarker:
    """List ``marker`` in frame order and write the manifest at once.

    ``written`` is set when done: either the marker is on disk, or ``error``
    says why not. A marker that cannot be listed never stops the writer.
    """

    marker: Marker
    written: threading.Event = dataclasses.field(default_factory=threading.Event)
    error: MarkerError | None = None


class SegmentWriterThread(threading.Thread):
    """Writes the queue of one :class:`~av.recording.recorder.AudioRecorder`.

    Attributes:
        manifest: the manifest as last written (immutable; read from any thread).
        segment_index: the open segment, if any.
        written_frame: hearing frame up to which samples went to the encoder.
        error: the error that stopped the thread, if any.
    """

    def __init__(
        self,
        recorder: AudioRecorder,
        *,
        manifest: Manifest | None,
        segment_frames: int,
        sync_interval: float,
        clock: Callable[[], float],
        wall_clock: Callable[[], str],
        open_files: Callable[..., SegmentFiles] = SegmentFiles,
    ) -> None:
        super().__init__(name=f"recorder-{recorder.hearing_id}", daemon=True)
        self._recorder = recorder
        self._dir = recorder.directory
        self._segment_frames = segment_frames
        self._sync_interval = sync_interval
        self._clock = clock
        self._now = wall_clock
        self._open_files = open_files
        self.manifest = manifest
        self.segment_index: int | None = None
        self.written_frame = 0
        self.error: BaseException | None = None
        self._files: SegmentFiles | None = None
        self._segment: Segment | None = None
        self._next_sync = 0.0
        self._video_waiting: list[VideoUpdate] = []

    def run(self) -> None:
        try:
            while True:
                item, frames = self._recorder.next_item()
                if item is FINISH:
                    self._finish()
                    return
                self._execute(item)
                self._recorder.done(frames)
        except (OSError, RecordingError) as e:
            # Task boundary: the error is kept, alarmed and re-raised to the caller.
            self.error = e
            if self._files is not None:
                self._files.abandon()
            self._recorder.writer_failed(e)

    def _execute(self, item: object) -> None:
        if isinstance(item, WriteFrames):
            assert self._files is not None and self._segment is not None
            self._files.write(item.pcm)
            self.written_frame = item.first_frame + item.frames
            if self._clock() >= self._next_sync:
                self._files.sync()
                self._next_sync = self._clock() + self._sync_interval
        elif isinstance(item, OpenSegment):
            self._open(item)
        elif isinstance(item, CloseSegment):
            self._close(item)
        elif isinstance(item, DeclareGap):
            manifest = self._manifest()
            gap = Gap(item.start_frame, item.end_frame, item.reason, self._now())
            self.manifest = dataclasses.replace(manifest, gaps=(*manifest.gaps, gap))
            _log.warning(
                "%s: gap (%s) of frames [%d, %d)",
                self._dir,
                item.reason,
                item.start_frame,
                item.end_frame,
            )
        elif isinstance(item, BeginInterruption):
            manifest = self._manifest()
            self._write(
                dataclasses.replace(
                    manifest, interruptions=(*manifest.interruptions, item.interruption)
                )
            )
            item.written.set()
            self._recorder.acknowledge()
        elif isinstance(item, EndInterruption):
            manifest = self._manifest()
            last = manifest.open_interruption
            if last is None:  # pragma: no cover - the planner allows no resume without it
                raise RecordingError("no interruption is open")
            ended = dataclasses.replace(
                last, end_frame=item.end_frame, resumed_by=item.resumed_by, ended_at=item.ended_at
            )
            self._write(
                dataclasses.replace(manifest, interruptions=(*manifest.interruptions[:-1], ended))
            )
            item.written.set()
            self._recorder.acknowledge()
        elif isinstance(item, AddMarker):
            # Markers queued behind it go into the same manifest: a burst costs one write.
            self._mark([item, *self._recorder.next_markers()])
        elif isinstance(item, StartSession):
            self._start(item)
            for update in self._video_waiting:
                self._video(update)
            self._video_waiting.clear()
        elif isinstance(item, VideoUpdate):
            if self.manifest is None:
                self._video_waiting.append(item)  # bounded: a camera opens one before audio
            else:
                self._video(item)
        else:  # pragma: no cover - the recorder queues nothing else
            raise TypeError(f"unknown recorder action {item!r}")

    def _start(self, item: StartSession) -> None:
        session = Session(item.started_at, item.first_frame)
        if self.manifest is None:
            r = self._recorder
            self.manifest = Manifest(
                courtroom=r.courtroom,
                hearing_id=r.hearing_id,
                sample_rate=r.sample_rate,
                channels=tuple(ChannelInfo(i, role) for i, role in enumerate(r.roles)),
                segment_frames=self._segment_frames,
                started_at=item.started_at,
                started_frame=item.first_frame,
            )
        self.manifest = dataclasses.replace(
            self.manifest, sessions=(*self.manifest.sessions, session)
        )
        self.written_frame = item.first_frame

    def _open(self, item: OpenSegment) -> None:
        roles = self._recorder.roles
        names = [segment_file_name(item.index, c, role) for c, role in enumerate(roles)]
        segment = Segment(
            index=item.index,
            status=SegmentStatus.OPEN,
            first_frame=item.first_frame,
            frames=None,
            opened_at=self._now(),
            closed_at=None,
            files=tuple(SegmentFile(c, name) for c, name in enumerate(names)),
        )
        manifest = self._manifest()
        self._write(dataclasses.replace(manifest, segments=(*manifest.segments, segment)))
        self._files = self._open_files(self._dir, names, sample_rate=self._recorder.sample_rate)
        fsync_directory(self._dir)
        self._segment = segment
        self.segment_index = item.index
        self._next_sync = self._clock() + self._sync_interval

    def _close(self, item: CloseSegment) -> None:
        assert self._files is not None and self._segment is not None
        seg = self._segment
        if self._files.frames != item.end_frame - seg.first_frame:
            raise RecordingError(
                f"segment {seg.index}: wrote {self._files.frames} frames, "
                f"planned {item.end_frame - seg.first_frame}"
            )
        digests = self._files.close()
        fsync_directory(self._dir)
        closed = dataclasses.replace(
            seg,
            status=SegmentStatus.CLOSED,
            frames=item.end_frame - seg.first_frame,
            closed_at=self._now(),
            files=tuple(
                dataclasses.replace(f, sha256=d) for f, d in zip(seg.files, digests, strict=True)
            ),
        )
        manifest = self._manifest()
        segments = tuple(closed if s.index == seg.index else s for s in manifest.segments)
        self._write(dataclasses.replace(manifest, segments=segments))
        self._files = self._segment = self.segment_index = None

    def _video(self, update: VideoUpdate) -> None:
        manifest = self._manifest()
        if (gap := update.gap) is not None:
            # An open gap listed when it began is replaced where it stands.
            gaps = list(manifest.video_gaps)
            at = next((i for i, g in enumerate(gaps) if gap.closes(g)), None)
            if at is None:
                gaps.append(gap)
            else:
                gaps[at] = gap
            manifest = dataclasses.replace(manifest, video_gaps=tuple(gaps))
        if (new := update.file) is not None:
            cameras = manifest.cameras
            if all(c.id != new.camera for c in cameras):
                cameras = (*cameras, CameraInfo(new.camera, new.fps))
            key = (new.camera, new.index)
            kept = [s for s in manifest.video_segments if (s.camera, s.index) != key]
            if old := [s for s in manifest.video_segments if (s.camera, s.index) == key]:
                new = dataclasses.replace(new, opened_at=old[0].opened_at)
            segments = tuple(sorted([*kept, new], key=lambda s: (s.index, s.camera)))
            manifest = dataclasses.replace(manifest, cameras=cameras, video_segments=segments)
        self._write(manifest)

    def _mark(self, items: list[AddMarker]) -> None:
        """List markers in one manifest write; any failure goes to their callers,
        never to the recording."""
        manifest = self.manifest
        listed: list[AddMarker] = []
        if manifest is None:
            for item in items:
                item.error = MarkerError(f"{self._where(item)}: nothing has been recorded yet")
        else:
            markers = manifest.markers
            for item in items:
                if len(markers) >= MAX_MARKERS:
                    item.error = MarkerError(
                        f"{self._where(item)}: the hearing already holds {MAX_MARKERS} markers"
                    )
                else:
                    markers = insert_marker(markers, item.marker)
                    listed.append(item)
            if listed:
                try:
                    self._write(dataclasses.replace(manifest, markers=markers))
                except OSError as e:
                    # The previous manifest is still in place; the audio goes on.
                    _log.error("%s: %d marker(s) not written: %s", self._dir, len(listed), e)
                    for item in listed:
                        item.error = MarkerError(
                            f"{self._where(item)} not written: {e.strerror or e}"
                        )
                        item.error.__cause__ = e
        for item in items:
            item.written.set()
        self._recorder.acknowledge()

    def _where(self, item: AddMarker) -> str:
        return f"{self._dir}: marker {item.marker.kind} at frame {item.marker.frame}"

    def _finish(self) -> None:
        if self.manifest is not None:
            self._write(dataclasses.replace(self.manifest, closed=True))

    def _manifest(self) -> Manifest:
        if self.manifest is None:  # pragma: no cover - StartSession always comes first
            raise RecordingError("no session was started")
        return self.manifest

    def _write(self, manifest: Manifest) -> None:
        manifest = dataclasses.replace(manifest, updated_at=self._now())
        write_manifest(self._dir, manifest)
        self.manifest = manifest
