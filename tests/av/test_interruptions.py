"""The court's reason-coded interruptions of a hearing's recording (SPC rule).

Real recorder, real FLAC files in a temporary directory, and one real
``kill -9`` of a recording process during a recess.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from av.audio import AudioBlock, CaptureClock
from av.recording import (
    INTERRUPTION_REASONS,
    AudioRecorder,
    GapReason,
    Interruption,
    InterruptionReason,
    InterruptionStateError,
    ManifestError,
    check_recording,
    main,
    read_manifest,
)
from av.recording.check import EXIT_INCIDENTS, EXIT_PROBLEMS, EXIT_SOUND, IncidentKind
from av.recording.manifest import MANIFEST_NAME, iso_utc
from av.recording.manifest_types import INTERRUPTION_LABELS
from courtroom_agent.config import CameraConfig
from courtroom_agent.hearing_recording import HearingRecording, OpenInterruption
from tests.av.test_recording_signal import blocks, concatenate
from tests.hub.conftest import TIMEOUT

REPO = Path(__file__).resolve().parents[2]
RATE = 8000
ROLES = ["judge", "clerk"]
T0 = datetime(2026, 12, 4, 1, 30, tzinfo=UTC)
CLERK = "书记员 王芳"
JUDGE = "审判长 李明"


def hearing_recording(root: Path) -> HearingRecording:
    """Hearing ``h1`` of courtroom ``r1``: two seats, 1-s segments (8000 frames)."""
    return HearingRecording(
        root=root,
        courtroom="r1",
        hearing_id="h1",
        sample_rate=RATE,
        roles=ROLES,
        segment_seconds=1.0,
        free_space=lambda p: 1 << 40,
    )


async def put_signal(rec: HearingRecording, start: int, frames: int, *, source: int = 0) -> None:
    """Put the counter signal of hearing frames ``[start, start+frames)`` in 800-frame blocks.

    ``source`` is the hearing frame of the source's frame 0 (the recorder's origin).
    """
    for b in blocks(start, frames, len(ROLES), [800]):
        await rec.put(AudioBlock(b.start_frame - source, b.pcm, time.monotonic()))


def recorder(root: Path, **kw: Any) -> AudioRecorder:
    options: dict[str, Any] = {
        "root": root,
        "courtroom": "r1",
        "hearing_id": "h1",
        "sample_rate": RATE,
        "roles": ROLES,
        "segment_frames": 8000,
        "free_space": lambda p: 1 << 40,
    }
    return AudioRecorder(**(options | kw))


def write(rec: AudioRecorder, start: int, frames: int) -> None:
    for b in blocks(start, frames, len(ROLES), [800]):
        rec.write(AudioBlock(b.start_frame, b.pcm, time.monotonic()))


@pytest.mark.parametrize("reason", INTERRUPTION_REASONS)
async def test_interruption_then_resume_is_lawful_and_listed(
    tmp_path: Path, reason: InterruptionReason, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = hearing_recording(tmp_path)
    await rec.open()
    await rec.start(origin_frame=0, epoch=T0, hearing_clock=lambda: 0.0)
    await put_signal(rec, 0, 6000)
    ordered = T0 + timedelta(seconds=0.75)
    await rec.interrupt(reason=reason, ordered_by=CLERK, at=0.75, utc=ordered)

    # On disk at once: the segment closed where the court stopped it, the interruption open.
    m = read_manifest(rec.directory)
    assert [(s.first_frame, s.frames, s.status.value) for s in m.segments] == [(0, 6000, "closed")]
    assert m.interruptions == (Interruption(reason.value, 6000, CLERK, iso_utc(ordered)),)
    assert rec.interrupted == OpenInterruption(reason.value, 0.75, 6000, CLERK, ordered)
    with pytest.raises(InterruptionStateError, match="interrupted"):
        await put_signal(rec, 6000, 800)
    assert read_manifest(rec.directory).segments == m.segments  # nothing recorded

    resumed = T0 + timedelta(seconds=2)
    await rec.resume(at=2.0, ordered_by=JUDGE, utc=resumed)
    assert rec.interrupted is None
    await put_signal(rec, 16000, 4000)
    await rec.close(end=2.5)

    m = read_manifest(rec.directory)
    assert [(s.index, s.first_frame, s.frames) for s in m.segments] == [
        (1, 0, 6000),
        (2, 16000, 4000),
    ]
    assert m.gaps == () and m.closed
    assert m.interruptions == (
        Interruption(reason.value, 6000, CLERK, iso_utc(ordered), 16000, JUDGE, iso_utc(resumed)),
    )
    for channel in range(len(ROLES)):  # bit-exact on the hearing clock around the interruption
        assert concatenate(rec.directory, m, channel) == {0: 6000, 16000: 4000}
    raw = json.loads((rec.directory / MANIFEST_NAME).read_text())
    assert raw["version"] == 2
    assert raw["interruptions"] == [
        {
            "reason": reason.value,
            "start_frame": 6000,
            "end_frame": 16000,
            "ordered_by": CLERK,
            "resumed_by": JUDGE,
            "started_at": iso_utc(ordered),
            "ended_at": iso_utc(resumed),
        }
    ]

    report = check_recording(rec.directory)
    assert report.sound and report.continuous, report.problems
    assert report.incidents == [] and report.warnings == []
    assert report.interruption_frames == 10000 and report.recorded_frames == 10000
    assert main([str(rec.directory), "--strict"]) == EXIT_SOUND
    out = capsys.readouterr().out
    assert f"{INTERRUPTION_LABELS[reason]}: 0.8 s – 2.0 s" in out and CLERK in out and JUDGE in out
    assert "1 interruption(s) (1.2 s), 0 incident(s)" in out
    assert main([str(rec.directory), "--json"]) == EXIT_SOUND
    listed = json.loads(capsys.readouterr().out)
    assert listed["incidents"] == [] and listed["continuous"] is True
    assert listed["interruptions"][0] | {"label": None} == {
        "reason": reason.value,
        "label": None,
        "lawful": True,
        "start_frame": 6000,
        "end_frame": 16000,
        "start": 0.75,
        "end": 2.0,
        "ordered_by": CLERK,
        "resumed_by": JUDGE,
        "started_at": iso_utc(ordered),
        "ended_at": iso_utc(resumed),
    }


async def test_accepts_audio_follows_the_order_at_once(tmp_path: Path) -> None:
    """The agent checks accepts_audio before each put: it changes when the order is given,
    before the interrupt or resume (which waits for a put in flight) has finished."""
    rec = hearing_recording(tmp_path)
    await rec.open()
    await rec.start(origin_frame=0, epoch=T0, hearing_clock=lambda: 0.0)
    assert rec.accepts_audio
    await put_signal(rec, 0, 800)
    interrupting = asyncio.create_task(
        rec.interrupt(reason="recess", ordered_by=CLERK, at=0.1, utc=T0)
    )
    await asyncio.sleep(0)  # the order is given; its manifest write is under way
    assert not rec.accepts_audio
    with pytest.raises(InterruptionStateError):  # a put anyway waits for it, then is refused
        await put_signal(rec, 800, 800)
    assert interrupting.done() and rec.interrupted is not None
    resuming = asyncio.create_task(rec.resume(at=0.5, ordered_by=JUDGE, utc=T0))
    await asyncio.sleep(0)
    assert rec.accepts_audio and not resuming.done()
    await put_signal(rec, 4000, 800)  # waits for the resume, then is recorded
    assert resuming.done()
    with pytest.raises(ValueError, match="not one of"):
        await rec.interrupt(reason="lunch", ordered_by=CLERK, at=1.0, utc=T0)
    assert rec.accepts_audio  # a refused order changes nothing
    await rec.close(end=0.6)
    m = read_manifest(rec.directory)
    assert [(s.first_frame, s.frames) for s in m.segments] == [(0, 800), (4000, 800)]
    assert check_recording(rec.directory).continuous


def test_interrupt_and_resume_refuse_what_the_state_or_the_rule_forbids(tmp_path: Path) -> None:
    with recorder(tmp_path) as rec:
        write(rec, 0, 1600)
        for bad, message in [
            ({"reason": "lunch"}, "'lunch' is not one of"),
            ({"ordered_by": ""}, "ordered_by"),
            ({"ordered_by": "x" * 201}, "ordered_by"),
            ({"utc": datetime(2026, 12, 4, 9, 30)}, "no timezone"),
            ({"frame": -1}, "negative"),
        ]:
            options: dict[str, Any] = {
                "reason": "recess",
                "ordered_by": CLERK,
                "frame": 1600,
                "utc": T0,
            }
            with pytest.raises(ValueError, match=message):
                rec.interrupt(**(options | bad))
        with pytest.raises(InterruptionStateError, match="not interrupted"):
            rec.resume(frame=1600, resumed_by=JUDGE, utc=T0)
        assert rec.interruption is None
        write(rec, 1600, 800)  # still recording: nothing changed

        rec.interrupt(reason="closed-evidence", ordered_by=CLERK, frame=2400, utc=T0)
        state = rec.state()
        assert state.interrupted == "closed-evidence" and state.recording
        assert state.to_json()["interrupted"] == "closed-evidence"
        with pytest.raises(InterruptionStateError, match="already interrupted"):
            rec.interrupt(reason="recess", ordered_by=CLERK, frame=3000, utc=T0)
        with pytest.raises(ValueError, match="before the interruption"):
            rec.resume(frame=2000, resumed_by=JUDGE, utc=T0)
        with pytest.raises(ValueError, match="resumed_by"):
            rec.resume(frame=3000, resumed_by="", utc=T0)
        with pytest.raises(InterruptionStateError, match="interrupted since hearing frame 2400"):
            write(rec, 2400, 800)
        assert rec.interruption is not None and rec.interruption.reason == "closed-evidence"
        rec.resume(frame=4000, resumed_by=JUDGE, utc=T0)
        assert rec.state().interrupted is None
        write(rec, 4000, 800)
    m = read_manifest(rec.directory)
    assert [(i.reason, i.start_frame, i.end_frame) for i in m.interruptions] == [
        ("closed-evidence", 2400, 4000)
    ]
    assert [(s.first_frame, s.frames) for s in m.segments] == [(0, 2400), (4000, 800)]
    assert check_recording(rec.directory).continuous


def test_audio_around_the_interruption_is_never_cut_nor_invented(tmp_path: Path) -> None:
    """Audio already put past the order is kept; a block straddling the resume is trimmed;
    frames due before the order but never delivered are a capture incident."""
    with recorder(tmp_path) as rec:
        write(rec, 0, 2400)
        # Ordered at 2000 while audio up to 2400 was already recorded: kept.
        first = rec.interrupt(reason="recess", ordered_by=CLERK, frame=2000, utc=T0)
        assert first.start_frame == 2400
        rec.resume(frame=5000, resumed_by=JUDGE, utc=T0)
        write(rec, 4800, 1600)  # its first 200 frames were captured during the recess
        # Ordered at 8000 but audio stopped at 6400: [6400, 8000) was lost, not interrupted.
        second = rec.interrupt(reason="mediation", ordered_by=JUDGE, frame=8000, utc=T0)
        assert second.start_frame == 8000
        rec.resume(frame=9000, resumed_by=JUDGE, utc=T0)
        write(rec, 9600, 800)  # the first block after the resume comes late: a capture gap
    m = read_manifest(rec.directory)
    assert [(s.first_frame, s.frames) for s in m.segments] == [(0, 2400), (5000, 1400), (9600, 800)]
    for channel in range(len(ROLES)):
        concatenate(rec.directory, m, channel)
    assert [(g.start_frame, g.end_frame, g.reason) for g in m.gaps] == [
        (6400, 8000, GapReason.CAPTURE),
        (9000, 9600, GapReason.CAPTURE),
    ]
    report = check_recording(rec.directory)
    assert report.sound and not report.continuous, report.problems
    assert [(i.kind, i.start_frame, i.end_frame) for i in report.incidents] == [
        (IncidentKind.CAPTURE, 6400, 8000),
        (IncidentKind.CAPTURE, 9000, 9600),
    ]
    assert [(i.reason, i.start_frame, i.end_frame) for i in report.interruptions] == [
        ("recess", 2400, 5000),
        ("mediation", 8000, 9000),
    ]


def test_capture_gap_and_crash_are_incidents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with recorder(tmp_path) as rec:
        write(rec, 0, 1600)
        write(rec, 2400, 800)  # the source lost [1600, 2400)
    report = check_recording(rec.directory)
    assert report.sound and not report.continuous
    assert [(i.kind, i.start_frame, i.end_frame) for i in report.incidents] == [
        (IncidentKind.CAPTURE, 1600, 2400)
    ]
    assert main([str(rec.directory)]) == EXIT_SOUND  # as before: sound
    out = capsys.readouterr().out
    assert "事故 / incident: 采集丢帧 · capture loss: 0.2 s – 0.3 s" in out
    assert "sound, with incidents" in out
    assert main([str(rec.directory), "--strict"]) == EXIT_INCIDENTS
    capsys.readouterr()
    assert main([str(rec.directory), "--strict", "--json"]) == EXIT_INCIDENTS
    listed = json.loads(capsys.readouterr().out)
    assert listed["continuous"] is False and listed["interruptions"] == []
    assert listed["incidents"] == [
        {
            "kind": "capture",
            "label": "采集丢帧 · capture loss",
            "start_frame": 1600,
            "end_frame": 2400,
            "start": 0.2,
            "end": 0.3,
            "detail": "gap (capture)",
        }
    ]

    # A restart after the recorder stopped without a reason code is an incident too.
    with recorder(tmp_path, frame_offset=4000) as rec:
        write(rec, 0, 800)
    kinds = [i.kind for i in check_recording(rec.directory).incidents]
    assert kinds == [IncidentKind.CAPTURE, IncidentKind.RECORDER_STOPPED]


def _edit(hearing: Path, edit: Any) -> None:
    path = hearing / MANIFEST_NAME
    path.chmod(0o644)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, ensure_ascii=False))


def test_unlisted_reason_and_unexplained_hole_are_incidents(tmp_path: Path) -> None:
    with recorder(tmp_path) as rec:
        write(rec, 0, 800)
        rec.interrupt(reason="recess", ordered_by=CLERK, frame=800, utc=T0)
        rec.resume(frame=1600, resumed_by=JUDGE, utc=T0)
        write(rec, 1600, 800)
    _edit(rec.directory, lambda d: d["interruptions"][0].update(reason="lunch"))
    report = check_recording(rec.directory)
    assert report.sound  # the files are intact and the span declared
    assert [(i.kind, i.start_frame, i.end_frame) for i in report.incidents] == [
        (IncidentKind.UNLAWFUL_INTERRUPTION, 800, 1600)
    ]
    assert "'lunch' is not one of" in report.incidents[0].detail
    assert main([str(rec.directory), "--strict"]) == EXIT_INCIDENTS

    _edit(rec.directory, lambda d: d.update(interruptions=[]))  # now a hole nobody declared
    report = check_recording(rec.directory)
    assert not report.sound and any("neither recorded nor declared" in p for p in report.problems)
    assert [(i.kind, i.start_frame, i.end_frame) for i in report.incidents] == [
        (IncidentKind.UNEXPLAINED, 800, 1600)
    ]
    assert main([str(rec.directory), "--strict"]) == EXIT_PROBLEMS


def test_interruption_still_open_in_a_closed_manifest_is_lawful(tmp_path: Path) -> None:
    """The hearing closed during a recess: the interruption lasts to the end of the recording;
    a recorder opened on it later comes back interrupted."""
    with recorder(tmp_path) as rec:
        write(rec, 0, 800)
        rec.interrupt(reason="recess", ordered_by=CLERK, frame=800, utc=T0)
    m = read_manifest(rec.directory)
    assert m.closed and m.open_interruption is not None
    report = check_recording(rec.directory)
    assert report.continuous, (report.problems, report.incidents)
    with recorder(tmp_path, frame_offset=0) as rec:
        assert rec.interruption == m.open_interruption
        rec.resume(frame=4000, resumed_by=JUDGE, utc=T0)
        write(rec, 3200, 1600)  # its first half was captured during the recess
    m = read_manifest(rec.directory)
    assert [(s.first_frame, s.frames) for s in m.segments] == [(0, 800), (4000, 800)]
    assert m.gaps == () and [(i.start_frame, i.end_frame) for i in m.interruptions] == [(800, 4000)]
    assert check_recording(rec.directory).continuous

    # Something recorded inside an interruption contradicts it.
    def overlap(d: dict[str, Any]) -> None:
        d["interruptions"][0]["end_frame"] = 4400

    _edit(rec.directory, overlap)
    assert any("overlaps" in p for p in check_recording(rec.directory).problems)


CHILD = f"""
import asyncio, sys, time
from datetime import UTC, datetime
from pathlib import Path
from av.audio import AudioBlock
from courtroom_agent.config import CameraConfig
from courtroom_agent.hearing_recording import HearingRecording
from tests.av.test_recording_signal import counter

