"""Evaluation audio built from the repository's own real speech.

The accuracy benchmark (``bench/accuracy.py``) and the tests need courtroom
audio whose words are known: real Mandarin utterances (the AISHELL-1 demo
clips, :func:`transcription.assets.speech_samples`) placed on the layouts a
court's mixer delivers, mixed with noise at a chosen SNR, levelled and
re-rated. Everything here is pure numpy/soxr and deterministic: the same
arguments and ``seed`` give the same samples.

Every builder returns an :class:`EvalAudio`: int16 PCM of shape
``(frames, channels)``, its rate, and the reference :class:`Utterance` list
(channel, start and end of speech in seconds, text) a scorer matches
recognised lines against.

How a mix is made (:func:`render`, in float at the clips' own 16 kHz, full
scale 1.0):

1. each utterance is levelled (:func:`set_level`) and placed on its own seat's
   channel; every other channel hears it ``bleed_db`` quieter and
   ``BLEED_DELAY_MS`` per seat of distance later;
2. noise (:data:`NOISES`: ``steady`` shaped noise or ``babble``) is added at
   ``snr_db``, measured per channel over the *active part* of that channel's
   own (direct) speech: the mean power of the speech over its active 20-ms
   frames (:func:`active_mask`) against the mean power of the added noise
   over the same samples;
3. every channel gets its own quiet steady floor (``floor_dbfs``), as every
   real microphone hears something;
4. a soft limiter (:func:`limit`) keeps the mix inside full scale, the mix is
   re-rated with soxr to the requested rate and rounded to int16.

The AISHELL-1 clips carry their own room noise (about −58 dBFS) under the
speech; it stays part of "speech" here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from transcription.evalsignal import (
    ACTIVE_FRAME_MS,
    BASE_RATE,
    LEVEL_RANGE,
    RATES,
    SNR_RANGE,
    Clip,
    Float,
    Pcm,
    active_mask,
    active_rms_dbfs,
    babble_noise,
    cer,
    cer_counts,
    count_arg,
    finite_arg,
    insert_pause,
    limit,
    load_clips,
    mix_at_snr,
    rate_arg,
    read_wav,
    resample,
    set_level,
    steady_noise,
    to_int16,
    write_wav,
)

__all__ = [
    "ACTIVE_FRAME_MS",
    "BASE_RATE",
    "BLEED_DELAY_MS",
    "NOISES",
    "RATES",
    "Clip",
    "EvalAudio",
    "Mix",
    "Placement",
    "Utterance",
    "active_mask",
    "active_rms_dbfs",
    "babble_noise",
    "build_mono",
    "build_paused",
    "build_seats",
    "build_simultaneous",
    "build_stereo",
    "cer",
    "cer_counts",
    "insert_pause",
    "limit",
    "load_clips",
    "mix_at_snr",
    "read_wav",
    "render",
    "resample",
    "set_level",
    "steady_noise",
    "write_wav",
]

BLEED_DELAY_MS = 3.0
"""Extra delay of a neighbour's microphone per seat of distance (about 1 m)."""

NOISES: dict[str, str] = {
    "steady": "pink-to-brown shaped noise (1/f^1.5), a ventilated room",
    "babble": "a crowd: time-shifted, partly reversed copies of the real clips",
}


@dataclass(frozen=True, slots=True)
class Utterance:
    """One spoken reference line.

    Attributes:
        channel: the seat (channel) of the talker.
        start: start of speech (s), first active frame.
        end: end of speech (s), last active frame.
        text: what was said.
        accepted: channels on which a line counts as the right seat; by
            default only ``channel`` (a stereo file of one talker at equal
            gain accepts both).
    """

    channel: int
    start: float
    end: float
    text: str
    accepted: frozenset[int] = field(default=frozenset())

    def __post_init__(self) -> None:
        if self.channel < 0:
            raise ValueError(f"channel must be >= 0, got {self.channel}")
        if not self.end >= self.start >= 0:
            raise ValueError(f"utterance {self.text!r}: end {self.end} before start {self.start}")
        if not self.accepted:
            object.__setattr__(self, "accepted", frozenset({self.channel}))


