"""The transcription engine: multi-channel PCM in, role-labelled results out.

No threads and no asyncio here (see :mod:`transcription.worker` for that).
Per block of captured audio the engine

1. resamples all channels to the model's rate with soxr (band-limited, so a
   48 kHz or 44.1 kHz room mixer gives the same text as 16 kHz);
2. classifies each 10-ms frame of each channel as own-speech or not
   (:mod:`transcription.gate`: noise floor + crosstalk dominance);
3. lends a recognizer from a shared pool to a channel when its speaker starts,
   feeds it that channel's audio with a short pre-roll, and forces the final
   result when the gate sees the end of the utterance.

Recognizers are pooled: memory grows with the number of people speaking at
once, not with the number of microphones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import soxr

from transcription.gate import (
    ChannelGate,
    GateConfig,
    GateEvent,
    distinct_channels,
    frame_levels,
    voiced_frames,
)
from transcription.model import LoadedModel
from transcription.recognizer import StreamRecognizer
from transcription.segments import Final, Partial
from transcription.vad import installed_vad_model, make_detector

__all__ = ["Result", "TranscriptionEngine"]

Result = Partial | Final


class TranscriptionEngine:
    """Streaming transcription of one multi-channel audio stream.

    Args:
        model: the shared loaded model.
        input_rate: sample rate of the PCM passed to :meth:`process`.
        roles: one role name per input channel, in channel order.
        gate: speech gate tuning.
        hearing_offset: hearing-clock time of the first sample processed.
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        input_rate: int,
        roles: Sequence[str],
        gate: GateConfig | None = None,
        hearing_offset: float = 0.0,
    ) -> None:
        if not roles:
            raise ValueError("at least one channel role is required")
        self._model = model
        self._input_rate = input_rate
        self._rate = model.sample_rate
        self._roles = tuple(roles)
        self._channels = len(self._roles)
        self._config = gate or GateConfig()
        self._frame = self._rate * self._config.frame_ms // 1000
        self._resampler = (
            soxr.ResampleStream(input_rate, self._rate, self._channels, dtype="int16", quality="HQ")
            if input_rate != self._rate
            else None
        )
        self._pending = np.zeros((0, self._channels), dtype=np.int16)
        self._gates = [ChannelGate(self._config) for _ in self._roles]
        self._preroll = self._gates[0].preroll_frames * self._frame
        self._tail = np.zeros((0, self._channels), dtype=np.int16)
        self._floors = np.full(self._channels, -60.0)
        self._detector = make_detector(
            self._config.detector,
            rate=self._rate,
            channels=self._channels,
            threshold=self._config.speech_threshold,
            model=self._config.vad_model or installed_vad_model(),
        )
        self._active: dict[int, StreamRecognizer] = {}
        self._idle: list[StreamRecognizer] = []
        self._created = 0
        self._offset = hearing_offset
        self._samples = 0

    @property
    def channels(self) -> int:
        return self._channels

    @property
    def input_rate(self) -> int:
        """Sample rate of the PCM passed to :meth:`process`."""
        return self._input_rate

    @property
    def hearing_offset(self) -> float:
        """Hearing-clock time of the first sample processed."""
        return self._offset

    @property
    def hearing_time(self) -> float:
        """Hearing-clock time of the audio processed so far."""
        return self._offset + self._samples / self._rate

    @property
    def recognizers_created(self) -> int:
        """How many recognizers the pool holds (peak concurrent speakers)."""
        return self._created

    def process(self, pcm: npt.NDArray[np.int16]) -> list[Result]:
        """Process int16 audio of shape (frames, channels) at the input rate.

        Raises:
            ValueError: the channel count does not match ``roles``.
        """
        if pcm.ndim != 2 or pcm.shape[1] != self._channels:
            raise ValueError(f"expected PCM of shape (n, {self._channels}), got {pcm.shape}")
        if self._resampler is not None:
            pcm = self._resampler.resample_chunk(pcm)
        return self._process_resampled(pcm)

    def flush(self) -> list[Result]:
        """End of stream: process buffered audio and finish every open utterance."""
        results: list[Result] = []
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(
                np.zeros((0, self._channels), dtype=np.int16), last=True
            )
            results += self._process_resampled(tail)
        if len(self._pending):
            pad = np.zeros((self._frame - len(self._pending), self._channels), dtype=np.int16)
            results += self._process_resampled(pad)
        for channel in sorted(self._active):
            results += self._end(channel, b"")
        return results

    def _process_resampled(self, pcm: npt.NDArray[np.int16]) -> list[Result]:
        buf = np.concatenate([self._pending, pcm]) if len(self._pending) else pcm
        n = len(buf) // self._frame
        results: list[Result] = []
        if n:
            used = buf[: n * self._frame]
            levels = frame_levels(used, self._frame)
            speech = self._detector.speech(used) if self._detector is not None else None
            voiced = distinct_channels(
                used,
                voiced_frames(levels, self._floors, self._config, speech),
                levels,
                frame_len=self._frame,
                rate=self._rate,
                threshold=self._config.duplicate_correlation,
                holding=np.array([g.in_speech for g in self._gates]),
            )
            for channel in range(self._channels):
                results += self._run_channel(channel, used, voiced[:, channel])
            self._samples += n * self._frame
            self._tail = np.concatenate([self._tail, used])[-self._preroll :]
        self._pending = buf[n * self._frame :].copy()
        return results

    def _run_channel(
        self, channel: int, used: npt.NDArray[np.int16], voiced: npt.NDArray[np.bool_]
    ) -> list[Result]:
        results: list[Result] = []
        gate = self._gates[channel]
        feed_from = 0 if channel in self._active else -1
        for i, is_voiced in enumerate(voiced):
            event = gate.step(bool(is_voiced))
            if event is GateEvent.BEGIN:
                results += self._begin(channel, used, i)
                feed_from = i
            elif event is GateEvent.END and feed_from >= 0:
                end = (i + 1) * self._frame
                results += self._end(channel, _mono(used, channel, feed_from * self._frame, end))
                feed_from = -1
        if feed_from >= 0 and channel in self._active:
            chunk = _mono(used, channel, feed_from * self._frame, len(used))
            result = self._active[channel].accept(chunk)
            if result is not None:
                results.append(result)
        return results

    def _begin(self, channel: int, used: npt.NDArray[np.int16], index: int) -> list[Result]:
        before = np.concatenate([self._tail[:, channel], used[: index * self._frame, channel]])
        preroll = before[-self._preroll :]
        start = self._offset + (self._samples + index * self._frame - len(preroll)) / self._rate
        recognizer = self._idle.pop() if self._idle else self._new_recognizer()
        recognizer.begin(start, channel=channel, role=self._roles[channel])
        self._active[channel] = recognizer
        result = recognizer.accept(np.ascontiguousarray(preroll).tobytes())
        return [result] if result is not None else []

    def _end(self, channel: int, chunk: bytes) -> list[Result]:
        recognizer = self._active.pop(channel)
        results: list[Result] = []
        if chunk:
            result = recognizer.accept(chunk)
            if isinstance(result, Final):
                results.append(result)
        final = recognizer.finish()
        if final is not None:
            results.append(final)
        self._idle.append(recognizer)
        return results

    def _new_recognizer(self) -> StreamRecognizer:
        self._created += 1
        return StreamRecognizer(self._model)


def _mono(pcm: npt.NDArray[np.int16], channel: int, start: int, end: int) -> bytes:
    return np.ascontiguousarray(pcm[start:end, channel]).tobytes()
