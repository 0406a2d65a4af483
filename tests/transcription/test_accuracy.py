"""The accuracy benchmark's machinery: scoring rules on made-up lines, one condition for real."""

from __future__ import annotations

import numpy as np
import pytest

from transcription.accuracy import (
    Score,
    live_engine,
    plain_vosk,
    score_finals,
    score_texts,
    transcribe_wav,
)
from transcription.assets import SpeechSample
from transcription.evalaudio import EvalAudio, Mix, Utterance, build_mono, load_clips
from transcription.model import LoadedModel
from transcription.segments import Final

FIRST, SECOND = "甚至出现交易几乎停滞的情况", "一二线城市虽然也处于调整中"


def line(channel: int, start: float, end: float, text: str) -> Final:
    return Final(channel=channel, role=f"声道{channel + 1}", start=start, end=end, text=text)


def test_score_finals_counts_a_stereo_line_written_twice_as_a_duplicate() -> None:
    both = frozenset({0, 1})
    utterances = [Utterance(0, 1.0, 5.0, FIRST, both), Utterance(0, 6.5, 10.3, SECOND, both)]
    finals = [
        line(0, 1.1, 4.8, FIRST),
        line(1, 1.1, 4.8, FIRST),  # the same talker again on the other channel
        line(0, 6.6, 10.0, SECOND),
    ]
    score = score_finals(utterances, finals)
    assert score == Score(0, 26, 2, 3, duplicates=1, wrong_seat=0, extra=0, split=0)


def test_score_finals_wrong_seat_split_and_extra_lines() -> None:
    utterances = [Utterance(0, 1.0, 5.0, FIRST), Utterance(2, 6.5, 10.3, SECOND)]
    finals = [
        line(0, 1.1, 2.5, "甚至出现交易"),  # split in two on the right seat,
        line(0, 3.0, 4.9, "几乎停住的情况"),  # one character wrong
        line(1, 6.6, 10.0, SECOND),  # on a neighbour's channel only
        line(3, 20.0, 21.0, "嗯"),  # nobody spoke then
    ]
    score = score_finals(utterances, finals)
    assert (score.split, score.wrong_seat, score.extra, score.duplicates) == (1, 1, 1, 0)
    assert score.edits == 1 + 1  # the substitution and the extra line's character
    assert score.cer == pytest.approx(2 / 26)


def test_score_finals_missing_utterance_costs_its_length() -> None:
    utterances = [Utterance(0, 1.0, 5.0, FIRST), Utterance(1, 1.2, 5.2, SECOND)]
    score = score_finals(utterances, [line(1, 1.3, 5.0, SECOND)])
    assert (score.edits, score.length, score.duplicates, score.wrong_seat) == (13, 26, 0, 0)


def test_score_texts_needs_one_text_per_utterance() -> None:
    with pytest.raises(ValueError, match="texts"):
        score_texts([Utterance(0, 0.0, 1.0, FIRST)], [])


def test_runners_refuse_hostile_arguments(vosk_model: LoadedModel) -> None:
    audio = EvalAudio(np.zeros((1600, 1), np.int16), 16000, (Utterance(0, 0.0, 0.1, FIRST),))
    with pytest.raises(ValueError, match="pad_s"):
        plain_vosk(vosk_model, audio, pad_s=-1.0)
    with pytest.raises(ValueError, match="block_ms"):
        live_engine(vosk_model, audio, block_ms=0)
    with pytest.raises(ValueError, match="margin"):
        score_finals(audio.utterances, [], margin=float("nan"))


@pytest.mark.slow
def test_accuracy_clean_condition_end_to_end(
    vosk_model: LoadedModel, speech: list[SpeechSample]
) -> None:
    audio = build_mono(load_clips(speech), Mix(rate=44100))
    plain = score_texts(audio.utterances, plain_vosk(vosk_model, audio))
    live = score_finals(audio.utterances, live_engine(vosk_model, audio))
    batch = score_finals(audio.utterances, transcribe_wav(vosk_model, audio))
    assert plain.length == 26 and plain.lines == 2
    assert plain.cer < 0.2
    for score in (live, batch):
        assert 0.0 <= score.cer < 0.5
        assert score.lines >= 1 and score.extra == 0
