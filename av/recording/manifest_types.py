"""The manifest's enumerations (shared by the audio and video parts)."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from courtroom_core.hearing import REASON_LABELS, InterruptionReason

__all__ = [
    "INTERRUPTION_LABELS",
    "INTERRUPTION_REASONS",
    "GapReason",
    "InterruptionReason",
    "SegmentStatus",
]


class SegmentStatus(enum.StrEnum):
    OPEN = "open"  # being written (or the recorder died and has not restarted yet)
    CLOSED = "closed"  # finalised; frames and every file's SHA-256 are final
    INTERRUPTED = "interrupted"  # the recorder died while it was open; kept as found


class GapReason(enum.StrEnum):
    CAPTURE = "capture"  # the audio source lost frames (its start_frame jumped)
    RECORDER_INTERRUPTED = "recorder_interrupted"  # the recorder died without closing
    RECORDER_STOPPED = "recorder_stopped"  # closed normally, reopened later (adjournment)


INTERRUPTION_REASONS: tuple[InterruptionReason, ...] = tuple(InterruptionReason)
"""The SPC rule's three lawful interruptions (the one table is :mod:`courtroom_core.hearing`)."""

INTERRUPTION_LABELS: Mapping[InterruptionReason, str] = REASON_LABELS
