"""An I/O-free streaming recognizer: feed 16-bit PCM, get Partial and Final results.

Wraps one ``vosk.KaldiRecognizer``. The caller decides where utterances begin
and end (see :mod:`transcription.gate`): :meth:`StreamRecognizer.begin` marks
the hearing-clock time of the first sample fed, :meth:`accept` feeds audio,
:meth:`finish` forces the utterance's final result at once instead of waiting
for Vosk's own endpoint rules (0.5–2 s of trailing silence in the small
Chinese model's ``conf/model.conf``).

Each utterance starts clean without a new ``KaldiRecognizer``: :meth:`finish`
calls ``FinalResult()``, after which Vosk rebuilds the feature pipeline (its
CMVN and iVector state) and the decoder on the next audio fed. Only the
recognizer's lookahead-composed graph stays, a cache; keeping it warm is why
the pool lends recognizers instead of building one per utterance (measured:
building one per utterance took 40 % more CPU with 8 people talking at once,
and gave the same text). ``tests/transcription/test_recognizer_fresh.py``
feeds the same audio utterance after utterance and checks the text never
changes.

Vosk stamps words in seconds of audio fed since the recognizer was created,
across utterances. Audio between utterances is never fed, so each utterance
records the Vosk time at which it began and maps word times onto the hearing
clock by that offset.
"""

from __future__ import annotations

import json
from typing import Any

from transcription.model import LoadedModel
from transcription.segments import Final, Partial, Word
from transcription.text import join_words, normalize_text

__all__ = ["StreamRecognizer"]


class StreamRecognizer:
    """Recognition of one microphone channel, one utterance at a time.

    Not thread-safe: one thread feeds one recognizer.
    """

    def __init__(self, model: LoadedModel, *, channel: int = 0, role: str = "") -> None:
        import vosk

        self.channel = channel
        self.role = role
        self.sample_rate = model.sample_rate
        self._rec: Any = vosk.KaldiRecognizer(model.vosk_model, float(model.sample_rate))
        self._rec.SetWords(True)
        self._fed_samples = 0
        self._utt_vosk_start = 0.0
        self._utt_hearing_start = 0.0
        self._last_partial = ""
        self.active = False

    def begin(self, hearing_time: float, *, channel: int, role: str) -> None:
        """Start an utterance of ``channel`` whose first fed sample is at ``hearing_time``.

        A recognizer is lent to whichever channel starts speaking, so the
        channel and role are set per utterance.
        """
        self.channel = channel
        self.role = role
        self._utt_vosk_start = self._fed_samples / self.sample_rate
        self._utt_hearing_start = hearing_time
        self._last_partial = ""
        self.active = True

    def accept(self, pcm: bytes) -> Partial | Final | None:
        """Feed mono int16 PCM at the model rate.

        Returns a Final when Vosk itself detected an endpoint inside the audio,
        a Partial when the hypothesis text changed, otherwise None.

        Raises:
            RuntimeError: no utterance was begun.
        """
        if not self.active:
            raise RuntimeError("accept() before begin()")
        if len(pcm) % 2:
            raise ValueError("PCM must be whole 16-bit samples")
        self._fed_samples += len(pcm) // 2
        if self._rec.AcceptWaveform(pcm):
            final = self._final(json.loads(self._rec.Result()))
            self._last_partial = ""
            return final
        text = normalize_text(json.loads(self._rec.PartialResult()).get("partial", ""))
        if text and text != self._last_partial:
            self._last_partial = text
            return Partial(
                channel=self.channel,
                role=self.role,
                start=self._utt_hearing_start,
                text=text,
                end=self.hearing_time,
            )
        return None

    def finish(self) -> Final | None:
        """End the utterance now and return its final result, if any words."""
        if not self.active:
            return None
        self.active = False
        return self._final(json.loads(self._rec.FinalResult()))

    @property
    def hearing_time(self) -> float:
        """Hearing-clock time just after the last sample fed."""
        return self._to_hearing(self._fed_samples / self.sample_rate)

    def _to_hearing(self, vosk_time: float) -> float:
        return self._utt_hearing_start + (vosk_time - self._utt_vosk_start)

    def _final(self, result: dict[str, Any]) -> Final | None:
        raw = result.get("result") or []
        words = tuple(
            Word(
                word=str(w["word"]),
                start=max(self._utt_hearing_start, self._to_hearing(float(w["start"]))),
                end=max(self._utt_hearing_start, self._to_hearing(float(w["end"]))),
                conf=float(w.get("conf", 1.0)),
            )
            for w in raw
            if str(w.get("word", "")).strip()
        )
        if not words:
            return None
        text = join_words([w.word for w in words])
        return Final(
            channel=self.channel,
            role=self.role,
            start=words[0].start,
            end=words[-1].end,
            text=text,
            words=words,
            confidence=sum(w.conf for w in words) / len(words),
        )
