"""The hearing recording's manifest (``manifest.json``): model, JSON form, atomic write.

The format is described for readers without this software in
``docs/recording-format.md``; this module is its reference implementation.
Frames are counted on the hearing clock: frame *f* is ``f / sample_rate``
seconds after the hearing opened.

The manifest is the one file the recorder ever replaces, and only atomically
(temporary file, ``fsync``, ``rename``, ``fsync`` of the directory), so a
reader sees either the previous or the next version, never a torn one.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from av.recording.errors import ManifestError
from av.recording.json_fields import FieldReader
from av.recording.manifest_types import (
    INTERRUPTION_REASONS,
    GapReason,
    InterruptionReason,
    SegmentStatus,
)
from av.recording.markers import Marker, markers_from_json
from av.recording.video_manifest import (
    CameraInfo,
    VideoFile,
    VideoGap,
    video_from_json,
    video_to_json,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "INTERRUPTION_REASONS",
    "MANIFEST_NAME",
    "CameraInfo",
    "ChannelInfo",
    "Gap",
    "GapReason",
    "Interruption",
    "InterruptionReason",
    "Manifest",
    "Marker",
    "Segment",
    "SegmentFile",
    "SegmentStatus",
    "Session",
    "VideoFile",
    "VideoGap",
    "fsync_directory",
    "iso_utc",
    "read_manifest",
    "write_manifest",
]

FORMAT_NAME = "courtroom-recording"
# 2: ``interruptions`` (a version-1 manifest has none and still loads).
# 3: ``markers``. A manifest without markers is written as version 2, which it
# then is exactly, so readers of version 2 keep reading it; one with markers
# is version 3, which they refuse rather than misread.
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
MANIFEST_NAME = "manifest.json"


def iso_utc(t: datetime) -> str:
    """``2025-03-01T09:30:00.250000Z``: ISO-8601, UTC, microseconds."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    index: int
    role: str