@dataclass(frozen=True, slots=True)
class EvalAudio:
    """A built recording: PCM, its rate and what was said where.

    Attributes:
        pcm: int16, shape (frames, channels).
        rate: sample rate of ``pcm``.
        utterances: reference lines in start order.
        pauses: (start, end) seconds of inserted mid-sentence pauses.
    """

    pcm: Pcm
    rate: int
    utterances: tuple[Utterance, ...]
    pauses: tuple[tuple[float, float], ...] = ()

    @property
    def channels(self) -> int:
        return int(self.pcm.shape[1])

    @property
    def seconds(self) -> float:
        return len(self.pcm) / self.rate


@dataclass(frozen=True, slots=True)
class Mix:
    """How a layout is delivered: rate, speech level, noise and seed.

    Attributes:
        rate: output rate, one of :data:`RATES`.
        level_dbfs: active-speech RMS of each utterance, −40 to −6 (None: as recorded).
        noise: a key of :data:`NOISES`, or None.
        snr_db: SNR of ``noise`` (required with it), −10 to 60.
        floor_dbfs: every channel's own steady floor (None: none), −100 to −30.
        lead_s: background before the first and after the last utterance.
        seed: selects every random choice.

    Raises:
        ValueError: naming the field that is out of range.
    """

    rate: int = BASE_RATE
    level_dbfs: float | None = None
    noise: str | None = None
    snr_db: float | None = None
    floor_dbfs: float | None = -70.0
    lead_s: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        rate_arg("rate", self.rate)
        if self.level_dbfs is not None:
            finite_arg("level_dbfs", self.level_dbfs, *LEVEL_RANGE)
        if self.noise is not None and self.noise not in NOISES:
            raise ValueError(f"noise must be one of {sorted(NOISES)} or None, got {self.noise!r}")
        if (self.noise is None) != (self.snr_db is None):
            raise ValueError("snr_db must be given exactly when noise is")
        if self.snr_db is not None:
            finite_arg("snr_db", self.snr_db, *SNR_RANGE)
        if self.floor_dbfs is not None:
            finite_arg("floor_dbfs", self.floor_dbfs, -100.0, -30.0)
        finite_arg("lead_s", self.lead_s, 0.0, 10.0)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")


@dataclass(frozen=True, slots=True)
class Placement:
    """One utterance in a mix: samples (levelled), where, and what each channel hears.

    ``gains[c]`` and ``delays[c]`` (frames) say how channel ``c`` hears it;
    ``active`` is the speech's active part (default :func:`active_mask` of
    ``samples``), given when a pause was inserted into the clip.
    """

    clip: int
    samples: Float
    start: int
    channel: int
    text: str
    gains: tuple[float, ...]
    delays: tuple[int, ...]
    accepted: frozenset[int] = field(default=frozenset())
    active: npt.NDArray[np.bool_] | None = None


def render(placements: Sequence[Placement], clips: Sequence[Clip], mix: Mix) -> EvalAudio:
    """Mix placed utterances into an :class:`EvalAudio` (steps in the module docstring)."""
    if not placements:
        raise ValueError("placements: nothing to render")
    channels = len(placements[0].gains)
    lead = int(mix.lead_s * BASE_RATE)
    total = max(p.start + len(p.samples) + max(p.delays) for p in placements) + lead
    speech = np.zeros((total, channels))
    direct = np.zeros((total, channels))
    own_active = np.zeros((total, channels), dtype=np.bool_)
    utterances = []
    for p in placements:
        mask = active_mask(p.samples) if p.active is None else p.active
        n = len(p.samples)
        for c in range(channels):
            at = p.start + p.delays[c]
            speech[at : at + n, c] += p.samples * p.gains[c]
        direct[p.start : p.start + n, p.channel] += p.samples
        own_active[p.start : p.start + n, p.channel] |= mask
        first, last = int(np.argmax(mask)), n - int(np.argmax(mask[::-1]))
        utterances.append(
            Utterance(
                p.channel,
                (p.start + first) / BASE_RATE,
                (p.start + last) / BASE_RATE,
                p.text,
                p.accepted,
            )
        )
    out = speech
    if mix.noise is not None and mix.snr_db is not None:
        any_active: npt.NDArray[np.bool_] = np.asarray(own_active.any(axis=1), dtype=np.bool_)
        avoid = [(p.clip, p.start) for p in placements]
        for c in range(channels):
            active = own_active[:, c] if own_active[:, c].any() else any_active
            reference = direct[:, c] if own_active[:, c].any() else direct.sum(axis=1)
            noise = _NOISE_MAKERS[mix.noise](clips, total, mix.seed * 1000 + c, avoid)
            out[:, c] += mix_at_snr(reference, noise, mix.snr_db, active=active)
    if mix.floor_dbfs is not None:
        for c in range(channels):
            floor = steady_noise(total, seed=mix.seed * 1000 + 500 + c, color=0.5)
            out[:, c] += floor * 10 ** (mix.floor_dbfs / 20)
    pcm = to_int16(limit(out))
    if mix.rate != BASE_RATE:
        pcm = resample(pcm, BASE_RATE, mix.rate)
    ordered = tuple(sorted(utterances, key=lambda u: (u.start, u.channel)))
    return EvalAudio(pcm=pcm, rate=mix.rate, utterances=ordered)


