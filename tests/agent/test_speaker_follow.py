"""The camera follows the speaker: synthetic and real AISHELL-1 speech through the real meter.

Signals are built in int16 like a real source: every talker's voice on their
own microphone, on every other microphone 24 dB down (crosstalk), and an
independent noise floor at −60 dBFS on each channel. They are cut into
blocks of 480 frames, metered by :class:`av.levels.LevelMeter` (ten reports
per second) and fed to :class:`SpeakerFollower`, as the agent does.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from av.audio import AudioBlock
from av.levels import LevelMeter
from courtroom_agent.speaker_follow import (
    FollowConfig,
    SpeakerChanged,
    SpeakerFollower,
    SpeakerFollowError,
)
from courtroom_core.errors import CourtroomError
from tests.fixtures.speech import read_mono
from transcription.assets import SpeechSample

RATE = 16_000
BLOCK = 0.1  # the meter's report window, the follower's resolution
ROLES = ("审判长", "原告", "被告", "书记员")
JUDGE, PLAINTIFF, DEFENDANT, CLERK = range(4)
CROSSTALK_DB = -24.0
NOISE_DBFS = -60.0


def _gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def talk(seed: int, seconds: float, *, level_dbfs: float = -26.0) -> npt.NDArray[np.float64]:
    """Speech-like noise: syllables of 120–250 ms with 10 ms ramps, a 200–300 ms pause every few."""
    rng = np.random.default_rng(seed)
    out = np.zeros(round(seconds * RATE))
    ramp = round(0.01 * RATE)
    pos, syllables = 0, 0
    while True:
        length = round(rng.uniform(0.12, 0.25) * RATE)
        if pos + length > out.size:
            break
        envelope = np.ones(length)
        envelope[:ramp] = np.linspace(0.0, 1.0, ramp)
        envelope[-ramp:] = np.linspace(1.0, 0.0, ramp)
        out[pos : pos + length] = rng.standard_normal(length) * envelope * rng.uniform(0.6, 1.4)
        pos += length
        syllables += 1
        pause = rng.uniform(0.2, 0.3) if syllables % int(rng.integers(3, 6)) == 0 else 0.03
        pos += round(pause * RATE)
    voiced = out[out != 0.0]
    scale = 32768.0 * _gain(level_dbfs) / math.sqrt(float(np.mean(voiced**2)))
    result: npt.NDArray[np.float64] = out * scale
    return result


class Room:
    """Microphone channels of one courtroom, to which talkers are added."""

    def __init__(self, seconds: float, *, channels: int = len(ROLES), seed: int = 0) -> None:
        rng = np.random.default_rng(1000 + seed)
        noise = rng.standard_normal((round(seconds * RATE), channels))
        self.pcm = noise * 32768.0 * _gain(NOISE_DBFS)

    def say(self, channels: int | Sequence[int], at: float, voice: npt.NDArray[np.float64]) -> None:
        """``voice`` from ``at`` s on ``channels`` (one seat, or one mic on several inputs)."""
        own = [channels] if isinstance(channels, int) else list(channels)
        start = round(at * RATE)
        span = self.pcm[start : start + voice.size]
        for channel in range(self.pcm.shape[1]):
            gain = 1.0 if channel in own else _gain(CROSSTALK_DB)
            span[:, channel] += voice[: span.shape[0]] * gain

    def follow(self, follower: SpeakerFollower) -> list[SpeakerChanged]:
        """Meter the room block by block, as the agent does, and collect the moves."""
        pcm = np.clip(np.round(self.pcm), -32768, 32767).astype(np.int16)
        meter = LevelMeter(rate=RATE, roles=follower.roles)
        moves: list[SpeakerChanged] = []
        for start in range(0, pcm.shape[0], 480):
            block = AudioBlock(start_frame=start, pcm=pcm[start : start + 480], captured_at=0.0)
            for report in meter.feed(block):
                moves.extend(follower.observe(report))
        return moves


def follower(**options: object) -> SpeakerFollower:
    return SpeakerFollower(roles=ROLES, config=FollowConfig(**options))  # type: ignore[arg-type]


def assert_moves(moves: list[SpeakerChanged], expected: list[tuple[int, float]]) -> None:
    """The moves go to the expected channels at the expected times, ± one block."""
    assert [m.channel for m in moves] == [channel for channel, _ in expected], moves
    for move, (_, at) in zip(moves, expected, strict=True):
        assert move.time == pytest.approx(at, abs=BLOCK + 1e-3), moves


def test_follower_two_alternating_seats_move_twice() -> None:
    room = Room(10.0)
    room.say(PLAINTIFF, 0.5, talk(1, 4.0))
    room.say(DEFENDANT, 4.5, talk(2, 4.0))
    moves = room.follow(follower())
    assert_moves(moves, [(PLAINTIFF, 0.5 + 1.5), (DEFENDANT, 4.5 + 1.5)])
    assert [(m.role, m.previous) for m in moves] == [("原告", None), ("被告", PLAINTIFF)]
    assert all(1.5 - 1e-6 <= m.held_s <= 1.5 + BLOCK and m.voiced_s < m.held_s for m in moves)


def test_follower_short_interjection_does_not_move() -> None:
    room = Room(9.0)
    room.say(PLAINTIFF, 0.5, talk(1, 3.0))
    room.say(CLERK, 3.6, talk(3, 0.6))  # "请讲重点" — 0.6 s, under the hold
    room.say(PLAINTIFF, 4.4, talk(4, 4.0))
    moves = room.follow(follower())
    assert_moves(moves, [(PLAINTIFF, 2.0)])


def test_follower_judge_priority_takes_over_after_short_hold() -> None:
    room = Room(12.0)
    room.say(PLAINTIFF, 0.5, talk(1, 9.0))
    room.say(DEFENDANT, 3.5, talk(2, 2.0))  # talks over the plaintiff: contested, nobody's
    room.say(JUDGE, 8.0, talk(3, 0.8))  # talks over the plaintiff too, and takes the floor
    plain = room.follow(follower())
    assert_moves(plain, [(PLAINTIFF, 2.0)])
    judged = room.follow(follower(priority=(JUDGE,)))
    assert_moves(judged, [(PLAINTIFF, 2.0), (JUDGE, 8.5)])
    assert judged[1].held_s < 1.0


def test_follower_waits_the_dwell_before_moving_again() -> None:
    room = Room(8.0)
    room.say(PLAINTIFF, 0.5, talk(1, 1.7))
    room.say(DEFENDANT, 2.3, talk(2, 4.0))  # ripe at 3.8, but the camera moved at 2.0
    moves = room.follow(follower())
    assert_moves(moves, [(PLAINTIFF, 2.0), (DEFENDANT, 2.0 + 3.0)])


def test_follower_equal_channels_never_flap() -> None:
    voice = talk(5, 6.0)
    room = Room(7.0)
    room.say((PLAINTIFF, DEFENDANT), 0.5, voice)  # one microphone on two inputs
    assert_moves(room.follow(follower()), [(PLAINTIFF, 2.0)])
    room = Room(11.0)
    room.say(DEFENDANT, 0.5, talk(6, 3.0))
    room.say((PLAINTIFF, DEFENDANT), 4.0, voice)  # the followed seat keeps a tie
    assert_moves(room.follow(follower()), [(DEFENDANT, 2.0)])


def test_follower_silence_and_a_fan_keep_the_last_seat() -> None:
    room = Room(30.0)
    fan = np.random.default_rng(9).standard_normal(room.pcm.shape[0]) * 32768.0 * _gain(-40.0)
    room.pcm[:, CLERK] += fan  # a projector fan next to the clerk's microphone, always on
    room.say(DEFENDANT, 0.5, talk(7, 3.5))
    subject = follower()
    assert_moves(room.follow(subject), [(DEFENDANT, 2.0)])
    assert subject.followed == DEFENDANT


def test_follower_scattered_noises_do_not_delay_the_next_speaker() -> None:
    """A seat picking up a knock every 0.4 s for a minute (25 % dominated) is no speaker,
    and once its owner speaks it is followed after the usual hold, not a minute later."""
    subject = SpeakerFollower(roles=ROLES[:2])
    quiet, knock, voice = [-60.0, -60.0], [-60.0, -30.0], [-60.0, -26.0]
    moves, time = [], 0.0
    for i in range(600):
        time = round((i + 1) * BLOCK, 3)
        levels = knock if i % 4 == 0 else quiet
        moves.extend(subject.observe_levels(time=time, duration=BLOCK, levels=levels))
    assert moves == []
    for i in range(30):
        time = round(60.0 + (i + 1) * BLOCK, 3)
        moves.extend(subject.observe_levels(time=time, duration=BLOCK, levels=voice))
    assert [(m.channel, m.time) for m in moves] == [(1, pytest.approx(61.5))]
    assert (moves[0].held_s, moves[0].voiced_s) == (pytest.approx(1.5), pytest.approx(1.5))


def test_follower_reset_forgets_the_seat_and_the_clock() -> None:
    room = Room(5.0)
    room.say(PLAINTIFF, 0.5, talk(1, 4.0))
    subject = follower()
    assert_moves(room.follow(subject), [(PLAINTIFF, 2.0)])
    subject.reset()  # 休庭: the next hearing clock starts again at zero
    assert subject.followed is None
    again = room.follow(subject)
    assert_moves(again, [(PLAINTIFF, 2.0)])
    assert again[0].previous is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("speech_dbfs", math.nan),
        ("speech_dbfs", 3.0),
        ("above_floor_db", -1.0),
        ("floor_rise_db_per_s", 0.0),
        ("dominance_db", math.inf),
        ("tie_db", 6.0),
        ("hold_s", 0.0),
        ("hold_s", True),
        ("hold_s", "1.5"),
        ("priority_hold_s", 2.0),
        ("max_gap_s", -0.1),
        ("min_voiced", 0.0),
        ("min_dwell_s", 1e9),
        ("priority", (0, 0)),
        ("priority", (-1,)),
        ("priority", [0]),
        ("priority", (True,)),
    ],
)
def test_follow_config_refuses_hostile_values(name: str, value: object) -> None:
    with pytest.raises(SpeakerFollowError) as caught:
        FollowConfig(**{name: value})  # type: ignore[arg-type]
    assert caught.value.field == name
    assert str(caught.value).startswith(f"{name}: ")
    assert isinstance(caught.value, CourtroomError) and isinstance(caught.value, ValueError)


def test_follower_refuses_hostile_input() -> None:
    with pytest.raises(SpeakerFollowError, match=r"^priority: ") as caught:
        SpeakerFollower(roles=ROLES[:2], config=FollowConfig(priority=(3,)))
    assert caught.value.field == "priority"
    with pytest.raises(SpeakerFollowError, match=r"^roles: "):
        SpeakerFollower(roles=())
    subject = follower()
    quiet = [-60.0] * len(ROLES)
    with pytest.raises(SpeakerFollowError, match=r"^levels: expected 4 channels"):
        subject.observe_levels(time=0.1, duration=0.1, levels=quiet[:3])
    with pytest.raises(SpeakerFollowError, match=r"^levels: "):
        subject.observe_levels(time=0.1, duration=0.1, levels=[math.nan, *quiet[1:]])
    with pytest.raises(SpeakerFollowError, match=r"^duration: "):
        subject.observe_levels(time=0.1, duration=0.0, levels=quiet)
    assert subject.observe_levels(time=1.0, duration=0.1, levels=quiet) == []
    with pytest.raises(SpeakerFollowError, match=r"^time: block starts at 0\.850 s"):
        subject.observe_levels(time=0.95, duration=0.1, levels=quiet)
    # A gap in the source (dropped audio) is fine: the block starts later.
    assert subject.observe_levels(time=5.0, duration=0.1, levels=quiet) == []


def test_speaker_changed_to_json() -> None:
    change = SpeakerChanged(
        time=2.0000004, channel=1, role="原告", previous=None, held_s=1.5, voiced_s=1.1
    )
    assert change.to_json() == {
        "time": 2.0,
        "channel": 1,
        "role": "原告",
        "previous": None,
        "held_s": 1.5,
        "voiced_s": 1.1,
    }
    with pytest.raises(SpeakerFollowError, match=r"^channel: "):
        SpeakerChanged(time=2.0, channel=1, role="原告", previous=1, held_s=1.5, voiced_s=1.0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([-96.0, -60.0, -45.0, -40.0, -30.0, -28.0, -20.0]),
            st.sampled_from([-96.0, -60.0, -45.0, -40.0, -30.0, -28.0, -20.0]),
            st.sampled_from([-96.0, -60.0, -30.0, -20.0]),
        ),
        max_size=300,
    )
)
def test_follower_never_moves_within_the_dwell_or_before_the_hold(
    blocks: list[tuple[float, float, float]],
) -> None:
    config = FollowConfig(priority=(2,))
    subject = SpeakerFollower(roles=ROLES[:3], config=config)
    moves = []
    for i, levels in enumerate(blocks, 1):
        moves.extend(subject.observe_levels(time=i * BLOCK, duration=BLOCK, levels=levels))
    for earlier, later in itertools.pairwise(moves):
        assert later.time - earlier.time >= config.min_dwell_s - 1e-6
        assert later.previous == earlier.channel
    for move in moves:
        assert move.held_s >= config.hold_for(move.channel) - 1e-6
        assert move.voiced_s >= config.min_voiced * config.hold_for(move.channel) - 1e-6
    assert subject.followed == (moves[-1].channel if moves else None)


def _speech_onset(pcm: npt.NDArray[np.int16]) -> float:
    """Seconds to the first 10 ms frame 20 dB above the clip's quietest (its own noise)."""
    frames = pcm[: pcm.size // 160 * 160].astype(np.float64).reshape(-1, 160)
    levels = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-9)
    return float(np.argmax(levels > np.percentile(levels, 5) + 20.0)) * 0.01


