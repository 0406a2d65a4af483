"""``courtroom av levels`` as a court's IT staff run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.fixtures.rooms import tone, wav_room

COMMAND = [sys.executable, "-m", "courtroom_agent.cli", "av", "levels"]
RECORD = [sys.executable, "-m", "courtroom_agent.cli", "av", "record"]


def test_av_levels_cli_wav_room_strict_flags_dead_channel(tmp_path: Path) -> None:
    sine = tone(2.0)
    pcm = np.stack([sine, sine // 4, np.zeros_like(sine)], axis=1)
    config = wav_room(tmp_path, pcm, roles=["审判长", "原告", "被告"], realtime=False)
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
    sine = tone(3.0)
    config = wav_room(
        tmp_path,
        np.stack([sine, sine // 2], axis=1),
        roles=["审判长", "书记员"],
        cameras=[{"id": "CAM-1", "source": camera_video_file, "fps": 10}],
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
