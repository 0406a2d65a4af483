"""Video in the hearing manifest, verified by ``courtroom av check``.

One real recording (``courtroom av record``: two microphones from a WAV, one
camera from a video file, 1-s segments) is made per module; each test checks
a copy, damaged in one way, and expects the check to name what is wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from av.recording import AudioRecorder, check_recording
from tests.fixtures.rooms import tone, wav_room

pytestmark = pytest.mark.slow
COURTROOM = [sys.executable, "-m", "courtroom_agent.cli"]
ROLES = ["审判长", "书记员"]


def room(tmp: Path, video: Path, seconds: float) -> Path:
    sine = tone(seconds)
    camera = {"id": "CAM-1", "source": video, "fps": 10, "loop": True}
    return wav_room(tmp, np.stack([sine, sine // 2], axis=1), roles=ROLES, cameras=[camera])


def record_args(config: Path, out: Path, duration: float) -> list[str]:
    return [*COURTROOM, "av", "record", "--config", str(config), "--out", str(out),
            "--duration", str(duration), "--segment-seconds", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, camera_video_file: Path) -> Path:
    tmp = tmp_path_factory.mktemp("video-check")
    config = room(tmp, camera_video_file, 4.0)
    done = subprocess.run(
        record_args(config, tmp / "out", 2.5), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return next((tmp / "out" / "fy-01").iterdir())


@pytest.fixture
def copy(recorded: Path, tmp_path: Path) -> Path:
    target = tmp_path / recorded.name
    shutil.copytree(recorded, target)
    return target


def manifest(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    return data


def rewrite(directory: Path, data: dict[str, Any]) -> None:
    path = directory / "manifest.json"
    path.chmod(0o644)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_video_listed_beside_audio_with_same_segments(recorded: Path) -> None:
    m = manifest(recorded)
    assert m["cameras"] == [{"id": "CAM-1", "fps": 10}]
    audio = {s["index"]: s["first_frame"] / m["sample_rate"] for s in m["segments"]}
    video = m["video_segments"]
    assert len(video) >= 2 and all(v["status"] == "closed" for v in video)
    for v in video:
        assert v["camera"] == "CAM-1" and v["index"] in audio
        assert 0 <= v["start"] - audio[v["index"]] < 0.1 + 1e-6
        assert v["frames"] > 0 and len(v["sha256"]) == 64
        assert not os.access(recorded / v["file"], os.W_OK) or os.geteuid() == 0
        assert (recorded / v["file"]).stat().st_mode & 0o222 == 0  # sealed read-only
    report = check_recording(recorded)
    assert report.sound, report.problems
    assert report.video_segments == len(video)
    # Nothing on disk that the manifest does not list.
    assert not [w for w in report.warnings if "not listed" in w]


def test_check_names_altered_video(copy: Path) -> None:
    name = manifest(copy)["video_segments"][0]["file"]
    path = copy / name
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = check_recording(copy)
    assert not report.sound
    assert any(name in p and "SHA-256" in p for p in report.problems), report.problems


def test_check_names_missing_video(copy: Path) -> None:
    name = manifest(copy)["video_segments"][-1]["file"]
    (copy / name).unlink()
    report = check_recording(copy)
    assert any(name in p and "missing" in p for p in report.problems), report.problems


def test_check_counts_frames_and_alignment(copy: Path) -> None:
    data = manifest(copy)
    first, second = data["video_segments"][0], data["video_segments"][1]
    first["frames"] += 3
    second["start"] += 1.0
    rewrite(copy, data)
    problems = check_recording(copy).problems
    assert any(first["file"] in p and "frames" in p for p in problems), problems
    assert any(second["file"] in p and "more than one frame apart" in p for p in problems)


def test_check_refuses_unknown_camera_and_bad_fields(copy: Path) -> None:
    data = manifest(copy)
    data["video_segments"][0]["camera"] = "CAM-9"
    rewrite(copy, data)
    assert any("CAM-9" in p and "cameras" in p for p in check_recording(copy).problems)
    data["video_segments"][0]["sha256"] = "not-a-digest"
    rewrite(copy, data)
    problems = check_recording(copy).problems
    assert problems and "video_segments[0].sha256" in problems[0]


def test_video_open_at_kill_is_kept_as_interrupted(tmp_path: Path, camera_video_file: Path) -> None:
    config = room(tmp_path, camera_video_file, 30.0)
    process = subprocess.Popen(
        record_args(config, tmp_path / "out", 30),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        hearing: Path | None = None
        while time.monotonic() < deadline:
            hearings = list((tmp_path / "out" / "fy-01").glob("*/manifest.json"))
            if hearings and any(
                v["status"] == "open" for v in manifest(hearings[0].parent)["video_segments"]
            ):
                hearing = hearings[0].parent
                break
            time.sleep(0.1)
        assert hearing is not None, "no video segment was ever open"
        time.sleep(0.5)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        process.kill()
    before = check_recording(hearing)
    assert before.sound, before.problems
    assert any("open" in w and "CAM-1" in w for w in before.warnings)
    # The next recorder run (a restarted agent) recovers the hearing as found.
    open_video = [v for v in manifest(hearing)["video_segments"] if v["status"] == "open"]
    with AudioRecorder(
        root=tmp_path / "out", courtroom="fy-01", hearing_id=hearing.name,
        sample_rate=16000, roles=ROLES,
    ):  # fmt: skip
        pass
    after = manifest(hearing)
    recovered = {v["file"]: v for v in after["video_segments"]}
    for v in open_video:
        entry = recovered[v["file"]]
        assert entry["status"] == "interrupted" and entry["closed_at"]
        if (hearing / v["file"]).exists():
            assert entry["sha256"] and (hearing / v["file"]).stat().st_mode & 0o222 == 0
    report = check_recording(hearing)
    assert report.sound, report.problems
    assert any("interrupted" in w and "CAM-1" in w for w in report.warnings)
