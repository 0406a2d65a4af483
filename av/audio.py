"""Audio blocks and the interface every audio source implements.

A source yields :class:`AudioBlock` objects: interleaved signed 16-bit PCM,
``frames × channels``, numbered by frame index since the source started. The
frame index is the hearing clock's ground truth: downstream code derives time
from it (``start_frame / rate``), never from wall time.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol, Self

import numpy as np
import numpy.typing as npt

from courtroom_core.errors import CourtroomError

__all__ = ["AudioBlock", "AudioFormat", "AudioSource", "AudioSourceError", "CaptureClock"]


class AudioSourceError(CourtroomError):
    """A source cannot be opened or has failed; the message says why."""


@dataclass(frozen=True, slots=True)
class AudioFormat:
    rate: int
    channels: int

    def __post_init__(self) -> None:
        if not 1000 <= self.rate <= 384_000:
            raise ValueError(f"sample rate {self.rate} is out of range")
        if not 1 <= self.channels <= 64:
            raise ValueError(f"channel count {self.channels} is out of range")


@dataclass(frozen=True, slots=True)
class AudioBlock:
    """Consecutive frames from a source.

    Attributes:
        start_frame: index of the first frame since the source started.
        pcm: int16 array of shape (frames, channels).
        captured_at: ``time.monotonic()`` when the block's last frame was
            captured (for a paced file: when it was due). Used for latency.
    """

    start_frame: int
    pcm: npt.NDArray[np.int16]
    captured_at: float

    @property
    def frames(self) -> int:
        return int(self.pcm.shape[0])

    @property
    def end_frame(self) -> int:
        return self.start_frame + self.frames


class AudioSource(Protocol):
    """An async context manager that yields audio blocks until closed or exhausted."""

    @property
    def format(self) -> AudioFormat: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    def blocks(self) -> AsyncIterator[AudioBlock]: ...


class CaptureClock:
    """The hearing clock, read from the capture: one clock for audio, video and devices.

    At the moment a block was captured, the hearing time is exactly its end
    frame over the rate; between blocks the clock runs on monotonic time. So
    camera frames and device events stamped with :meth:`now` line up with the
    audio however far behind any processing is.

    Args:
        rate: frames per second of the source.
        origin_frame: hearing frame of the source's frame 0 (non-zero when a
            restarted agent continues a hearing).
        monotonic: the clock the blocks' ``captured_at`` are on.
    """

    def __init__(
        self, rate: int, *, origin_frame: int = 0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if origin_frame < 0:
            raise ValueError("origin_frame must not be negative")
        self.rate = rate
        self.origin_frame = origin_frame
        self._monotonic = monotonic
        self._anchor: tuple[int, float] | None = None

    def advance(self, block: AudioBlock) -> None:
        """``block`` has been captured."""
        self._anchor = (self.origin_frame + block.end_frame, block.captured_at)

    def now(self) -> float:
        """Hearing seconds now (the origin before the first block)."""
        if self._anchor is None:
            return self.origin_frame / self.rate
        end_frame, captured_at = self._anchor
        return end_frame / self.rate + max(0.0, self._monotonic() - captured_at)

    @property
    def captured(self) -> float:
        """Hearing seconds up to the end of the audio captured so far (frame-counted)."""
        end = self._anchor[0] if self._anchor is not None else self.origin_frame
        return end / self.rate
