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

Stops of the recording are sorted in two: the court's reason-coded
interruptions (休庭 ``recess``, 不公开举证质证 ``closed-evidence``, 不宜录制
的调解 ``mediation``) are lawful and listed with who ordered and who resumed
them; every other stop — a capture loss, a crash or restart, a recording
stopped and continued without a code, an unexplained hole, an interruption
whose reason is not a listed code — is an :class:`Incident`. Incidents do not
make a recording unsound (its files are intact and say what happened), but
``--strict`` gives them their own exit status.

Markers (举证: exhibits presented and withdrawn) are listed with their
hearing time; one outside the recording's span (before its first frame or
after its end) is a warning: it points at no audio, but the audio is intact.
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile

from av.recording.check_video import check_video
from av.recording.errors import ManifestError, RecordingError
from av.recording.manifest import (
    INTERRUPTION_REASONS,
    MANIFEST_NAME,
    GapReason,
    Interruption,
    Manifest,
    Marker,
    Segment,
    SegmentStatus,
    read_manifest,
)
from av.recording.manifest_types import INTERRUPTION_LABELS
from av.recording.segment_writer import count_flac_frames, sha256_file

__all__ = [
    "EXIT_INCIDENTS",
    "EXIT_PROBLEMS",
    "EXIT_SOUND",
    "CheckReport",
    "Incident",
    "IncidentKind",
    "check_recording",
    "main",
]

EXIT_SOUND = 0  # no problem (and, with --strict, no incident)
EXIT_PROBLEMS = 1  # the recording is not sound: each problem is printed
EXIT_INCIDENTS = 2  # --strict only: sound, but stopped other than by a lawful interruption


class IncidentKind(enum.StrEnum):
    """A stop of the recording that is not a lawful, reason-coded interruption."""

    CAPTURE = "capture"  # a capture gap: the audio source lost frames
    RECORDER_INTERRUPTED = "recorder_interrupted"  # a gap after a crash / kill and restart
    RECORDER_STOPPED = "recorder_stopped"  # closed, then continued without a reason code
    SEGMENT_INTERRUPTED = "segment_interrupted"  # a segment the recorder never closed (crash)
    UNEXPLAINED = "unexplained"  # frames neither recorded nor declared
    UNLAWFUL_INTERRUPTION = "unlawful_interruption"  # an interruption without a listed code

    @property
    def label(self) -> str:
        return _INCIDENT_LABELS[self]


_INCIDENT_LABELS: dict[IncidentKind, str] = {
    IncidentKind.CAPTURE: "采集丢帧 · capture loss",
    IncidentKind.RECORDER_INTERRUPTED: "录音意外中断 · recorder crashed or was killed",
    IncidentKind.RECORDER_STOPPED: "停录后续录 · recording stopped, continued without a reason",
    IncidentKind.SEGMENT_INTERRUPTED: "分段未正常关闭 · segment left open by a crash",
    IncidentKind.UNEXPLAINED: "未说明的空缺 · frames neither recorded nor declared",
    IncidentKind.UNLAWFUL_INTERRUPTION: "中断理由不合规定 · interruption without a listed reason",
}

_GAP_INCIDENTS: dict[GapReason, IncidentKind] = {
    GapReason.CAPTURE: IncidentKind.CAPTURE,
    GapReason.RECORDER_INTERRUPTED: IncidentKind.RECORDER_INTERRUPTED,
    GapReason.RECORDER_STOPPED: IncidentKind.RECORDER_STOPPED,
}


@dataclass(frozen=True, slots=True)
class Incident:
    """Hearing frames ``[start_frame, end_frame)`` the recording lost other than lawfully.

    ``end_frame`` is ``None`` when the stop has no known end (an interruption
    without a listed code still open).
    """

    kind: IncidentKind
    start_frame: int
    end_frame: int | None
    detail: str

    def to_json(self, sample_rate: int) -> dict[str, Any]:
        rate = sample_rate or 1
        return {
            "kind": self.kind.value,
            "label": self.kind.label,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "start": self.start_frame / rate,
            "end": None if self.end_frame is None else self.end_frame / rate,
            "detail": self.detail,
        }


def _interruption_json(i: Interruption, sample_rate: int) -> dict[str, Any]:
    rate = sample_rate or 1
    code = i.code
    return {
        "reason": i.reason,
        "label": INTERRUPTION_LABELS[code] if code is not None else i.reason,
        "lawful": code is not None,
        "start_frame": i.start_frame,
        "end_frame": i.end_frame,
        "start": i.start_frame / rate,
        "end": None if i.end_frame is None else i.end_frame / rate,
        "ordered_by": i.ordered_by,
        "resumed_by": i.resumed_by,
        "started_at": i.started_at,
        "ended_at": i.ended_at,
    }