def _steady(
    clips: Sequence[Clip], frames: int, seed: int, avoid: Sequence[tuple[int, int]]
) -> Float:
    return steady_noise(frames, seed=seed, color=1.5)


def _babble(
    clips: Sequence[Clip], frames: int, seed: int, avoid: Sequence[tuple[int, int]]
) -> Float:
    return babble_noise(clips, frames, seed=seed, avoid=avoid)


_NOISE_MAKERS: dict[str, Callable[[Sequence[Clip], int, int, Sequence[tuple[int, int]]], Float]] = {
    "steady": _steady,
    "babble": _babble,
}


def _levelled(clip: Clip, mix: Mix) -> Float:
    return clip.samples if mix.level_dbfs is None else set_level(clip.samples, mix.level_dbfs)


def _check_clips(clips: Sequence[Clip]) -> None:
    if not clips:
        raise ValueError("clips: at least one clip is needed")


def _turns(clips: Sequence[Clip], turns: int | None) -> int:
    return len(clips) if turns is None else count_arg("turns", turns, 1, 1000)


def build_mono(
    clips: Sequence[Clip], mix: Mix | None = None, *, pause_s: float = 1.0, turns: int | None = None
) -> EvalAudio:
    """One channel: ``turns`` utterances (clip ``k % len(clips)``) joined by ``pause_s``.

    Raises:
        ValueError: naming the argument out of range.
    """
    return build_stereo(clips, mix, pause_s=pause_s, turns=turns, channels=1)


def build_stereo(
    clips: Sequence[Clip],
    mix: Mix | None = None,
    *,
    pause_s: float = 1.0,
    turns: int | None = None,
    gain_db: float = 0.0,
    channels: int = 2,
) -> EvalAudio:
    """One talker on every channel; channels after the first ``gain_db`` louder or quieter.

    The reference line's channel is the loudest; at ``gain_db == 0`` every
    channel is accepted as the right seat (none is louder).

    Raises:
        ValueError: naming the argument out of range.
    """
    mix = mix or Mix()
    _check_clips(clips)
    finite_arg("pause_s", pause_s, 0.0, 30.0)
    finite_arg("gain_db", gain_db, -60.0, 60.0)
    count_arg("channels", channels, 1, 64)
    gains = (1.0,) + (10 ** (gain_db / 20),) * (channels - 1)
    loudest = 0 if gain_db <= 0 else 1
    accepted = frozenset(range(channels)) if gain_db == 0 else frozenset({loudest})
    placements = []
    at = int(mix.lead_s * BASE_RATE)
    for k in range(_turns(clips, turns)):
        clip = clips[k % len(clips)]
        samples = _levelled(clip, mix)
        placements.append(
            Placement(
                k % len(clips), samples, at, loudest, clip.text, gains, (0,) * channels, accepted
            )
        )
        at += len(samples) + int(pause_s * BASE_RATE)
    return render(placements, clips, mix)


def _seat_gains(
    seat: int, seats: int, bleed_db: float
) -> tuple[tuple[float, ...], tuple[int, ...]]:
    bleed = 10 ** (-bleed_db / 20)
    gains = tuple(1.0 if c == seat else bleed for c in range(seats))
    delays = tuple(round(abs(c - seat) * BLEED_DELAY_MS * BASE_RATE / 1000) for c in range(seats))
    return gains, delays


