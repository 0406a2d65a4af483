"""Markers in the recording manifest (举证: exhibits presented and withdrawn, issue 13 §2.3):
round trip across a real recording with an interruption, hostile manifests refused naming
the field, version 2 still read, ``av check`` listing them, a marker that cannot be written
leaving the recording intact, and ``kill -9`` while markers are being written.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from av.recording import (
    Marker,
    MarkerError,
    RecorderClosedError,
    SegmentStatus,
    check_recording,
    main,
    read_manifest,
    writer_thread,
)
from av.recording import manifest as manifest_module
from av.recording.check import EXIT_SOUND
from av.recording.errors import ManifestError
from av.recording.manifest import MANIFEST_NAME, Manifest, iso_utc, write_manifest
from av.recording.markers import MAX_FRAME, MAX_MARKERS
from tests.av.test_interruptions import (
    CLERK,
    JUDGE,
    RATE,
    ROLES,
    T0,
    _edit,
    hearing_recording,
    put_signal,
    recorder,
    write,
)
from tests.av.test_recording_signal import concatenate
from tests.hub.conftest import TIMEOUT

REPO = Path(__file__).resolve().parents[2]
PRESENTED = "evidence.presented"
WITHDRAWN = "evidence.withdrawn"
TITLE = "证据一：借款合同（第3页）"


async def test_markers_round_trip_across_an_interruption(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Marks before, during and after a closed-evidence interruption land in frame order,
    on disk before each call returns, and the audio around them is untouched."""
    rec = hearing_recording(tmp_path)
    await rec.open()
    await rec.start(origin_frame=0, epoch=T0, hearing_clock=lambda: 0.0)
    await put_signal(rec, 0, 6000)
    shown = await rec.mark(
        kind=PRESENTED, at=0.5, utc=T0 + timedelta(seconds=0.5), label=TITLE, by=CLERK, ref="E1"
    )
    assert shown == Marker(
        PRESENTED, 4000, iso_utc(T0 + timedelta(seconds=0.5)), TITLE, CLERK, "E1"
    )
    assert read_manifest(rec.directory).markers == (shown,)  # on disk at once

    await rec.interrupt(reason="closed-evidence", ordered_by=JUDGE, at=0.75, utc=T0)
    during = await rec.mark(kind=WITHDRAWN, at=1.0, utc=T0, by=CLERK, ref="E1")
    await rec.resume(at=2.0, ordered_by=JUDGE, utc=T0 + timedelta(seconds=2))
    await put_signal(rec, 16000, 4000)
    again = await rec.mark(kind=PRESENTED, at=2.25, utc=T0, label="证据二", by=JUDGE, ref="E2")
    late = await rec.mark(kind="note.late", at=0.1, utc=T0, label="补记", by=CLERK)  # out of order
    await rec.close(end=2.5)

    m = read_manifest(rec.directory)
    assert m.markers == (late, shown, during, again)
    assert [k.frame for k in m.markers] == [800, 4000, 8000, 18000]
    assert [(s.first_frame, s.frames) for s in m.segments] == [(0, 6000), (16000, 4000)]
    for channel in range(len(ROLES)):  # bit-exact: markers never touch the audio
        assert concatenate(rec.directory, m, channel) == {0: 6000, 16000: 4000}
    raw = json.loads((rec.directory / MANIFEST_NAME).read_text())
    assert raw["version"] == 3
    assert raw["markers"][1] == {
        "kind": PRESENTED,
        "frame": 4000,
        "utc": "2026-12-04T01:30:00.500000Z",
        "label": TITLE,
        "by": CLERK,
        "ref": "E1",
    }

    report = check_recording(rec.directory)
    assert report.continuous and report.warnings == [], (report.problems, report.warnings)
    assert report.markers == list(m.markers) and report.span == (0, 20000)
    assert main([str(rec.directory), "--strict"]) == EXIT_SOUND
    assert "0 incident(s), 0 video segments, 4 marker(s)" in capsys.readouterr().out
    assert main([str(rec.directory), "--json"]) == EXIT_SOUND
    listed = json.loads(capsys.readouterr().out)
    assert [k["ref"] for k in listed["markers"]] == ["", "E1", "E1", "E2"]
    assert listed["markers"][1] == raw["markers"][1] | {
        "kind_label": "举证 · exhibit presented",
        "time": 0.5,
        "within_recording": True,
    }
    assert listed["markers"][0]["kind_label"] == "note.late"  # not ours: shown as the code


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"kind": "Evidence"}, "kind 'Evidence' is not a dotted lowercase code"),
        ({"kind": "e" * 65}, f"kind '{'e' * 64}…' is not a dotted lowercase code of at most 64"),
        ({"frame": -1}, "frame -1 is not between 0 and"),
        ({"frame": MAX_FRAME + 1}, f"frame {MAX_FRAME + 1} is not between"),
        ({"label": "x" * 501}, "label has 501 characters, more than 500"),
        ({"label": "a\nb"}, "label holds a control character"),
        ({"by": "人" * 201}, "by has 201 characters, more than 200"),
        ({"ref": "E1\x00"}, "ref holds a control character"),
        ({"utc": datetime(2026, 12, 4, 1, 30)}, "utc 2026-12-04T01:30:00 has no timezone"),
        ({"frame": 400.0}, "frame 400.0 must be an integer"),
        ({"frame": True}, "frame True must be an integer"),
        ({"label": None}, "label must be a string"),
        ({"ref": 7}, "ref must be a string"),
    ],
)
def test_mark_refuses_a_bad_field_and_changes_nothing(
    tmp_path: Path, kw: dict[str, Any], message: str
) -> None:
    with recorder(tmp_path) as rec:
        write(rec, 0, 800)
        good: dict[str, Any] = {"kind": PRESENTED, "frame": 400, "utc": T0, "ref": "E1"}
        with pytest.raises(ValueError) as caught:
            rec.mark(**(good | kw))
        assert str(caught.value).startswith(message)
        rec.mark(**good)
        write(rec, 800, 800)
    assert [k.frame for k in read_manifest(rec.directory).markers] == [400]


