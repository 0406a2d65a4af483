"""The manifest's enumerations (shared by the audio and video parts)."""

from __future__ import annotations

import enum

__all__ = ["GapReason", "SegmentStatus"]


class SegmentStatus(enum.StrEnum):
    OPEN = "open"  # being written (or the recorder died and has not restarted yet)
    CLOSED = "closed"  # finalised; frames and every file's SHA-256 are final
    INTERRUPTED = "interrupted"  # the recorder died while it was open; kept as found


class GapReason(enum.StrEnum):
    CAPTURE = "capture"  # the audio source lost frames (its start_frame jumped)
    RECORDER_INTERRUPTED = "recorder_interrupted"  # the recorder died without closing
    RECORDER_STOPPED = "recorder_stopped"  # closed normally, reopened later (adjournment)
