"""Opening a hearing directory for recording: lock, validate, recover.

A recorder that died (``kill -9``, power cut) leaves its manifest with one
segment still marked ``open``. :func:`recover_hearing` turns it into an
``interrupted`` segment *as found*: every channel file is kept, hashed, and
its decodable frames counted; the segment's frame count is the smallest of
them, which is where the next gap starts. Nothing is rewritten or removed.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from av.recording.errors import RecordingError, RecordingMismatchError
from av.recording.manifest import (
    MANIFEST_NAME,
    GapReason,
    Manifest,
    Segment,
    SegmentFile,
    SegmentStatus,
    VideoFile,
    VideoGap,
    read_manifest,
)
from av.recording.segment_writer import count_flac_frames, sha256_file

__all__ = ["LOCK_NAME", "HearingLock", "Resume", "check_path_component", "recover_hearing"]

_log = logging.getLogger(__name__)

LOCK_NAME = ".recorder.lock"


def check_path_component(value: str, what: str) -> str:
    """Refuse ids that would escape or hide in the archive tree.

    Raises:
        ValueError: empty, too long, a dot name, or containing a path separator.
    """
    if (
        not value
        or len(value) > 200
        or value.startswith(".")
        or any(c in value for c in "/\\\0")
        or not value.isprintable()
    ):
        raise ValueError(f"{what} {value!r} cannot be used as a directory name")
    return value


class HearingLock:
    """An exclusive ``flock`` on the hearing directory while a recorder writes it.

    The lock is shared with the recorder's child processes (video encoders
    inherit :attr:`fd`), so after a crash of the recorder a new one waits
    until the orphaned encoders have flushed and exited before it recovers
    the hearing — otherwise it would hash a file that is still growing.

    Args:
        directory: the hearing directory.
        wait: seconds to wait for another holder to let go.

    Raises:
        RecordingError: another recorder (or its encoders) still holds the lock.
        OSError: the lock file cannot be created.
    """

    def __init__(self, directory: Path, *, wait: float = 10.0) -> None:
        self._fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError as e:
                if time.monotonic() >= deadline:
                    os.close(self._fd)
                    raise RecordingError(
                        f"{directory}: another recorder is recording this hearing"
                    ) from e
                time.sleep(0.05)

    @property
    def fd(self) -> int:
        """The locked descriptor, for child processes that must hold the lock too."""
        return self._fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the flock
            self._fd = -1


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a recorder continues an existing hearing.

    Attributes:
        manifest: the manifest after recovery (interrupted segments marked).
        end_frame: first hearing frame not recorded before.
        next_index: index for the next segment.
        reason: why nothing was recorded from ``end_frame`` until now.
        recovered: segments found open and marked interrupted.
    """

    manifest: Manifest
    end_frame: int | None
    next_index: int
    reason: GapReason
    recovered: tuple[Segment, ...]


