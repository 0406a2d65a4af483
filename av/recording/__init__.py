"""Hearing audio recording: lossless, segmented, crash-safe, verifiable.

* :class:`AudioRecorder` writes every channel of a hearing as mono FLAC
  segments with a ``manifest.json`` (format: ``docs/recording-format.md``).
* :func:`check_recording` verifies a hearing directory; :func:`main` is the
  ``courtroom av check DIR`` command.
* :meth:`AudioRecorder.mark` pins a :class:`Marker` (an exhibit presented,
  举证) to the hearing clock in the manifest.
* :data:`INTERRUPTION_REASONS`: the codes for which the court may lawfully
  interrupt the recording (:meth:`AudioRecorder.interrupt`).
* :class:`RecorderAlarm` / :class:`RecorderState` are what the watchdog
  publishes; :class:`DiskHeadroom` is the free-space rule.
"""

from av.recording.alarms import AlarmKind, DiskHeadroom, RecorderAlarm, RecorderState, Severity
from av.recording.check import CheckReport, check_recording, main
from av.recording.errors import (
    FrameOrderError,
    InterruptionStateError,
    ManifestError,
    MarkerError,
    RecorderClosedError,
    RecorderFailedError,
    RecordingError,
    RecordingMismatchError,
)
from av.recording.manifest import (
    INTERRUPTION_REASONS,
    Gap,
    GapReason,
    Interruption,
    InterruptionReason,
    Manifest,
    Marker,
    Segment,
    SegmentFile,
    SegmentStatus,
    read_manifest,
)
from av.recording.recorder import AudioRecorder
from av.recording.segment_writer import read_flac

__all__ = [
    "INTERRUPTION_REASONS",
    "AlarmKind",
    "AudioRecorder",
    "CheckReport",
    "DiskHeadroom",
    "FrameOrderError",
    "Gap",
    "GapReason",
    "Interruption",
    "InterruptionReason",
    "InterruptionStateError",
    "Manifest",
    "ManifestError",
    "Marker",
    "MarkerError",
    "RecorderAlarm",
    "RecorderClosedError",
    "RecorderFailedError",
    "RecorderState",
    "RecordingError",
    "RecordingMismatchError",
    "Segment",
    "SegmentFile",
    "SegmentStatus",
    "Severity",
    "check_recording",
    "main",
    "read_flac",
    "read_manifest",
]
