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
hearing time ``start`` (the audio recorder decides). The switch happens at the
first slot at or after ``start``, so a video segment boundary falls on the same
hearing instant as the audio one, to within one frame (exactly on it when the
boundary lies on the slot grid).

Holding back: the roll comes from the audio recorder when the audio block
holding the boundary reaches it, while frames are stamped in the camera's
reader thread as they are captured, so frames past the boundary are routinely
pushed *before* its roll (a 100 ms audio block against 40 ms frames, or a busy
event loop). A slot is therefore filled only once the pacer has seen hearing
time ``max_delay`` beyond it — a frame that late (:meth:`FramePacer.push`) or
``advance(now)`` with ``now`` that late — never as soon as a frame passes it.
A roll for ``start`` is *in time* while every frame pushed and every
``advance(now)`` is before ``start + max_delay``, and then lands exactly as
described above. A later roll can no longer move slots already filled: its
segment starts at the next slot not yet filled (its :class:`SegmentStart`
says where), possibly more than a frame after the audio's, which
``courtroom av check`` reports. (The first segment has no slots before it and
starts at its ``start`` however late, with what pictures are still held.) The cost is
latency: video reaches the encoder ``max_delay`` (0.5 s by default) behind
the hearing clock.

Memory: the frames that may still fill a slot are held, at most
:attr:`FramePacer.max_held` = ``ceil(max_delay × fps) + 4`` of them (a camera
delivering at ``fps`` needs about ``max_delay × fps + 1``; the rest is room for
jitter). A camera delivering faster than ``fps``, or a burst after a stall,
would exceed that: then the held frame whose neighbours are closest together
is dropped (counted in ``dropped``), so memory stays bounded and the hold —
the boundary guarantee — is kept; a slot may then get a frame up to half that
neighbours' gap away rather than the nearest one.
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
    """Assigns frames to constant-rate slots, ``max_delay`` behind the newest time seen.

    Args:
        fps: output frame rate.
        stale_after: farthest a frame may be from a slot and still fill it.
        max_delay: how far behind the newest hearing time seen (a frame's in
            :meth:`push`, ``now`` in :meth:`advance`) slots are filled: the
            latest a :meth:`roll` may come and still cut exactly, and the
            latency of the output.

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
        self.max_held = math.ceil(max_delay * fps) + 4
        """Most frames held at once (see the module docstring)."""
        self._pending: list[SegmentStart] = []
        self._segment: SegmentStart | None = None
        self._first_start: float | None = None
        self._number = 0
        self._held: list[_Held] = []  # in hearing-time order, newest last
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

    @property
    def held(self) -> tuple[Frame, ...]:
        """Frames that may still fill a slot, oldest first (at most :attr:`max_held`)."""
        return tuple(h.frame for h in self._held)

    def roll(self, index: int, start: float) -> None:
        """Start segment ``index`` at hearing time ``start``.

        The segment begins at the first slot at or after ``start`` not yet
        filled; the :class:`SegmentStart` output carries the actual start.

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
        """Take a frame (with ``hearing_time``); return the slots now ``max_delay`` old.

        Raises:
            ValueError: the frame has no hearing time.
        """
        t = frame.hearing_time
        if t is None:
            raise ValueError("the pacer needs frames stamped with hearing time")
        self._frames_in += 1
        if self._held and t <= self._held[-1].time:
            self._dropped += 1  # out of order or a duplicate stamp
            return []
        self._held.append(_Held(frame, t))
        out = self._emit_until(t - self.max_delay, inclusive=True)
        while len(self._held) > self.max_held:
            self._thin()
        return out

    def advance(self, now: float) -> list[Output]:
        """Hearing time is ``now``: fill slots ``max_delay`` old from what is held."""
        return self._emit_until(now - self.max_delay, inclusive=True)

    def finish(self, end: float) -> list[Output]:
        """Fill every slot before ``end`` (exclusive) at once; call before closing."""
        return self._emit_until(end, inclusive=False)

    def _recorded(self, held: _Held) -> bool:
        """Whether the frame falls inside the recording (not before its first segment)."""
        first = self._first_start
        return first is not None and held.time >= first

    def _next_time(self) -> float | None:
        if self._segment is None:
            return None
        return self._segment.start + self._number / self.fps

    def _emit_until(self, until: float, *, inclusive: bool) -> list[Output]:
        out: list[Output] = []
        while True:
            slot_time = self._next_time()
            pending = self._pending[0] if self._pending else None
            if pending is not None and (
                slot_time is None or slot_time >= pending.start - _SAME_TIME
            ):
                self._pending.pop(0)
                # A slot a rounding error short of the boundary is the boundary.
                start = pending.start if slot_time is None else max(pending.start, slot_time)
                self._segment = SegmentStart(pending.index, start)
                if self._first_start is None:
                    self._first_start = start
                self._number = 0
                out.append(self._segment)
                continue
            if slot_time is None or slot_time > until or (slot_time == until and not inclusive):
                break
            assert self._segment is not None
            frame = self._nearest(slot_time)
            repeated = frame is not None and frame is self._last_shown
            self._last_shown = frame
            self._slots += 1
            self._repeated += repeated
            self._missing += frame is None
            out.append(Slot(self._segment.index, self._number, slot_time, frame, repeated))
            self._number += 1
        self._evict(until)
        return out

    def _nearest(self, slot_time: float) -> Frame | None:
        """The held frame nearest ``slot_time`` within ``stale_after``; a tie goes to the later."""
        best: _Held | None = None
        best_distance = self.stale_after
        for held in self._held:
            distance = abs(held.time - slot_time)
            if distance <= best_distance:
                best, best_distance = held, distance
            elif held.time > slot_time:
                break  # in time order: the rest are farther still
        if best is None:
            return None
        best.used = True
        return best.frame

    def _evict(self, until: float) -> None:
        """Let go of frames no future slot can want.

        A future slot is at or after the next slot time (before the first
        segment, after ``until``: a first roll in time starts there or later),
        so a frame followed by another at or before that time is never the
        nearest one again (ties go to the later frame).
        """
        horizon = self._next_time()
        if horizon is None:
            horizon = until
        while len(self._held) >= 2 and self._held[1].time <= horizon:
            self._release(self._held.pop(0))

    def _thin(self) -> None:
        """Drop the held frame whose neighbours are closest together (never the ends)."""
        held = self._held
        gaps = [held[i + 1].time - held[i - 1].time for i in range(1, len(held) - 1)]
        self._release(held.pop(1 + gaps.index(min(gaps))))

    def _release(self, held: _Held) -> None:
        # Frames let go before the first segment starts are not counted: the
        # pacer cannot tell yet whether they fall inside the recording.
        if not held.used and self._recorded(held):
            self._dropped += 1


@dataclass(slots=True)
class _Held:
    frame: Frame
    time: float
    used: bool = False


_SAME_TIME = 1e-9  # seconds; slot times are sums of floats