def test_follower_on_real_speech_moves_within_hold_of_each_talker(
    speech: list[SpeechSample],
) -> None:
    """AISHELL-1 clips A, B, A, B on the plaintiff's and the defendant's microphones."""
    clips = [read_mono(s.path) for s in speech[:2]]
    turns = [
        (PLAINTIFF, clips[0]),
        (DEFENDANT, clips[1]),
        (PLAINTIFF, clips[1]),
        (DEFENDANT, clips[0]),
    ]
    room = Room(sum(c.size / RATE + 0.3 for _, c in turns) + 1.0)
    at, starts = 0.5, []
    for channel, clip in turns:
        room.say(channel, at, clip.astype(np.float64))
        starts.append(at + _speech_onset(clip))
        at += clip.size / RATE + 0.3
    config = FollowConfig(priority=(JUDGE,))
    moves = room.follow(SpeakerFollower(roles=ROLES, config=config))
    assert [m.channel for m in moves] == [channel for channel, _ in turns]
    delays = [m.time - start for m, start in zip(moves, starts, strict=True)]
    print(
        f"real speech: decision delay after speech onset median {statistics.median(delays):.2f} s,"
        f" max {max(delays):.2f} s ({', '.join(f'{d:.2f}' for d in delays)})"
    )
    assert all(0.0 < d <= config.hold_s + 0.3 for d in delays), delays


def test_follower_on_real_speech_ignores_a_short_interjection(speech: list[SpeechSample]) -> None:
    """The clerk's 0.6 s of real speech between two of the plaintiff's sentences moves nothing."""
    a, b = (read_mono(s.path).astype(np.float64) for s in speech[:2])
    onset = round(_speech_onset(b.astype(np.int16)) * RATE)
    interjection = b[onset : onset + round(0.6 * RATE)]
    room = Room(0.5 + a.size / RATE + 0.2 + 0.6 + 0.2 + b.size / RATE + 0.5)
    room.say(PLAINTIFF, 0.5, a)
    at = 0.5 + a.size / RATE + 0.2
    room.say(CLERK, at, interjection)
    room.say(PLAINTIFF, at + 0.8, b)
    moves = room.follow(SpeakerFollower(roles=ROLES))
    assert [(m.channel, m.previous) for m in moves] == [(PLAINTIFF, None)]