async def main() -> None:
    rec = HearingRecording(root=Path(sys.argv[1]), courtroom="r1", hearing_id="h1",
                           sample_rate={RATE}, roles={ROLES!r}, segment_seconds=1.0)
    await rec.open()
    await rec.start(origin_frame=0, epoch=datetime.now(UTC), hearing_clock=lambda: 0.0)
    for frame in range(0, 12000, 800):
        await rec.put(AudioBlock(frame, counter(frame, 800, 2), time.monotonic()))
    await rec.interrupt(reason="mediation", ordered_by={JUDGE!r}, at=1.5,
                        utc=datetime(2026, 12, 4, 1, 31, tzinfo=UTC))
    print("interrupted", flush=True)
    await asyncio.sleep(60)  # in mediation: now kill -9

asyncio.run(main())
"""


@pytest.mark.timeout(60)
async def test_agent_killed_during_recess_comes_back_interrupted(tmp_path: Path) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(tmp_path),
        cwd=REPO,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        async with asyncio.timeout(12 * TIMEOUT):
            assert (await child.stdout.readline()).strip() == b"interrupted"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.returncode is None:
            child.kill()
        async with asyncio.timeout(2 * TIMEOUT):
            await child.wait()
    assert child.returncode == -signal.SIGKILL
    hearing = tmp_path / "r1" / "h1"
    killed = read_manifest(hearing)
    assert not killed.closed and killed.open_interruption is not None
    assert (killed.open_interruption.reason, killed.open_interruption.start_frame) == (
        "mediation",
        12000,
    )
    report = check_recording(hearing)  # killed in mediation: no incident
    assert report.continuous, (report.problems, report.incidents, report.warnings)

    rec = hearing_recording(tmp_path)
    await rec.open()
    assert rec.interrupted == OpenInterruption(
        "mediation", 1.5, 12000, JUDGE, datetime(2026, 12, 4, 1, 31, tzinfo=UTC)
    )
    origin = 40000  # the restarted agent's source frame 0 is at hearing second 5
    assert rec.resume_frame == 12000 <= origin
    await rec.start(origin_frame=origin, epoch=T0, hearing_clock=lambda: 5.0)
    with pytest.raises(InterruptionStateError, match="mediation"):
        await put_signal(rec, origin, 800, source=origin)
    await rec.resume(at=5.0, ordered_by=JUDGE, utc=T0 + timedelta(seconds=5))
    await put_signal(rec, origin, 2400, source=origin)
    await rec.close(end=5.3)

    m = read_manifest(hearing)
    assert [(s.first_frame, s.frames) for s in m.segments] == [
        (0, 8000),
        (8000, 4000),
        (40000, 2400),
    ]
    assert m.gaps == ()
    assert [(i.reason, i.start_frame, i.end_frame, i.resumed_by) for i in m.interruptions] == [
        ("mediation", 12000, 40000, JUDGE)
    ]
    assert [s.first_frame for s in m.sessions] == [0, 40000]
    for channel in range(len(ROLES)):
        concatenate(hearing, m, channel)
    report = check_recording(hearing)
    assert report.continuous, (report.problems, report.incidents)
    assert report.warnings == []


def test_version_1_manifest_without_interruptions_loads_and_continues(tmp_path: Path) -> None:
    with recorder(tmp_path) as rec:
        write(rec, 0, 1600)

    def as_version_1(d: dict[str, Any]) -> None:
        d["version"] = 1
        del d["interruptions"]

    _edit(rec.directory, as_version_1)
    m = read_manifest(rec.directory)
    assert m.interruptions == () and m.open_interruption is None
    assert check_recording(rec.directory).continuous
    with recorder(tmp_path) as rec:
        assert rec.interruption is None
        write(rec, 1600, 800)
        rec.interrupt(reason="recess", ordered_by=CLERK, frame=2400, utc=T0)
    raw = json.loads((rec.directory / MANIFEST_NAME).read_text())
    assert raw["version"] == 2 and [i["reason"] for i in raw["interruptions"]] == ["recess"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda i: i.pop("ordered_by"), "interruptions[0].ordered_by is missing"),
        (lambda i: i.update(start_frame=-1), "interruptions[0].start_frame must be at least 0"),
        (lambda i: i.update(end_frame=10), "interruptions[0]: end_frame 10 is before start_frame"),
        (lambda i: i.update(reason=3), "interruptions[0].reason must be of type str"),
        (lambda i: i.update(ended_at="soon"), "interruptions[0].ended_at is not an ISO-8601"),
        (
            lambda i: i.update(resumed_by=None),
            "interruptions[0]: end_frame, resumed_by and ended_at",
        ),
        (lambda i: i.update(ordered_by=""), "interruptions[0]: ordered_by '' must be"),
    ],
)
def test_manifest_names_the_bad_interruption_field(tmp_path: Path, edit: Any, message: str) -> None:
    with recorder(tmp_path) as rec:
        write(rec, 0, 800)
        rec.interrupt(reason="recess", ordered_by=CLERK, frame=800, utc=T0)
        rec.resume(frame=1600, resumed_by=JUDGE, utc=T0)
    _edit(rec.directory, lambda d: edit(d["interruptions"][0]))
    with pytest.raises(ManifestError) as caught:
        read_manifest(rec.directory)
    assert message in str(caught.value)
    report = check_recording(rec.directory)
    assert not report.sound and message in report.problems[0]


def test_manifest_refuses_an_interruption_after_one_still_open(tmp_path: Path) -> None:
    with recorder(tmp_path) as rec:
        write(rec, 0, 800)
        rec.interrupt(reason="recess", ordered_by=CLERK, frame=800, utc=T0)

    def twice(d: dict[str, Any]) -> None:
        d["interruptions"].append(dict(d["interruptions"][0], start_frame=900))

    _edit(rec.directory, twice)
    with pytest.raises(ManifestError, match=r"interruptions\[1\] follows an interruption"):
        read_manifest(rec.directory)


async def test_cameras_stop_with_the_audio_and_start_again_after_the_resume(
    tmp_path: Path, camera_video_file: Path
) -> None:
    """A real camera (a looped file through the real encoder) beside the audio: its segment
    closes at the interruption, and it records again from the first segment after it."""
    rate, block = 16000, 1600  # 0.1-s blocks, fed at real pace: the camera runs on real time
    clock = CaptureClock(rate)
    rec = HearingRecording(
        root=tmp_path,
        courtroom="r1",
        hearing_id="h1",
        sample_rate=rate,
        roles=["审判长"],
        cameras=[CameraConfig(id="CAM-1", source=str(camera_video_file), fps=10, loop=True)],
        segment_seconds=1.0,
        free_space=lambda p: 1 << 40,
    )
    await rec.open()
    await rec.start(origin_frame=0, epoch=datetime.now(UTC), hearing_clock=clock.now)
    frame = 0

    async def capture(seconds: float, *, record: bool) -> None:
        nonlocal frame
        for _ in range(round(seconds * 10)):
            audio = AudioBlock(frame, np.zeros((block, 1), np.int16), time.monotonic())
            clock.advance(audio)
            if record:
                await rec.put(audio)
            frame += block
            await asyncio.sleep(0.1)

    await capture(1.5, record=True)
    await rec.interrupt(reason="recess", ordered_by=CLERK, at=clock.captured, utc=datetime.now(UTC))
    assert rec.cameras is None  # stopped: no picture is recorded in recess
    await capture(0.5, record=False)  # the agent keeps capturing for the meters
    await rec.resume(at=clock.captured, ordered_by=JUDGE, utc=datetime.now(UTC))
    assert rec.cameras is not None
    await capture(1.5, record=True)
    await rec.close(end=clock.captured)

    m = read_manifest(rec.directory)
    assert [(s.index, s.first_frame, s.frames) for s in m.segments] == [
        (1, 0, 16000),
        (2, 16000, 8000),
        (3, 32000, 16000),
        (4, 48000, 8000),
    ]
    (stop,) = m.interruptions
    assert (stop.start_frame, stop.end_frame) == (24000, 32000)
    video = [(v.index, v.status.value) for v in m.video_segments]
    assert video == [(1, "closed"), (2, "closed"), (3, "closed"), (4, "closed")], video
    for v in m.video_segments:  # no picture inside the interruption
        assert v.end is not None and (v.end <= 1.5 + 0.1 or v.start >= 2.0), v
    report = check_recording(rec.directory)
    assert report.sound and report.continuous, (report.problems, report.incidents)
