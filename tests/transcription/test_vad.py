"""Trained speech detectors: the installed Silero model on real speech, the installer, the table.

The installer is exercised against a real loopback package index serving a
wheel (tests/test_assets.py); the detectors run the real Silero ONNX model and
WebRTC's VAD on the AISHELL-1 clips.
"""

from __future__ import annotations

import logging
import typing
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from courtroom_agent.config import ConfigError, SpeechDetector, load_agent_config
from tests.test_assets import TIMEOUT, FileServer, refused_url, server, sha256
from transcription.assets import InstallError, WheelMember, speech_samples
from transcription.evalaudio import active_mask, load_clips
from transcription.model import LoadedModel
from transcription.models_cli import speech_dir_from_env
from transcription.vad import (
    DETECTORS,
    SileroDetector,
    VadModelSpec,
    WebRtcDetector,
    install_vad_model,
    installed_vad_model,
    make_detector,
    vad_model_path,
)

__all__ = ["server"]

RATE = 16000
FRAME = RATE // 100


def clip(index: int = 0) -> npt.NDArray[np.int16]:
    """A real AISHELL-1 utterance at 16 kHz."""
    samples = load_clips(speech_samples(speech_dir=speech_dir_from_env()))[index].samples
    return np.round(samples * 32767).astype(np.int16)


def with_silence(pcm: npt.NDArray[np.int16], seconds: float = 1.0) -> npt.NDArray[np.int16]:
    gap = np.zeros(int(seconds * RATE), dtype=np.int16)
    return np.concatenate([gap, pcm, gap])


def frames_of(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """A per-sample mask as per-10-ms-frame (any sample set)."""
    n = len(mask) // FRAME
    return np.asarray(mask[: n * FRAME].reshape(n, FRAME).any(axis=1))


@pytest.fixture(scope="module")
def model_path() -> Path:
    path = installed_vad_model()
    assert path.is_file(), "make setup installs the Silero VAD model (courtroom models vad)"
    return path


@pytest.mark.parametrize("name", ["silero", "webrtc"])
def test_detector_finds_real_speech_and_not_silence(model_path: Path, name: str) -> None:
    pcm = with_silence(clip(0))
    detector = make_detector(name, rate=RATE, channels=1, threshold=0.5, model=model_path)
    assert detector is not None
    decided = np.concatenate(
        [detector.speech(pcm[at : at + 1600, None]) for at in range(0, len(pcm), 1600)]
    )
    truth = frames_of(active_mask(pcm.astype(np.float32) / 32768.0))[: len(decided)]
    voiced = decided[:, 0]
    lead = RATE // FRAME  # the first second is digital silence
    assert not voiced[: lead - 5].any(), "speech heard in digital silence"
    recall = (voiced & truth).sum() / truth.sum()
    assert recall > 0.8, f"{name}: only {recall:.0%} of the speech frames heard"


def test_silero_batched_channels_decide_as_one_channel_each(model_path: Path) -> None:
    speech = with_silence(clip(0), 0.5)
    noise = (np.random.default_rng(1).normal(0, 300, len(speech))).astype(np.int16)
    both = np.stack([speech, noise], axis=1)
    together = SileroDetector(model_path, rate=RATE, channels=2, threshold=0.5)
    alone = [SileroDetector(model_path, rate=RATE, channels=1, threshold=0.5) for _ in range(2)]
    block = 1000  # not a multiple of the 512-sample window: decisions carry over blocks
    got = np.concatenate(
        [together.speech(both[at : at + block]) for at in range(0, len(both), block)]
    )
    for c in range(2):
        own = np.concatenate(
            [alone[c].speech(both[at : at + block, c : c + 1]) for at in range(0, len(both), block)]
        )
        assert np.array_equal(got[:, c], own[:, 0])
    assert got[:, 0].sum() > 100 and got[:, 1].sum() == 0


def test_silero_needs_8_or_16_khz(model_path: Path) -> None:
    with pytest.raises(ValueError, match="8 or 16 kHz"):
        SileroDetector(model_path, rate=44100, channels=1, threshold=0.5)


def test_detector_table_matches_the_agent_config() -> None:
    assert set(typing.get_args(SpeechDetector)) == set(DETECTORS)
    assert make_detector("energy", rate=RATE, channels=2, threshold=0.5, model=None) is None


def test_unknown_detector_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown speech detector 'gmm'.*silero"):
        make_detector("gmm", rate=RATE, channels=1, threshold=0.5, model=None)


def test_missing_or_damaged_silero_model_falls_back_to_webrtc(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    damaged = tmp_path / "silero_vad.onnx"
    damaged.write_bytes(b"not a model")
    for model in (tmp_path / "absent.onnx", damaged, None):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="transcription.vad"):
            detector = make_detector("silero", rate=RATE, channels=2, threshold=0.5, model=model)
        assert isinstance(detector, WebRtcDetector)
        assert "WebRTC" in caplog.text and "courtroom models vad" in caplog.text


def test_engine_runs_with_every_detector(vosk_model: LoadedModel, model_path: Path) -> None:
    from transcription.engine import TranscriptionEngine
    from transcription.gate import GateConfig
    from transcription.segments import Final

    pcm = with_silence(clip(1), 0.8)
    texts = {}
    for name in DETECTORS:
        engine = TranscriptionEngine(
            vosk_model, input_rate=RATE, roles=["审判长"], gate=GateConfig(detector=name)
        )
        results = [
            r for at in range(0, len(pcm), 1600) for r in engine.process(pcm[at : at + 1600, None])
        ]
        results += engine.flush()
        texts[name] = "".join(r.text for r in results if isinstance(r, Final))
    for name, text in texts.items():
        assert len(text) >= 8, f"{name}: {text!r}"


# --- the installer, against a loopback package index -------------------------

BODY = b"an onnx model, as far as the installer cares"
MEMBER = "fake_vad/data/model.onnx"


def fake_spec(expected: str = sha256(BODY)) -> VadModelSpec:
    return VadModelSpec(WheelMember("fake-vad", "1.0", MEMBER), expected, "model.onnx")


def test_install_fetches_verifies_and_is_offline_the_second_time(
    server: FileServer, tmp_path: Path
) -> None:
    index = server.add_wheel("fake-vad", "1.0", {MEMBER: BODY})
    path = install_vad_model(tmp_path, index_url=index, spec=fake_spec(), timeout=TIMEOUT)
    assert path == vad_model_path(tmp_path, fake_spec()) and path.read_bytes() == BODY
    asked = len(server.requests)
    again = install_vad_model(tmp_path, index_url=refused_url(), spec=fake_spec(), timeout=TIMEOUT)
    assert again == path and len(server.requests) == asked


def test_install_wrong_hash_leaves_nothing_and_names_the_wheel(
    server: FileServer, tmp_path: Path
) -> None:
    index = server.add_wheel("fake-vad", "1.0", {MEMBER: BODY})
    with pytest.raises(InstallError, match="fake-vad") as caught:
        install_vad_model(tmp_path, index_url=index, spec=fake_spec("0" * 64), timeout=TIMEOUT)
    assert "voice activity model" in str(caught.value)
    leftover = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftover == []


def test_install_repairs_a_damaged_model(server: FileServer, tmp_path: Path) -> None:
    index = server.add_wheel("fake-vad", "1.0", {MEMBER: BODY})
    dest = vad_model_path(tmp_path, fake_spec())
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"truncated")
    install_vad_model(tmp_path, index_url=index, spec=fake_spec(), timeout=TIMEOUT)
    assert dest.read_bytes() == BODY