def recover_hearing(
    directory: Path, *, sample_rate: int, roles: list[str], now: str
) -> Resume | None:
    """Read an existing hearing's manifest and mark any open segment interrupted.

    Returns ``None`` when the directory holds no manifest yet. The caller
    writes the returned manifest before recording more. An interruption the
    manifest holds open (the recorder stopped during a recess) stays open:
    the hearing continues interrupted (``manifest.open_interruption``).

    Raises:
        ManifestError: the manifest exists but is invalid (nothing is changed).
        RecordingMismatchError: the hearing was recorded at another rate or
            with other channels.
        OSError: a segment file cannot be read.
    """
    if not (directory / MANIFEST_NAME).exists():
        return None
    manifest = read_manifest(directory)
    if manifest.sample_rate != sample_rate or [c.role for c in manifest.channels] != roles:
        raise RecordingMismatchError(
            f"{directory}: recorded at {manifest.sample_rate} Hz with channels "
            f"{[c.role for c in manifest.channels]}, not {sample_rate} Hz with {roles}"
        )
    segments, recovered = [], []
    for seg in manifest.segments:
        if seg.status is SegmentStatus.OPEN:
            seg = _recover_segment(directory, seg, now)
            recovered.append(seg)
            _log.warning(
                "%s: segment %d was left open; kept as interrupted with %d frames",
                directory,
                seg.index,
                seg.frames,
            )
        segments.append(seg)
    video = tuple(
        _recover_video(directory, v, now) if v.status is SegmentStatus.OPEN else v
        for v in manifest.video_segments
    )
    ends = [s.end_frame for s in segments if s.end_frame is not None]
    ends += [g.end_frame for g in manifest.gaps]
    # An interruption still open (killed during a recess) is where the recording stands.
    ends += [i.start_frame if i.end_frame is None else i.end_frame for i in manifest.interruptions]
    end_frame = max(ends) if ends else None
    video_gaps = _recover_video_gaps(directory, manifest.video_gaps, end_frame, sample_rate)
    reason = GapReason.RECORDER_STOPPED if manifest.closed else GapReason.RECORDER_INTERRUPTED
    if recovered:
        reason = GapReason.RECORDER_INTERRUPTED
    manifest = dataclasses.replace(
        manifest,
        segments=tuple(segments),
        video_segments=video,
        video_gaps=video_gaps,
        closed=False,
        updated_at=now,
    )
    next_index = max((s.index for s in segments), default=0) + 1
    return Resume(manifest, end_frame, next_index, reason, tuple(recovered))


def _recover_segment(directory: Path, seg: Segment, now: str) -> Segment:
    files = []
    for f in seg.files:
        path = directory / f.name
        if not path.exists():
            files.append(dataclasses.replace(f, sha256=None, frames=0))
            continue
        try:
            frames, _ = count_flac_frames(path)
        except RecordingError as e:  # e.g. killed before the FLAC header was written
            _log.warning("%s: unreadable, counted as 0 frames: %s", path, e)
            frames = 0
        digest = sha256_file(path)
        path.chmod(0o444)
        files.append(SegmentFile(f.channel, f.name, digest, frames))
    frames = min((f.frames or 0 for f in files), default=0)
    return dataclasses.replace(
        seg, status=SegmentStatus.INTERRUPTED, frames=frames, closed_at=now, files=tuple(files)
    )


def _recover_video_gaps(
    directory: Path, gaps: tuple[VideoGap, ...], end_frame: int | None, sample_rate: int
) -> tuple[VideoGap, ...]:
    """Camera gaps still open when the recorder died end where the recording does.

    The camera was without a picture when the recorder stopped; from the last
    recovered audio frame on, nothing at all was recorded, which the next gap
    of the audio (``recorder_interrupted``) declares.
    """
    end = None if end_frame is None else end_frame / sample_rate
    recovered = []
    for gap in gaps:
        if gap.end is None:
            gap = dataclasses.replace(
                gap, end=max(gap.start, end if end is not None else gap.start)
            )
            _log.warning(
                "%s: camera %s was without picture when the recorder stopped; "
                "its gap [%.3f, %.3f) s is closed there",
                directory,
                gap.camera,
                gap.start,
                gap.end,
            )
        recovered.append(gap)
    return tuple(recovered)


def _recover_video(directory: Path, video: VideoFile, now: str) -> VideoFile:
    """A camera segment left open: kept as found, hashed; its frames are not counted.

    A fragmented MP4 plays up to its last complete fragment; counting the
    frames would mean decoding it, which ``courtroom av check`` can do.
    """
    path = directory / video.file
    digest = sha256_file(path) if path.exists() else None
    if digest is not None:
        path.chmod(0o444)
    _log.warning("%s: video %s was left open; kept as interrupted", directory, video.file)
    return dataclasses.replace(
        video, status=SegmentStatus.INTERRUPTED, sha256=digest, closed_at=now
    )