def test_mark_refuses_before_audio_when_full_and_after_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_thread, "MAX_MARKERS", 2)
    with recorder(tmp_path) as rec:
        with pytest.raises(MarkerError, match="nothing has been recorded yet"):
            rec.mark(kind=PRESENTED, frame=0, utc=T0)
        write(rec, 0, 800)
        for frame in (100, 200):
            rec.mark(kind=PRESENTED, frame=frame, utc=T0)
        with pytest.raises(MarkerError, match="already holds 2 markers"):
            rec.mark(kind=WITHDRAWN, frame=300, utc=T0)
        write(rec, 800, 8000)  # the recording goes on past a segment boundary
    with pytest.raises(RecorderClosedError):
        rec.mark(kind=PRESENTED, frame=0, utc=T0)
    m = read_manifest(rec.directory)
    assert [k.frame for k in m.markers] == [100, 200]
    assert [(s.first_frame, s.frames) for s in m.segments] == [(0, 8000), (8000, 800)]
    assert check_recording(rec.directory).continuous


def test_marker_that_cannot_be_written_leaves_the_recording_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk refuses the manifest holding the marker (ENOSPC): the caller gets a
    MarkerError, the previous manifest stays, and the audio is recorded on."""
    real = writer_thread.write_manifest
    refuse = [True]

    def full_disk(directory: Path, manifest: Manifest) -> None:
        if manifest.markers and refuse[0]:
            refuse[0] = False
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(directory, manifest)

    monkeypatch.setattr(writer_thread, "write_manifest", full_disk)
    with recorder(tmp_path) as rec:
        write(rec, 0, 4000)
        with pytest.raises(MarkerError, match="not written: No space left") as caught:
            rec.mark(kind=PRESENTED, frame=2000, utc=T0, ref="E1")
        assert isinstance(caught.value.__cause__, OSError)
        assert rec.markers == () and rec.state().error is None
        write(rec, 4000, 8000)
        rec.mark(kind=PRESENTED, frame=2000, utc=T0, ref="E1")  # the retry is listed
    m = read_manifest(rec.directory)
    assert [(k.frame, k.ref) for k in m.markers] == [(2000, "E1")]
    assert [(s.first_frame, s.frames, s.status) for s in m.segments] == [
        (0, 8000, SegmentStatus.CLOSED),
        (8000, 4000, SegmentStatus.CLOSED),
    ]
    assert check_recording(rec.directory).continuous


def test_a_burst_of_markers_costs_one_manifest_write_and_never_holds_up_the_audio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a marker's manifest write hangs (slow disk), audio is still taken, and the
    markers queued meanwhile are listed, in frame order, with one write."""
    real = writer_thread.write_manifest
    counts: list[int] = []  # markers in each manifest written
    entered, release = threading.Event(), threading.Event()

    def slow_disk(directory: Path, manifest: Manifest) -> None:
        if manifest.markers and not any(counts):
            entered.set()
            release.wait(10 * TIMEOUT)
        counts.append(len(manifest.markers))
        real(directory, manifest)

    monkeypatch.setattr(writer_thread, "write_manifest", slow_disk)
    with recorder(tmp_path) as rec, ThreadPoolExecutor(8) as pool:
        write(rec, 0, 800)
        first = pool.submit(rec.mark, kind=PRESENTED, frame=0, utc=T0, ref="E0")
        assert entered.wait(TIMEOUT)
        write(rec, 800, 4000)  # the writer is stuck: write() only queues
        rest = [
            pool.submit(rec.mark, kind=PRESENTED, frame=100 * i, utc=T0, ref=f"E{i}")
            for i in range(7, 0, -1)
        ]
        with rec._cond:  # the recorder's own condition: notified as each is queued
            assert rec._cond.wait_for(
                lambda: sum(isinstance(i, writer_thread.AddMarker) for i, _ in rec._queue) == 7,
                TIMEOUT,
            )
        release.set()
        for done in [first, *rest]:
            done.result(TIMEOUT)
    m = read_manifest(rec.directory)
    assert [k.ref for k in m.markers] == [f"E{i}" for i in range(8)]
    assert sorted(set(counts) - {0}) == [1, 8]  # the seven queued ones in a single write
    assert [(s.first_frame, s.frames) for s in m.segments] == [(0, 4800)]
    assert check_recording(rec.directory).continuous