def build_seats(
    clips: Sequence[Clip],
    mix: Mix | None = None,
    *,
    seats: int = 4,
    turns: int | None = None,
    bleed_db: float = 24.0,
    pause_s: float = 1.0,
) -> EvalAudio:
    """A courtroom of ``seats`` microphones, one talker at a time.

    Turn ``k`` is clip ``k % len(clips)`` at seat ``k % seats`` (default: one
    turn per seat); every other microphone hears it ``bleed_db`` quieter and
    :data:`BLEED_DELAY_MS` per seat of distance later.

    Raises:
        ValueError: naming the argument out of range.
    """
    mix = mix or Mix()
    _check_clips(clips)
    count_arg("seats", seats, 1, 64)
    finite_arg("bleed_db", bleed_db, 0.0, 80.0)
    finite_arg("pause_s", pause_s, 0.0, 30.0)
    placements = []
    at = int(mix.lead_s * BASE_RATE)
    for k in range(seats if turns is None else count_arg("turns", turns, 1, 1000)):
        clip = clips[k % len(clips)]
        gains, delays = _seat_gains(k % seats, seats, bleed_db)
        samples = _levelled(clip, mix)
        placements.append(
            Placement(k % len(clips), samples, at, k % seats, clip.text, gains, delays)
        )
        at += len(samples) + int(pause_s * BASE_RATE)
    return render(placements, clips, mix)


def build_simultaneous(
    clips: Sequence[Clip],
    mix: Mix | None = None,
    *,
    seats: int = 2,
    talkers: int | None = None,
    bleed_db: float = 24.0,
    stagger_s: float = 0.3,
    rounds: int = 1,
    pause_s: float = 1.0,
) -> EvalAudio:
    """``talkers`` seats (default all) talking at once, each with a different clip.

    In round ``r`` seat ``k`` speaks clip ``(k + r) % len(clips)`` from
    ``k * stagger_s`` after the round starts; with more talkers than clips a
    clip repeats, shifted by the stagger. Rounds follow each other after
    ``pause_s`` of background. Bleed as in :func:`build_seats`.

    Raises:
        ValueError: naming the argument out of range.
    """
    mix = mix or Mix()
    _check_clips(clips)
    count_arg("seats", seats, 2, 64)
    count = seats if talkers is None else count_arg("talkers", talkers, 2, seats)
    finite_arg("bleed_db", bleed_db, 0.0, 80.0)
    finite_arg("stagger_s", stagger_s, 0.0, 10.0)
    count_arg("rounds", rounds, 1, 100)
    finite_arg("pause_s", pause_s, 0.0, 30.0)
    at = int(mix.lead_s * BASE_RATE)
    placements = []
    for r in range(rounds):
        end = at
        for k in range(count):
            index = (k + r) % len(clips)
            clip = clips[index]
            gains, delays = _seat_gains(k, seats, bleed_db)
            start = at + int(k * stagger_s * BASE_RATE)
            samples = _levelled(clip, mix)
            placements.append(Placement(index, samples, start, k, clip.text, gains, delays))
            end = max(end, start + len(samples))
        at = end + int(pause_s * BASE_RATE)
    return render(placements, clips, mix)


def build_paused(
    clips: Sequence[Clip],
    mix: Mix | None = None,
    *,
    pause_ms: int = 500,
    pause_s: float = 1.0,
    turns: int | None = None,
) -> EvalAudio:
    """Mono utterances, each with a ``pause_ms`` pause inserted mid-sentence.

    Each is still one reference line; ``EvalAudio.pauses`` says where the
    inserted pauses are (see :func:`insert_pause`).

    Raises:
        ValueError: naming the argument out of range.
    """
    mix = mix or Mix()
    _check_clips(clips)
    count_arg("pause_ms", pause_ms, 0, 5000)
    finite_arg("pause_s", pause_s, 0.0, 30.0)
    placements = []
    pauses = []
    at = int(mix.lead_s * BASE_RATE)
    for k in range(_turns(clips, turns)):
        clip = clips[k % len(clips)]
        levelled = _levelled(clip, mix)
        samples, cut = insert_pause(levelled, pause_ms)
        mask = active_mask(levelled)
        active = np.concatenate([mask[:cut], np.zeros(len(samples) - len(mask), bool), mask[cut:]])
        placements.append(
            Placement(k % len(clips), samples, at, 0, clip.text, (1.0,), (0,), active=active)
        )
        pauses.append(((at + cut) / BASE_RATE, (at + cut) / BASE_RATE + pause_ms / 1000))
        at += len(samples) + int(pause_s * BASE_RATE)
    built = render(placements, clips, mix)
    return EvalAudio(built.pcm, built.rate, built.utterances, tuple(pauses))
