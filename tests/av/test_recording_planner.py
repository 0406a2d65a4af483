"""SegmentPlanner (pure) and the manifest's JSON form."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from av.recording import FrameOrderError, GapReason, Manifest, ManifestError, read_manifest
from av.recording.manifest import (
    ChannelInfo,
    Gap,
    Segment,
    SegmentFile,
    SegmentStatus,
    Session,
    write_manifest,
)
from av.recording.planner import CloseSegment, DeclareGap, OpenSegment, SegmentPlanner, WriteFrames
from tests.av.test_recording_signal import counter


def test_planner_cuts_blocks_at_hearing_clock_multiples() -> None:
    p = SegmentPlanner(segment_frames=100, channels=1)
    actions = p.feed(90, counter(90, 120, 1))
    assert [type(a) for a in actions] == [
        OpenSegment, WriteFrames, CloseSegment, OpenSegment, WriteFrames, CloseSegment,
        OpenSegment, WriteFrames,
    ]  # fmt: skip
    assert actions[0] == OpenSegment(1, 90) and actions[2] == CloseSegment(1, 100)
    assert actions[5] == CloseSegment(2, 200) and actions[6] == OpenSegment(3, 200)
    assert [a.frames for a in actions if isinstance(a, WriteFrames)] == [10, 100, 10]
    assert p.finish() == [CloseSegment(3, 210)]


def test_planner_closes_reopens_and_declares_capture_gap() -> None:
    p = SegmentPlanner(segment_frames=1000, channels=2)
    p.feed(0, counter(0, 10, 2))
    actions = p.feed(25, counter(25, 5, 2))
    assert actions[:3] == [
        CloseSegment(1, 10),
        DeclareGap(10, 25, GapReason.CAPTURE),
        OpenSegment(2, 25),
    ]


def test_planner_declares_resume_gap_before_first_block() -> None:
    p = SegmentPlanner(
        segment_frames=1000, channels=1, next_index=4, resume_from=500,
        resume_reason=GapReason.RECORDER_INTERRUPTED,
    )  # fmt: skip
    actions = p.feed(800, counter(800, 1, 1))
    assert actions[:2] == [
        DeclareGap(500, 800, GapReason.RECORDER_INTERRUPTED),
        OpenSegment(4, 800),
    ]
    p.feed(801, counter(801, 199, 1))  # segment 4 closes exactly at the boundary
    assert p.open_index is None
    assert p.feed(1005, counter(1005, 1, 1))[0] == DeclareGap(1000, 1005, GapReason.CAPTURE)


def test_planner_refuses_overlap_and_keeps_state() -> None:
    p = SegmentPlanner(segment_frames=1000, channels=1)
    p.feed(0, counter(0, 10, 1))
    with pytest.raises(FrameOrderError):
        p.feed(5, counter(5, 10, 1))
    assert p.expected_frame == 10
    with pytest.raises(ValueError):
        p.feed(10, counter(10, 10, 2))  # wrong channel count


@settings(max_examples=150, deadline=None)
@given(
    segment=st.integers(1, 50),
    steps=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 80)), min_size=1, max_size=30),
)
def test_planner_tiles_hearing_clock_exactly(segment: int, steps: list[tuple[int, int]]) -> None:
    """Whatever the blocks and gaps: writes + gaps cover every frame once, in order."""
    p = SegmentPlanner(segment_frames=segment, channels=1)
    frame, actions = 0, []
    for gap, size in steps:
        frame += gap
        actions += p.feed(frame, counter(frame, size, 1))
        frame += size
    actions += p.finish()
    cursor, open_first, written = None, None, 0
    for a in actions:
        if isinstance(a, OpenSegment):
            assert open_first is None
            open_first, written = a.first_frame, 0
        elif isinstance(a, WriteFrames):
            assert open_first is not None and a.first_frame == open_first + written
            assert cursor is None or a.first_frame == cursor
            np.testing.assert_array_equal(a.pcm, counter(a.first_frame, a.frames, 1))
            written += a.frames
            cursor = a.first_frame + a.frames
        elif isinstance(a, CloseSegment):
            assert open_first is not None and a.end_frame == open_first + written
            # a segment never crosses a multiple of the segment length
            assert (a.end_frame - 1) // segment == open_first // segment
            open_first = None
        elif isinstance(a, DeclareGap):
            assert open_first is None and a.start_frame == cursor and a.end_frame > a.start_frame
            cursor = a.end_frame
    assert open_first is None


def _manifest() -> Manifest:
    return Manifest(
        courtroom="第一法庭",
        hearing_id="h1",
        sample_rate=48000,
        channels=(ChannelInfo(0, "审判长"), ChannelInfo(1, "clerk")),
        segment_frames=14_400_000,
        started_at="2025-03-01T01:30:00.000000Z",
        started_frame=0,
        sessions=(Session("2025-03-01T01:30:00.000000Z", 0),),
        segments=(
            Segment(1, SegmentStatus.CLOSED, 0, 480, "2025-03-01T01:30:00.000000Z",
                    "2025-03-01T01:35:00.000000Z",
                    (SegmentFile(0, "a.flac", "0" * 64), SegmentFile(1, "b.flac", "f" * 64))),
            Segment(2, SegmentStatus.OPEN, 960, None, "2025-03-01T01:35:00.000000Z", None,
                    (SegmentFile(0, "c.flac"), SegmentFile(1, "d.flac"))),
        ),
        gaps=(Gap(480, 960, GapReason.CAPTURE, "2025-03-01T01:35:00.000000Z"),),
        updated_at="2025-03-01T01:35:00.000000Z",
    )  # fmt: skip


def test_manifest_round_trips_through_atomic_write(tmp_path: Path) -> None:
    m = _manifest()
    write_manifest(tmp_path, m)
    assert read_manifest(tmp_path) == m
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left
    assert "审判长" in (tmp_path / "manifest.json").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(version=4), "unsupported format version 4"),
        (lambda d: d.update(sample_rate=True), "sample_rate must be of type int"),
        (lambda d: d["segments"][0].update(frames=None), "segments[0].frames must be null"),
        (lambda d: d["segments"][0]["files"][0].update(name="../x.flac"), "plain file name"),
        (lambda d: d["segments"][0]["files"][1].update(sha256=None), "files[1].sha256 is missing"),
        (lambda d: d["gaps"][0].update(reason="lunch"), "gaps[0].reason 'lunch'"),
        (lambda d: d.pop("channels"), "channels is missing"),
        (lambda d: d.update(started_at="yesterday"), "started_at is not an ISO-8601 time"),
    ],
)
def test_manifest_rejects_malformed_field(edit: object, message: str) -> None:
    data = json.loads(json.dumps(_manifest().to_json()))
    assert callable(edit)
    edit(data)
    with pytest.raises(ManifestError) as caught:
        Manifest.from_json(data)
    assert message in str(caught.value)
