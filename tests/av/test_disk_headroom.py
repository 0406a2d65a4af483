"""Disk headroom counts the video: free space over the audio *and* the cameras' data rate.

A real camera recording (a looped video file through the real encoder) beside
the audio, with the free-space probe standing in a disk of known size: the
recording time left must shrink by the video's measured rate, and a warning
threshold that the audio alone would not reach must be reached. The room
config's ``[recording]`` thresholds reach the recorder through
:class:`HearingRecording`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from av.recording import AlarmKind, DiskHeadroom, Severity
from courtroom_agent.config import CameraConfig, ConfigError, RecordingConfig, load_agent_config
from courtroom_agent.hearing_recording import HearingRecording
from tests.fixtures.hearing_av import silent_hearing
from tests.fixtures.rooms import room_toml

RATE = 16000
BLOCK = 1600
AUDIO_RATE = RATE * 1 * 2 * 1.02  # one channel of 16-bit PCM, with FLAC's framing allowance
FREE = round(AUDIO_RATE * 100)  # 100 s of audio alone


@pytest.mark.slow
async def test_disk_headroom_counts_measured_video_rate(
    tmp_path: Path, camera_video_file: Path
) -> None:
    alarms = []
    async with silent_hearing(
        tmp_path,
        [CameraConfig(id="CAM-1", source=str(camera_video_file), fps=10, loop=True)],
        recorder_options={
            "free_space": lambda path: FREE,
            # Warn below 98 s: the audio alone leaves 100 s, so only the video can raise it.
            "disk": DiskHeadroom(min_free_bytes=0, warn_seconds=98.0, critical_seconds=0.0),
            "disk_check_interval": 0.25,
        },
    ) as hearing:
        recorder = hearing.recorder
        at_open = recorder.take_alarms()
        began = time.monotonic()
        await hearing.play(4.0, each=lambda k: alarms.extend(recorder.take_alarms()))
        alarms += recorder.take_alarms()
        state = recorder.state()
        video_bytes = sum(p.stat().st_size for p in recorder.directory.glob("CAM-1-*.mp4"))
        elapsed = time.monotonic() - began

    assert at_open == []  # before any video: 100 s left, above the 98 s warning
    assert state.free_seconds is not None and state.free_bytes == FREE
    video_rate = FREE / state.free_seconds - AUDIO_RATE  # what the recorder counted
    average = video_bytes / elapsed  # what the encoder wrote, on average
    assert average > 0.05 * AUDIO_RATE, average  # the camera really adds data
    assert 0.3 * average <= video_rate <= 3.0 * average, (video_rate, average)
    low = [a for a in alarms if a.kind is AlarmKind.DISK_LOW]
    assert low and low[0].active and low[0].severity is Severity.WARNING, alarms
    assert low[0].free_seconds is not None and low[0].free_seconds < 98.0


async def test_disk_headroom_thresholds_from_room_config_reach_recorder(tmp_path: Path) -> None:
    def recording(config: RecordingConfig | None) -> HearingRecording:
        return HearingRecording(
            root=tmp_path, courtroom="r1", hearing_id=f"h{id(config)}", sample_rate=RATE,
            roles=["审判长"], recording=config, free_space=lambda path: FREE,
        )  # fmt: skip

    levels = []
    for config in (
        None,  # defaults: 1 GiB floor, 1 h, 10 min — 100 s left is critical
        RecordingConfig(disk_warn_s=120, disk_critical_s=60, disk_min_free_mib=0),
        RecordingConfig(disk_warn_s=60, disk_critical_s=30, disk_min_free_mib=0),
    ):
        hearing = recording(config)
        await hearing.open()
        try:
            edges = hearing.recorder.take_alarms()
        finally:
            await hearing.close(end=0.0)
        levels.append([(a.kind, a.severity) for a in edges if a.active])
    assert levels == [
        [(AlarmKind.DISK_LOW, Severity.CRITICAL)],
        [(AlarmKind.DISK_LOW, Severity.WARNING)],
        [],
    ]


def test_recording_config_refuses_critical_above_warning(tmp_path: Path) -> None:
    config = room_toml(
        tmp_path / "room.toml",
        audio={"roles": ["审判长"]},
        extra="[recording]\ndisk_warn_s = 600\ndisk_critical_s = 900\n",
    )
    with pytest.raises(ConfigError) as raised:
        load_agent_config(config)
    assert "recording" in str(raised.value) and "disk_critical_s" in str(raised.value)
    config.write_text(config.read_text(encoding="utf-8").replace("900", "300"), encoding="utf-8")
    assert load_agent_config(config).recording.disk_critical_s == 300
