"""``courtroom av levels`` as a court's IT staff run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.fixtures.speech import write_wav

COMMAND = [sys.executable, "-m", "courtroom_agent.cli", "av", "levels"]
RECORD = [sys.executable, "-m", "courtroom_agent.cli", "av", "record"]


def test_av_levels_cli_wav_room_strict_flags_dead_channel(tmp_path: Path) -> None:
    t = np.arange(16000 * 2) / 16000
    tone = (0.25 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    pcm = np.stack([tone, tone // 4, np.zeros_like(tone)], axis=1)
    write_wav(tmp_path / "room.wav", pcm, 16000)
    config = tmp_path / "room.toml"
    config.write_text(
        """
[courtroom]
id = "fy-01"
name = "第一法庭"
[hub]
url = "ws://127.0.0.1:9/ws/agent"
token = "t"
[audio]
source = "wav"
file = "room.wav"
realtime = false
roles = ["审判长", "原告", "被告"]
""",
        encoding="utf-8",
    )
    done = subprocess.run(
        [*COMMAND, "--config", str(config), "--seconds", "1", "--strict"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "审判长" in out and "原告" in out and "被告" in out
    summary = out[out.rindex("审判长") :]
    dead_line = next(line for line in summary.splitlines() if "被告" in line)
    assert "无信号" in dead_line or "no signal" in dead_line


def test_av_record_cli_microphones_and_camera_then_verified(
    tmp_path: Path, camera_video_file: Path
) -> None:
    t = np.arange(16000 * 3) / 16000
    tone = (0.25 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    write_wav(tmp_path / "room.wav", np.stack([tone, tone // 2], axis=1), 16000)
    config = tmp_path / "room.toml"
    config.write_text(
        f"""
[courtroom]
id = "fy-01"
name = "第一法庭"
[hub]
url = "ws://127.0.0.1:9/ws/agent"
token = "t"
[audio]
source = "wav"
file = "room.wav"
realtime = true
roles = ["审判长", "书记员"]
[[cameras]]
id = "CAM-1"
source = "{camera_video_file}"
fps = 10
""",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [*RECORD, "--config", str(config), "--out", str(out), "--duration", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    hearing = next((out / "fy-01").iterdir())
    assert len(list(hearing.glob("seg000001-ch0*.flac"))) == 2
    assert list(hearing.glob("CAM-1-*.mp4"))
    verified = subprocess.run(
        [sys.executable, "-m", "courtroom_agent.cli", "av", "check", str(hearing)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
