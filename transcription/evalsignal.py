"""Signal pieces of the evaluation audio: CER, levels, noise, rates, pauses, WAV files.

Pure numpy/soxr and deterministic (every random choice is seeded). The
layouts that put these together are in :mod:`transcription.evalaudio`, which
re-exports everything here; samples are float64 with full scale 1.0 at the
clips' own :data:`BASE_RATE` until a mix is rounded to int16.
"""

from __future__ import annotations

import math
import unicodedata
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

from av.audio import AudioSourceError
from av.wav_source import decode_samples, parse_wav_header
from transcription.assets import SpeechSample

__all__ = [
    "ACTIVE_FRAME_MS",
    "BASE_RATE",
    "LEVEL_RANGE",
    "RATES",
    "SNR_RANGE",
    "Clip",
    "Float",
    "Pcm",
    "active_mask",
    "active_rms_dbfs",
    "babble_noise",
    "cer",
    "cer_counts",
    "count_arg",
    "edit_distance",
    "finite_arg",
    "insert_pause",
    "limit",
    "load_clips",
    "mix_at_snr",
    "rate_arg",
    "read_wav",
    "resample",
    "set_level",
    "steady_noise",
    "to_int16",
    "write_wav",
]

Float = npt.NDArray[np.float64]
Pcm = npt.NDArray[np.int16]

BASE_RATE = 16000
"""Rate of the clips and of every mix before it is re-rated."""
RATES = (8000, 16000, 22050, 44100, 48000)
"""Rates a mix can be delivered at."""
ACTIVE_FRAME_MS = 20
LEVEL_RANGE = (-40.0, -6.0)
SNR_RANGE = (-10.0, 60.0)
_LIMIT_KNEE = 0.5  # −6 dBFS: below it the limiter does nothing
_SILENCE_DB = -120.0


# ---------------------------------------------------------------- scoring text


def _cer_units(text: str) -> str:
    """The characters CER counts: NFKC, lower case, no spaces or punctuation."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(c for c in text if unicodedata.category(c)[0] not in "PZC")


def cer_counts(reference: str, hypothesis: str) -> tuple[int, int]:
    """(character edits, reference length) between two texts.

    Spaces, punctuation and control characters are ignored and full-width
    forms folded (NFKC), so ``一二线，城市`` and ``一二线 城市`` are equal. A
    corpus CER is ``sum(edits) / sum(lengths)``.
    """
    ref = _cer_units(reference)
    return edit_distance(ref, _cer_units(hypothesis)), len(ref)


def edit_distance(reference: str, hypothesis: str) -> int:
    """Levenshtein distance between two character strings, taken as they are."""
    previous = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        current = [i]
        for j, h in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edits over reference length (see :func:`cer_counts`).

    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise.
    """
    edits, length = cer_counts(reference, hypothesis)
    if length == 0:
        return 0.0 if edits == 0 else 1.0
    return edits / length


# ---------------------------------------------------------------- arguments