@dataclass(frozen=True, slots=True)
class SegmentFile:
    """One channel's FLAC file of a segment.

    Attributes:
        channel: channel index (0-based).
        name: file name in the hearing directory.
        sha256: hex digest of the whole file; ``None`` while the segment is open
            or when an interrupted file was missing.
        frames: for interrupted segments only, the frames decodable from this
            file as found (channels may differ by a FLAC block).
    """

    channel: int
    name: str
    sha256: str | None = None
    frames: int | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of contiguous hearing frames, one mono FLAC file per channel.

    Sample *j* of every file of the segment is hearing frame ``first_frame + j``.
    ``frames`` is ``None`` while the segment is open.
    """

    index: int
    status: SegmentStatus
    first_frame: int
    frames: int | None
    opened_at: str
    closed_at: str | None
    files: tuple[SegmentFile, ...]

    @property
    def end_frame(self) -> int | None:
        return None if self.frames is None else self.first_frame + self.frames


@dataclass(frozen=True, slots=True)
class Gap:
    """Hearing frames ``[start_frame, end_frame)`` that were not recorded, and why."""

    start_frame: int
    end_frame: int
    reason: GapReason
    declared_at: str

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame


@dataclass(frozen=True, slots=True)
class Interruption:
    """A lawful, reason-coded stop of the recording ordered by the court.

    Hearing frames ``[start_frame, end_frame)`` were deliberately not recorded;
    ``end_frame`` (with ``resumed_by`` and ``ended_at``) is ``None`` while the
    interruption lasts. ``reason`` is kept as read, so that a manifest with a
    code outside :data:`INTERRUPTION_REASONS` still loads and ``courtroom av
    check`` can report it as an incident; the recorder writes only listed codes.

    Raises:
        ValueError: a frame is negative, ``end_frame`` precedes ``start_frame``,
            the end fields are not all set or all ``None``, or a name is empty,
            longer than :data:`MAX_NAME` or not printable.
    """

    reason: str
    start_frame: int
    ordered_by: str
    started_at: str
    end_frame: int | None = None
    resumed_by: str | None = None
    ended_at: str | None = None

    def __post_init__(self) -> None:
        if self.start_frame < 0:
            raise ValueError(f"start_frame {self.start_frame} is negative")
        if self.end_frame is not None and self.end_frame < self.start_frame:
            raise ValueError(f"end_frame {self.end_frame} is before start_frame {self.start_frame}")
        ends = (self.end_frame, self.resumed_by, self.ended_at)
        if any(e is None for e in ends) and any(e is not None for e in ends):
            raise ValueError("end_frame, resumed_by and ended_at are null together or set together")
        _check_name(self.ordered_by, "ordered_by")
        if self.resumed_by is not None:
            _check_name(self.resumed_by, "resumed_by")

    @property
    def is_open(self) -> bool:
        """The recording is still interrupted."""
        return self.end_frame is None

    @property
    def code(self) -> InterruptionReason | None:
        """The reason as a code of the list, ``None`` if it is not one of them."""
        return InterruptionReason(self.reason) if self.reason in INTERRUPTION_REASONS else None


MAX_NAME = 200


def _check_name(value: str, field: str) -> None:
    if not value or len(value) > MAX_NAME or not value.isprintable():
        raise ValueError(f"{field} {value!r} must be 1-{MAX_NAME} printable characters")


@dataclass(frozen=True, slots=True)
class Session:
    """One run of the recorder: wall time of its first recorded frame."""

    started_at: str
    first_frame: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything a reader needs to replay and verify one hearing's audio."""

    courtroom: str
    hearing_id: str
    sample_rate: int
    channels: tuple[ChannelInfo, ...]
    segment_frames: int
    started_at: str
    started_frame: int
    sessions: tuple[Session, ...] = ()
    segments: tuple[Segment, ...] = ()
    gaps: tuple[Gap, ...] = ()
    closed: bool = False
    updated_at: str = ""
    cameras: tuple[CameraInfo, ...] = ()
    video_segments: tuple[VideoFile, ...] = ()
    video_gaps: tuple[VideoGap, ...] = ()
    interruptions: tuple[Interruption, ...] = ()
    markers: tuple[Marker, ...] = ()

    @property
    def version(self) -> int:
        """The lowest format version that holds this manifest (see ``FORMAT_VERSION``)."""
        return FORMAT_VERSION if self.markers else 2

    @property
    def open_interruption(self) -> Interruption | None:
        """The interruption still lasting, if any (at most one, the last)."""
        last = self.interruptions[-1] if self.interruptions else None
        return last if last is not None and last.is_open else None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": self.version,
            "courtroom": self.courtroom,
            "hearing_id": self.hearing_id,
            "sample_rate": self.sample_rate,
            "sample_format": "PCM_16",
            "container": "FLAC",
            "channels": [{"index": c.index, "role": c.role} for c in self.channels],
            "segment_frames": self.segment_frames,
            "started_at": self.started_at,
            "started_frame": self.started_frame,
            "sessions": [
                {"started_at": s.started_at, "first_frame": s.first_frame} for s in self.sessions
            ],
            "segments": [_segment_json(s) for s in self.segments],
            "gaps": [
                {
                    "start_frame": g.start_frame,
                    "end_frame": g.end_frame,
                    "reason": g.reason.value,
                    "declared_at": g.declared_at,
                }
                for g in self.gaps
            ],
            "interruptions": [
                {
                    "reason": i.reason,
                    "start_frame": i.start_frame,
                    "end_frame": i.end_frame,
                    "ordered_by": i.ordered_by,
                    "resumed_by": i.resumed_by,
                    "started_at": i.started_at,
                    "ended_at": i.ended_at,
                }
                for i in self.interruptions
            ],
            **video_to_json(self.cameras, self.video_segments, self.video_gaps),
            **({"markers": [m.to_json() for m in self.markers]} if self.markers else {}),
            "closed": self.closed,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: object, *, path: object = MANIFEST_NAME) -> Manifest:
        """Validate and load a manifest's JSON value.

        Raises:
            ManifestError: a field is missing or has the wrong type or value; the
                message names the field's path (``segments[3].files[0].sha256``).
        """
        r = FieldReader(path)
        d = r.obj(data, "")
        if r.get(d, "format", str, "") != FORMAT_NAME:
            raise ManifestError(path, f"format is not {FORMAT_NAME!r}")
        if (version := r.get(d, "version", int, "")) not in READABLE_VERSIONS:
            raise ManifestError(path, f"unsupported format version {version}")
        if (
            r.get(d, "sample_format", str, "") != "PCM_16"
            or r.get(d, "container", str, "") != "FLAC"
        ):
            raise ManifestError(path, "only 16-bit PCM in FLAC is defined by version 1")
        cameras, video_segments, video_gaps = video_from_json(r, d)
        return cls(
            courtroom=r.get(d, "courtroom", str, ""),
            hearing_id=r.get(d, "hearing_id", str, ""),
            sample_rate=r.get(d, "sample_rate", int, "", minimum=1),
            channels=tuple(
                ChannelInfo(r.get(c, "index", int, p), r.get(c, "role", str, p))
                for p, c in r.items(d, "channels", "")
            ),
            segment_frames=r.get(d, "segment_frames", int, "", minimum=1),
            started_at=r.time(d, "started_at", ""),
            started_frame=r.get(d, "started_frame", int, "", minimum=0),
            sessions=tuple(
                Session(r.time(s, "started_at", p), r.get(s, "first_frame", int, p, minimum=0))
                for p, s in r.items(d, "sessions", "")
            ),
            segments=tuple(_segment_from(r, p, s) for p, s in r.items(d, "segments", "")),
            gaps=tuple(
                Gap(
                    start_frame=r.get(g, "start_frame", int, p, minimum=0),
                    end_frame=r.get(g, "end_frame", int, p, minimum=0),
                    reason=r.enum(g, "reason", GapReason, p),
                    declared_at=r.time(g, "declared_at", p),
                )
                for p, g in r.items(d, "gaps", "")
            ),
            closed=r.get(d, "closed", bool, ""),
            updated_at=r.time(d, "updated_at", ""),
            cameras=cameras,
            video_segments=video_segments,
            video_gaps=video_gaps,
            interruptions=_interruptions_from(r, d),
            markers=markers_from_json(r, d),
        )


