"""kill -9 of a recording process: closed segments intact, open one readable, gap declared."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from av.audio import AudioBlock
from av.recording import (
    AudioRecorder,
    GapReason,
    SegmentStatus,
    check_recording,
    main,
    read_flac,
    read_manifest,
)
from av.recording.check import EXIT_INCIDENTS, IncidentKind
from av.recording.manifest import write_manifest
from av.recording.segment_writer import sha256_file
from tests.av.test_recording_signal import blocks, concatenate, counter

REPO = Path(__file__).resolve().parents[2]
RATE = 16000
SEGMENT = 24000  # 1.5 s, so the open segment holds more than a second at the kill
KILL_AT = 44000  # 2.75 s of audio: segment 1 closed, segment 2 open with 1.25 s
ROLES = ["judge", "witness"]

CHILD = f"""
import sys, time
from pathlib import Path
from av.audio import AudioBlock
from av.recording import AudioRecorder
from tests.av.test_recording_signal import counter

rec = AudioRecorder(root=Path(sys.argv[1]), courtroom="room-7", hearing_id="h1",
                    sample_rate={RATE}, roles={ROLES!r}, segment_frames={SEGMENT},
                    sync_interval=0.2)
rec.open()
t0, frame, block = time.monotonic(), 0, 800
while frame < {KILL_AT}:
    # Paced at 8x real time: a capture thread's rhythm, without a long test.
    time.sleep(max(0.0, t0 + (frame + block) / {RATE} / 8 - time.monotonic()))
    rec.write(AudioBlock(frame, counter(frame, block, 2), time.monotonic()))
    frame += block
print(frame, flush=True)
time.sleep(60)  # captured up to KILL_AT, still recording: now kill -9
"""


def _kill_9_when_ready(script: str, root: Path) -> str:
    """Run ``script`` on ``root`` in a child; SIGKILL it after its first line; return the line."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(root)],
        cwd=REPO,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    return line


def _record_and_kill(root: Path) -> None:
    assert _kill_9_when_ready(CHILD, root).strip() == str(KILL_AT)


@pytest.mark.timeout(60)
def test_recording_survives_kill_9_and_resumes_with_declared_gap(tmp_path: Path) -> None:
    _record_and_kill(tmp_path)
    hearing = tmp_path / "room-7" / "h1"
    m = read_manifest(hearing)
    closed, open_ = m.segments
    assert closed.status is SegmentStatus.CLOSED and (closed.first_frame, closed.frames) == (
        0,
        SEGMENT,
    )
    for f in closed.files:  # closed segments intact
        assert sha256_file(hearing / f.name) == f.sha256
    assert open_.status is SegmentStatus.OPEN and open_.frames is None
    as_found = {f.name: sha256_file(hearing / f.name) for f in open_.files}
    for f in open_.files:  # the unfinalised FLAC decodes up to at most 1 s before the kill
        samples, _ = read_flac(hearing / f.name)
        end = SEGMENT + samples.shape[0]
        assert KILL_AT - RATE <= end <= KILL_AT
        expected = counter(SEGMENT, samples.shape[0], 2)[:, f.channel]
        assert (samples[:, 0] == expected).all()

    report = check_recording(hearing)  # a recorder killed and not yet restarted
    assert report.sound, report.problems
    assert any("segment 2: open" in w for w in report.warnings)

    restart = KILL_AT + RATE // 2  # the new process starts capturing half a second later
    with AudioRecorder(
        root=tmp_path,
        courtroom="room-7",
        hearing_id="h1",
        sample_rate=RATE,
        roles=ROLES,
        frame_offset=restart,
    ) as rec:
        for b in blocks(0, 21000, 2, [640]):
            rec.write(AudioBlock(b.start_frame, counter(restart + b.start_frame, b.frames, 2), 0))
    m = read_manifest(hearing)
    interrupted = m.segments[1]
    assert interrupted.status is SegmentStatus.INTERRUPTED
    assert {f.name: f.sha256 for f in interrupted.files} == as_found  # kept as found
    recovered_end = interrupted.first_frame + (interrupted.frames or 0)
    assert KILL_AT - RATE <= recovered_end <= KILL_AT
    assert [(g.start_frame, g.end_frame, g.reason) for g in m.gaps] == [
        (recovered_end, restart, GapReason.RECORDER_INTERRUPTED)
    ]
    assert [(s.index, s.first_frame) for s in m.segments[2:]] == [(3, restart), (4, 3 * SEGMENT)]
    assert [s.first_frame for s in m.sessions] == [0, restart]
    for channel in range(2):
        concatenate(hearing, m, channel)
    report = check_recording(hearing)
    assert report.sound, report.problems
    assert any("segment 2: interrupted" in w for w in report.warnings)
    assert main([str(hearing)]) == 0
    # A crash is an incident, not a lawful interruption: twice, as found and as restarted.
    assert [(i.kind, i.start_frame) for i in report.incidents] == [
        (IncidentKind.SEGMENT_INTERRUPTED, SEGMENT),
        (IncidentKind.RECORDER_INTERRUPTED, recovered_end),
    ]
    assert main([str(hearing), "--strict"]) == EXIT_INCIDENTS


