"""WavFileSource: formats, sample-exact content, frame numbering, pacing, bad files."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from av import AudioBlock, AudioFormat, AudioSourceError, WavFileSource
from tests.av.wavgen import FLOAT, PCM, tones, wav_bytes, write_wav

RNG = np.random.default_rng(20240601)


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay


async def read_all(source: WavFileSource) -> list[AudioBlock]:
    async with source:
        return [b async for b in source.blocks()]


def assert_contiguous(blocks: list[AudioBlock], *, block_frames: int, total: int) -> None:
    assert blocks[0].start_frame == 0
    for prev, cur in itertools.pairwise(blocks):
        assert cur.start_frame == prev.end_frame
    assert all(b.frames == block_frames for b in blocks[:-1])
    assert 0 < blocks[-1].frames <= block_frames
    assert blocks[-1].end_frame == total


def joined(blocks: list[AudioBlock]) -> npt.NDArray[np.int16]:
    return np.concatenate([b.pcm for b in blocks])


@pytest.mark.parametrize(
    ("rate", "channels", "extensible"),
    [(16_000, 1, False), (44_100, 2, False), (48_000, 4, True), (8_000, 6, True)],
)
async def test_wav_source_int16_is_sample_exact(
    tmp_path: Path, rate: int, channels: int, extensible: bool
) -> None:
    frames = int(rate * 1.234)
    ref = RNG.integers(-32768, 32768, size=(frames, channels), dtype=np.int16)
    path = write_wav(tmp_path / "a.wav", ref, rate=rate, extensible=extensible)
    source = WavFileSource(path, realtime=False)
    blocks = await read_all(source)
    assert source.format == AudioFormat(rate=rate, channels=channels)
    assert_contiguous(blocks, block_frames=rate // 10, total=frames)
    assert all(b.pcm.dtype == np.int16 and b.pcm.shape[1] == channels for b in blocks)
    np.testing.assert_array_equal(joined(blocks), ref)


@pytest.mark.parametrize("extensible", [False, True])
async def test_wav_source_24bit_keeps_top_16_bits(tmp_path: Path, extensible: bool) -> None:
    ref = RNG.integers(-(2**23), 2**23, size=(4800, 2), dtype=np.int32)
    ref[:4] = [[2**23 - 1, -(2**23)], [255, -1], [256, -256], [-257, 0]]
    path = write_wav(tmp_path / "a.wav", ref, rate=48_000, bits=24, extensible=extensible)
    blocks = await read_all(WavFileSource(path, realtime=False))
    np.testing.assert_array_equal(joined(blocks), (ref >> 8).astype(np.int16))
    assert joined(blocks)[:4].tolist() == [[32767, -32768], [0, -1], [1, -1], [-2, 0]]


async def test_wav_source_32bit_int_keeps_top_16_bits(tmp_path: Path) -> None:
    ref = RNG.integers(-(2**31), 2**31, size=(1600, 1), dtype=np.int64).astype(np.int32)
    path = write_wav(tmp_path / "a.wav", ref, rate=16_000, bits=32)
    blocks = await read_all(WavFileSource(path, realtime=False))
    np.testing.assert_array_equal(joined(blocks), (ref >> 16).astype(np.int16))


async def test_wav_source_8bit_unsigned_is_centred(tmp_path: Path) -> None:
    ref = np.arange(256, dtype=np.uint8).reshape(-1, 1)
    path = write_wav(tmp_path / "a.wav", ref, rate=8_000, bits=8)
    blocks = await read_all(WavFileSource(path, realtime=False))
    expected = (ref.astype(np.int16) - 128) * 256
    np.testing.assert_array_equal(joined(blocks), expected)
    assert joined(blocks)[[0, 128, 255], 0].tolist() == [-32768, 0, 32512]


@pytest.mark.parametrize(("bits", "dtype"), [(32, np.float32), (64, np.float64)])
async def test_wav_source_float_is_scaled_and_clipped(
    tmp_path: Path, bits: int, dtype: type[np.floating]
) -> None:
    ref = tones([440.0, 1000.0], rate=22_050, seconds=0.5, amplitude=0.9).astype(dtype)
    ref[:3] = [[1.0, -1.0], [1.5, -1.5], [0.5, -0.25]]
    path = write_wav(tmp_path / "a.wav", ref, rate=22_050, bits=bits)
    blocks = await read_all(WavFileSource(path, realtime=False))
    expected = np.clip(np.rint(ref.astype(np.float64) * 32768), -32768, 32767).astype(np.int16)
    np.testing.assert_array_equal(joined(blocks), expected)
    assert joined(blocks)[:3].tolist() == [[32767, -32768], [32767, -32768], [16384, -8192]]


@pytest.fixture
def sox_24bit_4ch(tmp_path: Path) -> tuple[Path, npt.NDArray[np.int16]]:
    """A file written by sox (WAVE_FORMAT_EXTENSIBLE) and sox's own 32-bit decoding of it."""
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed")
    path = tmp_path / "sox.wav"
    synth = ["synth", "0.5", "sine", "300", "sine", "500", "sine", "700", "sine", "900"]
    subprocess.run(
        ["sox", "-n", "-r", "48000", "-c", "4", "-b", "24", str(path), *synth], check=True
    )
    out = subprocess.run(["sox", str(path), "-t", "s32", "-"], check=True, capture_output=True)
    return path, (np.frombuffer(out.stdout, dtype="<i4") >> 16).astype(np.int16).reshape(-1, 4)


