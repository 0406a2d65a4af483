"""People talking at once in one room are decoded in parallel, with the same results.

Real Vosk, real AISHELL-1 speech: the all-talking recording of
:func:`courtroom_agent.demo_audio.build_talking_recording`.
"""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from courtroom_agent.demo_audio import Turn, build_talking_recording
from transcription.assets import SpeechSample
from transcription.decode_pool import DecodePool
from transcription.engine import Result, TranscriptionEngine
from transcription.model import LoadedModel
from transcription.recognizer import StreamRecognizer
from transcription.segments import Final

ROLES = ("审判长", "原告", "被告", "书记员")


def talking(
    speech: list[SpeechSample], tmp_path: Path, seats: int
) -> tuple[npt.NDArray[np.int16], list[Turn]]:
    path, layout = build_talking_recording(
        [s.path for s in speech], tmp_path / f"talking-{seats}.wav", seats=seats, turns_per_seat=2
    )
    with wave.open(str(path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, seats)
    return pcm, layout


def transcribe(model: LoadedModel, pcm: npt.NDArray[np.int16], pool: DecodePool) -> list[Result]:
    engine = TranscriptionEngine(
        model, input_rate=16000, roles=ROLES[: pcm.shape[1]], decode_pool=pool
    )
    results: list[Result] = []
    for i in range(0, len(pcm), 1600):
        results += engine.process(pcm[i : i + 1600])
    return results + engine.flush()


def test_engine_two_talkers_are_decoded_at_the_same_time_on_two_threads(
    vosk_model: LoadedModel,
    speech: list[SpeechSample],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pcm, layout = talking(speech, tmp_path, seats=2)
    block = [0]
    calls: list[tuple[int, int, str, float, float]] = []  # block, channel, thread, began, ended
    accept = StreamRecognizer.accept

    def timed(self: StreamRecognizer, data: bytes) -> object:
        began = time.perf_counter()
        try:
            return accept(self, data)
        finally:
            ended = time.perf_counter()
            calls.append((block[0], self.channel, threading.current_thread().name, began, ended))

    monkeypatch.setattr(StreamRecognizer, "accept", timed)
    pool = DecodePool(2)
    engine = TranscriptionEngine(vosk_model, input_rate=16000, roles=ROLES[:2], decode_pool=pool)
    got: list[Result] = []
    for i in range(0, len(pcm), 1600):
        block[0] = i
        got += engine.process(pcm[i : i + 1600])
    got += engine.flush()
    both = {b for b, ch, *_ in calls if ch == 0} & {b for b, ch, *_ in calls if ch == 1}
    overlapped = 0
    for b in both:
        first = [c for c in calls if c[0] == b and c[1] == 0]
        second = [c for c in calls if c[0] == b and c[1] == 1]
        overlapped += any(
            x[2] != y[2] and x[3] < y[4] and y[3] < x[4] for x in first for y in second
        )
    print(f"{overlapped} of {len(both)} blocks with both talkers decoded them at the same time")
    assert len(both) >= 30  # the recording has them talking at once for seconds
    # Most of those blocks ran the two channels' decoding side by side.
    assert overlapped >= len(both) // 2
    assert {c[2] for c in calls} == {threading.current_thread().name, "decode-1"}
    assert sum(isinstance(r, Final) for r in got) == len(layout)
    pool.close()


def test_engine_results_same_with_one_and_two_decode_threads(
    vosk_model: LoadedModel, speech: list[SpeechSample], tmp_path: Path
) -> None:
    pcm, layout = talking(speech, tmp_path, seats=3)
    serial = transcribe(vosk_model, pcm, DecodePool(1))
    pool = DecodePool(2)
    parallel = transcribe(vosk_model, pcm, pool)
    pool.close()

    def finals(results: list[Result]) -> list[Final]:
        return [r for r in results if isinstance(r, Final)]

    # Every final in the same order, with the same text on the same seat, at
    # the same times. (Partials are not compared: Vosk's partial hypotheses,
    # word confidences and microsecond word times vary from run to run even
    # on one thread.)
    one, two = finals(serial), finals(parallel)
    assert [(f.channel, f.role, f.text) for f in two] == [(f.channel, f.role, f.text) for f in one]
    for a, b in zip(two, one, strict=True):
        assert (a.start, a.end) == pytest.approx((b.start, b.end), abs=0.01)
    assert len(one) == len(layout)
    # One final per turn, on the turn's seat.
    assert sorted(f.channel for f in one) == sorted(t.seat for t in layout)
