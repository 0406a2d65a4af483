"""``courtroom av record`` burns the manifest's time into the video.

Not the time before the device opened, nor right after: here PyAudio through
the PulseAudio fixture delivers its first frame about a second after the
stream opens. Real microphones, a real camera (a video file). A decoded frame of the
recording must show the wall time the manifest gives for that hearing time
(``started_at`` + hearing seconds), read without OCR by comparing the burned
text with the overlay drawn for that time and for times a little off.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from av.camera import TimestampOverlay
from tests.av.burned_time import read_frame, text_errors
from tests.fixtures.pulse import PYAUDIO_DEVICE, PulseServer
from tests.fixtures.rooms import room_toml

pytestmark = pytest.mark.slow


def test_av_record_burned_time_matches_manifest_started_at(
    pulse_server: PulseServer, tmp_path: Path, camera_video_file: Path
) -> None:
    config = room_toml(
        tmp_path / "room.toml",
        audio={"source": "pyaudio", "device": PYAUDIO_DEVICE, "rate": 16000, "roles": ["审判长"]},
        cameras=[{"id": "CAM-1", "source": camera_video_file, "fps": 10, "loop": True}],
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "courtroom_agent.cli", "av", "record", "--config", str(config),
         "--out", str(out), "--duration", "2.5"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    hearing = next((out / "fy-01").iterdir())
    m = json.loads((hearing / "manifest.json").read_text(encoding="utf-8"))
    assert m["started_frame"] == 0
    started_at = datetime.fromisoformat(m["started_at"])
    video = m["video_segments"][0]
    ov = TimestampOverlay(courtroom="fy-01", camera="CAM-1", epoch=started_at, title="第一法庭")
    errors = {}
    for k in (12, 17):  # frames at hearing ~1.2 s and ~1.7 s
        decoded = read_frame(hearing / video["file"], k)
        t = video["start"] + k / video["fps"]
        errors[k] = text_errors(decoded, ov, {dt: t + dt for dt in (0.0, -0.5, -1.0, -1.5, 1.0)})
        best = min(errors[k], key=lambda dt: errors[k][dt])
        # The burned time is the manifest's (to the 0.1 s it shows): closer than 0.5 s off.
        assert best == 0.0, errors
