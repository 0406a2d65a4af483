"""Transcript accuracy per kind of audio: the live pipeline against plain Vosk.

Every condition is built from the repository's own real speech (the two
AISHELL-1 demo clips) by :mod:`transcription.evalaudio`: clean, steady and
babble noise at 20/10/5 dB SNR, 8–48 kHz, −40/−26/−6 dBFS, a stereo file of
one talker, a four-seat room with 24 dB bleed at 48 kHz, two simultaneous
talkers, and 300/500-ms pauses inside a sentence. For each, with one loaded
model, the corpus CER of

* plain  — plain Vosk on each whole utterance, told its channel and where it
  is (a fresh recognizer per utterance fed the utterance's channel ±0.5 s,
  re-rated to 16 kHz: :func:`transcription.accuracy.plain_vosk`);
* live   — the TranscriptionEngine fed 100-ms blocks, as the agent does
  (with ``--realtime`` also the TranscriptionWorker at real-time pace);
* transcribe — ``courtroom transcribe`` on the recording as a WAV file;

and, for live / transcribe, duplicated lines (one utterance written again on
another channel), wrong-seat lines and utterances split into several lines.
Finals are matched to utterances by time overlap
(:func:`transcription.accuracy.score_finals`).

``--curve`` instead measures the trade-off the gate's ``endpoint_ms`` makes:
for each endpoint, the live pipeline's CER and split sentences on the
conditions where it matters (noise and mid-sentence pauses), beside plain
Vosk; ``bench/latency.py --endpoint-ms`` gives the latency side.

Usage: ``python bench/accuracy.py [--model DIR] [--only NAME ...] [--realtime]
[--curve] [--update-readme README.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from readme_block import machine, percentile, update_readme

from transcription.accuracy import (
    Score,
    live_engine,
    live_worker,
    plain_vosk,
    score_finals,
    score_texts,
    transcribe_wav,
)
from transcription.assets import speech_samples
from transcription.evalaudio import (
    Clip,
    EvalAudio,
    Mix,
    build_mono,
    build_paused,
    build_seats,
    build_simultaneous,
    build_stereo,
    load_clips,
)
from transcription.gate import GateConfig
from transcription.model import LoadedModel, load_model
from transcription.models import DEFAULT_MODEL, resolve
from transcription.models_cli import models_dir_from_env, speech_dir_from_env
from transcription.segments import Final


@dataclass(frozen=True, slots=True)
class Condition:
    """One kind of audio: a layout builder, its :class:`Mix` fields and options.

    ``--turns`` (utterances per recording) reaches the builder as ``turns``,
    or as ``rounds`` of ``per_round`` utterances spoken at once.
    """

    name: str
    build: Callable[..., EvalAudio]
    mix: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    per_round: int = 1

    def audio(self, clips: Sequence[Clip], *, seed: int, turns: int) -> EvalAudio:
        count = {"rounds" if self.per_round > 1 else "turns": max(1, turns // self.per_round)}
        return self.build(clips, Mix(seed=seed, **self.mix), **self.options, **count)


CONDITIONS: tuple[Condition, ...] = (
    Condition("clean 16k mono", build_mono),
    *(
        Condition(f"{noise} {snr} dB", build_mono, {"noise": noise, "snr_db": snr})
        for noise in ("steady", "babble")
        for snr in (20, 10, 5)
    ),
    *(
        Condition(f"rate {rate / 1000:g}k", build_mono, {"rate": rate})
        for rate in (8000, 16000, 22050, 44100, 48000)
    ),
    *(
        Condition(f"level {level} dBFS", build_mono, {"level_dbfs": level})
        for level in (-40, -26, -6)
    ),
    Condition("stereo 1 talker 48k", build_stereo, {"rate": 48000}),
    Condition("4 seats 24dB bleed 48k", build_seats, {"rate": 48000}, {"bleed_db": 24.0}),
    Condition(
        "2 talkers at once 48k",
        build_simultaneous,
        {"rate": 48000},
        {"seats": 4, "talkers": 2},
        per_round=2,
    ),
    *(
        Condition(f"pause {ms} ms mid-sentence", build_paused, {}, {"pause_ms": ms})
        for ms in (300, 500)
    ),
)


def measure(model: LoadedModel, audio: EvalAudio, *, realtime: bool) -> dict[str, Score]:
    """Score every recogniser on one recording."""
    scores = {
        "plain": score_texts(audio.utterances, plain_vosk(model, audio)),
        "live": score_finals(audio.utterances, live_engine(model, audio)),
        "transcribe": score_finals(audio.utterances, transcribe_wav(model, audio)),
    }
    if realtime:
        with tempfile.TemporaryDirectory(prefix="courtroom-accuracy-") as tmp:
            finals = asyncio.run(live_worker(model, audio, Path(tmp)))
        scores["worker"] = score_finals(audio.utterances, finals)
    return scores


def table(results: dict[str, dict[str, Score]], realtime: bool) -> list[str]:
    head = f"{'condition':<26} {'plain':>6} {'live':>6} {'transcr':>7}"
    head += f" {'worker':>6}" if realtime else ""
    lines = [head + "  dup L/T  wrong seat L/T  split L/T"]
    for name, s in results.items():
        live, batch = s["live"], s["transcribe"]
        row = f"{name:<26} {s['plain'].cer:6.3f} {live.cer:6.3f} {batch.cer:7.3f}"
        row += f" {s['worker'].cer:6.3f}" if realtime else ""
        row += (
            f"  {live.duplicates:>3}/{batch.duplicates:<3} "
            f" {live.wrong_seat:>8}/{batch.wrong_seat:<5} "
            f" {live.split:>5}/{batch.split:<3}"
        )
        lines.append(row.rstrip())
    return lines


def summary(results: dict[str, dict[str, Score]], model: LoadedModel, wall: float) -> list[str]:
    n = len(results)
    live_ok = sum(s["live"].edits <= s["plain"].edits for s in results.values())
    batch_ok = sum(s["transcribe"].edits <= s["plain"].edits for s in results.values())
    total = {
        k: sum((s[k] for s in results.values()), Score(0, 0, 0, 0))
        for k in ("plain", "live", "transcribe")
    }
    return [
        f"live ≤ plain Vosk on {live_ok} of {n} conditions, "
        f"transcribe ≤ plain on {batch_ok} of {n}; all conditions: "
        f"plain {total['plain'].cer:.3f}, live {total['live'].cer:.3f}, "
        f"transcribe {total['transcribe'].cer:.3f}",
        f"live: {total['live'].duplicates} duplicated, {total['live'].wrong_seat} wrong-seat, "
        f"{total['live'].split} split of {total['live'].utterances} utterances "
        f"({total['live'].lines} lines, {total['live'].extra} extra)",
        f"model {model.path.name}; {wall:.0f} s; {machine()}",
    ]


CURVE_ENDPOINTS_MS = (300, 400, 500, 600, 800)
CURVE_CONDITIONS = ("steady 10 dB", "babble 10 dB", "steady 5 dB", "babble 5 dB", "pause")


def _final_delays(audio: EvalAudio, finals: list[Final], emitted: list[float]) -> list[float]:
    """Per utterance: audio time its last overlapping final was out − end of its speech."""
    last: dict[int, float] = {}
    for final, at in zip(finals, emitted, strict=True):
        overlaps = [
            (min(final.end, u.end) - max(final.start, u.start), i)
            for i, u in enumerate(audio.utterances)
        ]
        best, i = max(overlaps)
        if best > 0:
            last[i] = max(last.get(i, 0.0), at)
    return [at - audio.utterances[i].end for i, at in last.items()]


def curve(model: LoadedModel, audios: dict[str, EvalAudio], jobs: int) -> list[str]:
    """Live CER, split sentences and final delay per gate endpoint, beside plain Vosk."""

    def plain(audio: EvalAudio) -> Score:
        return score_texts(audio.utterances, plain_vosk(model, audio))

    def live(endpoint_ms: int) -> tuple[Score, list[float]]:
        gate = GateConfig(endpoint_ms=endpoint_ms)
        total, delays = Score(0, 0, 0, 0), []
        for audio in audios.values():
            emitted: list[float] = []
            finals = live_engine(model, audio, gate=gate, emitted=emitted)
            total += score_finals(audio.utterances, finals)
            delays += _final_delays(audio, finals, emitted)
        return total, delays

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        base = sum(pool.map(plain, audios.values()), Score(0, 0, 0, 0))
        points = list(pool.map(live, CURVE_ENDPOINTS_MS))
    lines = [
        f"trade-off on {len(audios)} recordings ({', '.join(audios)}), "
        f"{base.utterances} utterances; plain Vosk CER {base.cer:.3f}"
    ]
    lines += [
        f"endpoint {ms:>4} ms: live CER {score.cer:.3f}, split {score.split}/{score.utterances}; "
        f"final after end of speech p50 {statistics.median(delays):.2f} s, "
        f"p95 {percentile(delays, 95):.2f} s (audio time)"
        for ms, (score, delays) in zip(CURVE_ENDPOINTS_MS, points, strict=True)
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="a Vosk model directory")
    parser.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="NAME",
        help="conditions whose name contains NAME",
    )
    parser.add_argument("--realtime", action="store_true", help="also the worker at real-time pace")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--turns", type=int, default=4, help="utterances per recording")
    parser.add_argument("--jobs", type=int, default=2, help="conditions measured at once")
    parser.add_argument("--curve", action="store_true", help="the endpoint trade-off curve")
    parser.add_argument("--update-readme", type=Path, default=None)
    args = parser.parse_args()
    if not 1 <= args.turns <= 100:
        parser.error("--turns: 1 to 100 utterances")
    if args.jobs < 1:
        parser.error("--jobs: at least 1")
    model_dir = args.model or resolve(DEFAULT_MODEL, models_dir=models_dir_from_env())
    model = load_model(model_dir)
    clips = load_clips(speech_samples(speech_dir=speech_dir_from_env()))
    only = args.only or (list(CURVE_CONDITIONS) if args.curve else None)
    chosen = [c for c in CONDITIONS if only is None or any(o in c.name for o in only)]
    if not chosen:
        parser.error(f"--only: no condition matches; choose from {[c.name for c in CONDITIONS]}")
    started = time.monotonic()
    if args.curve:
        audios = {c.name: c.audio(clips, seed=args.seed, turns=args.turns) for c in chosen}
        text = "\n".join([*curve(model, audios, args.jobs), machine()])
        print(text)
        if args.update_readme is not None:
            update_readme(args.update_readme, "accuracy-curve", text)
        return 0

    def run(condition: Condition) -> dict[str, Score]:
        audio = condition.audio(clips, seed=args.seed, turns=args.turns)
        return measure(model, audio, realtime=args.realtime)

    # Vosk decodes outside the GIL: conditions run side by side on the cores.
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = dict(zip([c.name for c in chosen], pool.map(run, chosen), strict=True))
    lines = table(results, args.realtime) + summary(results, model, time.monotonic() - started)
    text = "\n".join(lines)
    print(text)
    if args.update_readme is not None:
        update_readme(args.update_readme, "accuracy", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
