"""MultiSource / FrameMerger: channel merge, gaps, drift correction, stalls, two real devices."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Self

import numpy as np
import numpy.typing as npt
import pytest

from av.audio import AudioBlock, AudioFormat, AudioSourceError
from av.multi_source import FrameMerger, MultiSource
from av.pyaudio_source import PyAudioSource
from av.wav_source import WavFileSource
from courtroom_agent.config import ConfigError, load_agent_config
from courtroom_agent.runner import build_source
from tests.av.wavgen import dominant_frequency, tones, write_wav
from tests.fixtures.pulse import CaptureDevices

RATE = 16_000
ROOM = """
[courtroom]
id = "fy-01"
name = "第一法庭"

[hub]
url = "ws://127.0.0.1:8080/ws/agent"
token = "t"

[audio]
rate = 16000
block_ms = 50
"""
T0 = 1000.0  # the simulated monotonic clock's reading when capture starts


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def paced_wav(path: Path, *, block_ms: int = 100) -> WavFileSource:
    """A WAV source paced by a stopped clock: every block stamped T0 + end / rate at once."""
    return WavFileSource(path, realtime=True, block_ms=block_ms, clock=lambda: T0, sleep=no_sleep)


def noise(frames: int, channels: int, seed: int) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    return rng.integers(-32768, 32767, size=(frames, channels), dtype=np.int16, endpoint=True)


class BlockSource:
    """An audio source that yields the blocks it is given, then ends or, with ``hang``, waits."""

    def __init__(self, blocks: Sequence[AudioBlock], *, rate: int = RATE, hang: bool = False):
        self._blocks = list(blocks)
        self._format = AudioFormat(rate=rate, channels=int(self._blocks[0].pcm.shape[1]))
        self._hang = hang
        self.closed = False

    @property
    def format(self) -> AudioFormat:
        return self._format

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.closed = True

    async def blocks(self) -> AsyncIterator[AudioBlock]:
        for block in self._blocks:
            await asyncio.sleep(0)
            yield block
        if self._hang:
            await asyncio.Event().wait()


class NeverSource(BlockSource):
    """A mono source that opens but never delivers a block."""

    def __init__(self) -> None:
        super().__init__([AudioBlock(0, np.zeros((1, 1), np.int16), T0)], hang=True)

    async def blocks(self) -> AsyncIterator[AudioBlock]:
        await asyncio.Event().wait()
        yield self._blocks[0]


def steady_blocks(
    pcm: npt.NDArray[np.int16], *, block: int = 1600, rate: int = RATE, skip: range = range(0)
) -> list[AudioBlock]:
    """``pcm`` in blocks stamped by a perfect clock; the blocks numbered in ``skip`` are lost."""
    out = []
    for k, start in enumerate(range(0, len(pcm), block)):
        if k in skip:
            continue
        part = pcm[start : start + block]
        out.append(AudioBlock(start, part, T0 + (start + len(part)) / rate))
    return out


async def collect(source: MultiSource) -> list[AudioBlock]:
    async with asyncio.timeout(10):
        return [b async for b in source.blocks()]


def assert_in_order(blocks: list[AudioBlock]) -> None:
    for prev, cur in itertools.pairwise(blocks):
        assert cur.start_frame >= prev.end_frame
        assert cur.captured_at >= prev.captured_at


async def test_multi_source_concatenates_channels_sample_exact(tmp_path: Path) -> None:
    a, b = noise(RATE * 3 + 77, 2, seed=1), noise(RATE * 3 + 77, 3, seed=2)
    wav_a = write_wav(tmp_path / "a.wav", a, rate=RATE)
    wav_b = write_wav(tmp_path / "b.wav", b, rate=RATE, extensible=True)
    async with MultiSource([paced_wav(wav_a), paced_wav(wav_b)], names=["A", "B"]) as source:
        assert source.format == AudioFormat(rate=RATE, channels=5)
        blocks = await collect(source)
        stats = source.stats
    assert blocks[0].start_frame == 0
    assert_in_order(blocks)
    assert all(cur.start_frame == prev.end_frame for prev, cur in itertools.pairwise(blocks))
    np.testing.assert_array_equal(np.concatenate([blk.pcm for blk in blocks]), np.hstack([a, b]))
    assert blocks[0].captured_at == T0 + 1600 / RATE
    assert stats.frames_merged == len(a) and stats.gap_frames == 0
    assert [(d.name, d.channels, d.corrections) for d in stats.devices] == [
        ("A", 2, 0),
        ("B", 3, 0),
    ]


async def test_multi_source_rates_differ_raises_naming_both(tmp_path: Path) -> None:
    slow = BlockSource(steady_blocks(noise(800, 1, 3), rate=8000), rate=8000)
    fast = BlockSource(steady_blocks(noise(1600, 1, 4)))
    with pytest.raises(AudioSourceError, match=r"'mic'.*16000 Hz.*'mixer'.*8000 Hz"):
        async with MultiSource([fast, slow], names=["mic", "mixer"]):
            pass
    assert fast.closed and slow.closed


async def test_multi_source_failed_open_closes_the_others(tmp_path: Path) -> None:
    good = BlockSource(steady_blocks(noise(1600, 1, 5)))
    source = MultiSource([WavFileSource(tmp_path / "missing.wav", realtime=False), good])
    with pytest.raises(AudioSourceError, match=r"missing\.wav"):
        await source.__aenter__()
    assert good.closed
    with pytest.raises(AudioSourceError, match="not open"):
        source.format  # noqa: B018


async def test_multi_source_jump_in_one_source_jumps_all() -> None:
    a, b = noise(16_000, 1, 6), noise(16_000, 2, 7)
    master = BlockSource(steady_blocks(a))
    lossy = BlockSource(steady_blocks(b, skip=range(3, 5)))  # frames [4800, 8000) lost
    async with MultiSource([master, lossy], names=["A", "B"]) as source:
        blocks = await collect(source)
        stats = source.stats
    assert_in_order(blocks)
    starts = [blk.start_frame for blk in blocks]
    assert starts == [0, 1600, 3200, 8000, 9600, 11200, 12800, 14400]
    got = np.concatenate([blk.pcm for blk in blocks])
    kept = np.r_[0:4800, 8000:16_000]
    np.testing.assert_array_equal(got, np.hstack([a, b])[kept])
    assert (stats.gap_count, stats.gap_frames, stats.frames_merged) == (1, 3200, 12_800)
    a_sync, b_sync = stats.devices
    assert (a_sync.lost_frames, a_sync.dropped_frames) == (0, 3200)
    assert (b_sync.lost_frames, b_sync.dropped_frames) == (3200, 0)
    assert stats.as_status()["gap_frames"] == 3200


def test_frame_merger_follows_master_blocks_stamped_when_last_part_arrived() -> None:
    merger = FrameMerger([AudioFormat(RATE, 1), AudioFormat(RATE, 1)], ["A", "B"])
    a, b = noise(2400, 1, 8), noise(3200, 1, 9)
    merger.push(0, AudioBlock(0, a[:1600], T0 + 0.1))
    merger.push(1, AudioBlock(0, b[:800], T0 + 0.05))
    assert merger.pop() is None  # the rest of A's block is still to come from B
    merger.push(1, AudioBlock(800, b[800:1600], T0 + 0.1005))  # delivered 0.5 ms late
    first = merger.pop()
    assert first is not None and (first.start_frame, first.frames) == (0, 1600)
    assert first.captured_at == T0 + 0.1005
    assert merger.pop() is None
    merger.push(1, AudioBlock(1600, b[1600:], T0 + 0.2))  # B's block runs past A's
    merger.push(0, AudioBlock(1600, a[1600:], T0 + 0.15))
    second = merger.pop()
    assert second is not None and (second.start_frame, second.frames) == (1600, 800)
    assert second.captured_at == pytest.approx(T0 + 0.15)  # B's frame 2399 came then too
    np.testing.assert_array_equal(np.concatenate([first.pcm, second.pcm]), np.hstack([a, b[:2400]]))
    assert merger.stats.devices[1].buffered_frames == 800


def test_frame_merger_later_start_is_aligned_by_capture_time() -> None:
    merger = FrameMerger([AudioFormat(RATE, 1), AudioFormat(RATE, 1)], ["A", "B"])
    # B's frame 0 was captured 30 ms after A's frame 0: merged frame 480 is B's frame 0.
    merger.push(0, AudioBlock(0, np.arange(1600, dtype=np.int16)[:, None], T0 + 0.1))
    merger.push(1, AudioBlock(0, -np.arange(1600, dtype=np.int16)[:, None], T0 + 0.13))
    block = merger.pop()
    assert block is not None and block.start_frame == 480
    assert merger.stats.first_frame == 480
    assert block.pcm[0].tolist() == [480, 0] and block.pcm[-1].tolist() == [1599, -1119]
    assert merger.stats.gap_frames == 0


def drift_run(ppm: float, *, seconds: int, jitter_s: float) -> tuple[FrameMerger, float, float]:
    """Merge a master and a secondary ``ppm`` fast, block by block in capture order.

    Each device's two channels carry its own frame index (high and low 15
    bits), so the merged output tells which frames met. Returns the merger,
    the worst misalignment (s) after the first 30 s and over the whole run.
    """
    rate, block = RATE, 1600
    rng = np.random.default_rng(10)
    start_b = 0.0123  # B's stream started 12.3 ms after A's
    factor = 1 + ppm * 1e-6

    def device(which: int) -> list[tuple[float, int, AudioBlock]]:
        events = []
        for k in range(seconds * rate // block):
            start, end = k * block, (k + 1) * block
            index = np.arange(start, end)
            pcm = np.stack([index >> 15, index & 0x7FFF], axis=1).astype(np.int16)
            due = T0 + end / rate if which == 0 else T0 + start_b + end / (rate * factor)
            at = due + rng.uniform(0, jitter_s)  # the callback runs late, never early
            events.append((at, which, AudioBlock(start, pcm, at)))
        return events

    merger = FrameMerger([AudioFormat(rate, 2), AudioFormat(rate, 2)], ["A", "B"], max_skew_ms=500)
    worst_late = worst = 0.0
    limit = 500 * rate // 1000
    for _, which, blk in heapq.merge(device(0), device(1), key=lambda e: (e[0], e[1])):
        merger.push(which, blk)
        while (out := merger.pop()) is not None:
            a = (out.pcm[:, 0].astype(np.int64) << 15) | out.pcm[:, 1]
            b = (out.pcm[:, 2].astype(np.int64) << 15) | out.pcm[:, 3]
            assert np.array_equal(a, np.arange(out.start_frame, out.end_frame))
            assert out.end_frame % block == 0  # the master's blocks
            assert np.all(np.diff(b) >= 0) and np.all(np.diff(b) <= 2)  # single-frame fixes
            off = np.abs((start_b + (b + 1) / (rate * factor)) - (a + 1) / rate).max()
            worst = max(worst, off)
            if out.start_frame > 30 * rate:
                worst_late = max(worst_late, off)
        assert all(d.buffered_frames <= limit for d in merger.stats.devices)
    return merger, worst_late, worst


@pytest.mark.parametrize("ppm", [200.0, -200.0])
def test_frame_merger_drift_200ppm_for_10_minutes_stays_aligned(ppm: float) -> None:
    merger, worst_late, worst = drift_run(ppm, seconds=600, jitter_s=0.003)
    stats = merger.stats
    b = stats.devices[1]
    drifted = abs(ppm) * 1e-6 * RATE * 600  # 1920 frames
    fixed, wrong_way = (
        (b.frames_dropped_for_drift, b.frames_repeated_for_drift)
        if ppm > 0
        else (b.frames_repeated_for_drift, b.frames_dropped_for_drift)
    )
    assert wrong_way == 0
    # Short of the drift by what is left uncorrected at the end (under the
    # 32-frame threshold plus the estimate's lag of 3.2 frames/s × 4 s), give
    # or take the start alignment's error (first blocks late by up to 48 frames).
    assert drifted - 32 - 13 - 48 <= fixed <= drifted + 48
    assert abs(b.skew_ms) <= 2.0
    # Frames that met: within the threshold, the lag (0.8 ms) and the jitter's trace.
    assert worst_late <= 0.0035, worst_late
    assert worst <= 0.0035, worst
    # All but the start, the tail the faster device's file ends short by, and a block.
    assert stats.gap_frames == 0 and stats.frames_merged >= 600 * RATE - 172 - 1920 - 1600


def test_frame_merger_steady_clocks_need_no_correction() -> None:
    merger, worst_late, _ = drift_run(0.0, seconds=60, jitter_s=0.003)
    assert merger.stats.devices[1].corrections == 0
    assert worst_late <= 0.003


async def test_multi_source_stalled_device_raises_naming_it(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", noise(RATE * 5, 1, 11), rate=RATE)
    stalling = BlockSource(steady_blocks(noise(3200, 1, 12)), hang=True)
    async with MultiSource(
        [paced_wav(wav), stalling], names=["A", "USB Mixer B"], max_skew_ms=1000
    ) as source:
        got = []
        with pytest.raises(AudioSourceError, match=r"'USB Mixer B' stopped delivering"):
            async with asyncio.timeout(10):
                async for blk in source.blocks():
                    got.append(blk)
    assert sum(blk.frames for blk in got) == 3200


async def test_multi_source_device_that_never_starts_raises(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", noise(RATE * 3, 1, 13), rate=RATE)
    async with MultiSource(
        [paced_wav(wav), NeverSource()], names=["A", "B"], start_ms=2000
    ) as source:
        with pytest.raises(AudioSourceError, match=r"'B' stopped delivering.*limit 2 s"):
            await collect(source)


@pytest.mark.parametrize(("block_ms", "max_skew_ms"), [(100, 1000), (1000, 2000)])
async def test_multi_source_slow_consumer_holds_devices_back(
    tmp_path: Path, block_ms: int, max_skew_ms: int
) -> None:
    a, b = noise(RATE * 6, 1, 15), noise(RATE * 6, 1, 16)
    wav_a = write_wav(tmp_path / "a.wav", a, rate=RATE)
    wav_b = write_wav(tmp_path / "b.wav", b, rate=RATE)
    sources = [paced_wav(wav_a, block_ms=block_ms), paced_wav(wav_b, block_ms=block_ms)]
    async with MultiSource(sources, names=["A", "B"], max_skew_ms=max_skew_ms) as source:
        blocks = source.blocks()
        got = [await anext(blocks)]
        for _ in range(200):  # the feeds run as far as the buffers let them
            await asyncio.sleep(0)
        held = [d.buffered_frames for d in source.stats.devices]
        assert all(0 < h <= RATE * max_skew_ms // 1000 for h in held), held
        async with asyncio.timeout(10):
            got += [blk async for blk in blocks]
    assert all(g.frames == RATE * block_ms // 1000 for g in got)
    np.testing.assert_array_equal(np.concatenate([g.pcm for g in got]), np.hstack([a, b]))


async def test_multi_source_device_error_is_raised() -> None:
    class Failing(BlockSource):
        async def blocks(self) -> AsyncIterator[AudioBlock]:
            yield self._blocks[0]
            raise AudioSourceError("no audio from [3] USB Mixer B for 5 s")

    good = BlockSource(steady_blocks(noise(16_000, 1, 17)))
    failing = Failing(steady_blocks(noise(1600, 1, 18)))
    async with MultiSource([good, failing]) as source:
        with pytest.raises(AudioSourceError, match="USB Mixer B"):
            await collect(source)


@pytest.mark.slow
async def test_multi_source_two_pulse_devices_record_their_own_tones(
    pulse_capture_devices: CaptureDevices, tmp_path: Path
) -> None:
    devices = pulse_capture_devices
    rate = devices.rate
    freqs = {"courtroom_mix_a": [500.0, 1100.0], "courtroom_mix_b": [1700.0, 2300.0]}
    wavs = {
        sink: write_wav(
            tmp_path / f"{sink}.wav",
            np.rint(tones(f, rate=rate, seconds=1.0, amplitude=0.4) * 32767).astype(np.int16),
            rate=rate,
        )
        for sink, f in freqs.items()
    }
    room = tmp_path / "room.toml"
    room.write_text(
        ROOM
        + 'devices = [{device = "courtroom_mix_a", channels = 2}, '
        + '{device = "courtroom_mix_b", channels = 2}]\n'
        + 'roles = ["审判长", "审判员", "原告", "被告"]\n',
        encoding="utf-8",
    )
    source = build_source(load_agent_config(room))
    assert isinstance(source, MultiSource)
    got: list[AudioBlock] = []
    async with source:
        assert source.format == AudioFormat(rate=rate, channels=4)
        async with asyncio.timeout(20):
            blocks = source.blocks()
            got.append(await anext(blocks))
            players = [devices.spawn_play(sink, wav) for sink, wav in wavs.items()]
            tail: int | None = None
            async for blk in blocks:
                got.append(blk)
                if tail is None and all(p.poll() is not None for p in players):
                    tail = rate // 2
                elif tail is not None:
                    tail -= blk.frames
                    if tail <= 0:
                        break
        stats = source.stats
    assert all(p.returncode == 0 for p in players)
    assert_in_order(got)
    assert stats.gap_frames == 0
    assert abs(stats.devices[1].skew_ms) < 50
    pcm = np.concatenate([blk.pcm for blk in got])
    for ch, freq in enumerate(freqs["courtroom_mix_a"] + freqs["courtroom_mix_b"]):
        loud = pcm[np.abs(pcm[:, ch]) > 0.2 * 32767, ch]
        assert len(loud) > rate // 2, ch
        assert dominant_frequency(pcm[:, ch], rate) == pytest.approx(freq, abs=5)


def test_audio_config_devices_build_a_multi_source(tmp_path: Path) -> None:
    room = tmp_path / "room.toml"
    room.write_text(
        ROOM
        + 'devices = [{device = "USB Mixer A", channels = 3}, {device = 7, channels = 1}]\n'
        + 'roles = ["审判长", "审判员", "原告", "被告"]\n',
        encoding="utf-8",
    )
    config = load_agent_config(room)
    assert config.audio.devices is not None
    assert [(d.device, d.channels) for d in config.audio.devices] == [("USB Mixer A", 3), (7, 1)]
    source = build_source(config)
    assert isinstance(source, MultiSource)
    with pytest.raises(AudioSourceError, match="not open"):
        source.stats  # noqa: B018
    subs = source.sources
    assert all(isinstance(s, PyAudioSource) for s in subs)
    assert [s.format for s in subs] == [AudioFormat(16000, 3), AudioFormat(16000, 1)]


def test_audio_config_single_device_unchanged(tmp_path: Path) -> None:
    room = tmp_path / "room.toml"
    room.write_text(ROOM + 'device = "pulse"\nroles = ["审判长", "书记员"]\n', encoding="utf-8")
    source = build_source(load_agent_config(room))
    assert isinstance(source, PyAudioSource) and source.format == AudioFormat(16000, 2)


@pytest.mark.parametrize(
    ("audio", "problem"),
    [
        (
            'devices = [{device = "A", channels = 8}, {device = "B", channels = 8}]\n'
            'roles = ["审判长", "书记员"]\n',
            "audio: audio.roles has 2 names but audio.devices record 16 channels",
        ),
        (
            'device = "A"\ndevices = [{device = "B", channels = 1}]\nroles = ["审判长"]\n',
            "audio: audio.devices is for source = 'pyaudio', instead of 'device'",
        ),
        (
            'devices = [{device = "A", channels = 1}, {device = "A", channels = 1}]\n'
            'roles = ["审判长", "书记员"]\n',
            "audio: audio.devices lists a device more than once",
        ),
        (
            'devices = [{device = "A", channels = 0}]\nroles = ["审判长"]\n',
            "audio.devices.0.channels: Input should be greater than or equal to 1",
        ),
        (
            'devices = [{device = "A", channels = 1, gain = 2}]\nroles = ["审判长"]\n',
            "audio.devices.0.gain: unknown key",
        ),
    ],
)
def test_audio_config_bad_devices_name_the_key(tmp_path: Path, audio: str, problem: str) -> None:
    room = tmp_path / "room.toml"
    room.write_text(ROOM + audio, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_agent_config(room)
    assert f"room.toml: {problem}" in str(caught.value)
