"""Courtroom cameras: capture, burned-in recording time, MP4 segments, thumbnails, watchdog.

* :class:`CameraAddress` / :class:`CameraCapture` — a device index, an
  ``rtsp://`` or ``http://`` (MJPEG) URL or a file, read by OpenCV in a thread
  behind a bounded drop-oldest queue; frames stamped with the hearing clock.
* :class:`CameraRecorder` — constant-rate, fragmented (crash-safe) H.264 MP4
  segments through an ``ffmpeg`` child, rolled with the audio segments, with
  the recording time burned in by :class:`TimestampOverlay`.
* :class:`Thumbnailer` — bounded JPEG thumbnails for the patrol wall.
* :class:`CameraWatchdog` — sans-I/O: no frames, frozen or black picture →
  :class:`CameraAlarm`; online/offline; :class:`CameraGap` for the manifest.
* :class:`Camera` — the long-running part tying these together, with
  jittered reconnect.

Errors: see :mod:`av.camera.errors`.
"""

from av.camera.camera import Camera
from av.camera.errors import (
    CameraError,
    CameraOpenError,
    CameraRecordingError,
    CameraStreamError,
)
from av.camera.events import (
    CAMERA_EVENT_KIND,
    AlarmKind,
    CameraAlarm,
    CameraEvent,
    CameraGap,
    CameraState,
    CameraStateChange,
)
from av.camera.overlay import OverlayBox, TimestampOverlay, no_signal_image
from av.camera.pacer import FramePacer, PacerStats, SegmentStart, Slot
from av.camera.source import CameraAddress, CameraCapture, CaptureStats, Frame, SourceKind
from av.camera.thumbnails import Thumbnail, Thumbnailer
from av.camera.watchdog import CameraWatchdog, PictureMeasure, PictureProbe
from av.camera.writer import CameraRecorder, VideoSegment

__all__ = [
    "CAMERA_EVENT_KIND",
    "AlarmKind",
    "Camera",
    "CameraAddress",
    "CameraAlarm",
    "CameraCapture",
    "CameraError",
    "CameraEvent",
    "CameraGap",
    "CameraOpenError",
    "CameraRecorder",
    "CameraRecordingError",
    "CameraState",
    "CameraStateChange",
    "CameraStreamError",
    "CameraWatchdog",
    "CaptureStats",
    "Frame",
    "FramePacer",
    "OverlayBox",
    "PacerStats",
    "PictureMeasure",
    "PictureProbe",
    "SegmentStart",
    "Slot",
    "SourceKind",
    "Thumbnail",
    "Thumbnailer",
    "TimestampOverlay",
    "VideoSegment",
    "no_signal_image",
]
