"""Verify a hearing recording: ``courtroom av check DIR``.

:func:`check_recording` reads ``manifest.json`` and checks, without trusting
it: the manifest's schema; every file's SHA-256; every file's decodable frame
count against the manifest; sample rate and channel layout of every file;
continuity of the hearing clock (segments and declared gaps tile the
recording from its first frame, with no hole and no overlap); the gaps' own
consistency; and the cameras' video (:mod:`av.recording.check_video`).
Each problem names the segment and file and says what is wrong.

Interrupted segments (kept as found after a crash) and a still-open segment
are *warnings*: they are declared defects, not inconsistencies.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile

from av.recording.check_video import check_video
from av.recording.errors import ManifestError, RecordingError
from av.recording.manifest import MANIFEST_NAME, Manifest, Segment, SegmentStatus, read_manifest
from av.recording.segment_writer import count_flac_frames, sha256_file

__all__ = ["CheckReport", "check_recording", "main"]


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The verdict on one hearing directory.

    Attributes:
        directory: the hearing directory checked.
        problems: each inconsistency found; empty when the recording is sound.
        warnings: declared defects and oddities that do not make it unsound.
        segments: segments listed in the manifest.
        recorded_frames: frames held by the segments.
        gap_frames: frames declared missing.
        sample_rate: from the manifest (0 if it could not be read).
        video_segments: camera segments listed in the manifest.
    """

    directory: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    segments: int = 0
    recorded_frames: int = 0
    gap_frames: int = 0
    sample_rate: int = 0
    video_segments: int = 0

    @property
    def sound(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "sound": self.sound,
            "problems": self.problems,
            "warnings": self.warnings,
            "segments": self.segments,
            "recorded_frames": self.recorded_frames,
            "gap_frames": self.gap_frames,
            "sample_rate": self.sample_rate,
            "video_segments": self.video_segments,
        }


def check_recording(path: str | Path) -> CheckReport:
    """Verify the hearing recording in directory ``path``.

    Never raises for a bad recording: everything wrong is in the report.
    """
    directory = Path(path)
    try:
        manifest = read_manifest(directory)
    except ManifestError as e:
        return CheckReport(str(directory), problems=[str(e)])
    problems: list[str] = []
    warnings: list[str] = []
    _check_layout(manifest, problems)
    ends: dict[int, int] = {}
    for i, seg in enumerate(manifest.segments):
        last = i == len(manifest.segments) - 1
        end = _check_segment(directory, manifest, seg, last, problems, warnings)
        if end is not None:
            ends[seg.index] = end
    _check_continuity(manifest, ends, problems)
    listed = {f.name for s in manifest.segments for f in s.files}
    listed |= check_video(directory, manifest, problems, warnings)
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name not in listed and name != MANIFEST_NAME and not name.startswith("."):
            warnings.append(f"{name}: file not listed in the manifest")
    recorded = sum(end - s.first_frame for s in manifest.segments if (end := ends.get(s.index)))
    return CheckReport(
        str(directory),
        problems=problems,
        warnings=warnings,
        segments=len(manifest.segments),
        recorded_frames=recorded,
        gap_frames=sum(max(0, g.frames) for g in manifest.gaps),
        sample_rate=manifest.sample_rate,
        video_segments=len(manifest.video_segments),
    )


def _check_layout(m: Manifest, problems: list[str]) -> None:
    if [c.index for c in m.channels] != list(range(len(m.channels))) or not m.channels:
        problems.append("manifest: channels must be numbered 0, 1, 2, … in order")
    indexes = [s.index for s in m.segments]
    if indexes != sorted(set(indexes)):
        problems.append("manifest: segment indexes are not strictly increasing")
    names = [f.name for s in m.segments for f in s.files]
    if len(names) != len(set(names)):
        problems.append("manifest: a file name is listed twice")
    if m.sessions and m.sessions[0].first_frame != m.started_frame:
        problems.append("manifest: first session does not start at started_frame")


