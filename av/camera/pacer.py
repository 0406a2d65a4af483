"""Constant frame rate on the hearing clock, with segment boundaries (sans-I/O).

Cameras deliver frames when they like: an IP camera's 25 fps is 24.7 one
second and 26 the next, frames are dropped on the network, a reconnect
leaves a hole. A court recording needs the opposite: frame ``k`` of a
segment shows hearing time ``start + k / fps`` exactly, so that video
position, audio sample position and transcript stamps line up, and a
segment of N seconds has N × fps frames.

:class:`FramePacer` turns frames stamped with hearing time into such
*slots*. Each slot gets the captured frame nearest in time to it (never one
more than ``stale_after`` seconds away); a frame shown in two slots is
*repeated*, a frame no slot wanted is *dropped*, a slot with no frame near it
is *missing* and recorded as a "no signal" picture. All three are counted.

Segments: :meth:`FramePacer.roll` announces that segment ``index`` starts at
hearing time ``start`` (the audio recorder decides). The switch happens when
the slots reach that time, so a video segment boundary falls on the same
hearing instant as the audio one, to within one frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from av.camera.source import Frame

__all__ = ["FramePacer", "PacerStats", "SegmentStart", "Slot"]


@dataclass(frozen=True, slots=True)
class SegmentStart:
    """Slots from here on belong to segment ``index``, whose frame 0 is at ``start``."""

    index: int
    start: float


@dataclass(frozen=True, slots=True)
class Slot:
    """One output frame: ``number`` within its segment, at hearing ``time``."""

    segment: int
    number: int
    time: float
    frame: Frame | None
    repeated: bool


@dataclass(frozen=True, slots=True)
class PacerStats:
    frames_in: int
    dropped: int
    repeated: int
    missing: int
    slots: int


Output = SegmentStart | Slot


class FramePacer:
    """Assigns frames to constant-rate slots.

    Args:
        fps: output frame rate.
        stale_after: farthest a frame may be from a slot and still fill it.
        max_delay: how long after a slot's time :meth:`advance` waits for a
            frame before filling the slot from what it has.

    Raises:
        ValueError: ``fps`` is not within 0 < fps <= 120, or a delay is not positive.
    """

    def __init__(self, *, fps: float, stale_after: float = 1.0, max_delay: float = 0.5) -> None:
        if not 0 < fps <= 120:
            raise ValueError(f"fps {fps} is out of range")
        if stale_after <= 0 or max_delay <= 0:
            raise ValueError("stale_after and max_delay must be positive")
        self.fps = fps
        self.stale_after = stale_after
        self.max_delay = max_delay
        self._pending: list[SegmentStart] = []
        self._segment: SegmentStart | None = None
        self._first_start: float | None = None
        self._number = 0
        self._previous: Frame | None = None
        self._previous_used = False
        self._last_shown: Frame | None = None
        self._frames_in = self._dropped = self._repeated = self._missing = self._slots = 0

    @property
    def stats(self) -> PacerStats:
        return PacerStats(
            self._frames_in, self._dropped, self._repeated, self._missing, self._slots
        )

    @property
    def segment(self) -> int | None:
        """Index of the segment slots currently go to (None before the first)."""
        return None if self._segment is None else self._segment.index

    def roll(self, index: int, start: float) -> None:
        """Start segment ``index`` at hearing time ``start``.

        A boundary earlier than the next slot takes effect at the next slot;
        the :class:`SegmentStart` output carries the actual start.

        Raises:
            ValueError: ``index`` does not exceed the previous one, or ``start``
                is before an already announced boundary.
        """
        last = self._pending[-1] if self._pending else self._segment
        if last is not None and (index <= last.index or start < last.start):
            raise ValueError(f"segment {index} at {start} does not follow segment {last.index}")
        if not math.isfinite(start):
            raise ValueError("segment start must be finite")
        self._pending.append(SegmentStart(index, start))

    def push(self, frame: Frame) -> list[Output]:
        """Take a frame (with ``hearing_time``); return the slots it completes.

        Raises:
            ValueError: the frame has no hearing time.
        """
        t = frame.hearing_time
        if t is None:
            raise ValueError("the pacer needs frames stamped with hearing time")
        self._frames_in += 1
        previous = self._previous
        if (
            previous is not None
            and previous.hearing_time is not None
            and t <= previous.hearing_time
        ):
            self._dropped += 1  # out of order or a duplicate stamp
            return []
        out = self._emit_until(t, inclusive=True, current=frame)
        if previous is not None and not self._previous_used and self._recorded(previous):
            self._dropped += 1
        self._previous, self._previous_used = frame, False
        if out and any(isinstance(o, Slot) and o.frame is frame for o in out):
            self._previous_used = True
        return out

    def advance(self, now: float) -> list[Output]:
        """Hearing time is ``now``: fill slots older than ``max_delay`` from what is known."""
        return self._emit_until(now - self.max_delay, inclusive=True, current=None)

    def finish(self, end: float) -> list[Output]:
        """Fill every slot before ``end`` (exclusive); call before closing."""
        return self._emit_until(end, inclusive=False, current=None)

    def _recorded(self, frame: Frame) -> bool:
        """Whether ``frame`` falls inside the recording (not before its first segment)."""
        first = self._first_start
        return first is not None and frame.hearing_time is not None and frame.hearing_time >= first

    def _next_time(self) -> float | None:
        if self._segment is None:
            return None
        return self._segment.start + self._number / self.fps

    def _emit_until(self, until: float, *, inclusive: bool, current: Frame | None) -> list[Output]:
        out: list[Output] = []
        while True:
            slot_time = self._next_time()
            pending = self._pending[0] if self._pending else None
            if pending is not None and (slot_time is None or slot_time >= pending.start):
                self._pending.pop(0)
                start = pending.start if slot_time is None else max(pending.start, slot_time)
                self._segment = SegmentStart(pending.index, start)
                if self._first_start is None:
                    self._first_start = start
                self._number = 0
                out.append(self._segment)
                continue
            if slot_time is None or slot_time > until or (slot_time == until and not inclusive):
                return out
            assert self._segment is not None
            frame = self._nearest(slot_time, current)
            repeated = frame is not None and frame is self._last_shown
            self._last_shown = frame
            if frame is self._previous and frame is not None:
                self._previous_used = True
            self._slots += 1
            self._repeated += repeated
            self._missing += frame is None
            out.append(Slot(self._segment.index, self._number, slot_time, frame, repeated))
            self._number += 1

    def _nearest(self, slot_time: float, current: Frame | None) -> Frame | None:
        best: Frame | None = None
        best_distance = self.stale_after
        for frame in (self._previous, current):
            if frame is None or frame.hearing_time is None:
                continue
            distance = abs(frame.hearing_time - slot_time)
            if distance <= best_distance:
                best, best_distance = frame, distance
        return best