async def test_wav_source_reads_sox_extensible_24bit_4ch(
    sox_24bit_4ch: tuple[Path, npt.NDArray[np.int16]],
) -> None:
    path, reference = sox_24bit_4ch
    source = WavFileSource(path, realtime=False)
    blocks = await read_all(source)
    assert source.format == AudioFormat(rate=48_000, channels=4)
    assert source.info.bits == 24
    np.testing.assert_array_equal(joined(blocks), reference)


async def test_wav_source_block_ms_sets_block_length(tmp_path: Path) -> None:
    ref = RNG.integers(-1000, 1000, size=(16_000, 1), dtype=np.int16)
    path = write_wav(tmp_path / "a.wav", ref, rate=16_000)
    blocks = await read_all(WavFileSource(path, realtime=False, block_ms=30))
    assert_contiguous(blocks, block_frames=480, total=16_000)
    assert len(blocks) == 34


async def test_wav_source_skips_odd_chunks_and_ignores_partial_frame(tmp_path: Path) -> None:
    ref = RNG.integers(-32768, 32768, size=(100, 2), dtype=np.int16)
    odd_chunk = b"LIST" + (3).to_bytes(4, "little") + b"abc\x00"  # padded to even length
    data = wav_bytes(
        ref.tobytes() + b"\x01\x02", rate=8000, channels=2, bits=16, extra_chunks=odd_chunk
    )
    path = tmp_path / "a.wav"
    path.write_bytes(data)
    blocks = await read_all(WavFileSource(path, realtime=False))
    np.testing.assert_array_equal(joined(blocks), ref)


@pytest.mark.parametrize("declared", [0xFFFFFFFF, 0x7FFFFFFF])
async def test_wav_source_streamed_size_reads_to_end_of_file(tmp_path: Path, declared: int) -> None:
    ref = RNG.integers(-32768, 32768, size=(3000, 1), dtype=np.int16)
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(ref.tobytes(), rate=16_000, channels=1, bits=16, data_size=declared))
    blocks = await read_all(WavFileSource(path, realtime=False))
    np.testing.assert_array_equal(joined(blocks), ref)


async def test_wav_source_realtime_paces_blocks_at_due_times(tmp_path: Path) -> None:
    ref = RNG.integers(-32768, 32768, size=(40_000, 1), dtype=np.int16)
    path = write_wav(tmp_path / "a.wav", ref, rate=16_000)
    t = FakeTime()
    source = WavFileSource(path, realtime=True, clock=t.clock, sleep=t.sleep)
    blocks = await read_all(source)
    assert source.started_at == 1000.0
    assert [b.captured_at for b in blocks] == pytest.approx(
        [1000.0 + b.end_frame / 16_000 for b in blocks]
    )
    assert sum(t.sleeps) == pytest.approx(2.5)
    assert t.sleeps[0] == pytest.approx(0.1) and t.sleeps[-1] == pytest.approx(0.1)
    np.testing.assert_array_equal(joined(blocks), ref)


