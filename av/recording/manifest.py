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
from av.recording.manifest_types import GapReason, SegmentStatus
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
    "MANIFEST_NAME",
    "CameraInfo",
    "ChannelInfo",
    "Gap",
    "GapReason",
    "Manifest",
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
FORMAT_VERSION = 1
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

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
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
            **video_to_json(self.cameras, self.video_segments, self.video_gaps),
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
        if (version := r.get(d, "version", int, "")) != FORMAT_VERSION:
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
        )


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
            previous manifest is then still in place.
    """
    body = json.dumps(manifest.to_json(), ensure_ascii=False, indent=2).encode() + b"\n"
    tmp = directory / f".{MANIFEST_NAME}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, directory / MANIFEST_NAME)
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
