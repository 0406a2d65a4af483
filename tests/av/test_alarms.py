"""MicrophoneWatch driven by synthetic level sequences: the hearing clock advances by reports."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from av.alarms import AlarmKind, AlarmState, MicrophoneAlarm, MicrophoneWatch, WatchConfig
from av.audio import AudioBlock
from av.levels import ChannelLevel, LevelMeter, LevelReport

ROLES = ("审判长", "原告", "被告", "书记员")
SPEECH, QUIET, DEAD = -25.0, -50.0, -80.0  # live mic hearing crosstalk sits at QUIET
STEP = 0.1


class Clock:
    """Builds consecutive 0.1-s reports on the hearing clock."""

    def __init__(self) -> None:
        self.frames = 0

    def report(self, rms: Iterable[float], *, clipped: Iterable[int] | None = None) -> LevelReport:
        rms = list(rms)
        clips = list(clipped) if clipped is not None else [0] * len(rms)
        self.frames += 1600
        return LevelReport(
            hearing_time=self.frames / 16_000,
            duration=STEP,
            channels=tuple(
                ChannelLevel(
                    channel=i,
                    role=ROLES[i],
                    peak_dbfs=min(0.0, r + 3),
                    rms_dbfs=r,
                    clipped=c,
                    silent=r < -60,
                )
                for i, (r, c) in enumerate(zip(rms, clips, strict=True))
            ),
        )


def run(
    watch: MicrophoneWatch,
    clock: Clock,
    rms: list[float],
    seconds: float,
    *,
    clipped: list[int] | None = None,
) -> list[MicrophoneAlarm]:
    out: list[MicrophoneAlarm] = []
    for _ in range(round(seconds / STEP)):
        out += watch.observe(clock.report(rms, clipped=clipped))
    return out


def fast(**kwargs: float) -> WatchConfig:
    return WatchConfig(**{"dead_after_s": 5.0, "all_silent_after_s": 20.0, **kwargs})


def test_microphone_watch_dead_mic_raised_once_while_others_speak() -> None:
    watch, clock = MicrophoneWatch(config=fast(), in_session=True), Clock()
    alarms = run(watch, clock, [SPEECH, DEAD, QUIET, QUIET], 4.9)
    assert alarms == []
    alarms = run(watch, clock, [SPEECH, DEAD, QUIET, QUIET], 10.0)
    assert alarms == [
        MicrophoneAlarm(
            kind=AlarmKind.DEAD_MIC,
            state=AlarmState.RAISED,
            hearing_time=5.0,
            channel=1,
            role="原告",
            message="原告麦克风无信号 · 原告 microphone silent for 5.0 s while others spoke",
        )
    ]
    assert watch.active_alarms == tuple(alarms)


def test_microphone_watch_quiet_courtroom_raises_no_dead_mic() -> None:
    watch, clock = MicrophoneWatch(config=fast(all_silent_after_s=600), in_session=True), Clock()
    assert run(watch, clock, [DEAD, DEAD, DEAD, DEAD], 300.0) == []


def test_microphone_watch_counts_only_time_others_speak() -> None:
    watch, clock = MicrophoneWatch(config=fast(), in_session=True), Clock()
    # 3 s of speech, a 60-s pause (judge reading), then 2 s more speech: 5 s of evidence.
    assert run(watch, clock, [SPEECH, DEAD, QUIET, QUIET], 3.0) == []
    assert run(watch, clock, [QUIET, DEAD, QUIET, QUIET], 60.0) == []
    [alarm] = run(watch, clock, [QUIET, DEAD, SPEECH, QUIET], 2.0)
    assert alarm.kind is AlarmKind.DEAD_MIC and alarm.channel == 1
    assert alarm.hearing_time == pytest.approx(65.0)
    assert "silent for 65 s" in alarm.message


def test_microphone_watch_no_dead_mic_outside_session() -> None:
    watch, clock = MicrophoneWatch(config=fast()), Clock()
    assert not watch.in_session
    assert run(watch, clock, [SPEECH, DEAD, QUIET, QUIET], 30.0) == []
    watch.open_session()
    [alarm] = run(watch, clock, [SPEECH, DEAD, QUIET, QUIET], 5.0)
    assert alarm.hearing_time == pytest.approx(35.0)
    watch.close_session()
    # Still raised after the session closes; nothing new is raised.
    assert run(watch, clock, [SPEECH, DEAD, DEAD, QUIET], 30.0) == []
    assert [a.channel for a in watch.active_alarms] == [1]


def test_microphone_watch_dead_mic_cleared_when_channel_comes_back() -> None:
    watch, clock = MicrophoneWatch(config=fast(heard_after_s=0.3), in_session=True), Clock()
    run(watch, clock, [SPEECH, DEAD, QUIET, QUIET], 6.0)
    assert run(watch, clock, [SPEECH, QUIET, QUIET, QUIET], 0.2) == []  # not yet heard
    [cleared] = run(watch, clock, [SPEECH, QUIET, QUIET, QUIET], 0.1)
    assert cleared == MicrophoneAlarm(
        kind=AlarmKind.DEAD_MIC,
        state=AlarmState.CLEARED,
        hearing_time=pytest.approx(6.3),  # type: ignore[arg-type]
        channel=1,
        role="原告",
        message="原告麦克风恢复信号 · 原告 microphone back after 6.0 s of silence",
    )
    assert watch.active_alarms == ()
    # The silence count starts afresh: another 5 s of evidence is needed.
    assert run(watch, clock, [SPEECH, DEAD, QUIET, QUIET], 4.9) == []
    assert len(run(watch, clock, [SPEECH, DEAD, QUIET, QUIET], 0.1)) == 1


def test_microphone_watch_click_on_dead_line_does_not_reset_silence() -> None:
    watch, clock = MicrophoneWatch(config=fast(), in_session=True), Clock()
    run(watch, clock, [SPEECH, DEAD, QUIET, QUIET], 3.0)
    run(watch, clock, [SPEECH, -20.0, QUIET, QUIET], 0.1)  # a click, shorter than heard_after_s
    [alarm] = run(watch, clock, [SPEECH, DEAD, QUIET, QUIET], 2.0)
    assert alarm.hearing_time == pytest.approx(5.1)


def test_microphone_watch_all_silent_raised_and_cleared() -> None:
    watch, clock = MicrophoneWatch(config=fast(), in_session=True), Clock()
    alarms = run(watch, clock, [DEAD] * 4, 30.0)
    assert [(a.kind, a.state, round(a.hearing_time, 3)) for a in alarms] == [
        (AlarmKind.ALL_SILENT, AlarmState.RAISED, 20.0)
    ]
    assert alarms[0].channel is None and alarms[0].role is None
    assert alarms[0].message.startswith("所有麦克风20秒无声 · all microphones silent for 20 s")
    assert run(watch, clock, [DEAD, DEAD, DEAD, SPEECH], 0.2) == []
    [cleared] = run(watch, clock, [DEAD, DEAD, DEAD, SPEECH], 0.1)
    assert cleared.kind is AlarmKind.ALL_SILENT and cleared.state is AlarmState.CLEARED
    assert "after 30 s of silence" in cleared.message
    assert watch.active_alarms == ()


def test_microphone_watch_all_silent_counts_session_time_only() -> None:
    watch, clock = MicrophoneWatch(config=fast()), Clock()
    assert run(watch, clock, [DEAD] * 4, 60.0) == []  # recess before the session
    watch.open_session()
    assert run(watch, clock, [DEAD] * 4, 19.9) == []
    assert len(run(watch, clock, [DEAD] * 4, 0.1)) == 1


def test_microphone_watch_sustained_clipping_raised_and_cleared() -> None:
    watch, clock = MicrophoneWatch(config=fast(clip_min_s=0.5, clip_window_s=10.0)), Clock()
    loud = [-6.0, QUIET, QUIET, QUIET]
    # Clipping in one report in 25 (a syllable now and then): 0.4 s in any 10 s.
    sparse = []
    for k in range(200):
        sparse += watch.observe(clock.report(loud, clipped=[3 if k % 25 == 0 else 0, 0, 0, 0]))
    assert sparse == []
    alarms = []
    for k in range(50):
        alarms += watch.observe(clock.report(loud, clipped=[12 if k % 5 == 0 else 0, 0, 0, 0]))
    assert [(a.kind, a.state, a.channel) for a in alarms] == [
        (AlarmKind.CLIPPING, AlarmState.RAISED, 0)
    ]
    assert alarms[0].message == (
        "审判长麦克风削波失真 · 审判长 microphone clipping (0.5 s in the last 10 s): lower its gain"
    )
    raised_at = clock.frames / 16_000
    assert run(watch, clock, loud, 9.0) == []  # clipping still within the window
    [cleared] = run(watch, clock, loud, 2.0)
    assert cleared.state is AlarmState.CLEARED and cleared.channel == 0
    assert cleared.hearing_time - raised_at == pytest.approx(10.0 - 0.4, abs=0.15)


def test_microphone_watch_rejects_channel_count_change() -> None:
    watch, clock = MicrophoneWatch(), Clock()
    watch.observe(clock.report([QUIET] * 4))
    with pytest.raises(ValueError, match="3 channels"):
        watch.observe(clock.report([QUIET] * 3))


def test_microphone_alarm_json_and_validation() -> None:
    alarm = MicrophoneAlarm(
        kind=AlarmKind.DEAD_MIC,
        state=AlarmState.RAISED,
        hearing_time=61.23456,
        channel=2,
        role="被告",
        message="被告麦克风无信号 · 被告 microphone silent for 61 s while others spoke",
    )
    assert alarm.raised
    # The wire's one alarm shape: source microphone, subject the channel.
    assert alarm.to_json() == {
        "kind": "dead_mic",
        "active": True,
        "severity": "critical",
        "source": "microphone",
        "subject": "2",
        "role": "被告",
        "time": 61.235,
        "message": "被告麦克风无信号 · 被告 microphone silent for 61 s while others spoke",
    }
    assert alarm.to_alarm("h-1").hearing_id == "h-1"
    quiet = MicrophoneAlarm(AlarmKind.ALL_SILENT, AlarmState.CLEARED, 1.0, None, None, "x")
    assert quiet.to_json() == {
        "kind": "all_silent",
        "active": False,
        "severity": "critical",
        "source": "microphone",
        "time": 1.0,
        "message": "x",
    }
    with pytest.raises(ValueError, match="needs channel"):
        MicrophoneAlarm(AlarmKind.CLIPPING, AlarmState.RAISED, 1.0, None, None, "x")
    with pytest.raises(ValueError, match="has no channel"):
        MicrophoneAlarm(AlarmKind.ALL_SILENT, AlarmState.RAISED, 1.0, 0, "a", "x")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"silent_below_dbfs": -30.0, "speech_above_dbfs": -40.0},
        {"speech_above_dbfs": 1.0},
        {"silent_below_dbfs": -96.0},
        {"dead_after_s": 0.0},
        {"heard_after_s": -1.0},
        {"clip_min_s": 11.0, "clip_window_s": 10.0},
    ],
)
def test_watch_config_out_of_range_raises(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        WatchConfig(**kwargs)


def test_microphone_watch_from_meter_on_synthetic_pcm() -> None:
    """Meter and watch together: the alarm's hearing time comes from frame counts."""
    rate = 16_000
    rng = np.random.default_rng(3)
    meter = LevelMeter(rate=rate, roles=ROLES)
    watch = MicrophoneWatch(config=fast(dead_after_s=2.0), in_session=True)
    alarms: list[MicrophoneAlarm] = []
    frame = 0
    for _ in range(40):  # 4 s in blocks of 1/10 s at odd offsets
        n = 1111
        pcm = np.zeros((n, 4), dtype=np.int16)
        pcm[:, 0] = rng.normal(0, 2000, n)  # speech-level noise, about -24 dBFS
        pcm[:, 2] = rng.normal(0, 60, n)  # crosstalk, about -55 dBFS
        pcm[:, 3] = rng.normal(0, 60, n)  # channel 1 stays digital silence
        for report in meter.feed(AudioBlock(frame, pcm, 0.0)):
            alarms += watch.observe(report)
        frame += n
    assert [(a.kind, a.channel, a.hearing_time) for a in alarms] == [(AlarmKind.DEAD_MIC, 1, 2.0)]


