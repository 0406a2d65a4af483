"""The manifest's enumerations (shared by the audio and video parts)."""

from __future__ import annotations

import enum

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


class InterruptionReason(enum.StrEnum):
    """Why the court lawfully stopped recording (the SPC rule's three cases)."""

    RECESS = "recess"  # 休庭
    CLOSED_EVIDENCE = "closed-evidence"  # 公开庭审中的不公开举证质证
    MEDIATION = "mediation"  # 不宜录制的调解

    @property
    def label(self) -> str:
        """zh-CN then English, e.g. ``休庭 · recess``."""
        return INTERRUPTION_LABELS[self]


INTERRUPTION_REASONS: tuple[InterruptionReason, ...] = tuple(InterruptionReason)

INTERRUPTION_LABELS: dict[InterruptionReason, str] = {
    InterruptionReason.RECESS: "休庭 · recess",
    InterruptionReason.CLOSED_EVIDENCE: "不公开举证质证 · closed evidence",
    InterruptionReason.MEDIATION: "不宜录制的调解 · mediation",
}
