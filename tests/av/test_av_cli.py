"""``courtroom av levels`` as a court's IT staff run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.fixtures.speech import write_wav

COMMAND = [sys.executable, "-m", "courtroom_agent.cli", "av", "levels"]


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
