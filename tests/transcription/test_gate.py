import numpy as np
import pytest

from transcription.gate import ChannelGate, GateConfig, GateEvent, frame_levels, voiced_frames


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
