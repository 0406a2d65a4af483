"""The engine against the real small Chinese model and real AISHELL-1 speech."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tests.fixtures.speech import cer, read_mono, write_wav
from transcription.assets import SpeechSample
from transcription.engine import TranscriptionEngine
from transcription.model import LoadedModel
from transcription.segments import Final, Partial

BLEED_DB = -25.0


def run(
    engine: TranscriptionEngine, pcm: npt.NDArray[np.int16], block: int
) -> list[tuple[int, object]]:
    """Feed ``pcm`` block by block; return (frames fed when emitted, result)."""
    out: list[tuple[int, object]] = []
    for i in range(0, len(pcm), block):
        out += [(i + block, r) for r in engine.process(pcm[i : i + block])]
    out += [(len(pcm), r) for r in engine.flush()]
    return out


def finals(results: list[tuple[int, object]]) -> list[Final]:
    return [r for _, r in results if isinstance(r, Final)]


def read_any(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        return data.reshape(-1, w.getnchannels()), w.getframerate()


def room_noise(frames: int, db: float = -60.0, seed: int = 1) -> npt.NDArray[np.int16]:
    """Steady background noise, as every real microphone picks up."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0.0, 32768 * 10 ** (db / 20), frames)).astype(np.int16)


def bleed(pcm: npt.NDArray[np.int16], db: float = BLEED_DB) -> npt.NDArray[np.int16]:
    return (pcm.astype(np.float64) * 10 ** (db / 20)).astype(np.int16)


@pytest.mark.parametrize("index", [0, 1])
def test_engine_aishell_clip_cer_within_5_percent(
    vosk_model: LoadedModel, speech: list[SpeechSample], index: int
) -> None:
    sample = speech[index]
    pcm = read_mono(sample.path)[:, None]
    engine = TranscriptionEngine(vosk_model, input_rate=16000, roles=["审判长"])
    got = finals(run(engine, pcm, 1600))
    text = "".join(f.text for f in got)
    assert cer(sample.text, text) <= 0.05, text
    assert all(f.role == "审判长" and f.channel == 0 for f in got)


FORMATS = [(16000, 1, 0), (44100, 2, 1), (48000, 4, 2)]