def _interruptions_from(r: FieldReader, d: dict[str, Any]) -> tuple[Interruption, ...]:
    """``interruptions`` (absent in version 1: none), each validated, at most one open, last."""
    if "interruptions" not in d:
        return ()
    out: list[Interruption] = []
    for p, i in r.items(d, "interruptions", ""):
        ended_at = i.get("ended_at")
        try:
            item = Interruption(
                reason=r.get(i, "reason", str, p),
                start_frame=r.get(i, "start_frame", int, p, minimum=0),
                end_frame=r.get(i, "end_frame", int, p, minimum=0, optional=True),
                ordered_by=r.get(i, "ordered_by", str, p),
                resumed_by=r.get(i, "resumed_by", str, p, optional=True),
                started_at=r.time(i, "started_at", p),
                ended_at=None if ended_at is None else r.time(i, "ended_at", p),
            )
        except ValueError as e:
            raise ManifestError(r.path, f"{p}: {e}") from e
        if out and out[-1].is_open:
            raise ManifestError(r.path, f"{p} follows an interruption that has not ended")
        out.append(item)
    return tuple(out)


def _segment_json(s: Segment) -> dict[str, Any]:
    files: list[dict[str, Any]] = []
    for f in s.files:
        entry: dict[str, Any] = {"channel": f.channel, "name": f.name, "sha256": f.sha256}
        if f.frames is not None:
            entry["frames"] = f.frames
        files.append(entry)
    return {
        "index": s.index,
        "status": s.status.value,
        "first_frame": s.first_frame,
        "frames": s.frames,
        "opened_at": s.opened_at,
        "closed_at": s.closed_at,
        "files": files,
    }


def _segment_from(r: FieldReader, p: str, s: dict[str, Any]) -> Segment:
    status = r.enum(s, "status", SegmentStatus, p)
    frames = r.get(s, "frames", int, p, minimum=0, optional=True)
    if (frames is None) != (status is SegmentStatus.OPEN):
        raise ManifestError(r.path, f"{p}.frames must be null exactly when the segment is open")
    files = []
    for fp, f in r.items(s, "files", p):
        name = r.get(f, "name", str, fp)
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ManifestError(r.path, f"{fp}.name {name!r} is not a plain file name")
        sha = r.get(f, "sha256", str, fp, optional=True)
        if sha is not None and (len(sha) != 64 or sha.strip("0123456789abcdef")):
            raise ManifestError(r.path, f"{fp}.sha256 is not 64 lowercase hex digits")
        if sha is None and status is SegmentStatus.CLOSED:
            raise ManifestError(r.path, f"{fp}.sha256 is missing in a closed segment")
        files.append(
            SegmentFile(
                channel=r.get(f, "channel", int, fp, minimum=0),
                name=name,
                sha256=sha,
                frames=r.get(f, "frames", int, fp, minimum=0, optional=True),
            )
        )
    closed_at = s.get("closed_at")
    return Segment(
        index=r.get(s, "index", int, p, minimum=1),
        status=status,
        first_frame=r.get(s, "first_frame", int, p, minimum=0),
        frames=frames,
        opened_at=r.time(s, "opened_at", p),
        closed_at=None if closed_at is None else r.time(s, "closed_at", p),
        files=tuple(files),
    )


def fsync_directory(directory: Path) -> None:
    """Make created/renamed entries of ``directory`` durable.

    Raises:
        OSError: the directory cannot be opened or synced.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Replace ``directory/manifest.json`` atomically and durably.

    Raises:
        OSError: the temporary file cannot be written, synced or renamed; the
            previous manifest is then still in place and the temporary file
            removed. (If only the directory's ``fsync`` fails, the new
            manifest is in place but may not survive a power cut.)
    """
    body = json.dumps(manifest.to_json(), ensure_ascii=False, indent=2).encode() + b"\n"
    tmp = directory / f".{MANIFEST_NAME}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, directory / MANIFEST_NAME)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk keeps no half-written copy
        raise
    fsync_directory(directory)


def read_manifest(directory: Path) -> Manifest:
    """Load and validate ``directory/manifest.json``.

    Raises:
        ManifestError: missing, unreadable, not JSON, or not a valid manifest.
    """
    path = directory / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ManifestError(path, f"cannot read: {e.strerror or e}") from e
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(path, f"not valid JSON: {e}") from e
    return Manifest.from_json(data, path=path)