def test_recovery_keeps_segment_whose_files_were_never_created(tmp_path: Path) -> None:
    with AudioRecorder(
        root=tmp_path, courtroom="r", hearing_id="h", sample_rate=RATE, roles=ROLES
    ) as rec:
        for b in blocks(0, 1000, 2, [1000]):
            rec.write(b)
    hearing = rec.directory
    m = read_manifest(hearing)
    # The recorder died after announcing segment 2 in the manifest, before creating it.
    ghost = dataclasses.replace(
        m.segments[0],
        index=2,
        status=SegmentStatus.OPEN,
        first_frame=1000,
        frames=None,
        closed_at=None,
        files=tuple(
            dataclasses.replace(f, name=f"seg000002-ch0{f.channel + 1}.flac", sha256=None)
            for f in m.segments[0].files
        ),
    )
    write_manifest(hearing, dataclasses.replace(m, segments=(*m.segments, ghost), closed=False))
    with AudioRecorder(
        root=tmp_path, courtroom="r", hearing_id="h", sample_rate=RATE, roles=ROLES, frame_offset=0
    ) as rec:
        for b in blocks(1500, 500, 2, [500]):
            rec.write(b)
    m = read_manifest(hearing)
    assert m.segments[1].status is SegmentStatus.INTERRUPTED and m.segments[1].frames == 0
    assert [(g.start_frame, g.end_frame) for g in m.gaps] == [(1000, 1500)]
    report = check_recording(hearing)
    assert report.sound, report.problems


BURST_FROM = 36000  # 2.25 s: segment 1 closed, segment 2 open with 0.75 s written
BUSY_CHILD = f"""
import sys, time
from pathlib import Path
from av.audio import AudioBlock
from av.recording import AudioRecorder
from av.recording.segment_writer import SegmentFiles
from tests.av.test_recording_signal import counter

class BusyDisk(SegmentFiles):
    # A disk that turns slow: 0.1 s per 50 ms block, so the writer falls behind.
    slow = False

    def write(self, pcm):
        if BusyDisk.slow:
            time.sleep(0.1)
        super().write(pcm)

rec = AudioRecorder(root=Path(sys.argv[1]), courtroom="room-7", hearing_id="h1",
                    sample_rate={RATE}, roles={ROLES!r}, segment_frames={SEGMENT},
                    sync_interval=0.2, open_files=BusyDisk)
rec.open()
t0, frame, block = time.monotonic(), 0, 800
while frame < {KILL_AT}:
    if frame < {BURST_FROM}:  # 8x real time, the writer keeping up
        time.sleep(max(0.0, t0 + (frame + block) / {RATE} / 8 - time.monotonic()))
    else:  # the last 0.5 s arrive while the disk is slow: they queue
        BusyDisk.slow = True
    rec.write(AudioBlock(frame, counter(frame, block, 2), time.monotonic()))
    frame += block
state = rec.state()
print(frame, state.queued_seconds, [a.kind.value for a in state.alarms], flush=True)
time.sleep(60)  # the writer is still busy with the queue: now kill -9
"""


@pytest.mark.timeout(60)
def test_recording_killed_with_audio_queued_loses_at_most_last_second(tmp_path: Path) -> None:
    frame, queued, alarms = _kill_9_when_ready(BUSY_CHILD, tmp_path).split(" ", 2)
    assert int(frame) == KILL_AT
    # Killed while actively writing: audio was waiting, under the 1 s behind-alarm.
    assert 0 < float(queued) < 1.0 and "writer_behind" not in alarms, (queued, alarms)

    hearing = tmp_path / "room-7" / "h1"
    m = read_manifest(hearing)
    closed, open_ = m.segments
    assert closed.status is SegmentStatus.CLOSED and closed.frames == SEGMENT
    for f in closed.files:  # closed segments intact
        assert sha256_file(hearing / f.name) == f.sha256
    assert open_.status is SegmentStatus.OPEN
    for f in open_.files:
        samples, _ = read_flac(hearing / f.name)
        end = SEGMENT + samples.shape[0]
        # Readable up to at most the last second before the kill; and the queue
        # was really lost with the process (the file does not hold it all).
        assert KILL_AT - RATE <= end < KILL_AT, end
        assert (samples[:, 0] == counter(SEGMENT, samples.shape[0], 2)[:, f.channel]).all()
    report = check_recording(hearing)
    assert report.sound, report.problems
    with AudioRecorder(
        root=tmp_path, courtroom="room-7", hearing_id="h1", sample_rate=RATE, roles=ROLES
    ):
        pass
    m = read_manifest(hearing)
    interrupted = m.segments[1]
    assert interrupted.status is SegmentStatus.INTERRUPTED
    assert KILL_AT - RATE <= interrupted.first_frame + (interrupted.frames or 0) < KILL_AT
    report = check_recording(hearing)
    assert report.sound, report.problems