def transcribe_as(
    model: LoadedModel, clip: npt.NDArray[np.int16], tmp_path: Path, fmt: tuple[int, int, int]
) -> tuple[str, list[Final]]:
    """``clip`` on seat ``speaker`` of a ``channels``-microphone room at ``rate`` Hz."""
    rate, channels, speaker = fmt
    voice = np.concatenate([room_noise(8000), clip, room_noise(8000, seed=3)])
    lanes = [voice if c == speaker else bleed(voice) for c in range(channels)]
    src = write_wav(tmp_path / f"in16k-{channels}.wav", np.stack(lanes, axis=1), 16000)
    dst = tmp_path / f"in{rate}-{channels}.wav"
    if rate != 16000:  # resample with sox, independently of the engine's soxr
        subprocess.run(["sox", str(src), "-t", "wavpcm", "-r", str(rate), str(dst)], check=True)
    else:
        dst = src
    pcm, got_rate = read_any(dst)
    assert got_rate == rate and pcm.shape[1] == channels
    roles = ["审判长", "原告", "被告", "书记员"][:channels]
    engine = TranscriptionEngine(model, input_rate=rate, roles=roles)
    got = finals(run(engine, pcm, rate // 10))
    assert got and [f.channel for f in got] == [speaker] * len(got)
    assert got[0].role == roles[speaker]
    # Hearing clock: speech starts 0.5 s in; the first word cannot begin before it.
    assert 0.5 <= got[0].start < 1.2
    assert engine.hearing_time == pytest.approx(len(pcm) / rate, abs=0.02)
    return "".join(f.text for f in got), got


@pytest.mark.parametrize("index", [0, 1])
def test_engine_same_text_at_16k_mono_44k_stereo_48k_four_channels(
    vosk_model: LoadedModel, speech: list[SpeechSample], tmp_path: Path, index: int
) -> None:
    clip = read_mono(speech[index].path)
    texts = {fmt: transcribe_as(vosk_model, clip, tmp_path, fmt)[0] for fmt in FORMATS}
    # The same speech gives the same text whatever the capture format ...
    assert len(set(texts.values())) == 1, texts
    text = texts[FORMATS[0]]
    # ... the right text, written as Chinese is: no spaces between Han characters.
    assert cer(speech[index].text, text) <= 0.05, text
    assert not any(ch.isspace() for ch in text), repr(text)


def test_engine_crosstalk_each_utterance_once_on_speaker_channel(
    vosk_model: LoadedModel, speech: list[SpeechSample]
) -> None:
    a, b = (read_mono(s.path) for s in speech)
    gap = np.zeros(16000, np.int16)
    judge = np.concatenate([gap, a, gap, bleed(b), gap]) + room_noise(len(a) + len(b) + 48000)
    plaintiff = np.concatenate([gap, bleed(a), gap, b, gap]) + room_noise(
        len(a) + len(b) + 48000, seed=4
    )
    defendant = np.concatenate([gap, bleed(a, -30), gap, bleed(b, -20), gap])
    pcm = np.stack([judge, plaintiff, defendant], axis=1)
    engine = TranscriptionEngine(vosk_model, input_rate=16000, roles=["审判长", "原告", "被告"])
    got = finals(run(engine, pcm, 1600))
    assert [(f.role, f.channel) for f in got] == [("审判长", 0), ("原告", 1)]
    assert cer(speech[0].text, got[0].text) <= 0.05
    assert cer(speech[1].text, got[1].text) <= 0.05
    assert engine.recognizers_created == 1  # one speaker at a time: one recognizer


def test_engine_final_soon_after_end_of_speech_and_partials_first(
    vosk_model: LoadedModel, speech: list[SpeechSample]
) -> None:
    clip = read_mono(speech[1].path)
    pcm = np.concatenate([room_noise(16000), clip, room_noise(48000, seed=2)])[:, None]
    clip_end = (16000 + len(clip)) / 16000
    engine = TranscriptionEngine(vosk_model, input_rate=16000, roles=["原告"])
    results = run(engine, pcm, 1600)
    partial_at = [n for n, r in results if isinstance(r, Partial)]
    final_at = [(n, r) for n, r in results if isinstance(r, Final)]
    assert partial_at and len(final_at) == 1
    emitted, final = final_at[0]
    # Emitted (in audio time) at most endpoint (0.4 s) + one block after the
    # last sample of the utterance (the clip's end: it carries breath noise).
    assert emitted / 16000 - clip_end <= 0.4 + 0.1 + 0.05
    assert final.end <= clip_end
    assert partial_at[0] < emitted
    assert final.words and final.words[0].start >= 1.0 - 0.05
    assert all(w.start <= w.end for w in final.words)


def test_engine_hearing_offset_shifts_times(
    vosk_model: LoadedModel, speech: list[SpeechSample]
) -> None:
    pcm = read_mono(speech[0].path)[:, None]
    base = finals(run(TranscriptionEngine(vosk_model, input_rate=16000, roles=["x"]), pcm, 1600))
    shifted = finals(
        run(
            TranscriptionEngine(vosk_model, input_rate=16000, roles=["x"], hearing_offset=100.0),
            pcm,
            1600,
        )
    )
    assert shifted[0].start == pytest.approx(base[0].start + 100.0, abs=0.01)


def test_engine_rejects_wrong_channel_count(vosk_model: LoadedModel) -> None:
    engine = TranscriptionEngine(vosk_model, input_rate=16000, roles=["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        engine.process(np.zeros((160, 3), np.int16))


def test_engine_silence_gives_nothing(vosk_model: LoadedModel) -> None:
    engine = TranscriptionEngine(vosk_model, input_rate=16000, roles=["a"])
    rng = np.random.default_rng(1)
    noise = (rng.normal(0, 30, 16000 * 3)).astype(np.int16)[:, None]  # about -60 dBFS
    assert run(engine, noise, 1600) == []
    assert engine.recognizers_created == 0
