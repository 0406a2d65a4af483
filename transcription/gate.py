"""Deciding, 10 ms at a time, which microphone is carrying its own speaker.

Three problems are solved here, before any audio reaches Vosk:

* **Endpointing.** Vosk's own endpoint rules wait 0.5–2 s of silence before
  a final result, and a quarter of utterances with 1-s pauses merge into the
  next. A trained detector (:mod:`transcription.vad`, Silero by default; or
  the original level-over-adaptive-noise-floor test, ``detector="energy"``)
  says which frames are speech; ``endpoint_ms`` (500) of trailing non-speech
  ends an utterance and the caller forces the final. 500 ms keeps a sentence
  whole across a mid-sentence pause; the latency this costs is measured in
  the README (``bench/latency.py --endpoint-ms``).
* **Crosstalk.** Each microphone also hears its neighbours, 20–30 dB quieter.
  A frame counts as speech on a channel only if it is also within
  ``dominance_db`` of the loudest channel in the same frame, so an utterance
  is transcribed once, on the channel of the person speaking. Two people
  talking at once are both within the margin and both transcribed.
* **Duplicate channels.** Two inputs carrying one signal (a stereo file of
  one talker, a microphone patched to two mixer inputs) are equally loud;
  :func:`distinct_channels` finds them by cross-correlation and keeps one.

Only gated speech (plus a short pre-roll) is fed to the recognizers, which is
also what keeps the CPU cost proportional to speech, not to channel count.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "ChannelGate",
    "GateConfig",
    "GateEvent",
    "distinct_channels",
    "frame_levels",
    "voiced_frames",
]

_FLOOR_DB = -96.0


@dataclass(frozen=True, slots=True)
class GateConfig:
    """Tuning of the speech gate. Times are in milliseconds of audio.

    Attributes:
        frame_ms: analysis frame length.
        detector: what decides that a frame is speech: ``"silero"`` (a
            trained network, the default: holds up in noise and babble),
            ``"webrtc"`` (WebRTC's GMM VAD) or ``"energy"`` (level above the
            channel's adaptive noise floor, the original gate).
        speech_threshold: a trained detector's speech probability needed to
            enter speech (it leaves 0.15 lower).
        vad_model: the Silero model file; None is the installed one.
        min_level_dbfs: frames quieter than this are never speech.
        above_floor_db: (energy detector) speech must exceed the channel's
            noise floor by this.
        dominance_db: speech must be within this of the loudest channel.
        duplicate_correlation: a channel whose signal correlates at least
            this much with a louder speaking channel carries the same sound
            (a stereo file of one talker, a microphone patched to two inputs)
            and is not transcribed again.
        onset_ms: voiced audio needed (within a window twice as long) to open.
        endpoint_ms: trailing non-speech that ends an utterance.
        preroll_ms: audio before the onset fed with the utterance, so the
            first syllable is not clipped.
        max_utterance_ms: an utterance this long is ended at the next frame
            of non-speech, or cut at twice this length if there is none.
        floor_rise_db_per_s: how fast the noise floor estimate may rise.
    """

    frame_ms: int = 10
    detector: str = "silero"
    speech_threshold: float = 0.5
    vad_model: Path | None = None
    min_level_dbfs: float = -60.0
    above_floor_db: float = 10.0
    dominance_db: float = 15.0
    duplicate_correlation: float = 0.7
    onset_ms: int = 50
    endpoint_ms: int = 500
    preroll_ms: int = 300
    max_utterance_ms: int = 30_000
    floor_rise_db_per_s: float = 3.0

    def __post_init__(self) -> None:
        if self.frame_ms not in (10, 20, 30):
            raise ValueError("frame_ms must be 10, 20 or 30")
        for name in ("onset_ms", "endpoint_ms", "preroll_ms", "max_utterance_ms"):
            if getattr(self, name) < self.frame_ms:
                raise ValueError(f"{name} must be at least frame_ms")
        if self.dominance_db <= 0 or self.above_floor_db < 0:
            raise ValueError("dominance_db must be > 0 and above_floor_db >= 0")
        if not 0.0 < self.speech_threshold < 1.0:
            raise ValueError("speech_threshold must be between 0 and 1")
        if not 0.0 < self.duplicate_correlation <= 1.0:
            raise ValueError("duplicate_correlation must be in (0, 1]")

    def frames(self, ms: int) -> int:
        return max(1, ms // self.frame_ms)


def frame_levels(pcm: npt.NDArray[np.int16], frame_len: int) -> npt.NDArray[np.float64]:
    """RMS level in dBFS of each whole frame of each channel: shape (frames, channels)."""
    n = pcm.shape[0] // frame_len
    frames = pcm[: n * frame_len].astype(np.float64).reshape(n, frame_len, pcm.shape[1])
    power = np.mean(np.square(frames / 32768.0), axis=1)
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(power)
    result: npt.NDArray[np.float64] = np.maximum(levels, _FLOOR_DB)
    return result


class GateEvent(Enum):
    NONE = 0
    BEGIN = 1
    END = 2


def voiced_frames(
    levels: npt.NDArray[np.float64],
    floors: npt.NDArray[np.float64],
    config: GateConfig,
    speech: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.bool_]:
    """Classify frames as own-speech per channel, updating ``floors`` in place.

    ``levels`` has shape (frames, channels); ``floors`` (channels,) is the
    running noise-floor estimate, which falls at once to a quieter frame and
    rises by at most ``floor_rise_db_per_s``. ``speech`` is a trained
    detector's decision for the same frames; without it a frame is speech
    when it is ``above_floor_db`` over the floor. Either way it must be
    within ``dominance_db`` of the loudest channel (crosstalk) and above
    ``min_level_dbfs``.
    """
    rise = config.floor_rise_db_per_s * config.frame_ms / 1000.0
    loudest = levels.max(axis=1, initial=_FLOOR_DB)
    out = np.zeros(levels.shape, dtype=np.bool_)
    for i in range(levels.shape[0]):
        row = levels[i]
        np.minimum(floors + rise, row, out=floors)
        np.maximum(floors, _FLOOR_DB, out=floors)
        own = speech[i] if speech is not None else row >= floors + config.above_floor_db
        out[i] = own & (row >= config.min_level_dbfs) & (row >= loudest[i] - config.dominance_db)
    return out


_MAX_LAG_S = 0.005  # inter-channel delay searched for a duplicate (1.7 m of sound)


def distinct_channels(
    pcm: npt.NDArray[np.int16],
    voiced: npt.NDArray[np.bool_],
    levels: npt.NDArray[np.float64],
    *,
    frame_len: int,
    rate: int,
    threshold: float,
    holding: npt.NDArray[np.bool_],
) -> npt.NDArray[np.bool_]:
    """Unvoice channels that carry the same sound as a louder voiced channel.

    Two inputs wired to one microphone (or a stereo file of one talker) are
    equally loud and both pass the dominance test; two different people
    talking at once are too, but their signals are uncorrelated. So, per
    stretch of frames where several channels are voiced, each channel is
    compared with every louder one by normalised cross-correlation (±5 ms of
    lag, for two microphones near one talker); at ``threshold`` or more it is
    a copy and is unvoiced. Louder means higher mean level over the stretch,
    a channel already ``holding`` an utterance counting 6 dB louder (the
    line stays where it began) and ties going to the lower channel number.

    Returns ``voiced`` itself when fewer than two channels are voiced (the
    common case costs nothing), else a corrected copy.
    """
    if voiced.shape[1] < 2 or int(voiced.any(axis=0).sum()) < 2:
        return voiced
    out = voiced.copy()
    speaking = np.flatnonzero(voiced.any(axis=0))
    loudness = levels[:, speaking].mean(axis=0) + np.where(holding[speaking], 6.0, 0.0)
    order = [int(speaking[k]) for k in sorted(range(len(speaking)), key=lambda k: -loudness[k])]
    span = slice(0, voiced.shape[0] * frame_len)
    signals = pcm[span].astype(np.float64)
    lag = max(1, int(rate * _MAX_LAG_S))
    kept: list[int] = []
    for channel in order:
        if any(_correlation(signals[:, channel], signals[:, k], lag) >= threshold for k in kept):
            out[:, channel] = False
        else:
            kept.append(channel)
    return out


def _correlation(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], lag: int) -> float:
    """Largest normalised cross-correlation of ``a`` and ``b`` within ±``lag`` samples."""
    a = a - a.mean()
    b = b - b.mean()
    energy = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    if energy == 0.0 or len(a) <= 2 * lag:
        return 0.0
    core = a[lag:-lag]
    scores = np.correlate(b, core, mode="valid")  # 2 * lag + 1 shifts
    return float(np.abs(scores).max()) / energy


class ChannelGate:
    """Per-channel utterance state: silence → speech → silence.

    Feed one voiced/unvoiced decision per frame to :meth:`step`; it returns
    BEGIN when an utterance opens (the caller starts feeding from
    ``preroll_frames`` frames back), END when it closes.
    """

    def __init__(self, config: GateConfig) -> None:
        self._config = config
        self._onset = config.frames(config.onset_ms)
        self._window = 2 * self._onset
        self._endpoint = config.frames(config.endpoint_ms)
        self._max = config.frames(config.max_utterance_ms)
        self._recent: list[bool] = []
        self.in_speech = False
        self._trailing = 0
        self._length = 0

    @property
    def preroll_frames(self) -> int:
        return self._config.frames(self._config.preroll_ms)

    def step(self, voiced: bool) -> GateEvent:
        if not self.in_speech:
            self._recent.append(voiced)
            if len(self._recent) > self._window:
                del self._recent[0]
            if voiced and sum(self._recent) >= self._onset:
                self.in_speech = True
                self._trailing = 0
                self._length = 0
                self._recent.clear()
                return GateEvent.BEGIN
            return GateEvent.NONE
        self._length += 1
        self._trailing = 0 if voiced else self._trailing + 1
        too_long = self._length >= self._max and (not voiced or self._length >= 2 * self._max)
        if self._trailing >= self._endpoint or too_long:
            self.in_speech = False
            return GateEvent.END
        return GateEvent.NONE
