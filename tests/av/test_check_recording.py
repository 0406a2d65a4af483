"""check_recording / courtroom av check: every kind of damage is named."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from av.recording import AudioRecorder, check_recording, main, read_manifest
from av.recording.manifest import MANIFEST_NAME
from tests.av.test_recording_signal import blocks, counter

RATE = 8000


@pytest.fixture
def hearing(tmp_path: Path) -> Path:
    """Two channels, segments of 2000 frames, a capture gap at [4500, 5000)."""
    with AudioRecorder(
        root=tmp_path,
        courtroom="r1",
        hearing_id="h1",
        sample_rate=RATE,
        roles=["judge", "witness"],
        segment_frames=2000,
    ) as rec:
        for b in blocks(0, 4500, 2, [700]) + blocks(5000, 2500, 2, [900]):
            rec.write(b)
    return rec.directory


def _edit_manifest(hearing: Path, edit: object) -> None:
    path = hearing / MANIFEST_NAME
    data = json.loads(path.read_text())
    assert callable(edit)
    edit(data)
    path.write_text(json.dumps(data))


def _writable(path: Path) -> Path:
    path.chmod(0o644)  # closed segments are read-only; the test damages one anyway
    return path


def test_check_sound_recording_exits_zero(
    hearing: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = check_recording(hearing)
    assert report.sound and report.problems == [] and report.warnings == []
    assert (report.segments, report.recorded_frames, report.gap_frames) == (5, 7000, 500)
    assert main([str(hearing)]) == 0
    assert "sound" in capsys.readouterr().out


def test_check_names_altered_segment(hearing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _writable(hearing / "seg000002-ch01-judge.flac")
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0x01
    path.write_bytes(bytes(raw))
    report = check_recording(hearing)
    assert not report.sound
    assert any(
        p.startswith("segment 2 (seg000002-ch01-judge.flac)") and "SHA-256" in p
        for p in report.problems
    )
    assert main([str(hearing)]) == 1
    err = capsys.readouterr().err
    assert "seg000002-ch01-judge.flac" in err and "NOT sound" in err


def test_check_names_truncated_segment(hearing: Path) -> None:
    path = _writable(hearing / "seg000001-ch02-witness.flac")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    problems = check_recording(hearing).problems
    named = [p for p in problems if p.startswith("segment 1 (seg000001-ch02-witness.flac)")]
    assert any("SHA-256" in p for p in named)
    assert any("frames" in p for p in named)


def test_check_names_missing_file(hearing: Path) -> None:
    (hearing / "seg000003-ch02-witness.flac").unlink()
    problems = check_recording(hearing).problems
    assert problems == ["segment 3 (seg000003-ch02-witness.flac): file is missing"]


def test_check_finds_undeclared_hole(hearing: Path) -> None:
    _edit_manifest(hearing, lambda d: d.update(gaps=[]))
    problems = check_recording(hearing).problems
    assert len(problems) == 1
    assert "[4500, 5000)" in problems[0] and "neither recorded nor declared" in problems[0]


def test_check_finds_frame_count_and_overlap(hearing: Path) -> None:
    _edit_manifest(hearing, lambda d: d["segments"][0].update(frames=2100))
    problems = check_recording(hearing).problems
    assert any("holds 2000 frames, manifest says 2100" in p for p in problems)
    assert any("segment 2 overlaps segment 1" in p for p in problems)


def test_check_reports_invalid_manifest_field_path(hearing: Path) -> None:
    _edit_manifest(hearing, lambda d: d["segments"][1]["files"][0].update(sha256=42))
    (problem,) = check_recording(hearing).problems
    assert "segments[1].files[0].sha256" in problem


def test_check_reports_unreadable_manifest(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    (problem,) = check_recording(tmp_path).problems
    assert "not valid JSON" in problem
    assert main([str(tmp_path / "absent")]) == 1


def test_check_warns_about_unlisted_file(hearing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (hearing / "notes.txt").write_text("clerk's note")
    assert main([str(hearing), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["sound"] is True
    assert body["warnings"] == ["notes.txt: file not listed in the manifest"]


def test_archive_is_readable_with_sox_as_documented(hearing: Path, tmp_path: Path) -> None:
    """docs/recording-format.md: segments of one channel concatenate with sox."""
    m = read_manifest(hearing)
    first_stretch = [s for s in m.segments if s.end_frame and s.end_frame <= 4500]
    names = [str(hearing / s.files[1].name) for s in first_stretch]
    out = tmp_path / "witness.raw"
    subprocess.run(["sox", *names, "-t", "raw", "-e", "signed", "-b", "16", str(out)], check=True)
    samples = np.frombuffer(out.read_bytes(), dtype="<i2")
    np.testing.assert_array_equal(samples, counter(0, 4500, 2)[:, 1])
    soxi = subprocess.run(
        ["soxi", "-s", names[0]], check=True, capture_output=True, text=True
    ).stdout
    assert int(soxi) == first_stretch[0].frames