def finite_arg(name: str, value: float, low: float, high: float) -> float:
    if not isinstance(value, int | float) or not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def count_arg(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def rate_arg(name: str, rate: int) -> int:
    if isinstance(rate, bool) or rate not in RATES:
        raise ValueError(f"{name} must be one of {RATES}, got {rate!r}")
    return int(rate)


# ---------------------------------------------------------------- WAV files


def read_wav(path: Path) -> tuple[Pcm, int]:
    """Read any WAV :mod:`av.wav_source` reads: int16 ``(frames, channels)`` and rate.

    Raises:
        AudioSourceError: missing, unreadable or not a supported WAV file.
    """
    try:
        with path.open("rb") as f:
            info = parse_wav_header(f, file_size=path.stat().st_size)
            f.seek(info.data_offset)
            raw = f.read(info.frames * info.frame_bytes)
    except OSError as exc:
        raise AudioSourceError(f"{path}: cannot read: {exc}") from exc
    frames = len(raw) // info.frame_bytes
    return decode_samples(raw[: frames * info.frame_bytes], info), info.format.rate


def write_wav(path: Path, pcm: Pcm, rate: int) -> Path:
    """Write int16 PCM ``(frames, channels)`` (or mono ``(frames,)``) as a WAV file."""
    data = pcm if pcm.ndim == 2 else pcm[:, None]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(data.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(data, dtype="<i2").tobytes())
    return path


# ---------------------------------------------------------------- clips and levels


@dataclass(frozen=True, slots=True)
class Clip:
    """One real utterance: mono float samples at :data:`BASE_RATE` and its text."""

    name: str
    text: str
    samples: Float

    @property
    def seconds(self) -> float:
        return len(self.samples) / BASE_RATE


def load_clips(samples: Sequence[SpeechSample]) -> list[Clip]:
    """Read speech samples (mono, any rate :mod:`av.wav_source` reads) as clips.

    Raises:
        ValueError: ``samples`` is empty or a file is not mono.
        AudioSourceError: a file cannot be read.
    """
    if not samples:
        raise ValueError("samples: at least one speech sample is needed")
    clips = []
    for sample in samples:
        pcm, rate = read_wav(sample.path)
        if pcm.shape[1] != 1:
            raise ValueError(f"samples: {sample.path} has {pcm.shape[1]} channels, not 1")
        x = pcm[:, 0].astype(np.float64) / 32768.0
        if rate != BASE_RATE:
            x = np.asarray(soxr.resample(x, rate, BASE_RATE, quality="VHQ"), dtype=np.float64)
        clips.append(Clip(sample.name, sample.text, x))
    return clips


def _frame_db(x: Float, rate: int) -> Float:
    frame = rate * ACTIVE_FRAME_MS // 1000
    n = len(x) // frame
    power = np.mean(np.square(x[: n * frame].reshape(n, frame)), axis=1)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(power)
    out: Float = np.maximum(db, _SILENCE_DB)
    return out


def active_mask(x: Float, rate: int = BASE_RATE) -> npt.NDArray[np.bool_]:
    """Per-sample mask of the active part of mono speech ``x``.

    A 20-ms frame is active when its level is within 15 dB of the loud end of
    the signal (its 95th-percentile frame level) and at least 6 dB above the
    quiet end (10th percentile), so pauses and the room noise between words
    do not count. A trailing part frame is never active.
    """
    db = _frame_db(x, rate)
    mask = np.zeros(len(x), dtype=np.bool_)
    if len(db) == 0:
        return mask
    high, low = np.percentile(db, 95), np.percentile(db, 10)
    frames = (db >= max(high - 15.0, low + 6.0)) & (db > _SILENCE_DB)
    frame = rate * ACTIVE_FRAME_MS // 1000
    mask[: len(db) * frame] = np.repeat(frames, frame)
    return mask


def active_rms_dbfs(x: Float, rate: int = BASE_RATE) -> float:
    """RMS level (dBFS, full scale 1.0) of the active part of ``x``.

    Raises:
        ValueError: ``x`` has no active part (silence or too short).
    """
    mask = active_mask(x, rate)
    if not mask.any():
        raise ValueError("x: the signal has no active speech")
    return float(10.0 * np.log10(np.mean(np.square(x[mask]))))


def limit(x: Float) -> Float:
    """Soft limiter: unchanged below −6 dBFS, approaching full scale smoothly above.

    ``|limit(x)| <= 1`` for every input (1 only for inputs several times full
    scale), so rounding to int16 never wraps.
    """
    k = _LIMIT_KNEE
    magnitude = np.abs(x)
    over = magnitude > k
    out = x.copy()
    out[over] = np.sign(x[over]) * (k + (1 - k) * np.tanh((magnitude[over] - k) / (1 - k)))
    return out


def set_level(x: Float, level_dbfs: float, rate: int = BASE_RATE) -> Float:
    """Scale mono speech so that, after :func:`limit`, its active RMS is ``level_dbfs``.

    The gain is found by bisection through the limiter, so loud targets
    (−6 dBFS leaves little headroom for speech peaks) are met without
    clipping; the returned samples are *not* limited yet (the mix is).

    Raises:
        ValueError: ``level_dbfs`` outside [−40, −6], or ``x`` has no active part.
    """
    target = finite_arg("level_dbfs", level_dbfs, *LEVEL_RANGE)
    mask = active_mask(x, rate)
    if not mask.any():
        raise ValueError("x: the signal has no active speech")
    active = x[mask]
    base = 10.0 * math.log10(float(np.mean(np.square(active))))

    def achieved(gain_db: float) -> float:
        y = limit(active * 10 ** (gain_db / 20))
        return 10.0 * math.log10(float(np.mean(np.square(y))))

    low, high = target - base, target - base + 30.0
    if achieved(high) < target:  # unreachable only for pathological crest factors
        raise ValueError(f"level_dbfs: {target} dBFS cannot be reached without clipping")
    for _ in range(40):
        middle = (low + high) / 2
        if achieved(middle) < target:
            low = middle
        else:
            high = middle
    return x * 10 ** (high / 20)


# ---------------------------------------------------------------- noise


def steady_noise(frames: int, *, seed: int, color: float = 1.0, rate: int = BASE_RATE) -> Float:
    """Unit-RMS stationary noise whose power falls as ``1/f**color``.

    ``color`` 0 is white, 1 pink (a ventilated room), 2 brown (rumble);
    everything below 60 Hz is removed.

    Raises:
        ValueError: ``frames`` or ``color`` out of range.
    """
    count_arg("frames", frames, 1, 1 << 28)
    finite_arg("color", color, 0.0, 2.0)
    rng = np.random.default_rng([seed, 0x5EAD])
    spectrum = np.fft.rfft(rng.standard_normal(frames))
    freqs = np.fft.rfftfreq(frames, 1.0 / rate)
    shape = np.zeros_like(freqs)
    audible = freqs >= 60.0
    shape[audible] = freqs[audible] ** (-color / 2)
    noise = np.fft.irfft(spectrum * shape, n=frames)
    rms = float(np.sqrt(np.mean(np.square(noise))))
    return noise / rms if rms > 0 else noise


def babble_noise(
    clips: Sequence[Clip],
    frames: int,
    *,
    seed: int,
    talkers: int = 6,
    avoid: Sequence[tuple[int, int]] = (),
) -> Float:
    """Unit-RMS crowd noise: ``talkers`` voices, each a chain of the real clips.

    Talker ``k`` starts at a random point of its chain, leaves 0–0.3 s between
    clips, has a random gain within ±3 dB, and plays every clip reversed when
    ``k`` is odd. A forward copy of clip ``i`` that would start within 0.5 s
    of an ``(i, start_frame)`` pair in ``avoid`` (an utterance under test) is
    played reversed instead, so the test utterance is never doubled in step
    with itself.

    Raises:
        ValueError: no clips, ``frames`` out of range or fewer than 4 talkers.
    """
    if not clips:
        raise ValueError("clips: at least one clip is needed for babble")
    count_arg("frames", frames, 1, 1 << 28)
    count_arg("talkers", talkers, 4, 64)
    rng = np.random.default_rng([seed, 0xBAB])
    out = np.zeros(frames)
    near = int(0.5 * BASE_RATE)
    for k in range(talkers):
        gain = 10 ** (rng.uniform(-3.0, 3.0) / 20)
        at = -int(rng.uniform(0.0, clips[k % len(clips)].seconds) * BASE_RATE)
        index = k % len(clips)
        while at < frames:
            clip = clips[index].samples
            reverse = k % 2 == 1 or any(i == index and abs(at - s) < near for i, s in avoid)
            piece = (clip[::-1] if reverse else clip) * gain
            lo, hi = max(0, at), min(frames, at + len(piece))
            if hi > lo:
                out[lo:hi] += piece[lo - at : hi - at]
            at += len(piece) + int(rng.uniform(0.0, 0.3) * BASE_RATE)
            index = (index + 1) % len(clips)
    rms = float(np.sqrt(np.mean(np.square(out))))
    return out / rms if rms > 0 else out


def mix_at_snr(
    speech: Float, noise: Float, snr_db: float, *, active: npt.NDArray[np.bool_]
) -> Float:
    """``noise`` scaled so that speech over noise power on ``active`` samples is ``snr_db``.

    Raises:
        ValueError: ``snr_db`` outside [−10, 60], shapes differ, or ``active``
            selects nothing / only silent noise.
    """
    snr = finite_arg("snr_db", snr_db, *SNR_RANGE)
    if speech.shape != noise.shape or active.shape != speech.shape:
        raise ValueError("noise: speech, noise and active must have the same shape")
    if not active.any():
        raise ValueError("active: selects no samples")
    p_speech = float(np.mean(np.square(speech[active])))
    p_noise = float(np.mean(np.square(noise[active])))
    if p_noise <= 0:
        raise ValueError("noise: silent where the speech is active")
    scaled: Float = noise * math.sqrt(p_speech / (p_noise * 10 ** (snr / 10)))
    return scaled


# ---------------------------------------------------------------- rates and pauses


def resample(pcm: Pcm, from_rate: int, to_rate: int) -> Pcm:
    """Re-rate int16 PCM ``(frames, channels)`` with soxr (VHQ), clipping-safe.

    Raises:
        ValueError: a rate not in :data:`RATES`, or ``pcm`` not 2-D.
    """
    rate_arg("from_rate", from_rate)
    rate_arg("to_rate", to_rate)
    if pcm.ndim != 2:
        raise ValueError(f"pcm: expected shape (frames, channels), got {pcm.shape}")
    if from_rate == to_rate:
        return pcm.copy()
    y = soxr.resample(pcm.astype(np.float64) / 32768.0, from_rate, to_rate, quality="VHQ")
    return to_int16(np.asarray(y, dtype=np.float64).reshape(-1, pcm.shape[1]))


def to_int16(x: Float) -> Pcm:
    """Round full-scale float samples to int16, clipping at full scale."""
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)


