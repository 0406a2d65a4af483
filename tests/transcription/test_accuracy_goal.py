"""Issue 14's bar, on real speech at the rates a courtroom mixer delivers (44.1 and 48 kHz).

The live pipeline hears a noisy clip at least as well as plain Vosk given
each whole utterance; a stereo file of one talker gives each line once; two
people talking at once on two seats give two lines; a 300–500 ms pause inside
a sentence does not split it; ``courtroom transcribe`` writes what the live
pipeline writes. The audio is built from the AISHELL-1 clips
(:mod:`transcription.evalaudio`), so every reference is known.
"""

from __future__ import annotations

import pytest

from transcription.accuracy import (
    live_engine,
    plain_vosk,
    score_finals,
    score_texts,
    transcribe_wav,
)
from transcription.assets import SpeechSample
from transcription.evalaudio import (
    Clip,
    EvalAudio,
    Mix,
    build_mono,
    build_paused,
    build_simultaneous,
    build_stereo,
    load_clips,
)
from transcription.model import LoadedModel
from transcription.segments import Final

pytestmark = pytest.mark.slow

RATES = [44100, 48000]


@pytest.fixture(scope="module")
def clips(speech: list[SpeechSample]) -> list[Clip]:
    return load_clips(speech)


def describe(finals: list[Final]) -> list[tuple[int, str]]:
    return [(f.channel, f.text) for f in finals]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("noise", ["steady", "babble"])
def test_noisy_clip_at_least_as_accurate_as_plain_vosk(
    vosk_model: LoadedModel, clips: list[Clip], rate: int, noise: str
) -> None:
    audio = build_mono(clips, Mix(rate=rate, noise=noise, snr_db=10.0))
    plain = score_texts(audio.utterances, plain_vosk(vosk_model, audio))
    finals = live_engine(vosk_model, audio)
    live = score_finals(audio.utterances, finals)
    assert plain.cer > 0.0, "the noise should cost plain Vosk something, or this proves nothing"
    assert live.cer <= plain.cer, f"live {live.cer:.3f} > plain {plain.cer:.3f}: {describe(finals)}"
    assert (live.lines, live.split, live.extra) == (2, 0, 0), describe(finals)


@pytest.mark.parametrize("rate", RATES)
def test_courtroom_transcribe_writes_what_the_live_pipeline_writes(
    vosk_model: LoadedModel, clips: list[Clip], rate: int
) -> None:
    audio = build_mono(clips, Mix(rate=rate, noise="babble", snr_db=10.0))
    assert describe(transcribe_wav(vosk_model, audio)) == describe(live_engine(vosk_model, audio))


@pytest.mark.parametrize("rate", RATES)
def test_stereo_file_of_one_talker_gives_each_line_once(
    vosk_model: LoadedModel, clips: list[Clip], rate: int
) -> None:
    audio = build_stereo(clips, Mix(rate=rate))
    assert audio.channels == 2
    plain = score_texts(audio.utterances, plain_vosk(vosk_model, audio))
    for finals in (live_engine(vosk_model, audio), transcribe_wav(vosk_model, audio)):
        score = score_finals(audio.utterances, finals)
        assert score.duplicates == 0 and score.lines == 2, describe(finals)
        assert score.cer <= plain.cer, describe(finals)


@pytest.mark.parametrize("rate", RATES)
def test_two_people_talking_at_once_give_two_lines_on_their_seats(
    vosk_model: LoadedModel, clips: list[Clip], rate: int
) -> None:
    audio = build_simultaneous(clips, Mix(rate=rate), seats=2, stagger_s=0.3)
    first, second = audio.utterances
    assert first.start < second.start < first.end  # they really overlap
    finals = live_engine(vosk_model, audio)
    score = score_finals(audio.utterances, finals)
    plain = score_texts(audio.utterances, plain_vosk(vosk_model, audio))
    assert sorted(f.channel for f in finals) == [0, 1], describe(finals)
    assert (score.duplicates, score.wrong_seat, score.split) == (0, 0, 0), describe(finals)
    assert score.cer <= plain.cer, describe(finals)


def one_sentence_each(audio: EvalAudio, finals: list[Final]) -> None:
    score = score_finals(audio.utterances, finals)
    assert score.split == 0 and score.lines == len(audio.utterances), describe(finals)
    assert score.cer <= 0.2, describe(finals)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("pause_ms", [300, 400, 500])
def test_mid_sentence_pause_does_not_split_the_sentence(
    vosk_model: LoadedModel, clips: list[Clip], rate: int, pause_ms: int
) -> None:
    audio = build_paused(clips, Mix(rate=rate), pause_ms=pause_ms)
    assert len(audio.pauses) == len(audio.utterances)
    one_sentence_each(audio, live_engine(vosk_model, audio))