def test_install_unreachable_index_raises(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="fake-vad"):
        install_vad_model(tmp_path, index_url=refused_url(), spec=fake_spec(), timeout=TIMEOUT)


# --- the agent's [transcription] section ---------------------------------------

ROOM = """
[courtroom]
id = "fy-01"
name = "第一法庭"

[hub]
url = "ws://127.0.0.1:1/ws/agent"
token = "t"

[audio]
source = "wav"
file = "{wav}"
roles = ["审判长"]

[transcription]
{extra}
"""


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ('detector = "gmm"', "detector"),
        ("speech_threshold = 1.5", "speech_threshold"),
        ("speech_threshold = nan", "speech_threshold"),
        ("endpoint_ms = 50", "endpoint_ms"),
        ("min_level_dbfs = 3.0", "min_level_dbfs"),
    ],
)
def test_agent_config_refuses_hostile_transcription_values(
    tmp_path: Path, extra: str, field: str
) -> None:
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    path = tmp_path / "room.toml"
    path.write_text(ROOM.format(wav=wav, extra=extra), encoding="utf-8")
    with pytest.raises(ConfigError, match=f"transcription.{field}"):
        load_agent_config(path)


def test_agent_config_defaults_to_silero_and_a_500_ms_endpoint(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    path = tmp_path / "room.toml"
    path.write_text(ROOM.format(wav=wav, extra='detector = "webrtc"'), encoding="utf-8")
    assert load_agent_config(path).transcription.detector == "webrtc"
    path.write_text(ROOM.format(wav=wav, extra=""), encoding="utf-8")
    config = load_agent_config(path).transcription
    assert (config.detector, config.endpoint_ms) == ("silero", 500)
