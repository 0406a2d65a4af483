"""Sans-I/O core of the recorder: which frames go into which segment.

:class:`SegmentPlanner` turns a stream of blocks (hearing frame + samples)
into :data:`Action` values for a writer to carry out, in order:

* segments are cut at multiples of ``segment_frames`` on the hearing clock, so
  segment boundaries of every channel (and of cameras cut the same way) fall
  at the same hearing times, whatever the block size;
* a block that starts after the expected frame is a capture gap: the open
  segment is closed, the gap declared with its exact frames, and a new
  segment opened at the block's first frame. Gaps are never filled, so every
  segment file is contiguous: its sample *j* is hearing frame
  ``first_frame + j``;
* a block that starts before the expected frame would duplicate audio and is
  refused with :class:`~av.recording.errors.FrameOrderError`;
* :meth:`SegmentPlanner.interrupt` closes the open segment where the court
  interrupted the recording; no block is taken until :meth:`SegmentPlanner.resume`
  (:class:`~av.recording.errors.InterruptionStateError`). The frames in
  between belong to the interruption, not to a gap: the first block after
  the resume starts a new segment at the resume frame (its samples before
  that frame, captured during the interruption, are not recorded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from av.recording.errors import FrameOrderError, InterruptionStateError
from av.recording.manifest import GapReason

__all__ = [
    "Action",
    "CloseSegment",
    "DeclareGap",
    "OpenSegment",
    "SegmentPlanner",
    "WriteFrames",
]


@dataclass(frozen=True, slots=True)
class OpenSegment:
    index: int
    first_frame: int


@dataclass(frozen=True, slots=True)
class WriteFrames:
    """Append samples to the open segment; ``pcm`` is int16 ``(frames, channels)``."""

    first_frame: int
    pcm: npt.NDArray[np.int16]

    @property
    def frames(self) -> int:
        return int(self.pcm.shape[0])


@dataclass(frozen=True, slots=True)
class CloseSegment:
    index: int
    end_frame: int


@dataclass(frozen=True, slots=True)
class DeclareGap:
    start_frame: int
    end_frame: int
    reason: GapReason


Action = OpenSegment | WriteFrames | CloseSegment | DeclareGap


class SegmentPlanner:
    """Decides segment boundaries and gaps for one recorder session.

    Args:
        segment_frames: nominal segment length; boundaries at its multiples.
        channels: channel count every block must have.
        next_index: index of the next segment to open (1 for a new hearing).
        resume_from: for a resumed hearing, the first hearing frame not
            recorded before; the gap up to the first block is declared as
            ``reason``. ``None`` for a new hearing (no gap before the first block).
        resume_reason: reason of that gap.
        interrupted_from: the hearing is in an interruption that began at
            this frame (a recorder restarted during a recess); no block is
            taken until :meth:`resume`.
    """

    def __init__(
        self,
        *,
        segment_frames: int,
        channels: int,
        next_index: int = 1,
        resume_from: int | None = None,
        resume_reason: GapReason = GapReason.RECORDER_INTERRUPTED,
        interrupted_from: int | None = None,
    ) -> None:
        if segment_frames < 1:
            raise ValueError(f"segment_frames {segment_frames} must be positive")
        self._segment_frames = segment_frames
        self._channels = channels
        self._next_index = next_index
        self._expected = resume_from
        self._gap_reason = resume_reason  # of a gap before the next block
        self._interrupted_from = interrupted_from
        self._floor: int | None = None  # after a resume: first frame of the interruption
        if interrupted_from is not None:
            self._expected = interrupted_from
        self._open: int | None = None  # index of the open segment
        self._boundary = 0  # hearing frame where the open segment must end

    @property
    def expected_frame(self) -> int | None:
        """First hearing frame not yet planned (``None`` before the first block)."""
        return self._expected

    @property
    def open_index(self) -> int | None:
        return self._open

    @property
    def interrupted_from(self) -> int | None:
        """First frame of the interruption in force, ``None`` when recording."""
        return self._interrupted_from

    def interrupt(self, frame: int) -> tuple[list[Action], int]:
        """The court interrupts the recording at hearing frame ``frame``.

        Closes the open segment where the audio planned so far ends. Returns
        the actions and the interruption's first frame: ``frame``, or the end
        of the audio planned if that is later (audio already taken is kept,
        never cut). Frames between the planned end and ``frame`` were due and
        not delivered: they are declared a gap (an incident, not part of the
        interruption).

        Raises:
            InterruptionStateError: already interrupted.
            ValueError: ``frame`` is negative.
        """
        if self._interrupted_from is not None:
            raise InterruptionStateError(
                f"the recording is already interrupted since hearing frame {self._interrupted_from}"
            )
        if frame < 0:
            raise ValueError(f"interruption frame {frame} is negative")
        actions: list[Action] = []
        self._close(actions)
        end = self._expected
        start = frame if end is None else max(frame, end)
        if end is not None and frame > end:
            actions.append(DeclareGap(end, frame, self._gap_reason))
        self._interrupted_from = self._expected = start
        self._floor = None
        return actions, start

    def resume(self, frame: int) -> None:
        """Recording resumes at hearing frame ``frame``: the next block opens a segment there.

        Raises:
            InterruptionStateError: not interrupted.
            ValueError: ``frame`` is before the interruption began.
        """
        start = self._interrupted_from
        if start is None:
            raise InterruptionStateError("the recording is not interrupted; nothing to resume")
        if frame < start:
            raise ValueError(f"resume frame {frame} is before the interruption's start {start}")
        self._interrupted_from = None
        self._expected, self._floor = frame, start
        self._gap_reason = GapReason.CAPTURE  # the capture was running, only not recorded

    def feed(self, start_frame: int, pcm: npt.NDArray[np.int16]) -> list[Action]:
        """Plan one block that starts at hearing frame ``start_frame``.

        Raises:
            FrameOrderError: the block starts before frames already planned;
                nothing is planned for it.
            ValueError: ``pcm`` is not int16 ``(frames, channels)``, or
                ``start_frame`` is negative.
        """
        if pcm.dtype != np.int16 or pcm.ndim != 2 or pcm.shape[1] != self._channels:
            raise ValueError(
                f"expected int16 samples of shape (frames, {self._channels}), "
                f"got {pcm.dtype} {pcm.shape}"
            )
        if start_frame < 0:
            raise ValueError(f"start_frame {start_frame} is negative")
        if self._interrupted_from is not None:
            raise InterruptionStateError(
                f"the recording is interrupted since hearing frame {self._interrupted_from}: "
                "no audio may be recorded until it is resumed"
            )
        actions: list[Action] = []
        if self._expected is not None and start_frame < self._expected:
            if self._floor is None or start_frame < self._floor:
                raise FrameOrderError(start_frame, self._expected)
            # Captured during the interruption: those samples are not recorded.
            pcm = pcm[self._expected - start_frame :]
            start_frame = self._expected
        if pcm.shape[0] == 0:
            return actions  # an empty block says nothing about the stream
        self._floor = None
        if self._expected is not None and start_frame > self._expected:
            self._close(actions)
            actions.append(DeclareGap(self._expected, start_frame, self._gap_reason))
        frame, offset, total = start_frame, 0, int(pcm.shape[0])
        while offset < total:
            if self._open is None:
                self._open = self._next_index
                self._next_index += 1
                self._boundary = (frame // self._segment_frames + 1) * self._segment_frames
                actions.append(OpenSegment(self._open, frame))
            n = min(total - offset, self._boundary - frame)
            actions.append(WriteFrames(frame, pcm[offset : offset + n]))
            frame += n
            offset += n
            if frame == self._boundary:
                self._close(actions, end_frame=frame)
        self._expected = frame
        self._gap_reason = GapReason.CAPTURE
        return actions

    def finish(self) -> list[Action]:
        """Close the open segment, if any (end of the recording)."""
        actions: list[Action] = []
        self._close(actions)
        return actions

    def _close(self, actions: list[Action], *, end_frame: int | None = None) -> None:
        if self._open is None:
            return
        end = end_frame if end_frame is not None else self._expected
        assert end is not None  # a segment is only open after a block was planned
        actions.append(CloseSegment(self._open, end))
        self._open = None