def _check_segment(
    directory: Path,
    m: Manifest,
    seg: Segment,
    last: bool,
    problems: list[str],
    warnings: list[str],
) -> int | None:
    """Check one segment's files; return its end frame if it can be known."""
    where = f"segment {seg.index}"
    if sorted(f.channel for f in seg.files) != list(range(len(m.channels))):
        problems.append(f"{where}: does not have exactly one file per channel")
    if seg.status is SegmentStatus.OPEN and (m.closed or not last):
        problems.append(f"{where}: marked open although the recording has moved on or closed")
    counts: list[int] = []
    for f in seg.files:
        path = directory / f.name
        label = f"{where} ({f.name})"
        if not path.is_file():
            if seg.status is SegmentStatus.INTERRUPTED and f.sha256 is None:
                counts.append(0)  # declared missing by recovery
            else:
                problems.append(f"{label}: file is missing")
            continue
        if f.sha256 is not None and sha256_file(path) != f.sha256:
            problems.append(f"{label}: SHA-256 does not match the manifest (file altered)")
        try:
            frames, finalised = count_flac_frames(path)
            info = soundfile.info(str(path))
        except (RecordingError, RuntimeError) as e:
            if seg.status is SegmentStatus.CLOSED or (f.frames or 0) > 0:
                problems.append(f"{label}: cannot be decoded: {e}")
            counts.append(0)
            continue
        if info.samplerate != m.sample_rate or info.channels != 1:
            problems.append(
                f"{label}: is {info.samplerate} Hz × {info.channels} channels, "
                f"manifest says {m.sample_rate} Hz mono"
            )
        if seg.status is SegmentStatus.CLOSED:
            if not finalised:
                problems.append(f"{label}: FLAC file was not finalised")
            if frames != seg.frames:
                problems.append(f"{label}: holds {frames} frames, manifest says {seg.frames}")
        elif f.frames is not None and frames != f.frames:
            problems.append(f"{label}: decodes to {frames} frames, recovery found {f.frames}")
        counts.append(frames)
    if seg.status is SegmentStatus.INTERRUPTED:
        assert seg.frames is not None
        if counts and min(counts) < seg.frames:
            problems.append(f"{where}: a file holds fewer than the {seg.frames} frames declared")
        warnings.append(
            f"{where}: interrupted (recorder stopped without closing it); kept as found, "
            f"{seg.frames} frames recovered"
        )
    if seg.status is SegmentStatus.OPEN:
        frames_now = min(counts, default=0)
        warnings.append(
            f"{where}: open — recording in progress, or the recorder stopped and has "
            f"not been restarted; {frames_now} frames decodable so far"
        )
        return seg.first_frame + frames_now
    return seg.end_frame


def _check_continuity(m: Manifest, ends: dict[int, int], problems: list[str]) -> None:
    spans: list[tuple[int, int, str]] = []
    for seg in m.segments:
        if seg.index in ends:
            spans.append((seg.first_frame, ends[seg.index], f"segment {seg.index}"))
    for g in m.gaps:
        what = f"gap [{g.start_frame}, {g.end_frame}) ({g.reason})"
        if g.end_frame <= g.start_frame:
            problems.append(f"{what}: is empty or reversed")
            continue
        spans.append((g.start_frame, g.end_frame, what))
    spans.sort(key=lambda s: (s[0], s[1]))
    cursor, previous = m.started_frame, "the start of the recording"
    for start, end, what in spans:
        if start > cursor:
            problems.append(
                f"frames [{cursor}, {start}) between {previous} and {what} are neither "
                "recorded nor declared as a gap"
            )
        elif start < cursor:
            problems.append(f"{what} overlaps {previous} (frames [{start}, {cursor}))")
        if end > cursor:
            cursor, previous = end, what


def main(argv: Sequence[str] | None = None) -> int:
    """``courtroom av check DIR [--json]``: 0 when sound, 1 when not."""
    parser = argparse.ArgumentParser(
        prog="courtroom av check", description="检查庭审录音 / verify a hearing recording"
    )
    parser.add_argument("directory", type=Path, help="hearing directory (holds manifest.json)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = check_recording(args.directory)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return 0 if report.sound else 1
    rate = report.sample_rate or 1
    summary = (
        f"{report.segments} segments, {report.recorded_frames / rate:.1f} s recorded, "
        f"{report.gap_frames / rate:.1f} s in declared gaps, "
        f"{report.video_segments} video segments"
    )
    for w in report.warnings:
        print(f"注意 / warning: {w}")
    if report.sound:
        print(f"完好 / sound: {report.directory}: {summary}")
        return 0
    for p in report.problems:
        print(f"问题 / problem: {p}", file=sys.stderr)
    print(
        f"有问题 / NOT sound: {report.directory}: {len(report.problems)} problem(s)",
        file=sys.stderr,
    )
    return 1
