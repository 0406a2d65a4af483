"""The terminal level check on WAV files: live meters, maxima, summary and exit status."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from av.levels import ChannelLevel, LevelReport
from av.levels_cli import LevelMaxima, render_meters, render_summary, run_levels
from av.wav_source import WavFileSource
from courtroom_agent.av_cli import levels_main as main
from tests.av.wavgen import tones, write_wav

RATE = 16_000
ROLES = ["审判长", "原告", "被告", "书记员"]


def room_wav(path: Path, *, seconds: float = 2.0) -> Path:
    """Ch 0 at -6 dBFS, ch 1 at -20, ch 2 silent, ch 3 clipping square, all for ``seconds``."""
    n = int(RATE * seconds)
    pcm = np.zeros((n, 4), dtype=np.int16)
    sines = tones([1000.0, 2000.0], rate=RATE, seconds=seconds, amplitude=1.0)
    pcm[:, 0] = np.rint(sines[:, 0] * 32768 * 10 ** (-6 / 20))
    pcm[:, 1] = np.rint(sines[:, 1] * 32768 * 10 ** (-20 / 20))
    pcm[:, 3] = np.where(np.arange(n) % 40 < 20, 32767, -32768)
    return write_wav(path, pcm, rate=RATE, extensible=True)


def recorder() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=140, color_system=None), out


async def test_run_levels_returns_per_channel_maxima(tmp_path: Path) -> None:
    console, out = recorder()
    levels = await run_levels(
        WavFileSource(room_wav(tmp_path / "room.wav"), realtime=False),
        seconds=None,
        console=console,
        roles=ROLES,
    )
    assert [level.role for level in levels] == ROLES
    assert levels[0].peak_dbfs == pytest.approx(-6.0, abs=0.01)
    assert levels[0].rms_dbfs == pytest.approx(-9.01, abs=0.02)
    assert levels[1].peak_dbfs == pytest.approx(-20.0, abs=0.01)
    assert levels[2].silent and levels[2].peak_dbfs == -96.0
    assert levels[3].clipped == 2 * RATE and levels[3].peak_dbfs == 0.0
    assert [level.silent for level in levels] == [False, False, True, False]
    text = out.getvalue()
    assert "审判长" in text and "书记员" in text
    assert "削波 CLIP" in text and "无信号 no signal" in text


async def test_run_levels_stops_after_seconds_of_audio(tmp_path: Path) -> None:
    n = 3 * RATE
    pcm = np.zeros((n, 2), dtype=np.int16)
    pcm[: RATE // 2, 0] = 8000
    pcm[20_000:, 1] = 8000  # from frame 20000 on: the first frame past 1.25 s
    wav = write_wav(tmp_path / "late.wav", pcm, rate=RATE)
    maxima = LevelMaxima()
    console, _ = recorder()
    levels = await run_levels(
        WavFileSource(wav, realtime=False, block_ms=300),
        seconds=1.25,
        console=console,
        maxima=maxima,
    )
    assert levels == maxima.levels
    assert [level.role for level in levels] == ["声道1", "声道2"]
    assert not levels[0].silent and levels[1].silent


async def test_run_levels_roles_must_match_channels(tmp_path: Path) -> None:
    console, _ = recorder()
    with pytest.raises(ValueError, match="3 roles for a source of 4 channels"):
        await run_levels(
            WavFileSource(room_wav(tmp_path / "room.wav"), realtime=False),
            seconds=1.0,
            console=console,
            roles=ROLES[:3],
        )


def test_render_meters_shows_bar_levels_and_flags() -> None:
    report = LevelReport(
        hearing_time=12.3,
        duration=0.1,
        channels=(
            ChannelLevel(channel=0, role="原告", peak_dbfs=-3.0, rms_dbfs=-30.0),
            ChannelLevel(channel=1, role="被告", peak_dbfs=-96.0, rms_dbfs=-96.0, silent=True),
        ),
    )
    console, out = recorder()
    console.print(render_meters(report, clip_lit=[True, False], width=20))
    lines = out.getvalue().splitlines()
    [plaintiff] = [line for line in lines if "原告" in line]
    [defendant] = [line for line in lines if "被告" in line]
    assert plaintiff.count("█") == 10 and "▌" in plaintiff  # RMS half way, peak near the end
    assert "-3.0" in plaintiff and "-30.0" in plaintiff and "削波 CLIP" in plaintiff
    assert "█" not in defendant and "-∞" in defendant and "无信号 no signal" in defendant
    assert "12.3 s" in out.getvalue()


def write_room(tmp_path: Path, wav: Path) -> Path:
    path = tmp_path / "room.toml"
    path.write_text(
        f"""
[courtroom]
id = "fy-01"
name = "第一法庭"

[hub]
url = "ws://127.0.0.1:9/ws/agent"
token_env = "UNUSED_TOKEN"

[audio]
source = "wav"
file = "{wav.name}"
realtime = false
roles = {ROLES!r}
""".replace("'", '"'),
        encoding="utf-8",
    )
    return path


def test_levels_main_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    room = write_room(tmp_path, room_wav(tmp_path / "room.wav"))
    assert main(["--config", str(room), "--seconds", "1"]) == 0
    text = capsys.readouterr().out
    assert "检查结果 · check summary" in text
    summary = text[text.index("检查结果") :]
    assert "无信号 no signal" in summary and "削波 clipped" in summary and "正常 OK" in summary


def test_levels_main_strict_fails_on_dead_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    room = write_room(tmp_path, room_wav(tmp_path / "room.wav", seconds=0.5))
    assert main(["--config", str(room), "--strict"]) == 1
    capsys.readouterr()


def test_levels_main_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    room = tmp_path / "room.toml"
    room.write_text("[courtroom]\nid = 'x'\n", encoding="utf-8")
    assert main(["--config", str(room)]) == 2
    assert "invalid configuration" in capsys.readouterr().err
    assert main(["--config", str(room), "--seconds", "0"]) == 2


def test_levels_main_missing_wav_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    room = write_room(tmp_path, tmp_path / "absent.wav")
    assert main(["--config", str(room), "--seconds", "1"]) == 1
    assert "courtroom av levels:" in capsys.readouterr().err


def test_render_summary_verdicts() -> None:
    levels = [
        ChannelLevel(channel=0, role="审判长", peak_dbfs=-8.0, rms_dbfs=-20.0),
        ChannelLevel(channel=1, role="原告", peak_dbfs=0.0, rms_dbfs=-4.0, clipped=12),
        ChannelLevel(channel=2, role="被告", peak_dbfs=-96.0, rms_dbfs=-96.0, silent=True),
        ChannelLevel(channel=3, role="书记员", peak_dbfs=-40.0, rms_dbfs=-52.0),
    ]
    console, out = recorder()
    console.print(render_summary(levels))
    rows = {role: line for line in out.getvalue().splitlines() for role in ROLES if role in line}
    assert "正常 OK" in rows["审判长"]
    assert "削波 clipped" in rows["原告"] and "12" in rows["原告"]
    assert "无信号 no signal" in rows["被告"]
    assert "信号弱 weak" in rows["书记员"]
