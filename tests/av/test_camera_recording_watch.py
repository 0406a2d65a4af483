"""Is the camera really being recorded: a dead encoder is alarmed and replaced.

The encoder is a real executable: a script that dies at once the first time
it is started (a crashed ffmpeg) and runs the real ffmpeg afterwards.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from av.camera.events import AlarmKind
from av.camera.recording_watch import RecordingWatch
from av.recording import check_recording
from courtroom_agent.config import CameraConfig
from tests.fixtures.hearing_av import silent_hearing

RATE = 16000


def test_recording_watch_raises_after_stall_and_clears() -> None:
    watch = RecordingWatch("CAM-1", started=10.0, stall_after=3.0, clear_below=1.0)
    assert watch.check(12.0, None) is None  # nothing written yet, but not late either
    raised = watch.check(13.5, None)
    assert raised is not None and raised.active and raised.kind is AlarmKind.RECORDING_STALLED
    assert raised.since == 10.0 and "录像中断" in raised.message
    assert watch.check(14.0, 11.0) is None  # still stalled: raised once
    cleared = watch.check(15.0, 14.5)  # lag 0.5 s: below 1 s
    assert cleared is not None and not cleared.active and not watch.stalled


def test_recording_watch_edges_once_each() -> None:
    watch = RecordingWatch("CAM-1", started=0.0, stall_after=2.0, clear_below=0.5)
    edges = [watch.check(t, w) for t, w in [(1, 0.8), (3, 0.9), (4, 0.9), (5, 4.8), (6, 5.9)]]
    kinds = [(e.active, e.time) for e in edges if e is not None]
    assert kinds == [(True, 3), (False, 5)]
    with pytest.raises(ValueError):
        RecordingWatch("CAM-1", started=0.0, stall_after=1.0, clear_below=1.0)


@pytest.fixture
def flaky_encoder(tmp_path: Path) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg not installed")
    marker = tmp_path / "crashed-once"
    script = tmp_path / "flaky-ffmpeg"
    script.write_text(
        f"#!/bin/sh\nif [ ! -e '{marker}' ]; then touch '{marker}'; exit 1; fi\n"
        f"exec '{ffmpeg}' \"$@\"\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


@pytest.mark.slow
async def test_dead_encoder_alarmed_then_recording_resumes_next_segment(
    tmp_path: Path, camera_video_file: Path, flaky_encoder: Path
) -> None:
    events: list[dict[str, Any]] = []
    async with silent_hearing(
        tmp_path,
        [CameraConfig(id="CAM-1", source=str(camera_video_file), fps=10, loop=True)],
        camera_options={
            "publish": lambda kind, body: events.append(body),
            "encoder": str(flaky_encoder),
            "stall_after": 1.0,
            "check_interval": 0.1,
        },
    ) as hearing:
        await hearing.play(5.5)  # segments 1, 2, 3
    recorder = hearing.recorder
    stalls = [e for e in events if e.get("kind") == "recording_stalled"]
    assert [e["active"] for e in stalls] == [True, False], events
    assert stalls[0]["time"] < 2.0 + 0.5  # within stall_after of the start (+ checks)
    manifest = json.loads((recorder.directory / "manifest.json").read_text(encoding="utf-8"))
    video = [(v["index"], v["status"]) for v in manifest["video_segments"]]
    assert video[0] == (1, "interrupted")
    assert (2, "closed") in video and (3, "closed") in video
    report = check_recording(recorder.directory)
    assert report.sound, report.problems
