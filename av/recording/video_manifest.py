"""The video part of ``manifest.json``: cameras, their MP4 segments and gaps.

Cameras are cut at the audio's segment boundaries and carry the same segment
indexes, so audio segment *n* and each camera's video segment *n* cover the
same stretch of the hearing. Video times are hearing seconds (the audio's
frame *f* is at ``f / sample_rate``). See docs/recording-format.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from av.recording.errors import ManifestError
from av.recording.json_fields import FieldReader
from av.recording.manifest_types import SegmentStatus

__all__ = ["CameraInfo", "VideoFile", "VideoGap", "video_from_json", "video_to_json"]


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """A camera recorded with the hearing: its id and constant frame rate."""

    id: str
    fps: float


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoFile:
    """One camera's MP4 file for one segment.

    Attributes:
        camera: camera id.
        index: segment index, the same as the audio segment it runs beside.
        file: file name in the hearing directory.
        status: open (being written), closed (finished cleanly, hashed) or
            interrupted (the encoder or the recorder died; kept as found).
        start: hearing seconds of frame 0; frame *k* is at ``start + k / fps``.
        fps: constant frame rate.
        frames: frames written; None while open or when unknown after a crash.
        width, height: picture size.
        repeated, missing, dropped: frames repeating the previous picture,
            "no signal" frames, captured frames no output frame used.
        sha256: digest of the whole file; None while open or if never created.
        opened_at, closed_at: wall times (ISO-8601 UTC).
    """

    camera: str
    index: int
    file: str
    status: SegmentStatus
    start: float
    fps: float
    frames: int | None = None
    width: int | None = None
    height: int | None = None
    repeated: int | None = None
    missing: int | None = None
    dropped: int | None = None
    sha256: str | None = None
    opened_at: str
    closed_at: str | None = None

    @property
    def end(self) -> float | None:
        return None if self.frames is None else self.start + self.frames / self.fps

    def to_json(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "index": self.index,
            "file": self.file,
            "status": self.status.value,
            "start": self.start,
            "end": self.end,
            "fps": self.fps,
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "repeated": self.repeated,
            "missing": self.missing,
            "dropped": self.dropped,
            "sha256": self.sha256,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
        }


@dataclass(frozen=True, slots=True)
class VideoGap:
    """Hearing seconds ``[start, end)`` in which a camera delivered no picture.

    The video keeps running through a gap ("no signal" frames), so a gap
    explains those frames rather than a hole in the files. A gap is listed
    with ``end`` None as soon as it begins (the camera is still without a
    picture), so that a recorder killed meanwhile leaves it in the manifest;
    it is listed again, with the same ``camera`` and ``start``, when it ends
    or when the recording stops (see :meth:`closes`).
    """

    camera: str
    start: float
    end: float | None = None

    def closes(self, other: VideoGap) -> bool:
        """Whether this entry replaces ``other``: the same camera's gap, still open."""
        return other.end is None and (other.camera, other.start) == (self.camera, self.start)

    def to_json(self) -> dict[str, Any]:
        return {"camera": self.camera, "start": self.start, "end": self.end}


def video_to_json(
    cameras: tuple[CameraInfo, ...], segments: tuple[VideoFile, ...], gaps: tuple[VideoGap, ...]
) -> dict[str, Any]:
    """The three video fields of the manifest."""
    return {
        "cameras": [{"id": c.id, "fps": c.fps} for c in cameras],
        "video_segments": [s.to_json() for s in segments],
        "video_gaps": [g.to_json() for g in gaps],
    }


def video_from_json(
    r: FieldReader, d: dict[str, Any]
) -> tuple[tuple[CameraInfo, ...], tuple[VideoFile, ...], tuple[VideoGap, ...]]:
    """Read the video fields; a manifest without them has no video.

    Raises:
        ManifestError: a field has the wrong type or value (named by path).
    """
    cameras = tuple(
        CameraInfo(r.get(c, "id", str, p), _number(r, c, "fps", p, positive=True))
        for p, c in (r.items(d, "cameras", "") if "cameras" in d else [])
    )
    segments = tuple(
        _video_file(r, p, s)
        for p, s in (r.items(d, "video_segments", "") if "video_segments" in d else [])
    )
    gaps = tuple(
        VideoGap(
            r.get(g, "camera", str, p),
            _number(r, g, "start", p),
            None if g.get("end", 0) is None else _number(r, g, "end", p),
        )
        for p, g in (r.items(d, "video_gaps", "") if "video_gaps" in d else [])
    )
    return cameras, segments, gaps


def _number(
    r: FieldReader, d: dict[str, Any], key: str, where: str, *, positive: bool = False
) -> float:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ManifestError(r.path, f"{where}.{key} must be a number")
    if value < 0 or (positive and value == 0):
        raise ManifestError(r.path, f"{where}.{key} must be {'positive' if positive else '≥ 0'}")
    return float(value)


def _video_file(r: FieldReader, p: str, s: dict[str, Any]) -> VideoFile:
    status = r.enum(s, "status", SegmentStatus, p)
    name = r.get(s, "file", str, p)
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ManifestError(r.path, f"{p}.file {name!r} is not a plain file name")
    sha = r.get(s, "sha256", str, p, optional=True)
    if sha is not None and (len(sha) != 64 or sha.strip("0123456789abcdef")):
        raise ManifestError(r.path, f"{p}.sha256 is not 64 lowercase hex digits")
    if status is SegmentStatus.CLOSED and (sha is None or s.get("frames") is None):
        raise ManifestError(r.path, f"{p}: a closed video segment needs frames and sha256")
    counts = {
        k: r.get(s, k, int, p, minimum=0, optional=True)
        for k in ("frames", "width", "height", "repeated", "missing", "dropped")
    }
    closed_at = s.get("closed_at")
    return VideoFile(
        camera=r.get(s, "camera", str, p),
        index=r.get(s, "index", int, p, minimum=1),
        file=name,
        status=status,
        start=_number(r, s, "start", p),
        fps=_number(r, s, "fps", p, positive=True),
        sha256=sha,
        opened_at=r.time(s, "opened_at", p),
        closed_at=None if closed_at is None else r.time(s, "closed_at", p),
        **counts,
    )
