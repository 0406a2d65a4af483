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
  refused with :class:`~av.recording.errors.FrameOrderError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from av.recording.errors import FrameOrderError
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
    """

    def __init__(
        self,
        *,
        segment_frames: int,
        channels: int,
        next_index: int = 1,
        resume_from: int | None = None,
        resume_reason: GapReason = GapReason.RECORDER_INTERRUPTED,
    ) -> None:
        if segment_frames < 1:
            raise ValueError(f"segment_frames {segment_frames} must be positive")
        self._segment_frames = segment_frames
        self._channels = channels
        self._next_index = next_index
        self._expected = resume_from
        self._resume_reason = resume_reason
        self._fed = False  # a block has been planned in this session
        self._open: int | None = None  # index of the open segment
        self._boundary = 0  # hearing frame where the open segment must end

    @property
    def expected_frame(self) -> int | None:
        """First hearing frame not yet planned (``None`` before the first block)."""
        return self._expected

    @property
    def open_index(self) -> int | None:
        return self._open

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
        actions: list[Action] = []
        if self._expected is not None and start_frame < self._expected:
            raise FrameOrderError(start_frame, self._expected)
        if pcm.shape[0] == 0:
            return actions  # an empty block says nothing about the stream
        if self._expected is not None and start_frame > self._expected:
            reason = GapReason.CAPTURE if self._fed else self._resume_reason
            self._close(actions)
            actions.append(DeclareGap(self._expected, start_frame, reason))
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
        self._fed = True
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
