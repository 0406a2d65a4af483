"""Levels and the dead-mic alarm on real capture: paplay → 4-channel null sink → PyAudio."""

from __future__ import annotations

import asyncio
import io
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from av.alarms import AlarmKind, AlarmState, MicrophoneAlarm, MicrophoneWatch, WatchConfig
from av.levels import LevelMeter, LevelReport
from av.levels_cli import run_levels
from av.pyaudio_source import PyAudioSource
from tests.av.wavgen import tones, write_wav
from tests.fixtures.pulse import PulseServer

pytestmark = pytest.mark.slow

RATE = 16_000
ROLES = ["审判长", "原告", "被告", "书记员"]
FREQS = [500.0, 1100.0, 1700.0, 2300.0]


def tone_wav(path: Path, peaks_dbfs: Sequence[float | None], *, seconds: float) -> Path:
    """One sine per channel at the given peak level; None leaves the channel silent."""
    sines = tones(FREQS, rate=RATE, seconds=seconds, amplitude=1.0)
    pcm = np.zeros(sines.shape, dtype=np.int16)
    for ch, db in enumerate(peaks_dbfs):
        if db is not None:
            pcm[:, ch] = np.rint(sines[:, ch] * 32768 * 10 ** (db / 20))
    return write_wav(path, pcm, rate=RATE, extensible=True)


async def test_run_levels_real_capture_reads_each_channel_level(
    pulse_server: PulseServer, tmp_path: Path
) -> None:
    peaks = [-6.0, -14.0, -22.0, -30.0]
    # Playing starts before the stream opens (about 1.5 s) and outlasts the check.
    player = pulse_server.spawn_play(tone_wav(tmp_path / "tones.wav", peaks, seconds=6.0))
    try:
        out = io.StringIO()
        async with asyncio.timeout(20):
            levels = await run_levels(
                PyAudioSource(pulse_server.pyaudio_device, rate=RATE, channels=4),
                seconds=1.5,
                console=Console(file=out, width=140, color_system=None),
                roles=ROLES,
            )
    finally:
        player.kill()
        await asyncio.to_thread(player.wait)
    assert [level.role for level in levels] == ROLES
    for level, db in zip(levels, peaks, strict=True):
        assert level.peak_dbfs == pytest.approx(db, abs=0.5)
        assert level.rms_dbfs == pytest.approx(db - 3.01, abs=0.5)
        assert level.clipped == 0 and not level.silent
    assert "书记员" in out.getvalue()


async def test_microphone_watch_real_capture_dead_channel_alarms(
    pulse_server: PulseServer, tmp_path: Path
) -> None:
    """Three seats speak (steady tones at -20 dBFS), the defendant's line is dead."""
    wav = tone_wav(tmp_path / "dead.wav", [-20.0, -20.0, None, -20.0], seconds=2.5)
    meter = LevelMeter(rate=RATE, roles=ROLES)
    watch = MicrophoneWatch(config=WatchConfig(dead_after_s=1.0), in_session=True)
    reports: list[LevelReport] = []
    alarms: list[MicrophoneAlarm] = []
    async with PyAudioSource(pulse_server.pyaudio_device, rate=RATE, channels=4) as source:
        async with asyncio.timeout(20):
            blocks = source.blocks()
            first = await anext(blocks)  # the stream runs: what is played now is captured
            player = pulse_server.spawn_play(wav)
            for report in meter.feed(first):
                alarms += watch.observe(report)
            async for block in blocks:
                for report in meter.feed(block):
                    reports.append(report)
                    alarms += watch.observe(report)
                if player.poll() is not None:
                    break
    assert player.returncode == 0
    playing = [r for r in reports if r.channels[0].rms_dbfs > -40]
    assert len(playing) >= 20
    for ch in (0, 1, 3):
        median = statistics.median(r.channels[ch].rms_dbfs for r in playing)
        assert median == pytest.approx(-23.01, abs=0.5)
    assert all(r.channels[2].silent for r in reports)
    [alarm] = alarms
    assert (alarm.kind, alarm.state, alarm.channel, alarm.role) == (
        AlarmKind.DEAD_MIC,
        AlarmState.RAISED,
        2,
        "被告",
    )
    # Raised after one second of the others' speech, measured in captured frames.
    assert alarm.hearing_time == pytest.approx(playing[0].hearing_time + 0.9, abs=0.15)
    assert alarm.message.startswith("被告麦克风无信号 · 被告 microphone silent for")
