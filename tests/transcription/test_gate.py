import numpy as np
import pytest

from transcription.gate import (
    ChannelGate,
    GateConfig,
    GateEvent,
    distinct_channels,
    frame_levels,
    voiced_frames,
)


def tone(seconds: float, db: float, rate: int = 16000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    amp = 32767 * 10 ** (db / 20) * np.sqrt(2)
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def test_frame_levels_rms_dbfs() -> None:
    pcm = np.stack([tone(0.1, -20.0), np.zeros(1600, np.int16)], axis=1)
    levels = frame_levels(pcm, 160)
    assert levels.shape == (10, 2)
    assert np.allclose(levels[:, 0], -20.0, atol=0.3)
    assert np.all(levels[:, 1] == -96.0)


def test_voiced_frames_rejects_crosstalk_of_louder_channel() -> None:
    config = GateConfig()
    loud = tone(0.2, -20.0)
    bleed = tone(0.2, -45.0)  # 25 dB quieter: the neighbour's microphone
    levels = frame_levels(np.stack([loud, bleed], axis=1), 160)
    floors = np.full(2, -80.0)
    voiced = voiced_frames(levels, floors, config)
    assert voiced[:, 0].all()
    assert not voiced[:, 1].any()


def test_voiced_frames_keeps_overlapping_speakers() -> None:
    levels = frame_levels(np.stack([tone(0.2, -20.0), tone(0.2, -26.0)], axis=1), 160)
    voiced = voiced_frames(levels, np.full(2, -80.0), GateConfig())
    assert voiced.all()


def test_voiced_frames_noise_floor_adapts_to_steady_noise() -> None:
    config = GateConfig(floor_rise_db_per_s=6.0)
    noise = tone(20.0, -40.0)
    levels = frame_levels(noise[:, None], 160)
    floors = np.full(1, -80.0)
    voiced = voiced_frames(levels, floors, config)
    assert voiced[:10].all()  # at first steady noise looks like speech
    assert not voiced[-100:].any()  # after the floor rose to it, it does not
    assert floors[0] == pytest.approx(-40.0, abs=0.5)


def test_channel_gate_opens_after_onset_and_closes_after_endpoint() -> None:
    config = GateConfig(onset_ms=50, endpoint_ms=400)
    gate = ChannelGate(config)
    events = [gate.step(v) for v in [False] * 3 + [True] * 5]
    assert events[-1] is GateEvent.BEGIN and events.count(GateEvent.BEGIN) == 1
    events = [gate.step(v) for v in [True] * 10 + [False] * 39]
    assert GateEvent.END not in events
    assert gate.step(False) is GateEvent.END
    assert not gate.in_speech


def test_channel_gate_isolated_clicks_do_not_open() -> None:
    gate = ChannelGate(GateConfig(onset_ms=50))
    events = [gate.step(i % 4 == 0) for i in range(200)]
    assert GateEvent.BEGIN not in events


def test_channel_gate_long_utterance_is_cut() -> None:
    gate = ChannelGate(GateConfig(max_utterance_ms=1000))
    events = [gate.step(True) for _ in range(250)]
    assert GateEvent.END in events
    assert events.index(GateEvent.END) <= 5 + 200


def test_gate_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="frame_ms"):
        GateConfig(frame_ms=15)
    with pytest.raises(ValueError, match="endpoint_ms"):
        GateConfig(endpoint_ms=5)


def distinct(pcm: np.ndarray, holding: list[bool] | None = None) -> np.ndarray:
    levels = frame_levels(pcm, 160)
    voiced = np.ones(levels.shape, dtype=np.bool_)
    held = np.array(holding if holding is not None else [False] * pcm.shape[1])
    return distinct_channels(
        pcm, voiced, levels, frame_len=160, rate=16000, threshold=0.7, holding=held
    )


def talker(seed: int, seconds: float = 0.1, db: float = -20.0) -> np.ndarray:
    """Noise-like 'speech' of one talker: uncorrelated with any other seed's."""
    x = np.random.default_rng(seed).normal(0.0, 1.0, int(seconds * 16000))
    return (x / np.sqrt(np.mean(x**2)) * 32767 * 10 ** (db / 20)).astype(np.int16)


def test_distinct_channels_one_signal_on_two_inputs_is_kept_once() -> None:
    voice = talker(1)
    voiced = distinct(np.stack([voice, voice], axis=1))
    assert voiced[:, 0].all() and not voiced[:, 1].any()  # a tie goes to the lower channel


def test_distinct_channels_keeps_the_louder_copy_and_a_delayed_copy_is_a_copy() -> None:
    voice = talker(2)
    quieter = (voice * 0.5).astype(np.int16)
    delayed = np.concatenate([np.zeros(48, np.int16), voice[:-48]])  # 3 ms later
    voiced = distinct(np.stack([quieter, voice, delayed], axis=1))
    assert voiced[:, 1].all()
    assert not voiced[:, 0].any() and not voiced[:, 2].any()


def test_distinct_channels_two_people_at_once_are_both_kept() -> None:
    voiced = distinct(np.stack([talker(3), talker(4, db=-23.0)], axis=1))
    assert voiced.all()


def test_distinct_channels_the_channel_holding_the_line_keeps_it() -> None:
    voice = talker(5)
    louder = (voice.astype(np.float64) * 1.4).astype(np.int16)  # +3 dB, less than the hold bonus
    voiced = distinct(np.stack([voice, louder], axis=1), holding=[True, False])
    assert voiced[:, 0].all() and not voiced[:, 1].any()


def test_distinct_channels_one_voiced_channel_costs_nothing() -> None:
    pcm = np.stack([talker(6), talker(6)], axis=1)
    levels = frame_levels(pcm, 160)
    voiced = np.zeros(levels.shape, dtype=np.bool_)
    voiced[:, 0] = True
    same = distinct_channels(
        pcm, voiced, levels, frame_len=160, rate=16000, threshold=0.7, holding=np.zeros(2, bool)
    )
    assert same is voiced


def test_voiced_frames_trusts_the_detector_but_not_below_min_level_or_under_crosstalk() -> None:
    config = GateConfig()
    levels = frame_levels(
        np.stack([tone(0.1, -20.0), tone(0.1, -45.0), tone(0.1, -70.0)], axis=1), 160
    )
    speech = np.ones(levels.shape, dtype=np.bool_)
    voiced = voiced_frames(levels, np.full(3, -96.0), config, speech)
    assert voiced[:, 0].all()
    assert not voiced[:, 1].any()  # a neighbour's bleed: 25 dB under the loudest
    assert not voiced[:, 2].any()  # under min_level_dbfs
    speech[:, 0] = False
    assert not voiced_frames(levels, np.full(3, -96.0), config, speech)[:, 0].any()