def test_mark_overtaken_by_close_is_refused_not_left_waiting(tmp_path: Path) -> None:
    """close() runs to its end between mark()'s open check and its queueing: the marker
    would sit behind the writer's end forever; it is refused instead."""
    rec = recorder(tmp_path)
    rec.open()
    write(rec, 0, 800)
    checked = rec._raise_unless_open

    def check_then_close() -> None:
        checked()
        closer = threading.Thread(target=rec.close)
        closer.start()
        closer.join(TIMEOUT)
        assert not closer.is_alive()

    rec._raise_unless_open = check_then_close  # type: ignore[method-assign]
    outcome: list[BaseException | Marker] = []

    def mark() -> None:
        try:
            outcome.append(rec.mark(kind=PRESENTED, frame=100, utc=T0))
        except BaseException as e:  # handed to the test thread
            outcome.append(e)

    caller = threading.Thread(target=mark, daemon=True)  # daemon: a hang must not hang pytest
    caller.start()
    caller.join(TIMEOUT)
    assert not caller.is_alive(), "mark() is waiting for a writer that has ended"
    assert len(outcome) == 1 and isinstance(outcome[0], RecorderClosedError), outcome
    assert read_manifest(rec.directory).markers == ()


def test_write_manifest_failing_keeps_the_previous_one_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with recorder(tmp_path) as rec:
        write(rec, 0, 800)
        rec.mark(kind=PRESENTED, frame=10, utc=T0)
    before = (rec.directory / MANIFEST_NAME).read_bytes()
    m = read_manifest(rec.directory)

    def no_rename(src: object, dst: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(manifest_module.os, "replace", no_rename)
    with pytest.raises(OSError, match="I/O error"):
        write_manifest(rec.directory, m)
    monkeypatch.undo()
    assert (rec.directory / MANIFEST_NAME).read_bytes() == before
    assert sorted(p.name for p in rec.directory.iterdir() if p.name.startswith(".manifest")) == []


def _marked(tmp_path: Path) -> Path:
    with recorder(tmp_path) as rec:
        write(rec, 0, 1600)
        rec.mark(kind=PRESENTED, frame=400, utc=T0, label=TITLE, by=CLERK, ref="E1")
        rec.mark(kind=WITHDRAWN, frame=1200, utc=T0, by=CLERK, ref="E1")
    return rec.directory


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda k: k.update(frame=-1), "markers[0].frame must be at least 0"),
        (lambda k: k.update(frame="400"), "markers[0].frame must be of type int"),
        (lambda k: k.update(frame=True), "markers[0].frame must be of type int"),
        (lambda k: k.update(frame=4.5), "markers[0].frame must be of type int"),
        (lambda k: k.update(frame=2**64), "markers[0].frame 18446744073709551616 is not between"),
        (lambda k: k.update(label="x" * 100_000), "markers[0].label has 100000 characters"),
        (lambda k: k.update(label=["E1"]), "markers[0].label must be of type str"),
        (lambda k: k.update(label="\x1b[2J"), "markers[0].label holds a control character"),
        (lambda k: k.pop("kind"), "markers[0].kind is missing"),
        (lambda k: k.update(kind="../../etc"), "markers[0].kind '../../etc' is not a dotted"),
        (lambda k: k.update(utc="soon"), "markers[0].utc is not an ISO-8601 time"),
        (lambda k: k.update(by=None), "markers[0].by must be of type str"),
        (lambda k: k.update(ref="r" * 201), "markers[0].ref has 201 characters, more than 200"),
        (lambda k: k.update(frame=1300), "markers[1].frame 1200 is before the previous marker's"),
    ],
)
def test_manifest_names_the_bad_marker_field(tmp_path: Path, edit: Any, message: str) -> None:
    hearing = _marked(tmp_path)
    _edit(hearing, lambda d: edit(d["markers"][0]))
    with pytest.raises(ManifestError) as caught:
        read_manifest(hearing)
    assert message in str(caught.value)
    report = check_recording(hearing)  # the checker refuses it too, naming the field
    assert not report.sound and message in report.problems[0]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(markers={"frame": 1}), "markers must be of type list"),
        (lambda d: d.update(markers=[1]), "markers[0] is not a JSON object"),
        (
            lambda d: d.update(markers=d["markers"][:1] * (MAX_MARKERS + 1)),
            f"markers holds {MAX_MARKERS + 1} entries, more than {MAX_MARKERS}",
        ),
    ],
)
def test_manifest_refuses_a_bad_marker_list(tmp_path: Path, edit: Any, message: str) -> None:
    hearing = _marked(tmp_path)
    _edit(hearing, edit)
    with pytest.raises(ManifestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_manifest(hearing)


def test_version_2_manifest_without_markers_loads_and_is_written_as_version_2(
    tmp_path: Path,
) -> None:
    """Without markers the manifest is exactly version 2 (older readers keep reading it);
    the first marker makes it version 3."""
    with recorder(tmp_path) as rec:
        write(rec, 0, 1600)
    raw = json.loads((rec.directory / MANIFEST_NAME).read_text())
    assert raw["version"] == 2 and "markers" not in raw
    m = read_manifest(rec.directory)
    assert m.markers == () and check_recording(rec.directory).markers == []

    with recorder(tmp_path) as rec:
        write(rec, 1600, 800)
        rec.mark(kind=PRESENTED, frame=2000, utc=T0, ref="E1")
    raw = json.loads((rec.directory / MANIFEST_NAME).read_text())
    assert raw["version"] == 3 and [k["frame"] for k in raw["markers"]] == [2000]

    _edit(rec.directory, lambda d: d.update(version=4))  # a later format is refused
    with pytest.raises(ManifestError, match="unsupported format version 4"):
        read_manifest(rec.directory)


def test_check_warns_about_a_marker_outside_the_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hearing = _marked(tmp_path)
    _edit(hearing, lambda d: d["markers"][1].update(frame=99_999))
    report = check_recording(hearing)
    assert report.sound and report.span == (0, 1600)  # the audio is intact
    assert report.warnings == [
        "markers[1] (evidence.withdrawn 'E1') at frame 99999 (12.5 s) is outside the "
        "recording, frames [0, 1600]"
    ]
    assert main([str(hearing), "--json"]) == EXIT_SOUND
    listed = json.loads(capsys.readouterr().out)
    assert [k["within_recording"] for k in listed["markers"]] == [True, False]


def test_courtroom_av_check_command_lists_the_markers(tmp_path: Path) -> None:
    hearing = _marked(tmp_path)
    command = [sys.executable, "-m", "courtroom_agent.cli", "av", "check", str(hearing)]
    text = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert text.returncode == EXIT_SOUND, text.stdout + text.stderr
    assert "0 video segments, 2 marker(s)" in text.stdout
    done = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == EXIT_SOUND, done.stdout + done.stderr
    listed = json.loads(done.stdout)["markers"]
    assert [(k["kind"], k["frame"], k["time"], k["label"], k["by"], k["ref"]) for k in listed] == [
        (PRESENTED, 400, 0.05, TITLE, CLERK, "E1"),
        (WITHDRAWN, 1200, 0.15, "", CLERK, "E1"),
    ]


def test_marker_during_an_interruption_left_open_at_close_is_within(tmp_path: Path) -> None:
    with recorder(tmp_path) as rec:
        write(rec, 0, 800)
        rec.interrupt(reason="recess", ordered_by=JUDGE, frame=800, utc=T0)
        rec.mark(kind=PRESENTED, frame=5000, utc=T0, ref="E9")
    report = check_recording(rec.directory)
    assert report.continuous and report.warnings == [] and report.span == (0, 5000)


async def test_hearing_recording_mark_refuses_a_bad_time(tmp_path: Path) -> None:
    rec = hearing_recording(tmp_path)
    await rec.open()
    await rec.start(origin_frame=0, epoch=T0, hearing_clock=lambda: 0.0)
    await put_signal(rec, 0, 800)
    for at in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="is not a hearing second"):
            await rec.mark(kind=PRESENTED, at=at, utc=T0)
    await rec.close(end=0.1)
    assert read_manifest(rec.directory).markers == ()


