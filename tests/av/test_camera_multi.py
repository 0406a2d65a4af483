"""Several cameras in one courtroom, recorded side by side by ``courtroom av record``.

Two real cameras of different kinds — an ffmpeg MJPEG stream over HTTP and a
looped H.264 file — with 1-s segments: each camera has a closed MP4 for
every audio segment, with the same index and starting exactly where it
starts (the boundaries lie on the 10 fps grid, and the pacer holds frames
back so that a cut announced late still lands there), both cameras are
listed in the manifest, and ``courtroom av check`` passes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from av.recording import check_recording
from tests.fixtures.camera_stream import MjpegStream
from tests.fixtures.rooms import tone, wav_room

pytestmark = pytest.mark.slow
RATE = 16000


def test_two_cameras_recorded_in_aligned_segments_and_verified(
    tmp_path: Path, camera_stream: Callable[[str], MjpegStream], camera_video_file: Path
) -> None:
    stream = camera_stream("testsrc2")
    sine = tone(5.0, RATE)
    config = wav_room(
        tmp_path,
        np.stack([sine, sine // 2], axis=1),
        roles=["审判长", "书记员"],
        rate=RATE,
        cameras=[
            {"id": "JUDGE", "source": stream.url, "fps": 10},
            {"id": "GALLERY", "source": camera_video_file, "fps": 10, "loop": True},
        ],
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "courtroom_agent.cli", "av", "record", "--config", str(config),
         "--out", str(out), "--duration", "3", "--segment-seconds", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    hearing = next((out / "fy-01").iterdir())
    m = json.loads((hearing / "manifest.json").read_text(encoding="utf-8"))

    assert sorted(c["id"] for c in m["cameras"]) == ["GALLERY", "JUDGE"]
    audio = {s["index"]: s["first_frame"] / m["sample_rate"] for s in m["segments"]}
    assert len(audio) >= 3
    for camera in ("JUDGE", "GALLERY"):
        video = [v for v in m["video_segments"] if v["camera"] == camera]
        assert [v["index"] for v in video] == sorted(audio), (camera, video)
        for v in video:
            assert v["status"] == "closed" and v["frames"] > 0 and len(v["sha256"]) == 64
            assert v["start"] == pytest.approx(audio[v["index"]], abs=1e-6), (camera, v, audio)
            assert v["file"].startswith(f"{camera}-") and (hearing / v["file"]).is_file()
        # Every full segment holds a second of pictures at 10 fps.
        full = video[:-1]
        assert all(v["frames"] == 10 for v in full), [(v["index"], v["frames"]) for v in full]
        # Both cameras delivered: neither was without a picture for a second or more.
        assert all(g["end"] - g["start"] < 1.0 for g in m["video_gaps"] if g["camera"] == camera)
    report = check_recording(hearing)
    assert report.sound, report.problems
    assert report.video_segments == 2 * len(audio)
    verified = subprocess.run(
        [sys.executable, "-m", "courtroom_agent.cli", "av", "check", str(hearing)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
