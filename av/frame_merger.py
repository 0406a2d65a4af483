"""The merge of several capture devices' blocks into one stream (sans-I/O).

:class:`FrameMerger` is a sans-I/O core: blocks go in with
:meth:`~FrameMerger.push`, merged blocks come out of :meth:`~FrameMerger.pop`;
it never waits and never reads a clock (time comes from the blocks'
``captured_at``). :class:`~av.multi_source.MultiSource` only runs one task per
device and moves blocks between them and the core.

Frame numbering. The first source is the *master*: merged frame *f* is
master frame *f*, so ``start_frame / rate`` stays the hearing clock. Secondary
*i* contributes its frame ``f + offset_i``; the offset is set when every
device has delivered its first block (so that merged frames are simultaneous
across devices although the streams started at different moments) and is then
moved by single-frame drift fixes (below), which also take up what the start
alignment missed (it reads the first blocks, whose timing is the noisiest).
The merged stream begins at the first master frame that every device
captured (``stats.first_frame``); earlier frames of the others are dropped.

Gaps (audio is never invented). When a device loses frames (its
``start_frame`` jumps, e.g. its own queue overflowed), the merged frames it
lacks are dropped for *all* devices and the merged stream jumps over them too,
exactly as a single device's overflow looks downstream. Filling the hole with
silence for one device while the others carry speech would make the
transcriber and the recording assert that a speaker was quiet when nobody
knows; a jump is declared, counted and shown in the recording's manifest. The
frames the other devices did have there are counted as their
``dropped_frames``.

Clock drift. Separate devices run on separate crystals (±100 ppm is typical:
at 48 kHz, 100 ppm is ~5 frames a second, ~3 s over an 8-hour day).
Each block stamps a *frame intercept* ``end_frame - rate × captured_at`` that a
perfect clock keeps constant; its exponential average (time constant
``smoothing_s``, which irons out callback jitter) compared with the master's
gives the skew. Beyond ``skew_threshold_ms`` the secondary's skew is corrected
back to zero by deleting (device ahead) or repeating (device behind) single
frames spread through a block, at most ``max_slew_ppm`` of its frames: far
below what a listener or the recogniser notices. The count is kept per device.
The average lags a drifting skew by ``smoothing_s`` × drift (0.8 ms at
200 ppm), so frames meet within about ``skew_threshold_ms`` plus that.

Buffers and failure. Each device's buffer holds at most ``max_skew_ms`` of
audio beyond what has been merged. A device holding half of that while every
device has audio waits (the consumer is slow; the device's own queue then
overflows by its own policy, which arrives here as a jump). A device whose
buffer is full because *another* device delivered nothing for ``max_skew_ms``
of audio (``start_ms`` before that device's first block) means that device
has stopped: :class:`~av.audio.AudioSourceError` naming it is raised, since
merging can no longer keep its promise that merged frames are simultaneous.
When any device ends, the merged stream ends after the frames all devices had.
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from av.audio import AudioBlock, AudioFormat, AudioSourceError

__all__ = ["DeviceSync", "FrameMerger", "MergeStats"]

_Pcm = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class DeviceSync:
    """How one device of a merge is doing.

    Attributes:
        name: the device's name as given to the merge.
        channels: its channel count (its channels follow the previous device's).
        frames_received: frames it delivered.
        lost_frames: frames it lost itself (its ``start_frame`` jumped).
        dropped_frames: frames it had but that were dropped, because another
            device lost them or because it started earlier than the others.
        frames_dropped_for_drift: frames deleted because it ran ahead of the master.
        frames_repeated_for_drift: frames repeated because it ran behind.
        skew_ms: its current estimated skew against the master, positive when
            it runs ahead (0 for the master and before the merge starts).
        buffered_frames: frames waiting to be merged.
    """

    name: str
    channels: int
    frames_received: int
    lost_frames: int
    dropped_frames: int
    frames_dropped_for_drift: int
    frames_repeated_for_drift: int
    skew_ms: float
    buffered_frames: int

    @property
    def corrections(self) -> int:
        return self.frames_dropped_for_drift + self.frames_repeated_for_drift


@dataclass(frozen=True, slots=True)
class MergeStats:
    """A snapshot of a merge.

    Attributes:
        frames_merged: merged frames handed out.
        gap_count: jumps in the merged stream (one per run of lost frames).
        gap_frames: merged frames in those jumps.
        first_frame: the master frame the merged stream began at (None before).
        devices: one entry per source, master first.
    """

    frames_merged: int
    gap_count: int
    gap_frames: int
    first_frame: int | None
    devices: tuple[DeviceSync, ...]

    def as_status(self) -> dict[str, Any]:
        """JSON-ready summary for the agent's status report."""
        return {
            "gap_frames": self.gap_frames,
            "gaps": self.gap_count,
            "devices": [
                {
                    "name": d.name,
                    "channels": d.channels,
                    "skew_ms": round(d.skew_ms, 3),
                    "drift_corrections": d.corrections,
                    "lost_frames": d.lost_frames,
                    "dropped_frames": d.dropped_frames,
                }
                for d in self.devices
            ],
        }


@dataclass(slots=True)
class _Chunk:
    start: int  # the device's own frame index
    pcm: _Pcm
    captured_at: float

    @property
    def end(self) -> int:
        return self.start + int(self.pcm.shape[0])


class _Lane:
    """One device's buffer and clock estimate, in its own frame numbers."""

    def __init__(self, name: str, channels: int) -> None:
        self.name = name
        self.channels = channels
        self.chunks: collections.deque[_Chunk] = collections.deque()
        self.horizon = 0  # every frame below has arrived or is known lost
        self.offset = 0  # own frame = merged frame + offset
        self.intercept: float | None = None  # smoothed end_frame - rate * captured_at
        self.ended = False
        self.received = self.lost = self.dropped = self.repeated = self.deleted = 0
        self.budget = 0.0  # corrections allowed now (accrues at max_slew_ppm)
        self.correcting = 0  # direction of the correction under way

    def buffered(self) -> int:
        return sum(int(c.pcm.shape[0]) for c in self.chunks)

    def trim(self, own: int) -> None:
        """Forget frames before ``own``, counting real audio as dropped."""
        while self.chunks and self.chunks[0].start < own:
            c = self.chunks[0]
            if c.end <= own:
                self.dropped += int(c.pcm.shape[0])
                self.chunks.popleft()
            else:
                cut = own - c.start
                self.dropped += cut
                c.pcm, c.start = c.pcm[cut:], own

    def state(self, own: int) -> tuple[bool, int] | None:
        """What is at frame ``own`` (after :meth:`trim`).

        (True, end of the contiguous audio there), (False, end of the hole
        there), or None when nothing is known there yet.
        """
        if self.chunks:
            first = self.chunks[0]
            if first.start > own:
                return False, first.start
            end = first.end
            for c in itertools.islice(self.chunks, 1, None):
                if c.start != end:
                    break
                end = c.end
            return True, end
        if self.horizon > own:
            return False, self.horizon
        return None

    def take(self, frames: int, rate: int) -> tuple[_Pcm, float]:
        """Remove ``frames`` contiguous frames; also when the last of them was captured."""
        parts: list[_Pcm] = []
        left, captured = frames, 0.0
        while left:
            c = self.chunks[0]
            n = min(left, int(c.pcm.shape[0]))
            parts.append(c.pcm[:n])
            captured = c.captured_at - (c.end - (c.start + n)) / rate
            if n == c.pcm.shape[0]:
                self.chunks.popleft()
            else:
                c.pcm, c.start = c.pcm[n:], c.start + n
            left -= n
        return (parts[0] if len(parts) == 1 else np.concatenate(parts)), captured


class FrameMerger:
    """Sans-I/O merge of several devices' blocks by frame (see the module docstring).

    Args:
        formats: each device's format, master first; all at the same rate.
        names: each device's name for stats and errors.
        max_skew_ms: audio a device may hold beyond the merged position.
        start_ms: the same limit until every device has delivered a block.
        skew_threshold_ms: skew that triggers drift correction.
        smoothing_s: time constant of the skew estimate.
        max_slew_ppm: most frames per million corrected, per device.

    Raises:
        AudioSourceError: the rates differ (the message names both devices).
        ValueError: no formats, names of another length, or a bad option.
    """

    def __init__(
        self,
        formats: Sequence[AudioFormat],
        names: Sequence[str],
        *,
        max_skew_ms: float = 2000.0,
        start_ms: float = 10_000.0,
        skew_threshold_ms: float = 2.0,
        smoothing_s: float = 4.0,
        max_slew_ppm: float = 1000.0,
    ) -> None:
        if not formats or len(names) != len(formats):
            raise ValueError("give one name per format, and at least one")
        if not 0 < skew_threshold_ms < max_skew_ms <= start_ms or smoothing_s <= 0:
            raise ValueError(
                "need 0 < skew_threshold_ms < max_skew_ms <= start_ms, smoothing_s > 0"
            )
        if not 0 < max_slew_ppm <= 100_000:
            raise ValueError("max_slew_ppm must be in (0, 100000]")
        rate = formats[0].rate
        for name, f in zip(names, formats, strict=True):
            if f.rate != rate:
                raise AudioSourceError(
                    f"cannot merge {names[0]!r} at {rate} Hz with {name!r} at {f.rate} Hz: "
                    "devices must record at the same rate"
                )
        self.format = AudioFormat(rate=rate, channels=sum(f.channels for f in formats))
        self._lanes = [_Lane(n, f.channels) for n, f in zip(names, formats, strict=True)]
        self._max_skew = int(rate * max_skew_ms / 1000)
        self._start_limit = int(rate * start_ms / 1000)
        self._threshold = rate * skew_threshold_ms / 1000
        self._smoothing_s = smoothing_s
        self._slew = max_slew_ppm / 1e6
        self._pos: int | None = None  # next merged frame; None until all devices started
        self._last_captured = -math.inf
        self._merged = self._gap_count = self._gap_frames = 0
        self._first_frame: int | None = None
        self._in_gap = False
        self._waiting_for: set[int] = set()  # devices pop() waits for

    @property
    def stats(self) -> MergeStats:
        return MergeStats(
            frames_merged=self._merged,
            gap_count=self._gap_count,
            gap_frames=self._gap_frames,
            first_frame=self._first_frame,
            devices=tuple(
                DeviceSync(
                    name=lane.name,
                    channels=lane.channels,
                    frames_received=lane.received,
                    lost_frames=lane.lost,
                    dropped_frames=lane.dropped,
                    frames_dropped_for_drift=lane.deleted,
                    frames_repeated_for_drift=lane.repeated,
                    skew_ms=self._skew(i) * 1000 / self.format.rate,
                    buffered_frames=lane.buffered(),
                )
                for i, lane in enumerate(self._lanes)
            ),
        )

    def accepts(self, index: int) -> bool:
        """False while device ``index`` should wait for :meth:`pop` before its next push.

        That is while it holds half ``max_skew_ms`` of unmerged audio and
        every device has audio to merge (the consumer is slow). Half, so a
        device held back is never taken for one ``max_skew_ms`` ahead of a
        stopped device; and never while a device has nothing, since only
        more pushes can then reveal that it has stopped.
        """
        if self._pos is None or self._ahead(index) < self._max_skew // 2:
            return True
        if index in self._waiting_for:  # pop() needs more of it (long blocks)
            return True
        return min(self._ahead(i) for i in range(len(self._lanes))) <= 0

    def push(self, index: int, block: AudioBlock) -> None:
        """Add a block from device ``index`` (in its order; a jump means frames were lost).

        Raises:
            AudioSourceError: the block goes back in time or has the wrong
                channel count, or another device has delivered nothing for
                ``max_skew_ms`` (``start_ms`` at the start) of this one's audio.
        """
        lane = self._lanes[index]
        if block.pcm.ndim != 2 or block.pcm.shape[1] != lane.channels:
            raise AudioSourceError(f"{lane.name}: block of shape {block.pcm.shape}")
        if block.start_frame < lane.horizon:
            raise AudioSourceError(
                f"{lane.name}: block at frame {block.start_frame} goes back before {lane.horizon}"
            )
        if block.frames == 0:
            return
        lane.lost += block.start_frame - lane.horizon
        lane.received += block.frames
        lane.horizon = block.end_frame
        lane.chunks.append(_Chunk(block.start_frame, block.pcm, block.captured_at))
        x = block.end_frame - self.format.rate * block.captured_at
        if lane.intercept is None:
            lane.intercept = x
        else:
            alpha = 1 - math.exp(-block.frames / (self.format.rate * self._smoothing_s))
            lane.intercept += alpha * (x - lane.intercept)
        if self._pos is None and all(la.intercept is not None for la in self._lanes):
            self._align_start()
        self._check_stall(index)

    def end(self, index: int) -> None:
        """Device ``index`` has ended; the merge ends when the common frames are out."""
        self._lanes[index].ended = True

    @property
    def finished(self) -> bool:
        """True when a device has ended and :meth:`pop` can give nothing more."""
        if not any(lane.ended for lane in self._lanes):
            return False
        if self._pos is None:
            return True
        pos = self._pos
        return any(lane.ended and lane.horizon <= pos + lane.offset for lane in self._lanes)

    def pop(self) -> AudioBlock | None:
        """The next merged block, or None until every device has its frames.

        Blocks follow the master's blocks (a block is handed out once every
        device has the frames of the master's block), except around gaps and
        where a device ends. A block whose ``start_frame`` is past the
        previous block's end follows a gap (see :attr:`stats`).
        """
        if self._pos is None:
            return None
        lanes = self._lanes
        while True:
            pos = self._pos
            for lane in lanes:
                lane.trim(pos + lane.offset)
            states = [lane.state(pos + lane.offset) for lane in lanes]
            holes = [
                s[1] - lane.offset for s, lane in zip(states, lanes, strict=True) if s and not s[0]
            ]
            if holes:
                self._pos = max(holes)
                self._gap_count += not self._in_gap
                self._gap_frames += self._pos - pos
                self._in_gap = True
                continue
            if any(s is None for s in states):
                return None
            avail = [s[1] - lane.offset - pos for s, lane in zip(states, lanes, strict=True) if s]
            # Merged blocks follow the master's blocks: wait for the rest of its
            # current block (and, for a drift fix deleting c frames of a device,
            # c more of that device) unless a device cannot supply it anyway.
            target = lanes[0].chunks[0].end - pos
            fix = [0] + [self._correction(i) for i in range(1, len(lanes))]
            self._waiting_for = {
                i
                for i, (lane, a, c) in enumerate(zip(lanes, avail, fix, strict=True))
                if a < target + max(c, 0)
                and lane.horizon - lane.offset - pos == a
                and not lane.ended
            }
            if self._waiting_for:
                return None
            n = min(target, *avail)
            return self._emit(pos, n, avail, fix)

    def _emit(self, pos: int, n: int, avail: list[int], fix: list[int]) -> AudioBlock:
        """Hand out merged frames ``[pos, pos + n)``, fixing drift where there is room."""
        rate = self.format.rate
        fix = [c if a - c >= n and n > 2 * abs(c) else 0 for a, c in zip(avail, fix, strict=True)]
        parts: list[_Pcm] = []
        captured = self._last_captured
        for lane, c in zip(self._lanes, fix, strict=True):
            pcm, at = lane.take(n + c, rate)
            lane.budget -= abs(c)
            if c > 0:  # ahead: delete c frames, spread out
                pcm = np.delete(pcm, _spread(c, n + c), axis=0)
                lane.deleted += c
            elif c < 0:  # behind: repeat -c frames, spread out
                counts = np.ones(n + c, dtype=np.intp)
                np.add.at(counts, _spread(-c, n + c), 1)
                pcm = np.repeat(pcm, counts, axis=0)
                lane.repeated -= c
            lane.offset += c
            lane.budget = min(lane.budget + n * self._slew, max(1.0, 2 * n * self._slew))
            parts.append(pcm)
            captured = max(captured, at)
        self._pos = pos + n
        self._in_gap = False
        self._merged += n
        self._last_captured = captured
        return AudioBlock(start_frame=pos, pcm=np.hstack(parts), captured_at=captured)

    def _correction(self, index: int) -> int:
        lane = self._lanes[index]
        skew = self._skew(index)
        # Past the threshold, correct back to zero and stop there (hysteresis):
        # the skew then averages half the threshold instead of hugging it, and
        # jitter in the estimate never turns a correction round.
        if lane.correcting == 0 and abs(skew) > self._threshold:
            lane.correcting = 1 if skew > 0 else -1
        if skew * lane.correcting <= 0.5:
            lane.correcting = 0
        if lane.correcting == 0 or lane.budget < 1:
            return 0
        return lane.correcting * min(int(lane.budget), max(1, round(abs(skew))))

    def _skew(self, index: int) -> float:
        """Frames device ``index`` runs ahead of the master (merged frames compared)."""
        lane, master = self._lanes[index], self._lanes[0]
        if index == 0 or lane.intercept is None or master.intercept is None:
            return 0.0
        return lane.intercept - lane.offset - master.intercept

    def _align_start(self) -> None:
        for i, lane in enumerate(self._lanes[1:], start=1):
            lane.offset = round(self._skew(i))
        self._pos = max(0, *(-lane.offset for lane in self._lanes))
        self._first_frame = self._pos

    def _ahead(self, index: int) -> int:
        """Frames of device ``index`` beyond the merged position."""
        lane = self._lanes[index]
        return lane.horizon - lane.offset - (self._pos or 0)

    def _check_stall(self, index: int) -> None:
        limit = self._start_limit if self._pos is None else self._max_skew
        lead = self._ahead(index)
        for other, lane in enumerate(self._lanes):
            behind = lead - self._ahead(other)
            if behind > limit and not lane.ended:
                rate = self.format.rate
                raise AudioSourceError(
                    f"audio device {lane.name!r} stopped delivering: it is {behind / rate:.2f} s "
                    f"behind {self._lanes[index].name!r} (limit {limit / rate:g} s); "
                    "the capture has failed"
                )


def _spread(count: int, length: int) -> npt.NDArray[np.intp]:
    """``count`` distinct indices spread evenly over ``range(length)``."""
    return ((np.arange(count) + 0.5) * length / count).astype(np.intp)