CHILD = f"""
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from av.audio import AudioBlock
from av.recording import AudioRecorder
from tests.av.test_recording_signal import counter

rec = AudioRecorder(root=Path(sys.argv[1]), courtroom="r1", hearing_id="h1",
                    sample_rate={RATE}, roles={ROLES!r}, segment_frames=4000)
rec.open()
frame = 0
for i in range(100_000):  # audio and markers interleaved until killed
    rec.write(AudioBlock(frame, counter(frame, 800, 2), time.monotonic()))
    frame += 800
    rec.mark(kind="evidence.presented", frame=frame - 400, utc=datetime.now(UTC),
             label="证据" * 200, by="书记员", ref=f"E{{i}}")
    print(i, flush=True)
"""


@pytest.mark.timeout(60)
async def test_kill_9_while_marking_leaves_a_valid_manifest_with_every_acknowledged_marker(
    tmp_path: Path,
) -> None:
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
            while True:  # the child prints each marker's number once mark() returned
                line = await child.stdout.readline()
                assert line, "the child ended early"
                if int(line) >= 30:
                    break
        os.kill(child.pid, signal.SIGKILL)  # in the middle of writing the next ones
    finally:
        if child.returncode is None:
            child.kill()
        async with asyncio.timeout(2 * TIMEOUT):
            await child.wait()
    assert child.returncode == -signal.SIGKILL
    hearing = tmp_path / "r1" / "h1"

    killed = read_manifest(hearing)  # whole: never a torn manifest
    refs = [k.ref for k in killed.markers]
    assert refs == [f"E{i}" for i in range(len(refs))] and len(refs) >= 31, refs
    assert [k.frame for k in killed.markers] == [800 * i + 400 for i in range(len(refs))]
    # Before recovery the only possible problem is the recorder's own documented window:
    # killed after listing a new segment and before creating its files.
    problems = check_recording(hearing).problems
    assert all("file is missing" in p for p in problems), problems

    with recorder(tmp_path, frame_offset=killed.markers[-1].frame + 8000) as rec:
        assert rec.markers == killed.markers  # recovery keeps them
        write(rec, 0, 800)
        rec.mark(kind=WITHDRAWN, frame=rec.frame_offset or 0, utc=T0, ref="E0")
    m = read_manifest(hearing)
    assert m.markers[:-1] == killed.markers and m.markers[-1].kind == WITHDRAWN
    report = check_recording(hearing)  # the segment open at the kill is kept as found
    assert report.sound, report.problems
    assert not [w for w in report.warnings if "markers" in w], report.warnings
