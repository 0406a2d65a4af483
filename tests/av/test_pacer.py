"""FramePacer holding slots back: a segment cut announced late still lands on the audio's.

The audio recorder announces a boundary (``roll``) when the audio block
holding it reaches it; frames stamped past the boundary are often pushed
before that. Pure unit tests: frames are made with the hearing times given.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from av.camera import Frame, FramePacer, SegmentStart, Slot

Output = SegmentStart | Slot
PICTURE = np.zeros((8, 8, 3), np.uint8)


def frame_at(t: float, index: int = 0) -> Frame:
    return Frame("cam1", index, PICTURE, captured_at=t, hearing_time=t)


def slots(outputs: list[Output], segment: int | None = None) -> list[Slot]:
    return [o for o in outputs if isinstance(o, Slot) and segment in (None, o.segment)]


def starts(outputs: list[Output]) -> list[SegmentStart]:
    return [o for o in outputs if isinstance(o, SegmentStart)]


def nearest(frames: list[Frame], t: float, stale_after: float) -> Frame | None:
    """The specification: the frame nearest ``t`` within ``stale_after``, a tie to the later."""
    best: Frame | None = None
    best_distance = stale_after
    for f in frames:
        assert f.hearing_time is not None
        if (distance := abs(f.hearing_time - t)) <= best_distance:
            best, best_distance = f, distance
    return best


@pytest.mark.parametrize("late", [0.0, 0.04, 0.2, 0.46])
def test_frame_pacer_roll_late_within_hold_cuts_at_boundary(late: float) -> None:
    # 25 fps against 100 ms audio blocks: frames up to `late` past the
    # boundary at 1.0 s are pushed before its roll arrives.
    pacer = FramePacer(fps=25, max_delay=0.5)
    pacer.roll(0, 0.0)
    out: list[Output] = []
    k = 0
    while k / 25 <= 1.0 + late:
        out += pacer.push(frame_at(k / 25, k))
        k += 1
    pacer.roll(1, 1.0)
    while k / 25 <= 2.0:
        out += pacer.push(frame_at(k / 25, k))
        k += 1
    out += pacer.finish(2.0)
    assert starts(out) == [SegmentStart(0, 0.0), SegmentStart(1, 1.0)]
    first, second = slots(out, 0), slots(out, 1)
    assert [s.number for s in first] == list(range(25))
    assert [s.number for s in second] == list(range(25))
    assert [s.time for s in second] == [1.0 + n / 25 for n in range(25)]
    # every slot shows the frame captured at its own instant
    for s in first + second:
        assert s.frame is not None and s.frame.hearing_time == pytest.approx(s.time)
    assert pacer.stats.dropped == pacer.stats.repeated == pacer.stats.missing == 0


def test_frame_pacer_roll_late_within_hold_after_advance_cuts_at_boundary() -> None:
    pacer = FramePacer(fps=10, max_delay=0.5)
    pacer.roll(0, 0.0)
    out = pacer.push(frame_at(0.0)) + pacer.advance(1.45)  # no frames since; roll 0.45 s late
    pacer.roll(1, 1.0)
    out += pacer.finish(1.5)
    assert starts(out) == [SegmentStart(0, 0.0), SegmentStart(1, 1.0)]
    assert len(slots(out, 0)) == 10 and len(slots(out, 1)) == 5


def test_frame_pacer_roll_later_than_hold_starts_at_next_slot() -> None:
    # Frames up to 0.6 s past the boundary: slots up to 1.1 s are already
    # filled when the roll comes, so the segment can only start at 1.12 s.
    pacer = FramePacer(fps=25, max_delay=0.5)
    pacer.roll(0, 0.0)
    out: list[Output] = []
    for k in range(41):  # up to 1.6 s
        out += pacer.push(frame_at(k / 25, k))
    pacer.roll(1, 1.0)
    out += pacer.finish(2.0)
    (_, late) = starts(out)
    assert late.index == 1 and late.start == pytest.approx(28 / 25)
    assert [s.number for s in slots(out, 0)] == list(range(28))
    second = slots(out, 1)
    assert second[0].number == 0 and second[0].time == late.start
    assert len(second) == 22  # 1.12 … 1.96


def test_frame_pacer_roll_off_grid_starts_at_first_slot_after() -> None:
    pacer = FramePacer(fps=10)
    pacer.roll(0, 0.0)
    out: list[Output] = []
    for k in range(13):
        out += pacer.push(frame_at(k / 10, k))
    pacer.roll(1, 0.73)  # 0.47 s late, between slots 0.7 and 0.8
    out += pacer.finish(1.2)
    assert starts(out)[1] == SegmentStart(1, 0.8)
    assert len(slots(out, 0)) == 8


def test_frame_pacer_holds_slots_max_delay_behind_newest_frame() -> None:
    pacer = FramePacer(fps=10, max_delay=0.5)
    pacer.roll(0, 0.0)
    assert slots(pacer.push(frame_at(0.0))) == []
    assert slots(pacer.push(frame_at(0.45, 1))) == []
    got = slots(pacer.push(frame_at(0.61, 2)))
    assert [s.time for s in got] == [0.0, 0.1]  # up to 0.61 - 0.5
    assert [s.frame.index if s.frame else None for s in got] == [0, 0]
    assert pacer.stats.repeated == 1


def test_frame_pacer_nearest_frame_unchanged_for_normal_input() -> None:
    # a 12 fps camera with jitter and a hole, paced to 10 fps
    rng = np.random.default_rng(3)
    times = [k / 12 + rng.uniform(-0.02, 0.02) for k in range(60) if not 30 <= k < 40]
    frames = [frame_at(t, k) for k, t in enumerate(times)]
    pacer = FramePacer(fps=10, stale_after=0.3)
    pacer.roll(0, 0.0)
    out: list[Output] = []
    most_held = 0
    for f in frames:
        out += pacer.push(f)
        most_held = max(most_held, len(pacer.held))
    out += pacer.finish(5.0)
    got = slots(out)
    assert [s.number for s in got] == list(range(50))
    for s in got:
        assert s.frame is nearest(frames, s.time, 0.3), s
    assert any(s.frame is None for s in got)  # the hole
    assert most_held < pacer.max_held  # never thinned
    shown = {id(s.frame) for s in got if s.frame is not None}
    unused_held = [f for f in pacer.held if id(f) not in shown]
    assert pacer.stats.dropped == len(frames) - len(shown) - len(unused_held)


def test_frame_pacer_burst_keeps_held_frames_bounded_and_the_cut() -> None:
    pacer = FramePacer(fps=10, stale_after=0.3, max_delay=0.5)
    assert pacer.max_held == 9  # ceil(0.5 × 10) + 4
    pacer.roll(0, 0.0)
    frames = [frame_at(k / 10, k) for k in range(20)]  # to 1.9 s at the rate
    # a stall, then 300 frames in 0.3 s (a network buffer emptying)
    frames += [frame_at(2.0 + k * 0.001, 100 + k) for k in range(300)]
    out: list[Output] = []
    for f in frames:
        out += pacer.push(f)
        assert len(pacer.held) <= pacer.max_held
        assert f.hearing_time is not None
        if f.hearing_time == pytest.approx(2.1):
            pacer.roll(1, 2.0)  # 0.1 s late, in the middle of the burst
    out += pacer.finish(2.5)
    assert starts(out) == [SegmentStart(0, 0.0), SegmentStart(1, 2.0)]
    assert [s.number for s in slots(out, 1)] == list(range(5))
    for s in slots(out):
        assert s.frame is not None and s.frame.hearing_time is not None
        assert abs(s.frame.hearing_time - s.time) <= 0.3
    # the burst's slots still get a picture from within it, near their time
    for s in slots(out, 1)[1:3]:
        assert s.frame is not None and s.frame.hearing_time is not None
        assert abs(s.frame.hearing_time - s.time) < 0.05
    stats = pacer.stats
    shown = {id(s.frame) for s in slots(out) if s.frame is not None}
    unused_held = [f for f in pacer.held if id(f) not in shown]
    assert stats.frames_in == 320
    assert stats.dropped == 320 - len(shown) - len(unused_held) >= 290


def test_frame_pacer_out_of_order_frame_is_dropped() -> None:
    pacer = FramePacer(fps=10)
    pacer.roll(0, 0.0)
    pacer.push(frame_at(0.2))
    assert pacer.push(frame_at(0.1, 1)) == []
    assert pacer.stats.dropped == 1 and len(pacer.held) == 1


# -- properties ----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    fps=st.sampled_from([5.0, 10.0, 12.5, 25.0]),
    gaps=st.lists(  # mostly about the rate, some bursts and holes
        st.one_of(st.floats(0.02, 0.2), st.floats(0.001, 0.02), st.floats(0.2, 0.6)),
        min_size=1,
        max_size=150,
    ),
    density=st.sampled_from([1.0, 4.0, 20.0]),
    lengths=st.lists(st.floats(0.2, 2.0), min_size=1, max_size=5),
    lateness=st.lists(st.floats(0.0, 0.49), min_size=6, max_size=6),
    first=st.floats(0.0, 1.0),
    advance_every=st.integers(2, 20),
    tail=st.floats(0.0, 1.0),
)
def test_frame_pacer_property_slots_contiguous_and_cut_at_boundaries(
    fps: float,
    gaps: list[float],
    density: float,
    lengths: list[float],
    lateness: list[float],
    first: float,
    advance_every: int,
    tail: float,
) -> None:
    max_delay, stale_after = 0.5, 0.3
    times = (np.cumsum(gaps) / density).tolist()
    frames = [frame_at(t, k) for k, t in enumerate(times)]
    boundaries = np.cumsum([first, *lengths]).tolist()
    due = [b + late for b, late in zip(boundaries, lateness, strict=False)]
    pacer = FramePacer(fps=fps, stale_after=stale_after, max_delay=max_delay)
    out: list[Output] = []
    rolled, latest = 0, 0.0

    def seen(now: float) -> None:
        # Each roll comes late, but before the pacer sees `max_delay` past it.
        nonlocal rolled, latest
        latest = max(latest, now)
        while rolled < len(due) and due[rolled] <= now:
            pacer.roll(rolled, boundaries[rolled])
            rolled += 1

    most_held = most_held_unrolled = 0
    for k, f in enumerate(frames):
        assert f.hearing_time is not None
        seen(f.hearing_time)
        out += pacer.push(f)
        most_held = max(most_held, len(pacer.held))
        if pacer.segment is None:
            most_held_unrolled = most_held
        assert len(pacer.held) <= pacer.max_held
        if k % advance_every == 0:
            seen(f.hearing_time + 0.01)
            out += pacer.advance(f.hearing_time + 0.01)
    event(
        "held frames reached the bound" if most_held == pacer.max_held else "held below the bound"
    )
    event(f"segments rolled: {rolled}")
    end = max(latest, boundaries[0]) + tail  # the close: no earlier than anything seen
    seen(end)
    out += pacer.finish(end)

    segments = starts(out)
    assert [s.index for s in segments] == list(range(rolled))
    if not segments:
        assert out == []
        return
    assert isinstance(out[0], SegmentStart) and out[0].start == boundaries[0]
    period = 1 / fps
    for s in segments[1:]:  # on the first slot at or after the audio's boundary
        assert 0 <= s.start - boundaries[s.index] < period + 1e-9, (s, boundaries)
    # Slots: each segment's numbered 0, 1, … at start + k / fps, one after
    # another across segments, every slot before `end` exactly once.
    expected_time = segments[0].start
    current: SegmentStart | None = None
    number = 0
    for o in out:
        if isinstance(o, SegmentStart):
            assert o.start == pytest.approx(expected_time, abs=1e-6)
            current, number = o, 0
            continue
        assert current is not None and o.segment == current.index and o.number == number
        assert o.time == current.start + number / fps
        assert o.time == pytest.approx(expected_time, abs=1e-6)
        number += 1
        expected_time = o.time + period
    assert expected_time >= end - 1e-9
    got = slots(out)
    assert not got or got[-1].time < end
    # The picture of each slot: within stale_after; the nearest one unless
    # a burst made the pacer thin its held frames.
    for s in got:
        if s.frame is not None:
            assert s.frame.hearing_time is not None
            assert abs(s.frame.hearing_time - s.time) <= stale_after
        if most_held < pacer.max_held:
            assert s.frame is nearest(frames, s.time, stale_after)
    # Accounting: every recorded frame is shown, dropped or still held (but
    # frames thinned before the first segment started are not counted).
    stats = pacer.stats
    assert stats.slots == len(got)
    assert stats.missing == sum(s.frame is None for s in got)
    assert stats.repeated == sum(s.repeated for s in got)
    shown = {id(s.frame) for s in got if s.frame is not None}
    held = {id(f) for f in pacer.held}
    recorded = [f for f in frames if f.hearing_time is not None and f.hearing_time >= boundaries[0]]
    lost = sum(id(f) not in shown and id(f) not in held for f in recorded)
    if most_held_unrolled < pacer.max_held:
        assert stats.dropped == lost
    else:
        assert stats.dropped <= lost