def _marker_json(m: Marker, sample_rate: int, span: tuple[int, int] | None) -> dict[str, Any]:
    return m.to_json() | {
        "kind_label": m.kind_label,
        "time": m.frame / (sample_rate or 1),
        "within_recording": span is not None and span[0] <= m.frame <= span[1],
    }


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
        interruptions: the court's interruptions, as listed (lawful or not).
        incidents: every stop other than a lawful interruption.
        markers: the markers, in frame order.
        span: hearing frames ``(first, end)`` the recording covers (segments,
            gaps and interruptions; an open interruption lasts to the
            greatest frame listed); ``None`` if the manifest is unreadable.
    """

    directory: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    segments: int = 0
    recorded_frames: int = 0
    gap_frames: int = 0
    sample_rate: int = 0
    video_segments: int = 0
    interruptions: list[Interruption] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    span: tuple[int, int] | None = None

    @property
    def sound(self) -> bool:
        """Consistent and intact: no problem (incidents and warnings allowed)."""
        return not self.problems

    @property
    def continuous(self) -> bool:
        """Sound, and stopped only by lawful interruptions."""
        return self.sound and not self.incidents

    @property
    def interruption_frames(self) -> int:
        """Frames inside closed interruptions (an open one has no length yet)."""
        return sum(i.end_frame - i.start_frame for i in self.interruptions if i.end_frame)

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
            "continuous": self.continuous,
            "interruption_frames": self.interruption_frames,
            "interruptions": [_interruption_json(i, self.sample_rate) for i in self.interruptions],
            "incidents": [i.to_json(self.sample_rate) for i in self.incidents],
            "span": None if self.span is None else list(self.span),
            "markers": [_marker_json(m, self.sample_rate, self.span) for m in self.markers],
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
    incidents: list[Incident] = []
    _check_layout(manifest, problems)
    ends: dict[int, int] = {}
    for i, seg in enumerate(manifest.segments):
        last = i == len(manifest.segments) - 1
        end = _check_segment(directory, manifest, seg, last, problems, warnings)
        if end is not None:
            ends[seg.index] = end
        if seg.status is SegmentStatus.INTERRUPTED:
            incidents.append(
                Incident(
                    IncidentKind.SEGMENT_INTERRUPTED,
                    seg.first_frame,
                    seg.end_frame,
                    f"segment {seg.index}: the recorder stopped without closing it",
                )
            )
    for g in manifest.gaps:
        incidents.append(
            Incident(_GAP_INCIDENTS[g.reason], g.start_frame, g.end_frame, f"gap ({g.reason})")
        )
    for stop in manifest.interruptions:
        if stop.code is None:
            incidents.append(
                Incident(
                    IncidentKind.UNLAWFUL_INTERRUPTION,
                    stop.start_frame,
                    stop.end_frame,
                    f"interruption reason {stop.reason!r} is not one of "
                    f"{[str(c) for c in INTERRUPTION_REASONS]}",
                )
            )
    _check_continuity(manifest, ends, problems, incidents)
    incidents.sort(key=lambda i: (i.start_frame, i.kind))
    listed = {f.name for s in manifest.segments for f in s.files}
    listed |= check_video(directory, manifest, problems, warnings)
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name not in listed and name != MANIFEST_NAME and not name.startswith("."):
            warnings.append(f"{name}: file not listed in the manifest")
    recorded = sum(end - s.first_frame for s in manifest.segments if (end := ends.get(s.index)))
    span = _span(manifest, ends)
    _check_markers(manifest, span, warnings)
    return CheckReport(
        str(directory),
        problems=problems,
        warnings=warnings,
        segments=len(manifest.segments),
        recorded_frames=recorded,
        gap_frames=sum(max(0, g.frames) for g in manifest.gaps),
        sample_rate=manifest.sample_rate,
        video_segments=len(manifest.video_segments),
        interruptions=list(manifest.interruptions),
        incidents=incidents,
        markers=list(manifest.markers),
        span=span,
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


def _span(m: Manifest, ends: dict[int, int]) -> tuple[int, int]:
    """Hearing frames from the recording's first to its end: the furthest of the
    segments (as decodable), gaps and interruptions. An interruption still open
    lasts to the end of the recording, so it reaches the last frame listed —
    markers included: the hearing went on while the recording was stopped."""
    end = max(
        [
            m.started_frame,
            *ends.values(),
            *(g.end_frame for g in m.gaps),
            *(i.end_frame for i in m.interruptions if i.end_frame is not None),
        ]
    )
    if (stop := m.open_interruption) is not None:
        end = max([end, stop.start_frame, *(k.frame for k in m.markers)])
    return m.started_frame, end


def _check_markers(m: Manifest, span: tuple[int, int], warnings: list[str]) -> None:
    first, end = span
    rate = m.sample_rate or 1
    for i, k in enumerate(m.markers):
        if not first <= k.frame <= end:
            warnings.append(
                f"markers[{i}] ({k.kind} {k.ref!r}) at frame {k.frame} ({k.frame / rate:.1f} s) "
                f"is outside the recording, frames [{first}, {end}]"
            )


def _check_continuity(
    m: Manifest, ends: dict[int, int], problems: list[str], incidents: list[Incident]
) -> None:
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
    for i in m.interruptions:
        # An interruption still open lasts to the end of the recording.
        end = sys.maxsize if i.end_frame is None else i.end_frame
        spans.append((i.start_frame, end, f"interruption {i.reason} from frame {i.start_frame}"))
    spans.sort(key=lambda s: (s[0], s[1]))
    cursor, previous = m.started_frame, "the start of the recording"
    for start, end, what in spans:
        if start > cursor:
            problems.append(
                f"frames [{cursor}, {start}) between {previous} and {what} are neither "
                "recorded nor declared as a gap"
            )
            incidents.append(
                Incident(IncidentKind.UNEXPLAINED, cursor, start, f"between {previous} and {what}")
            )
        elif start < cursor:
            upto = "the end" if cursor == sys.maxsize else str(cursor)
            problems.append(f"{what} overlaps {previous} (frames [{start}, {upto}))")
        if end > cursor:
            cursor, previous = end, what


def main(argv: Sequence[str] | None = None) -> int:
    """``courtroom av check DIR [--json] [--strict]``.

    Exit status: 0 when sound — every file intact, the hearing clock tiled by
    segments, declared gaps and interruptions; 1 when not, each problem
    printed; with ``--strict``, 2 when sound but with incidents (a stop other
    than a lawful, reason-coded interruption). Without ``--strict`` incidents
    are printed and exit 0, as before interruptions existed.
    """
    parser = argparse.ArgumentParser(
        prog="courtroom av check", description="检查庭审录音 / verify a hearing recording"
    )
    parser.add_argument("directory", type=Path, help="hearing directory (holds manifest.json)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="事故也算失败 / exit 2 when sound but with incidents",
    )
    args = parser.parse_args(argv)
    report = check_recording(args.directory)
    status = _status(report, strict=args.strict)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return status
    rate = report.sample_rate or 1
    summary = (
        f"{report.segments} segments, {report.recorded_frames / rate:.1f} s recorded, "
        f"{report.gap_frames / rate:.1f} s in declared gaps, "
        f"{len(report.interruptions)} interruption(s) "
        f"({report.interruption_frames / rate:.1f} s), {len(report.incidents)} incident(s), "
        f"{report.video_segments} video segments, {len(report.markers)} marker(s)"
    )
    for w in report.warnings:
        print(f"注意 / warning: {w}")
    for i in report.interruptions:
        j = _interruption_json(i, rate)
        end = "录音结束 / the end" if j["end"] is None else f"{j['end']:.1f} s"
        resumed = "" if i.resumed_by is None else f", 恢复 / resumed by {i.resumed_by}"
        print(
            f"依法中断 / interruption: {j['label']}: {j['start']:.1f} s – {end}, "
            f"决定 / ordered by {i.ordered_by}{resumed}"
        )
    for inc in report.incidents:
        end = "?" if inc.end_frame is None else f"{inc.end_frame / rate:.1f} s"
        print(
            f"事故 / incident: {inc.kind.label}: {inc.start_frame / rate:.1f} s – {end} "
            f"({inc.detail})"
        )
    if report.sound:
        verdict = "完好 / sound" if report.continuous else "完好但有事故 / sound, with incidents"
        print(f"{verdict}: {report.directory}: {summary}")
        return status
    for p in report.problems:
        print(f"问题 / problem: {p}", file=sys.stderr)
    print(
        f"有问题 / NOT sound: {report.directory}: {len(report.problems)} problem(s)",
        file=sys.stderr,
    )
    return status


def _status(report: CheckReport, *, strict: bool) -> int:
    if not report.sound:
        return EXIT_PROBLEMS
    return EXIT_INCIDENTS if strict and report.incidents else EXIT_SOUND
