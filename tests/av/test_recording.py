"""AudioRecorder: bit-exact segments, gaps, resume, never overwrite, alarms."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from av.audio import AudioBlock
from av.recording import (
    AlarmKind,
    AudioRecorder,
    DiskHeadroom,
    FrameOrderError,
    GapReason,
    RecorderFailedError,
    RecordingError,
    RecordingMismatchError,
    SegmentStatus,
    Severity,
    check_recording,
    read_manifest,
)
from av.recording.segment_writer import SegmentFiles, sha256_file
from tests.av.test_recording_signal import blocks, concatenate, counter

RATE = 8000
T0 = datetime(2025, 3, 1, 1, 30, tzinfo=UTC)


class Clocks:
    """A monotonic clock and a wall clock that tests move together."""

    def __init__(self) -> None:
        self.t = 100.0

    def mono(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.t - 100.0)


def recorder(root: Path, clocks: Clocks, **kw: Any) -> AudioRecorder:
    options: dict[str, Any] = {
        "root": root,
        "courtroom": "room-7",
        "hearing_id": "room-7-20250301T013000Z-abc123",
        "sample_rate": RATE,
        "roles": ["judge", "clerk", "plaintiff", "defendant"],
        "segment_frames": 3000,
        "clock": clocks.mono,
        "wall_clock": clocks.wall,
        "free_space": lambda p: 1 << 40,
    }
    return AudioRecorder(**(options | kw))


def test_recorder_reproduces_stream_bit_exact_across_segments(tmp_path: Path) -> None:
    clocks = Clocks()
    with recorder(tmp_path, clocks) as rec:
        for b in blocks(0, 20_011, 4, [1, 7, 331, 1000, 4097, 2999]):
            rec.write(AudioBlock(b.start_frame, b.pcm, clocks.t))
    hearing = tmp_path / "room-7" / "room-7-20250301T013000Z-abc123"
    m = read_manifest(hearing)
    assert m.closed and m.gaps == () and m.started_frame == 0
    assert [(s.first_frame, s.frames) for s in m.segments] == [
        (0, 3000), (3000, 3000), (6000, 3000), (9000, 3000),
        (12000, 3000), (15000, 3000), (18000, 2011),
    ]  # fmt: skip
    assert all(s.status is SegmentStatus.CLOSED for s in m.segments)
    for seg in m.segments:
        for f in seg.files:
            assert sha256_file(hearing / f.name) == f.sha256
    for channel in range(4):
        held = concatenate(hearing, m, channel)
        assert sum(held.values()) == 20_011
    assert m.segments[0].files[0].name == "seg000001-ch01-judge.flac"
    assert m.started_at == "2025-03-01T01:29:59.999875Z"  # 1-frame block ends at T0
    report = check_recording(hearing)
    assert report.sound, report.problems
    assert report.recorded_frames == 20_011 and report.warnings == []


def test_recorder_declares_capture_gap_without_inventing_audio(tmp_path: Path) -> None:
    clocks = Clocks()
    with recorder(tmp_path, clocks) as rec:
        for b in blocks(0, 1000, 4, [400]) + blocks(1800, 1500, 4, [500]):
            rec.write(b)
        state = rec.state()
    m = read_manifest(rec.directory)
    assert [(g.start_frame, g.end_frame, g.reason) for g in m.gaps] == [
        (1000, 1800, GapReason.CAPTURE)
    ]
    assert [(s.first_frame, s.frames) for s in m.segments] == [(0, 1000), (1800, 1200), (3000, 300)]
    for channel in range(4):
        concatenate(rec.directory, m, channel)
    assert state.gaps == 1
    report = check_recording(rec.directory)
    assert report.sound and report.gap_frames == 800


def test_recorder_refuses_overlapping_block_and_continues(tmp_path: Path) -> None:
    clocks = Clocks()
    with recorder(tmp_path, clocks) as rec:
        rec.write(blocks(0, 500, 4, [500])[0])
        with pytest.raises(FrameOrderError) as caught:
            rec.write(blocks(499, 10, 4, [10])[0])
        assert caught.value.expected_frame == 500
        rec.write(blocks(500, 100, 4, [100])[0])
    m = read_manifest(rec.directory)
    assert [(s.first_frame, s.frames) for s in m.segments] == [(0, 600)]
    concatenate(rec.directory, m, 3)


def test_recorder_resumes_closed_hearing_with_declared_gap(tmp_path: Path) -> None:
    clocks = Clocks()
    with recorder(tmp_path, clocks) as rec:
        # The first 250-frame block ends at t=100: frame 0 was at T0 - 31.25 ms.
        for b in blocks(0, 1000, 4, [250], captured_at=clocks.t):
            rec.write(b)
    clocks.t += 2.0  # adjourned; the new source counts from 0 again
    # Its first 200-frame block ends at T0 + 2 s, so it starts 2 s + 31.25 ms - 25 ms
    # after frame 0: hearing frame 16050.
    offset = 16050
    with recorder(tmp_path, clocks) as rec2:
        for b in blocks(0, 800, 4, [200], captured_at=clocks.t):
            rec2.write(
                AudioBlock(
                    b.start_frame, counter(b.start_frame + offset, b.frames, 4), b.captured_at
                )
            )
        assert rec2.frame_offset == offset
    m = read_manifest(rec.directory)
    assert m.started_at == "2025-03-01T01:29:59.968750Z"
    assert [(g.start_frame, g.end_frame, g.reason) for g in m.gaps] == [
        (1000, offset, GapReason.RECORDER_STOPPED)
    ]
    assert [(s.index, s.frames) for s in m.segments] == [(1, 1000), (2, 800)]
    assert m.segments[1].first_frame == offset and len(m.sessions) == 2
    assert m.sessions[1].first_frame == offset
    concatenate(rec.directory, m, 0)
    assert check_recording(rec.directory).sound


def test_recorder_refuses_hearing_recorded_with_other_channels(tmp_path: Path) -> None:
    clocks = Clocks()
    with recorder(tmp_path, clocks) as rec:
        rec.write(blocks(0, 10, 4, [10])[0])
    with pytest.raises(RecordingMismatchError):
        recorder(tmp_path, clocks, roles=["judge"]).open()


def test_recorder_never_overwrites_existing_file(tmp_path: Path) -> None:
    clocks = Clocks()
    hearing = tmp_path / "room-7" / "room-7-20250301T013000Z-abc123"
    hearing.mkdir(parents=True)
    foreign = hearing / "seg000001-ch03-plaintiff.flac"
    foreign.write_bytes(b"not ours")
    rec = recorder(tmp_path, clocks)
    rec.open()
    rec.write(blocks(0, 100, 4, [100])[0])
    with pytest.raises(RecorderFailedError) as caught:
        rec.close()
    assert isinstance(caught.value.__cause__, FileExistsError)
    assert foreign.read_bytes() == b"not ours"
    alarms = rec.take_alarms()
    assert [(a.kind, a.severity, a.active) for a in alarms] == [
        (AlarmKind.WRITER_FAILED, Severity.CRITICAL, True)
    ]
    assert "FileExistsError" in json.dumps(alarms[0].to_json()) or alarms[0].error
    assert rec.state().recording is False and rec.state().error


class StalledDisk(SegmentFiles):
    """Real FLAC files whose writes wait until the test lets the disk go."""

    gate = threading.Event()

    def write(self, pcm: Any) -> None:
        assert self.gate.wait(10)
        super().write(pcm)


def test_recorder_blocks_and_alarms_when_writer_falls_behind(tmp_path: Path) -> None:
    clocks = Clocks()
    StalledDisk.gate = threading.Event()
    rec = recorder(
        tmp_path, clocks, open_files=StalledDisk, max_queue_seconds=0.5, behind_seconds=0.25
    )
    rec.open()
    feed = blocks(0, 8000, 4, [400])  # 1 s of audio in 50 ms blocks
    done = threading.Event()

    def produce() -> None:
        for b in feed:
            rec.write(b)
        done.set()

    producer = threading.Thread(target=produce, name="test-producer")
    producer.start()
    assert not done.wait(0.3)  # blocked on the full queue, nothing dropped
    state = rec.state()
    assert 0.5 <= state.queued_seconds <= 0.55
    raised = rec.take_alarms()
    assert [(a.kind, a.active) for a in raised] == [(AlarmKind.WRITER_BEHIND, True)]
    assert raised[0].queued_seconds is not None and raised[0].queued_seconds > 0.25
    body = raised[0].to_json()
    assert body["source"] == "recorder" and body["severity"] == raised[0].severity.value
    assert body["detail"].endswith("s queued") and body["time"] >= 0
    StalledDisk.gate.set()
    assert done.wait(10)
    producer.join()
    rec.close()
    cleared = rec.take_alarms()
    assert [(a.kind, a.active) for a in cleared] == [(AlarmKind.WRITER_BEHIND, False)]
    m = read_manifest(rec.directory)
    assert m.gaps == () and sum(s.frames or 0 for s in m.segments) == 8000
    concatenate(rec.directory, m, 2)


async def test_recorder_put_waits_without_blocking_event_loop(tmp_path: Path) -> None:
    clocks = Clocks()
    async with recorder(tmp_path, clocks, segment_frames=RATE) as rec:
        for b in blocks(0, 4000, 4, [123]):
            await rec.put(b)
    m = read_manifest(rec.directory)
    assert m.closed and m.segments[0].frames == 4000


def test_recorder_disk_alarm_rises_escalates_and_clears(tmp_path: Path) -> None:
    clocks = Clocks()
    free = [10 << 30]
    rate = RATE * 4 * 2 * 1.02  # worst-case bytes per second for 4 channels
    rec = recorder(
        tmp_path,
        clocks,
        free_space=lambda p: free[0],
        disk=DiskHeadroom(min_free_bytes=0, warn_seconds=3600, critical_seconds=600),
        disk_check_interval=5.0,
    )
    with rec:
        assert rec.take_alarms() == []
        feed = iter(blocks(0, 8000, 4, [100]))
        free[0] = int(rate * 3000)  # 50 minutes left
        rec.write(next(feed))
        assert rec.take_alarms() == []  # probe not due yet
        clocks.t += 5
        rec.write(next(feed))
        (warning,) = rec.take_alarms()
        assert (warning.kind, warning.severity, warning.active) == (
            AlarmKind.DISK_LOW,
            Severity.WARNING,
            True,
        )
        assert warning.free_seconds == pytest.approx(3000, abs=1)
        assert "3000 s free" in warning.to_json()["detail"]
        free[0] = int(rate * 300)
        clocks.t += 5
        rec.write(next(feed))
        (critical,) = rec.take_alarms()
        assert critical.severity is Severity.CRITICAL and critical.active
        assert rec.state().alarms == (critical,)
        free[0] = int(rate * 5000)
        clocks.t += 5
        rec.write(next(feed))
        (cleared,) = rec.take_alarms()
        assert not cleared.active and cleared.kind is AlarmKind.DISK_LOW
        assert rec.state().to_json()["alarms"] == []


def test_disk_headroom_hysteresis_prevents_flapping() -> None:
    rule = DiskHeadroom(min_free_bytes=1000, warn_seconds=10, critical_seconds=5, hysteresis=1.2)
    assert rule.update(free_bytes=990, bytes_per_second=1) is Severity.WARNING
    assert rule.update(free_bytes=1100, bytes_per_second=1) is Severity.WARNING
    assert rule.update(free_bytes=1300, bytes_per_second=1) is None
    assert rule.update(free_bytes=4, bytes_per_second=1) is Severity.CRITICAL
    assert rule.update(free_bytes=5, bytes_per_second=1) is Severity.CRITICAL
    assert rule.update(free_bytes=7, bytes_per_second=1) is Severity.WARNING


def test_recorder_state_to_json_is_plain_json(tmp_path: Path) -> None:
    clocks = Clocks()
    with recorder(tmp_path, clocks) as rec:
        rec.write(blocks(0, 100, 4, [100])[0])
        body = json.loads(json.dumps(rec.state().to_json()))
    assert body["hearing_id"] == "room-7-20250301T013000Z-abc123"
    assert body["recording"] is True and body["free_bytes"] == 1 << 40


def test_recorder_rejects_path_escaping_ids(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        recorder(tmp_path, Clocks(), hearing_id="../etc")
    with pytest.raises(ValueError):
        recorder(tmp_path, Clocks(), courtroom=".hidden")


def test_recorder_refuses_second_recorder_on_same_hearing(tmp_path: Path) -> None:
    clocks = Clocks()
    with recorder(tmp_path, clocks) as rec:
        with pytest.raises(RecordingError, match="another recorder"):
            recorder(tmp_path, clocks, lock_wait=0.2).open()
        rec.write(AudioBlock(0, np.zeros((10, 4), np.int16), clocks.t))
    assert read_manifest(rec.directory).segments[0].frames == 10


def test_recorder_waits_for_lock_held_by_child_process(tmp_path: Path) -> None:
    # A video encoder orphaned by a crashed recorder inherits the hearing lock;
    # the next recorder waits for it to exit instead of recovering under it.
    import subprocess
    import time

    clocks = Clocks()
    first = recorder(tmp_path, clocks)
    first.open()
    fd = first.lock_fd
    assert fd is not None
    child = subprocess.Popen(["sleep", "0.6"], pass_fds=(fd,))
    first._lock.release()  # type: ignore[union-attr]  # the recorder "dies"
    started = time.monotonic()
    second = recorder(tmp_path, clocks, lock_wait=5.0)
    second.open()
    waited = time.monotonic() - started
    second.close()
    child.wait()
    assert 0.3 < waited < 3.0


def test_recorder_reports_each_segment_opening_for_cameras(tmp_path: Path) -> None:
    opened: list[tuple[int, int]] = []
    clocks = Clocks()
    with recorder(tmp_path, clocks, on_segment=lambda i, f: opened.append((i, f))) as rec:
        for b in blocks(0, 1000, 4, [400]) + blocks(1800, 4500, 4, [700]):
            rec.write(b)
    m = read_manifest(rec.directory)
    assert opened == [(s.index, s.first_frame) for s in m.segments]
    assert opened == [(1, 0), (2, 1800), (3, 3000), (4, 6000)]
