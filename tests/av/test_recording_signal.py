"""A known signal for recording tests, and the helpers that compare recordings to it.

Channel *c* at hearing frame *f* holds ``(f·(2c+1) + 1000c) mod 2¹⁶`` as int16:
every frame of every channel is distinct from its neighbours, so a lost,
duplicated or swapped sample anywhere changes the comparison.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import numpy.typing as npt

from av.audio import AudioBlock
from av.recording import Manifest, SegmentStatus, read_flac


def counter(start: int, frames: int, channels: int) -> npt.NDArray[np.int16]:
    f = np.arange(start, start + frames, dtype=np.int64)[:, None]
    c = np.arange(channels, dtype=np.int64)[None, :]
    return ((f * (2 * c + 1) + 1000 * c) % 65536).astype(np.uint16).view(np.int16)


def blocks(
    start: int, frames: int, channels: int, sizes: list[int], *, captured_at: float = 0.0
) -> list[AudioBlock]:
    """Consecutive blocks covering ``[start, start+frames)`` with cycling sizes."""
    out, at, i = [], start, 0
    while at < start + frames:
        n = min(sizes[i % len(sizes)], start + frames - at)
        out.append(
            AudioBlock(start_frame=at, pcm=counter(at, n, channels), captured_at=captured_at)
        )
        at += n
        i += 1
    return out


def concatenate(directory: Path, manifest: Manifest, channel: int) -> dict[int, int]:
    """Decode one channel's segments: ``{first_frame: frames}`` and check each vs counter.

    Returns the frame ranges held, after asserting that every segment's
    samples equal :func:`counter` at their hearing frames.
    """
    held: dict[int, int] = {}
    channels = len(manifest.channels)
    for seg in manifest.segments:
        name = next(f.name for f in seg.files if f.channel == channel)
        samples, rate = read_flac(directory / name)
        assert rate == manifest.sample_rate
        n = seg.frames if seg.status is not SegmentStatus.OPEN else samples.shape[0]
        assert n is not None and samples.shape[0] >= n
        expected = counter(seg.first_frame, n, channels)[:, channel]
        np.testing.assert_array_equal(samples[:n, 0], expected)
        held[seg.first_frame] = n
    return held


def test_counter_detects_one_lost_sample() -> None:
    whole = counter(0, 1000, 3)
    lossy = np.concatenate([whole[:500], whole[501:]])
    assert not np.array_equal(lossy, counter(0, 999, 3))
    assert np.array_equal(counter(500, 500, 3), whole[500:])


def test_blocks_cover_range_exactly() -> None:
    bs = blocks(7, 100, 2, [3, 11])
    assert bs[0].start_frame == 7 and bs[-1].end_frame == 107
    assert all(a.end_frame == b.start_frame for a, b in itertools.pairwise(bs))
