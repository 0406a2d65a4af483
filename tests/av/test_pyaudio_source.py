"""PyAudioSource against a real PulseAudio daemon: play into a null sink, record its monitor."""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyaudio
import pytest

from av import AudioBlock, AudioSourceError, PyAudioSource, list_input_devices
from tests.av.wavgen import dominant_frequency, tones, write_wav
from tests.fixtures.pulse import PulseServer

pytestmark = pytest.mark.slow

RATE = 16_000


def record_streams(pulse: PulseServer) -> list[str]:
    """PulseAudio's record streams (source outputs) still connected."""
    return pulse.pactl("list", "short", "source-outputs").splitlines()


async def capture_while_playing(
    source: PyAudioSource, pulse: PulseServer, wav: Path, *, tail_s: float = 0.4
) -> list[AudioBlock]:
    """Wait for the stream to run, play ``wav`` into the sink, record until it ends plus a tail."""
    got: list[AudioBlock] = []
    async with asyncio.timeout(20):
        blocks = source.blocks()
        got.append(await anext(blocks))
        player = pulse.spawn_play(wav)
        tail_frames: int | None = None
        async for block in blocks:
            got.append(block)
            if tail_frames is None and player.poll() is not None:
                tail_frames = int(source.format.rate * tail_s)
            elif tail_frames is not None:
                tail_frames -= block.frames
                if tail_frames <= 0:
                    break
    assert player.returncode == 0
    return got


def joined(blocks: list[AudioBlock]) -> npt.NDArray[np.int16]:
    return np.concatenate([b.pcm for b in blocks])


def assert_contiguous(blocks: list[AudioBlock]) -> None:
    assert blocks[0].start_frame == 0
    for prev, cur in itertools.pairwise(blocks):
        assert cur.start_frame == prev.end_frame
        assert cur.captured_at >= prev.captured_at


def peak_normalized_correlation(
    captured: npt.NDArray[np.float64], ref: npt.NDArray[np.float64]
) -> float:
    """Max over lags of the normalized cross-correlation of ``ref`` within ``captured``."""
    n = len(captured) + len(ref)
    xc = np.fft.irfft(np.fft.rfft(captured, n) * np.conj(np.fft.rfft(ref, n)), n)
    lag = int(np.argmax(np.abs(xc[: len(captured)])))
    window = captured[lag : lag + len(ref)]
    return float(
        np.dot(window, ref[: len(window)]) / (np.linalg.norm(window) * np.linalg.norm(ref))
    )


def chirp(seconds: float, *, rate: int, f0: float, f1: float) -> npt.NDArray[np.float64]:
    t = np.arange(int(rate * seconds)) / rate
    return 0.5 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds)))


async def test_pyaudio_source_mono_records_played_chirp(
    pulse_server: PulseServer, tmp_path: Path
) -> None:
    ref = chirp(1.0, rate=RATE, f0=300, f1=3000)
    wav = write_wav(
        tmp_path / "chirp.wav", np.rint(ref * 32767).astype(np.int16)[:, None], rate=RATE
    )
    async with PyAudioSource(pulse_server.pyaudio_device, rate=RATE, channels=1) as source:
        assert source.device is not None and source.device.name == "pulse"
        blocks = await capture_while_playing(source, pulse_server, wav)
        assert source.stats.gaps == () and source.overflow_frames == 0
    assert_contiguous(blocks)
    assert all(b.frames == 1600 and b.pcm.shape == (1600, 1) for b in blocks)
    captured = joined(blocks)[:, 0].astype(np.float64)
    assert peak_normalized_correlation(captured, ref) > 0.95
    assert np.abs(captured).max() > 0.4 * 32767


