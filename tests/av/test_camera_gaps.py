"""Every camera gap reaches ``manifest.json``, with its start and end, however it ends.

Real cameras (an ffmpeg MJPEG stream on loopback, and a URL nobody serves),
real encoders, a real recorder: a camera that goes dark and stays dark until
the hearing closes, a camera that never delivers a frame, and (through
``courtroom av record`` killed with SIGKILL) a camera without a picture when
the recorder dies. ``courtroom av check`` reports each gap as a warning and
the recording as sound; an open gap in a closed manifest is a problem.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from av.recording import AudioRecorder, check_recording
from courtroom_agent.config import CameraConfig
from tests.fixtures.camera_stream import MjpegStream
from tests.fixtures.hearing_av import silent_hearing
from tests.fixtures.rooms import tone, wav_room

pytestmark = pytest.mark.slow
RATE = 16000
BLOCK = 1600  # 0.1 s


def unserved_url() -> str:
    """An MJPEG URL on a loopback port nothing listens on: a camera that never comes up."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/stream.mjpg"


def manifest(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    return data


def gaps_of(data: dict[str, Any], camera: str) -> list[dict[str, Any]]:
    return [g for g in data["video_gaps"] if g["camera"] == camera]


async def test_camera_gaps_open_at_close_and_never_online_are_in_manifest(
    tmp_path: Path, camera_stream: Callable[[str], MjpegStream]
) -> None:
    stream = camera_stream("testsrc2")
    times: dict[str, float] = {}
    during: dict[str, Any] = {}
    cameras = [
        CameraConfig(id="CAM-1", source=stream.url, fps=10, no_frame_timeout=1.0),
        CameraConfig(id="CAM-2", source=unserved_url(), fps=10),
    ]
    async with silent_hearing(tmp_path, cameras) as hearing:

        async def happen(k: int) -> None:
            if k == 16:  # CAM-1 loses power at 1.6 s and stays dark
                times["stopping"] = hearing.clock.now()
                await asyncio.to_thread(stream.stop)
                times["lost_at"] = hearing.clock.now()
            if k == 30:  # while it is dark, the open gap is already listed
                during.update(manifest(hearing.recorder.directory))

        await hearing.play(3.6, each=happen)
        recorder = hearing.recorder
    end = hearing.clock.captured
    stopping, lost_at = times["stopping"], times["lost_at"]

    open_then = [g for g in gaps_of(during, "CAM-1") if g["end"] is None]
    assert len(open_then) == 1 and open_then[0]["start"] <= lost_at, during["video_gaps"]

    data = manifest(recorder.directory)
    cam1, cam2 = gaps_of(data, "CAM-1"), gaps_of(data, "CAM-2")
    # CAM-1: a short gap before its first frame, then the outage up to the close.
    assert len(cam1) == 2, cam1
    assert cam1[0]["end"] - cam1[0]["start"] < 1.5
    outage = cam1[1]
    assert outage["start"] == open_then[0]["start"]  # the entry listed early, now closed
    assert stopping - 0.6 <= outage["start"] <= lost_at
    assert outage["end"] == end
    # CAM-2 never delivered: one gap over the whole run.
    assert len(cam2) == 1 and cam2[0]["start"] < 0.5 and cam2[0]["end"] == end, cam2

    report = check_recording(recorder.directory)
    assert report.sound, report.problems
    assert any(
        "camera CAM-1: no picture from" in w and f"to {end:.1f} s" in w for w in report.warnings
    ), report.warnings
    assert any("camera CAM-2: no picture from 0.0 s" in w for w in report.warnings)


def room(tmp: Path, camera_url: str, seconds: float) -> Path:
    camera = {"id": "CAM-1", "source": camera_url, "fps": 10}
    return wav_room(
        tmp, tone(seconds, RATE)[:, None], roles=["审判长"], rate=RATE, cameras=[camera]
    )


def test_camera_gap_open_when_recorder_killed_is_closed_on_recovery(tmp_path: Path) -> None:
    config = room(tmp_path, unserved_url(), 30.0)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "courtroom_agent.cli", "av", "record", "--config", str(config),
         "--out", str(out), "--duration", "30", "--segment-seconds", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    hearing: Path | None = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = list((out / "fy-01").glob("*/manifest.json"))
            if found and len(manifest(found[0].parent)["segments"]) >= 2:
                hearing = found[0].parent
                break
            time.sleep(0.1)
        assert hearing is not None, "the recording never reached its second segment"
        time.sleep(0.7)  # into segment 2, so that some of it is recovered
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        process.kill()

    killed = manifest(hearing)
    assert [g["end"] for g in killed["video_gaps"]] == [None], killed["video_gaps"]
    before = check_recording(hearing)
    assert before.sound, before.problems
    assert any("camera CAM-1: no picture since" in w for w in before.warnings), before.warnings

    # The next recorder run (a restarted agent) closes the gap where the recording stopped.
    with AudioRecorder(
        root=out, courtroom="fy-01", hearing_id=hearing.name, sample_rate=RATE, roles=["审判长"]
    ) as recorder:
        stopped_at = recorder.resume_frame / RATE
    after = manifest(hearing)
    assert after["video_gaps"] == [
        {"camera": "CAM-1", "start": killed["video_gaps"][0]["start"], "end": stopped_at}
    ]
    assert stopped_at > 1.0
    checked = av_check(hearing)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (
        f"camera CAM-1: no picture from {after['video_gaps'][0]['start']:.1f} s" in checked.stdout
    )
    assert f"to {stopped_at:.1f} s" in checked.stdout

    # An open gap in a manifest marked closed contradicts it.
    after["closed"], after["video_gaps"][0]["end"] = True, None
    path = hearing / "manifest.json"
    path.chmod(0o644)
    path.write_text(json.dumps(after, ensure_ascii=False), encoding="utf-8")
    checked = av_check(hearing)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "still open although the recording is closed" in checked.stderr


def av_check(hearing: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "courtroom_agent.cli", "av", "check", str(hearing)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