async def test_wav_source_realtime_late_consumer_gets_overdue_blocks_at_once(
    tmp_path: Path,
) -> None:
    path = write_wav(tmp_path / "a.wav", np.zeros((16_000, 1), np.int16), rate=16_000)
    t = FakeTime()
    async with WavFileSource(path, realtime=True, clock=t.clock, sleep=t.sleep) as source:
        t.now += 0.55  # the consumer starts late: five blocks are already due
        got = []
        async for block in source.blocks():
            got.append((block.start_frame, block.captured_at, len(t.sleeps)))
    assert [n for _, _, n in got[:5]] == [0, 0, 0, 0, 0]
    assert got[5][2] == 1 and t.sleeps[0] == pytest.approx(0.05)
    assert [c for _, c, _ in got] == pytest.approx([1000.0 + 0.1 * (k + 1) for k in range(10)])


async def test_wav_source_not_realtime_never_sleeps(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", np.zeros((16_000, 2), np.int16), rate=16_000)
    t = FakeTime()
    blocks = await read_all(WavFileSource(path, realtime=False, clock=t.clock, sleep=t.sleep))
    assert len(blocks) == 10 and t.sleeps == []
    assert all(b.captured_at == 1000.0 for b in blocks)


async def test_wav_source_close_stops_iteration(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", np.zeros((16_000, 1), np.int16), rate=16_000)
    source = WavFileSource(path, realtime=False)
    got = []
    async with source:
        async for block in source.blocks():
            got.append(block)
            if len(got) == 3:
                await source.__aexit__(None, None, None)
    assert len(got) == 3


async def test_wav_source_reads_incrementally(tmp_path: Path) -> None:
    frames = 48_000 * 60  # one minute of 48 kHz stereo: 11.5 MB of samples
    path = write_wav(tmp_path / "long.wav", np.zeros((frames, 2), np.int16), rate=48_000)
    tracemalloc.start()
    try:
        total = 0
        async with WavFileSource(path, realtime=False) as source:
            async for block in source.blocks():
                total += block.frames
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == frames
    assert peak < 1_000_000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"hello, this is not audio at all", "not a WAV file"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "not a WAV file"),
        (b"RIFF\x04\x00\x00\x00WAVE", "no data chunk"),
        (b"RIFF\x0c\x00\x00\x00WAVEdata\x00\x00\x00\x00", "no valid fmt chunk"),
        (wav_bytes(b"\x00" * 64, rate=8000, channels=1, bits=4, tag=0x0002), "unsupported"),
        (wav_bytes(b"\x00" * 64, rate=8000, channels=1, bits=8, tag=0x0006), "tag 0x0006"),
        (wav_bytes(b"\x00" * 60, rate=8000, channels=1, bits=12, tag=PCM), "12 bits"),
        (wav_bytes(b"\x00" * 64, rate=8000, channels=1, bits=16, tag=FLOAT), "unsupported"),
        (wav_bytes(b"", rate=16000, channels=1, bits=16), "no audio frames"),
        (wav_bytes(b"\x00" * 64, rate=100, channels=1, bits=16), "sample rate 100"),
        (wav_bytes(b"\x00" * 64, rate=8000, channels=0, bits=16), "channel count 0"),
    ],
)
async def test_wav_source_bad_file_raises_at_open(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    source = WavFileSource(path, realtime=False)
    with pytest.raises(AudioSourceError, match=message) as caught:
        await source.__aenter__()
    assert str(path) in str(caught.value)


async def test_wav_source_missing_file_raises_at_open(tmp_path: Path) -> None:
    with pytest.raises(AudioSourceError, match="cannot open"):
        await WavFileSource(tmp_path / "nope.wav", realtime=True).__aenter__()


async def test_wav_source_blocks_before_open_raises(tmp_path: Path) -> None:
    source = WavFileSource(tmp_path / "a.wav", realtime=False)
    with pytest.raises(AudioSourceError, match="not open"):
        await anext(source.blocks())
