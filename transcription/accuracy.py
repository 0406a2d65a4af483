"""Scoring recognised lines against reference utterances, and the three ways to recognise.

Used by ``bench/accuracy.py`` and the tests; the audio comes from
:mod:`transcription.evalaudio`.

**Recognisers compared** (same loaded model):

* :func:`plain_vosk` — the yardstick: one fresh ``vosk.KaldiRecognizer`` per
  reference utterance, fed that utterance's own channel from 0.5 s before
  its speech starts to 0.5 s after it ends (clipped to the recording),
  re-rated to the model's rate with soxr (HQ), in 0.2-s chunks; every result
  Vosk's own endpointing emits on the way is kept, then ``FinalResult()``.
  It is told where the utterance is and which channel carries it, which the
  live pipeline has to find out.
* :func:`live_engine` — :class:`~transcription.engine.TranscriptionEngine`
  fed 100-ms blocks of the whole recording, as the agent does, then
  ``flush()``; :func:`live_worker` the same through
  :class:`~transcription.worker.TranscriptionWorker` at real-time pace.
* :func:`transcribe_wav` — ``courtroom transcribe`` (``transcribe_file``) on
  the recording written as a WAV file.

**Scoring** (:func:`score_finals`): each final is matched to the reference
utterance it overlaps in time (the utterance's speech widened by
``margin`` seconds on each side), preferring an utterance whose seat is the
final's channel, then the larger overlap. A final overlapping none is
*extra*: its characters count as insertions. For each utterance the *kept*
channel is the one among its matched finals on a right seat with the fewest
edits (or, if no right seat has any, the channel with the fewest edits: its
lines are *wrong-seat*); the kept channel's finals, in time order, are the
hypothesis. Every matched final on another channel is a *duplicate* (the same
speech written again under another seat). An utterance whose kept text came
in more than one final is *split*. CER is the corpus CER: all edits over all
reference characters.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from av.wav_source import WavFileSource
from transcription.engine import TranscriptionEngine
from transcription.evalaudio import EvalAudio, Utterance, cer_counts, write_wav
from transcription.gate import GateConfig
from transcription.model import LoadedModel, load_model
from transcription.segments import Final
from transcription.text import normalize_text
from transcription.transcribe_cli import transcribe_file
from transcription.worker import TranscriptionWorker

__all__ = [
    "PLAIN_PAD_S",
    "Score",
    "live_engine",
    "live_worker",
    "plain_vosk",
    "score_finals",
    "score_texts",
    "transcribe_wav",
]

PLAIN_PAD_S = 0.5
"""Audio around each utterance's speech that plain Vosk is given."""
MATCH_MARGIN_S = 0.3
BLOCK_MS = 100


@dataclass(frozen=True, slots=True)
class Score:
    """How one recogniser did on one recording.

    Attributes:
        edits: character edits, extra lines' characters included.
        length: reference characters.
        utterances: reference utterances.
        lines: finals produced (1 per utterance for plain Vosk).
        duplicates: finals repeating an utterance on another channel.
        wrong_seat: finals of an utterance kept on a channel not its seat.
        extra: finals overlapping no utterance.
        split: utterances whose text came in more than one final.
    """

    edits: int
    length: int
    utterances: int
    lines: int
    duplicates: int = 0
    wrong_seat: int = 0
    extra: int = 0
    split: int = 0

    @property
    def cer(self) -> float:
        return self.edits / max(1, self.length)

    def __add__(self, other: Score) -> Score:
        return Score(
            self.edits + other.edits,
            self.length + other.length,
            self.utterances + other.utterances,
            self.lines + other.lines,
            self.duplicates + other.duplicates,
            self.wrong_seat + other.wrong_seat,
            self.extra + other.extra,
            self.split + other.split,
        )


def score_texts(utterances: Sequence[Utterance], texts: Sequence[str]) -> Score:
    """Score one hypothesis text per utterance (plain Vosk).

    Raises:
        ValueError: ``texts`` does not have one entry per utterance.
    """
    if len(texts) != len(utterances):
        raise ValueError(f"texts: {len(texts)} for {len(utterances)} utterances")
    edits = length = 0
    for utterance, text in zip(utterances, texts, strict=True):
        e, n = cer_counts(utterance.text, text)
        edits, length = edits + e, length + n
    return Score(edits, length, len(utterances), len(texts))


def _overlap(final: Final, utterance: Utterance, margin: float) -> float:
    return min(final.end, utterance.end + margin) - max(final.start, utterance.start - margin)


def _match(
    finals: Sequence[Final], utterances: Sequence[Utterance], margin: float
) -> tuple[dict[int, list[Final]], list[Final]]:
    matched: dict[int, list[Final]] = {i: [] for i in range(len(utterances))}
    extra = []
    for final in finals:
        best: tuple[bool, float] | None = None
        chosen = -1
        for i, utterance in enumerate(utterances):
            overlap = _overlap(final, utterance, margin)
            if overlap < 0:
                continue
            key = (final.channel in utterance.accepted, overlap)
            if best is None or key > best:
                best, chosen = key, i
        if chosen < 0:
            extra.append(final)
        else:
            matched[chosen].append(final)
    return matched, extra