def _quiet_stretch(x: Float, frames: int) -> Float:
    """The quietest ``frames``-long stretch of ``x`` (its own background)."""
    frames = min(frames, len(x))
    energy = np.convolve(np.square(x), np.ones(frames), mode="valid")
    start = int(np.argmin(energy))
    return x[start : start + frames]


def insert_pause(x: Float, pause_ms: int, *, rate: int = BASE_RATE) -> tuple[Float, int]:
    """Insert ``pause_ms`` of the clip's own background mid-sentence.

    The cut is the quietest 10 ms (smoothed over 50 ms) in the middle fifth
    of the active part, i.e. between two words; the pause is the clip's
    quietest 200 ms, repeated. Returns the new samples and the sample index
    where the pause starts.

    Raises:
        ValueError: ``pause_ms`` outside [0, 5000] or ``x`` has no active part.
    """
    count_arg("pause_ms", pause_ms, 0, 5000)
    mask = active_mask(x, rate)
    if not mask.any():
        raise ValueError("x: the signal has no active speech")
    first, last = int(np.argmax(mask)), len(mask) - int(np.argmax(mask[::-1]))
    lo, hi = first + 2 * (last - first) // 5, first + 3 * (last - first) // 5
    smooth = np.convolve(np.square(x), np.ones(rate // 20) / (rate // 20), mode="same")
    step = rate // 100
    candidates = range(lo - lo % step, hi, step)
    at = min(candidates, key=lambda i: float(smooth[i]))
    background = _quiet_stretch(x, rate // 5)
    n = rate * pause_ms // 1000
    fill = np.resize(background, n)
    return np.concatenate([x[:at], fill, x[at:]]), at