def test_microphone_watch_status_snapshot() -> None:
    watch, clock = MicrophoneWatch(config=fast(), in_session=True), Clock()
    run(watch, clock, [SPEECH, DEAD, QUIET, QUIET], 6.0)
    status = watch.status()
    assert status["in_session"] is True
    assert status["silent_s"] == [0.0, 6.0, 0.0, 0.0]
    # The latest meter reading per seat, for the patrol view.
    assert [(lv["channel"], lv["rms_dbfs"]) for lv in status["levels"]] == [
        (0, SPEECH),
        (1, DEAD),
        (2, QUIET),
        (3, QUIET),
    ]
    assert [(a["kind"], a["subject"]) for a in status["alarms"]] == [("dead_mic", "1")]


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.lists(st.sampled_from([SPEECH, QUIET, DEAD, -3.0]), min_size=3, max_size=3),
            st.lists(st.sampled_from([0, 0, 0, 5]), min_size=3, max_size=3),
            st.integers(1, 40),
            st.sampled_from(["stay", "open", "close"]),
        ),
        max_size=30,
    )
)
def test_microphone_watch_alarms_alternate_raised_cleared(
    steps: list[tuple[list[float], list[int], int, str]],
) -> None:
    """Whatever the levels: each alarm is raised once, then cleared once, and so on."""
    watch, clock = MicrophoneWatch(config=fast(dead_after_s=1.0, all_silent_after_s=2.0)), Clock()
    active: set[tuple[AlarmKind, int | None]] = set()
    for rms, clipped, repeat, session in steps:
        if session == "open":
            watch.open_session()
        elif session == "close":
            watch.close_session()
        for _ in range(repeat):
            for alarm in watch.observe(clock.report(rms, clipped=clipped)):
                key = (alarm.kind, alarm.channel)
                if alarm.raised:
                    assert key not in active
                    active.add(key)
                else:
                    assert key in active
                    active.remove(key)
                assert alarm.hearing_time == pytest.approx(clock.frames / 16_000)
        assert {(a.kind, a.channel) for a in watch.active_alarms} == active