def score_finals(
    utterances: Sequence[Utterance], finals: Sequence[Final], *, margin: float = MATCH_MARGIN_S
) -> Score:
    """Score the finals of a live or batch run (rules in the module docstring).

    Raises:
        ValueError: ``margin`` is negative or not finite.
    """
    if not 0.0 <= margin <= 10.0:
        raise ValueError(f"margin must be in [0, 10] seconds, got {margin!r}")
    matched, extra = _match(finals, utterances, margin)
    edits = sum(cer_counts("", f.text)[0] for f in extra)
    length = duplicates = wrong_seat = split = 0
    for i, utterance in enumerate(utterances):
        by_channel: dict[int, list[Final]] = {}
        for final in sorted(matched[i], key=lambda f: (f.start, f.end)):
            by_channel.setdefault(final.channel, []).append(final)
        ranked = sorted(
            (
                (
                    channel not in utterance.accepted,
                    cer_counts(utterance.text, "".join(f.text for f in lines))[0],
                    channel,
                )
                for channel, lines in by_channel.items()
            ),
        )
        if not ranked:
            e, n = cer_counts(utterance.text, "")
            edits, length = edits + e, length + n
            continue
        wrong, kept_edits, kept = ranked[0]
        edits += kept_edits
        length += cer_counts(utterance.text, "")[1]
        kept_lines = len(by_channel[kept])
        wrong_seat += kept_lines if wrong else 0
        split += kept_lines > 1
        duplicates += len(matched[i]) - kept_lines
    return Score(
        edits,
        length,
        len(utterances),
        len(finals),
        duplicates=duplicates,
        wrong_seat=wrong_seat,
        extra=len(extra),
        split=split,
    )


def plain_vosk(model: LoadedModel, audio: EvalAudio, *, pad_s: float = PLAIN_PAD_S) -> list[str]:
    """One fresh recognizer per reference utterance (see the module docstring).

    Plain means as shipped: the model is used with Vosk's own endpoint rules
    (``load_model(..., endpointing="vosk")``), whatever ``model`` was loaded with.

    Raises:
        ValueError: ``pad_s`` outside [0, 5] seconds.
    """
    if not 0.0 <= pad_s <= 5.0:
        raise ValueError(f"pad_s must be in [0, 5] seconds, got {pad_s!r}")
    import vosk

    model = load_model(model.path, endpointing="vosk")
    texts = []
    for utterance in audio.utterances:
        lo = max(0, int((utterance.start - pad_s) * audio.rate))
        hi = min(len(audio.pcm), int(np.ceil((utterance.end + pad_s) * audio.rate)))
        region = audio.pcm[lo:hi, utterance.channel]
        if audio.rate != model.sample_rate:
            region = soxr.resample(region, audio.rate, model.sample_rate, quality="HQ")
        pcm = np.ascontiguousarray(region, dtype=np.int16)
        recognizer = vosk.KaldiRecognizer(model.vosk_model, float(model.sample_rate))
        chunk = model.sample_rate // 5
        pieces = []
        for at in range(0, len(pcm), chunk):
            if recognizer.AcceptWaveform(pcm[at : at + chunk].tobytes()):
                pieces.append(json.loads(recognizer.Result()).get("text", ""))
        pieces.append(json.loads(recognizer.FinalResult()).get("text", ""))
        texts.append(normalize_text(" ".join(pieces)))
    return texts


def _roles(audio: EvalAudio) -> list[str]:
    return [f"声道{c + 1}" for c in range(audio.channels)]


def live_engine(
    model: LoadedModel,
    audio: EvalAudio,
    *,
    block_ms: int = BLOCK_MS,
    gate: GateConfig | None = None,
    emitted: list[float] | None = None,
) -> list[Final]:
    """The live engine fed ``block_ms`` blocks of the whole recording, then flushed.

    ``emitted``, if given, receives for each final the audio time (s) at
    which the engine had it: the end of the block that produced it.

    Raises:
        ValueError: ``block_ms`` outside [10, 1000].
    """
    if isinstance(block_ms, bool) or not isinstance(block_ms, int) or not 10 <= block_ms <= 1000:
        raise ValueError(f"block_ms must be an integer in [10, 1000], got {block_ms!r}")
    engine = TranscriptionEngine(model, input_rate=audio.rate, roles=_roles(audio), gate=gate)
    block = audio.rate * block_ms // 1000
    finals: list[Final] = []
    for at in range(0, len(audio.pcm), block):
        new = [r for r in engine.process(audio.pcm[at : at + block]) if isinstance(r, Final)]
        finals += new
        if emitted is not None:
            emitted += [min(at + block, len(audio.pcm)) / audio.rate] * len(new)
    new = [r for r in engine.flush() if isinstance(r, Final)]
    finals += new
    if emitted is not None:
        emitted += [len(audio.pcm) / audio.rate] * len(new)
    return finals


async def live_worker(model: LoadedModel, audio: EvalAudio, directory: Path) -> list[Final]:
    """The live engine in its worker thread, fed from the WAV file at real-time pace."""
    path = write_wav(directory / "live.wav", audio.pcm, audio.rate)
    finals: list[Final] = []
    async with WavFileSource(path, realtime=True, block_ms=BLOCK_MS) as source:
        engine = TranscriptionEngine(model, input_rate=audio.rate, roles=_roles(audio))
        async with TranscriptionWorker(engine) as worker:

            async def feed() -> None:
                async for block in source.blocks():
                    await worker.put(block)
                await worker.close()

            feeder = asyncio.create_task(feed(), name="accuracy-feed")
            finals += [r async for r in worker.results() if isinstance(r, Final)]
            await feeder
    return finals


def transcribe_wav(model: LoadedModel, audio: EvalAudio) -> list[Final]:
    """``courtroom transcribe`` on the recording written as a WAV file."""
    with tempfile.TemporaryDirectory(prefix="courtroom-accuracy-") as tmp:
        path = write_wav(Path(tmp) / "recording.wav", audio.pcm, audio.rate)
        return asyncio.run(transcribe_file(path, model_dir=model.path, roles_spec=None))