async def test_pyaudio_source_four_channels_keep_their_own_tones(
    pulse_server: PulseServer, tmp_path: Path
) -> None:
    freqs = [500.0, 1100.0, 1700.0, 2300.0]
    signal = np.rint(tones(freqs, rate=RATE, seconds=1.0, amplitude=0.4) * 32767).astype(np.int16)
    wav = write_wav(tmp_path / "tones4.wav", signal, rate=RATE, extensible=True)
    async with PyAudioSource("pulse", rate=RATE, channels=4, block_ms=50) as source:
        blocks = await capture_while_playing(source, pulse_server, wav)
    assert_contiguous(blocks)
    pcm = joined(blocks)
    assert pcm.shape[1] == 4
    loud_rows = np.flatnonzero(np.abs(pcm).max(axis=1) > 0.2 * 32767)
    loud = pcm[loud_rows[0] : loud_rows[-1] + 1]
    assert len(loud) == pytest.approx(RATE, abs=RATE // 20)
    for ch, freq in enumerate(freqs):
        assert dominant_frequency(loud[:, ch], RATE) == pytest.approx(freq, abs=5)
        spectrum = np.abs(np.fft.rfft(loud[:, ch].astype(np.float64)))
        bins = np.fft.rfftfreq(len(loud), 1 / RATE)
        own = spectrum[np.abs(bins - freq) < 20].max()
        for other in set(freqs) - {freq}:
            assert spectrum[np.abs(bins - other) < 20].max() < 0.01 * own


async def test_pyaudio_source_device_by_index_resamples(
    pulse_server: PulseServer, tmp_path: Path
) -> None:
    [pulse] = [d for d in await asyncio.to_thread(list_input_devices) if d.name == "pulse"]
    signal = np.rint(tones([1000.0], rate=RATE, seconds=0.6) * 32767).astype(np.int16)
    wav = write_wav(tmp_path / "tone.wav", signal, rate=RATE)
    async with PyAudioSource(pulse.index, rate=48_000, channels=2) as source:
        assert source.device == pulse
        blocks = await capture_while_playing(source, pulse_server, wav)
    assert_contiguous(blocks)
    assert blocks[0].pcm.shape == (4800, 2)
    pcm = joined(blocks)
    for ch in range(2):
        assert dominant_frequency(pcm[:, ch], 48_000) == pytest.approx(1000, abs=5)


@pytest.mark.parametrize(
    ("device", "message"), [("no-such-mic", "no audio input device matches"), ("u", "ambiguous")]
)
async def test_pyaudio_source_bad_device_name_lists_devices(
    pulse_server: PulseServer, device: str, message: str
) -> None:
    source = PyAudioSource(device, rate=RATE, channels=1)
    with pytest.raises(AudioSourceError, match=message) as caught:
        await source.__aenter__()
    assert "pulse (ALSA" in str(caught.value)
    assert not source.active


async def test_pyaudio_source_too_many_channels_raises(pulse_server: PulseServer) -> None:
    with pytest.raises(AudioSourceError, match="at most 32 channels"):
        await PyAudioSource("pulse", rate=RATE, channels=40).__aenter__()


async def test_pyaudio_source_slow_consumer_gap_is_counted_and_numbered(
    pulse_server: PulseServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="av.pyaudio_source")
    async with PyAudioSource("pulse", rate=RATE, channels=1, block_ms=50, queue_blocks=3) as source:
        bf = source.block_frames
        async with asyncio.timeout(15):
            # The consumer is not reading: poll the stats only (nothing to wait on).
            while source.stats.overflow_frames < 8 * bf:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        blocks = source.blocks()
        got = [await anext(blocks) for _ in range(8)]
        stats = source.stats
    assert [b.start_frame for b in got[:3]] == [0, bf, 2 * bf]
    assert len(stats.gaps) == 1
    [gap] = stats.gaps
    assert gap.start_frame == 3 * bf and gap.frames >= 8 * bf and gap.frames % bf == 0
    assert got[3].start_frame == gap.end_frame
    for prev, cur in itertools.pairwise(got[3:]):
        assert cur.start_frame == prev.end_frame
    assert stats.overflow_frames == gap.frames
    delivered = sum(b.frames for b in got) + stats.frames_queued
    assert delivered + stats.overflow_frames == stats.frames_captured
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"dropping audio from frame {3 * bf}" in m for m in messages)
    assert any(f"{gap.frames} frames" in m and "caught up" in m for m in messages)


async def test_pyaudio_source_cancelled_consumer_closes_stream(pulse_server: PulseServer) -> None:
    source = PyAudioSource("pulse", rate=RATE, channels=1, block_ms=50)
    seen = asyncio.Event()

    async def consume() -> None:
        async with source:
            async for _ in source.blocks():
                seen.set()

    task = asyncio.create_task(consume(), name="consume-audio")
    async with asyncio.timeout(10):
        await seen.wait()
    assert source.active and len(record_streams(pulse_server)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not source.active
    assert record_streams(pulse_server) == []


async def test_pyaudio_source_early_break_closes_stream(pulse_server: PulseServer) -> None:
    async with PyAudioSource("pulse", rate=RATE, channels=2, block_ms=20) as source:
        async for block in source.blocks():
            if block.start_frame >= 5 * source.block_frames:
                break
    assert not source.active
    assert record_streams(pulse_server) == []
    with pytest.raises(AudioSourceError, match="only once"):
        await source.__aenter__()


async def test_pyaudio_source_stalled_device_raises(pulse_server: PulseServer) -> None:
    async with PyAudioSource("pulse", rate=RATE, channels=1, stall_timeout=0.8) as source:
        blocks = source.blocks()
        await anext(blocks)
        await asyncio.to_thread(pulse_server.pactl, "suspend-sink", pulse_server.sink, "1")
        try:
            with pytest.raises(AudioSourceError, match=r"no audio from .*pulse.* for 0\.8 s"):
                async with asyncio.timeout(10):
                    async for _ in blocks:
                        pass
        finally:
            await asyncio.to_thread(pulse_server.pactl, "suspend-sink", pulse_server.sink, "0")


def test_pyaudio_source_device_overflow_flag_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    # PulseAudio buffers seconds of audio server-side, so PortAudio's overflow
    # flag cannot be provoked through it: drive the callback as PortAudio does.
    source = PyAudioSource("pulse", rate=RATE, channels=2, block_ms=10)
    silence = bytes(160 * 2 * 2)
    source._on_audio(silence, 160, {}, 0)
    source._on_audio(silence, 160, {}, pyaudio.paInputOverflow)
    source._on_audio(silence, 160, {}, 0)
    stats = source.stats
    assert stats.device_overflows == (160,)
    assert stats.frames_captured == 480 and stats.frames_queued == 480 and stats.gaps == ()
    assert "overflow before frame 160" in caplog.text
