"""Evaluation audio: SNR, level, rates and layouts as asked, hostile arguments refused.

Fast: numpy and soxr only, on the real AISHELL-1 clips (no Vosk).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from transcription.assets import SpeechSample
from transcription.evalaudio import (
    BASE_RATE,
    BLEED_DELAY_MS,
    RATES,
    Clip,
    EvalAudio,
    Mix,
    active_mask,
    active_rms_dbfs,
    babble_noise,
    build_mono,
    build_paused,
    build_seats,
    build_simultaneous,
    build_stereo,
    cer,
    cer_counts,
    insert_pause,
    limit,
    load_clips,
    mix_at_snr,
    read_wav,
    resample,
    set_level,
    steady_noise,
    write_wav,
)

Float = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def clips(speech: list[SpeechSample]) -> list[Clip]:
    return load_clips(speech)


def channel(audio: EvalAudio, c: int = 0) -> Float:
    return audio.pcm[:, c].astype(np.float64) / 32768.0


def clip_regions(clips: list[Clip], mix: Mix, pause_s: float = 1.0) -> list[slice]:
    """Where build_mono placed each clip (16 kHz frames)."""
    at = int(mix.lead_s * BASE_RATE)
    regions = []
    for clip in clips:
        regions.append(slice(at, at + len(clip.samples)))
        at += len(clip.samples) + int(pause_s * BASE_RATE)
    return regions


def power_db(x: Float) -> float:
    return 10.0 * math.log10(float(np.mean(np.square(x))))


# ---------------------------------------------------------------- CER


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("一二线城市", "一二线城市", 0.0),
        ("一二线城市", "一二 线，城市。", 0.0),  # spaces and punctuation ignored
        ("一二线城市", "一二三城市", 0.2),  # one substitution
        ("一二线城市", "一二城市", 0.2),  # one deletion
        ("一二线城市", "一二线城市了", 0.2),  # one insertion
        ("一二线城市", "", 1.0),
        ("iPhone 15", "ＩＰＨＯＮＥ１５", 0.0),  # width and case folded
        ("", "", 0.0),
        ("", "多余", 1.0),
    ],
)
def test_cer_known_cases(reference: str, hypothesis: str, expected: float) -> None:
    assert cer(reference, hypothesis) == pytest.approx(expected)


def test_cer_counts_sum_to_a_corpus_cer() -> None:
    pairs = [("甚至出现交易", "甚至出现"), ("一二线城市", "一二线城市")]
    counts = [cer_counts(r, h) for r, h in pairs]
    assert counts == [(2, 6), (0, 5)]
    assert sum(e for e, _ in counts) / sum(n for _, n in counts) == pytest.approx(2 / 11)


# ---------------------------------------------------------------- noise and SNR


def test_mix_at_snr_is_exact_on_the_active_samples(clips: list[Clip]) -> None:
    speech = clips[0].samples
    active = active_mask(speech)
    noise = steady_noise(len(speech), seed=3)
    scaled = mix_at_snr(speech, noise, 7.5, active=active)
    achieved = power_db(speech[active]) - power_db(scaled[active])
    assert achieved == pytest.approx(7.5, abs=1e-9)


@pytest.mark.parametrize("noise", ["steady", "babble"])
@pytest.mark.parametrize("snr", [20, 10, 5])
def test_build_mono_snr_within_half_a_db(clips: list[Clip], noise: str, snr: int) -> None:
    clean_mix = Mix(floor_dbfs=None)
    clean = channel(build_mono(clips, clean_mix))
    noisy = channel(build_mono(clips, Mix(floor_dbfs=None, noise=noise, snr_db=snr)))
    added = noisy - clean
    speech_parts, noise_parts = [], []
    for region in clip_regions(clips, clean_mix):
        mask = active_mask(clean[region])
        speech_parts.append(clean[region][mask])
        noise_parts.append(added[region][mask])
    achieved = power_db(np.concatenate(speech_parts)) - power_db(np.concatenate(noise_parts))
    assert abs(achieved - snr) <= 0.5, achieved


def test_steady_noise_is_seeded_shaped_and_unit_rms() -> None:
    a = steady_noise(BASE_RATE * 2, seed=1, color=1.5)
    assert np.array_equal(a, steady_noise(BASE_RATE * 2, seed=1, color=1.5))
    assert not np.array_equal(a, steady_noise(BASE_RATE * 2, seed=2, color=1.5))
    assert float(np.sqrt(np.mean(a**2))) == pytest.approx(1.0)
    spectrum = np.abs(np.fft.rfft(a)) ** 2
    freqs = np.fft.rfftfreq(len(a), 1 / BASE_RATE)
    low = spectrum[(freqs > 100) & (freqs < 400)].mean()
    high = spectrum[(freqs > 3000) & (freqs < 6000)].mean()
    assert 10 * math.log10(low / high) > 15  # falls towards high frequencies


def test_babble_never_doubles_the_utterance_in_step(clips: list[Clip]) -> None:
    clip = clips[0].samples
    at = BASE_RATE * 3
    babble = babble_noise(clips, at + len(clip) + BASE_RATE, seed=5, avoid=[(0, at)])
    part = babble[at : at + len(clip)]
    correlation = float(np.dot(part, clip) / (np.linalg.norm(part) * np.linalg.norm(clip)))
    assert abs(correlation) < 0.2
    # It is speech-like: loud and quiet stretches, not a steady hiss.
    levels = [power_db(babble[i : i + 1600]) for i in range(0, len(babble) - 1600, 1600)]
    assert max(levels) - min(levels) > 3.0


# ---------------------------------------------------------------- level


@pytest.mark.parametrize("level", [-40.0, -26.0, -6.0])
def test_build_mono_level_within_half_a_db(clips: list[Clip], level: float) -> None:
    mix = Mix(level_dbfs=level, floor_dbfs=None)
    audio = build_mono(clips, mix)
    x = channel(audio)
    for region in clip_regions(clips, mix):
        assert abs(active_rms_dbfs(x[region]) - level) <= 0.5


def test_limit_stays_within_full_scale() -> None:
    x = np.array([-100.0, -1.0, -0.4, 0.0, 0.3, 0.5, 0.9, 5.0])
    y = limit(x)
    assert np.all(np.abs(y) <= 1.0)
    assert np.all(np.abs(y[1:-1]) < 1.0)
    assert np.array_equal(y[2:6], x[2:6])  # below the knee: untouched
    assert np.all(np.diff(limit(np.linspace(-3, 3, 601))) > 0)  # monotonic


def test_set_level_loud_speech_is_not_hard_clipped(clips: list[Clip]) -> None:
    loud = limit(set_level(clips[1].samples, -6.0))
    assert active_rms_dbfs(loud) == pytest.approx(-6.0, abs=0.05)
    assert float(np.max(np.abs(loud))) < 1.0


# ---------------------------------------------------------------- rates


@pytest.mark.parametrize("rate", RATES)
def test_build_mono_rates(clips: list[Clip], rate: int) -> None:
    reference = build_mono(clips)
    audio = build_mono(clips, Mix(rate=rate))
    assert audio.rate == rate
    assert abs(audio.seconds - reference.seconds) < 2 / rate + 1e-9
    assert audio.utterances == reference.utterances
    level = active_rms_dbfs(channel(audio), rate)
    # 8 kHz loses the speech above 4 kHz; every other rate keeps the level.
    assert abs(level - active_rms_dbfs(channel(reference))) <= (1.5 if rate == 8000 else 0.2)


def test_resample_round_trip_keeps_the_waveform(clips: list[Clip]) -> None:
    pcm = np.rint(clips[0].samples * 32768).astype(np.int16)[:, None]
    there = resample(pcm, 16000, 44100)
    assert abs(len(there) - round(len(pcm) * 44100 / 16000)) <= 1
    back = resample(there, 44100, 16000)
    n = min(len(back), len(pcm))
    error = back[:n, 0].astype(np.float64) - pcm[:n, 0]
    assert power_db(pcm[:n, 0] / 32768.0) - power_db(error / 32768.0) > 40


def test_wav_round_trip(tmp_path: Path, clips: list[Clip]) -> None:
    audio = build_seats(clips, Mix(rate=22050), seats=3)
    pcm, rate = read_wav(write_wav(tmp_path / "x.wav", audio.pcm, audio.rate))
    assert rate == 22050
    assert np.array_equal(pcm, audio.pcm)


# ---------------------------------------------------------------- layouts


def test_build_stereo_same_talker_on_both_channels(clips: list[Clip]) -> None:
    same = build_stereo(clips, Mix(floor_dbfs=None))
    assert same.channels == 2
    assert np.array_equal(same.pcm[:, 0], same.pcm[:, 1])
    assert all(u.accepted == {0, 1} for u in same.utterances)
    quieter = build_stereo(clips, Mix(floor_dbfs=None), gain_db=-6.0)
    difference = power_db(channel(quieter, 0)) - power_db(channel(quieter, 1))
    assert difference == pytest.approx(6.0, abs=0.05)
    assert all(u.channel == 0 and u.accepted == {0} for u in quieter.utterances)


def test_build_seats_bleed_level_and_delay(clips: list[Clip]) -> None:
    audio = build_seats(clips, Mix(floor_dbfs=None), seats=4, bleed_db=24.0)
    assert [u.channel for u in audio.utterances] == [0, 1, 2, 3]
    assert [u.text for u in audio.utterances] == [clips[k % 2].text for k in range(4)]
    first = audio.utterances[0]
    region = slice(int(first.start * BASE_RATE), int(first.end * BASE_RATE))
    own = channel(audio, 0)[region]
    for other in (1, 2, 3):
        heard = channel(audio, other)[region]
        assert power_db(own) - power_db(heard) == pytest.approx(24.0, abs=0.5)
        lags = range(0, 400)
        best = max(lags, key=lambda lag: float(np.dot(own[: len(own) - lag], heard[lag:])))
        assert best == round(other * BLEED_DELAY_MS * BASE_RATE / 1000)


def test_build_seats_each_channel_has_its_own_noise(clips: list[Clip]) -> None:
    audio = build_seats(clips, Mix(noise="steady", snr_db=20), seats=3)
    lead = audio.pcm[: BASE_RATE // 2].astype(np.float64)
    correlation = np.corrcoef(lead.T)
    assert np.all(np.abs(correlation[np.triu_indices(3, 1)]) < 0.1)


def test_build_simultaneous_two_talkers_overlap_on_two_seats(clips: list[Clip]) -> None:
    audio = build_simultaneous(clips, Mix(rate=48000), seats=4, talkers=2, rounds=2)
    assert audio.channels == 4
    first, second = audio.utterances[:2]
    assert {first.channel, second.channel} == {0, 1}
    assert first.text != second.text
    assert min(first.end, second.end) - max(first.start, second.start) > 2.0
    assert len(audio.utterances) == 4


def test_build_paused_inserts_background_mid_sentence(clips: list[Clip]) -> None:
    plain = build_mono(clips, Mix(floor_dbfs=None))
    paused = build_paused(clips, Mix(floor_dbfs=None), pause_ms=500)
    assert [u.text for u in paused.utterances] == [c.text for c in clips]
    x = channel(paused)
    for u, before, (start, end) in zip(
        paused.utterances, plain.utterances, paused.pauses, strict=True
    ):
        assert u.start < start < end < u.end
        assert end - start == pytest.approx(0.5)
        assert (u.end - u.start) - (before.end - before.start) == pytest.approx(0.5, abs=0.03)
        speech_level = active_rms_dbfs(x[int(u.start * BASE_RATE) : int(u.end * BASE_RATE)])
        gap = x[int(start * BASE_RATE) : int(end * BASE_RATE)]
        assert power_db(gap) < speech_level - 15.0


def test_insert_pause_cuts_near_the_middle(clips: list[Clip]) -> None:
    x = clips[1].samples
    y, at = insert_pause(x, 300)
    assert len(y) == len(x) + 300 * BASE_RATE // 1000
    assert 0.3 * len(x) < at < 0.7 * len(x)
    assert np.array_equal(y[:at], x[:at])
    assert np.array_equal(y[at + 4800 :], x[at:])


def test_builders_are_deterministic(clips: list[Clip]) -> None:
    mix = Mix(noise="babble", snr_db=10, rate=44100, seed=4)
    assert np.array_equal(build_seats(clips, mix).pcm, build_seats(clips, mix).pcm)
    other = Mix(noise="babble", snr_db=10, rate=44100, seed=5)
    assert not np.array_equal(build_seats(clips, mix).pcm, build_seats(clips, other).pcm)


# ---------------------------------------------------------------- hostile arguments

HOSTILE: list[tuple[str, Callable[[list[Clip]], Any]]] = [
    ("rate", lambda c: Mix(rate=44000)),
    ("level_dbfs", lambda c: Mix(level_dbfs=-3.0)),
    ("level_dbfs", lambda c: Mix(level_dbfs=float("nan"))),
    ("noise", lambda c: Mix(noise="pink", snr_db=10)),
    ("snr_db", lambda c: Mix(noise="steady")),
    ("snr_db", lambda c: Mix(noise="babble", snr_db=float("inf"))),
    ("floor_dbfs", lambda c: Mix(floor_dbfs=0.0)),
    ("seed", lambda c: Mix(seed=-1)),
    ("clips", lambda c: build_mono([])),
    ("turns", lambda c: build_mono(c, turns=0)),
    ("pause_s", lambda c: build_mono(c, pause_s=-1.0)),
    ("gain_db", lambda c: build_stereo(c, gain_db=float("inf"))),
    ("seats", lambda c: build_seats(c, seats=0)),
    ("bleed_db", lambda c: build_seats(c, bleed_db=-3.0)),
    ("talkers", lambda c: build_simultaneous(c, seats=4, talkers=5)),
    ("rounds", lambda c: build_simultaneous(c, rounds=0)),
    ("pause_ms", lambda c: build_paused(c, pause_ms=-1)),
    ("frames", lambda c: steady_noise(0, seed=0)),
    ("color", lambda c: steady_noise(100, seed=0, color=3.0)),
    ("talkers", lambda c: babble_noise(c, 100, seed=0, talkers=3)),
    ("to_rate", lambda c: resample(np.zeros((10, 1), np.int16), 16000, 11025)),
    ("level_dbfs", lambda c: set_level(c[0].samples, -50.0)),
    ("snr_db", lambda c: mix_at_snr(np.ones(4), np.ones(4), 99.0, active=np.ones(4, bool))),
    ("active", lambda c: mix_at_snr(np.ones(4), np.ones(4), 9.0, active=np.zeros(4, bool))),
]


@pytest.mark.parametrize(
    ("name", "call"), HOSTILE, ids=[f"{n}-{i}" for i, (n, _) in enumerate(HOSTILE)]
)
def test_hostile_arguments_refused_naming_the_argument(
    clips: list[Clip], name: str, call: Callable[[list[Clip]], Any]
) -> None:
    with pytest.raises(ValueError, match=name):
        call(clips)
