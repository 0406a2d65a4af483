"""How many microphones talking at once one agent host transcribes in real time.

Each courtroom is a multi-channel recording of real AISHELL-1 speech played at
real-time pace (``WavFileSource(realtime=True)``) into its own
TranscriptionWorker; all courtrooms of a run share one loaded model and one
decode pool. Layouts:

* ``talk4``: 1 courtroom × 4 microphones, all talking at once (every seat
  speaks clip after clip with 1-s pauses, each seat starting 0.7 s after the
  one before; neighbours hear each other 25 dB down);
* ``talk8``: 1 courtroom × 8 microphones, all talking at once;
* ``demoN``: N courtrooms × 4 microphones, the demo hearing (one seat at a
  time, bleed on the others, 1-s pauses);
* ``monoN``: N courtrooms × 1 microphone: the talkers of ``talkN``, each
  alone in a courtroom of one microphone.

Each layout runs with a decode pool of 1 thread (every channel decoded on its
courtroom's engine thread, as before parallel decoding) and of one thread per
core, each in a fresh process. Reported per run:

* lag: how far behind capture the engine finishes a block (p95, max);
* finals produced versus utterances spoken;
* final latency: from the capture time of an utterance's last sample (the
  end of its clip, which carries ~0.6 s of room noise after the last word) to
  its Final leaving the worker (p95);
* CPU: process CPU time over wall time, in % of one core;
* MiB per courtroom: resident memory added over the model and recordings;
* for one-courtroom layouts, unpaced speed: the recording fed to one engine
  as fast as it decodes (seconds of audio per second), the capacity figure
  least disturbed by other load on the machine.

Usage: ``python bench/streams.py [--layouts talk4 talk8 demo4 mono8]
[--decode-threads 1 2] [--update-readme README.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from readme_block import machine, percentile, update_readme

from av.wav_source import WavFileSource
from courtroom_agent.demo_audio import (
    DEMO_ROLES,
    Turn,
    build_demo_recording,
    build_talking_recording,
    demo_turns,
)
from transcription.assets import speech_samples
from transcription.decode_pool import DecodePool, default_threads
from transcription.engine import TranscriptionEngine
from transcription.model import LoadedModel, load_model
from transcription.models import DEFAULT_MODEL, resolve
from transcription.models_cli import models_dir_from_env, speech_dir_from_env
from transcription.segments import Final
from transcription.worker import TranscriptionWorker

RATE = 16000
DEMO_TURNS = 8
TALK_TURNS = 4  # per seat


@dataclass(frozen=True, slots=True)
class Layout:
    """One benchmark layout: the courtrooms, each a recording and its utterances."""

    name: str
    rooms: list[tuple[Path, list[Turn]]]
    title: str


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def match(finals: list[tuple[float, Final]], turns: list[Turn]) -> list[tuple[float, Turn]]:
    """Pair each final with the turn of its seat it overlaps most (once each)."""
    taken: set[int] = set()
    pairs = []
    for left, final in finals:
        best, overlap = None, 0.0
        for i, turn in enumerate(turns):
            if turn.seat != final.channel or i in taken:
                continue
            shared = min(final.end, turn.end_frame / RATE) - max(
                final.start, turn.start_frame / RATE
            )
            if shared > overlap:
                best, overlap = i, shared
        if best is not None:
            taken.add(best)
            pairs.append((left, turns[best]))
    return pairs


async def one_room(
    recording: Path, turns: list[Turn], model: LoadedModel, pool: DecodePool, lags: list[float]
) -> tuple[int, list[float]]:
    source = WavFileSource(recording, realtime=True)
    finals: list[tuple[float, Final]] = []
    async with source:
        roles = [f"{DEMO_ROLES[c % len(DEMO_ROLES)]}{c + 1}" for c in range(source.format.channels)]
        engine = TranscriptionEngine(
            model, input_rate=source.format.rate, roles=roles, decode_pool=pool
        )
        async with TranscriptionWorker(engine) as worker:

            async def feed() -> None:
                async for block in source.blocks():
                    await worker.put(block)
                    lags.append(worker.stats.lag)
                await worker.close()

            feeder = asyncio.create_task(feed())
            async for result in worker.results():
                if isinstance(result, Final):
                    finals.append((time.monotonic(), result))
            await feeder
            lags.append(worker.stats.max_lag)
    t0 = source.started_at
    latency = [left - (t0 + turn.end_frame / RATE) for left, turn in match(finals, turns)]
    return len(finals), latency


async def measure(layout: Layout, model: LoadedModel, threads: int) -> dict[str, Any]:
    pool = DecodePool(threads)
    before = rss_mib()
    lags: list[list[float]] = [[] for _ in layout.rooms]
    started, cpu = time.monotonic(), cpu_seconds()
    rooms = await asyncio.gather(
        *(
            one_room(path, turns, model, pool, lags[i])
            for i, (path, turns) in enumerate(layout.rooms)
        )
    )
    wall, cpu = time.monotonic() - started, cpu_seconds() - cpu
    pool.close()
    all_lags = [x for per in lags for x in per]
    latency = [x for _, per in rooms for x in per]
    return {
        "finals": sum(n for n, _ in rooms),
        "expected": sum(len(turns) for _, turns in layout.rooms),
        "lag_p95": percentile(all_lags, 95),
        "lag_max": max(all_lags),
        "final_p95": percentile(latency, 95),
        "cpu": 100 * cpu / wall,
        "mib_per_room": (peak_rss_mib() - before) / len(layout.rooms),
    }


def offline_speed(recording: Path, model: LoadedModel, threads: int) -> float:
    """Audio seconds decoded per wall second, as fast as one engine goes (no pacing)."""
    with wave.open(str(recording)) as w:
        channels = w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, channels)
    pool = DecodePool(threads)
    engine = TranscriptionEngine(
        model, input_rate=RATE, roles=[str(c) for c in range(channels)], decode_pool=pool
    )
    started = time.perf_counter()
    for i in range(0, len(pcm), RATE // 10):
        engine.process(pcm[i : i + RATE // 10])
    engine.flush()
    wall = time.perf_counter() - started
    pool.close()
    return len(pcm) / RATE / wall


def layouts(names: list[str], work: Path) -> list[Layout]:
    clips = [s.path for s in speech_samples(speech_dir=speech_dir_from_env())]
    frames = []
    for clip in clips:
        with wave.open(str(clip)) as w:
            frames.append(w.getnframes())
    built: list[Layout] = []
    for name in names:
        kind, count = re.fullmatch(r"(talk|demo|mono)(\d+)", name).groups()  # type: ignore[union-attr]
        n = int(count)
        if kind == "demo":
            path = build_demo_recording(clips, work / "demo.wav", turns=DEMO_TURNS, pause_s=1.0)
            turns = demo_turns(frames, seats=len(DEMO_ROLES), turns=DEMO_TURNS, pause_s=1.0)
            title = f"{n} courtrooms × 4 mics, one at a time"
            built.append(Layout(name, [(path, turns)] * n, title))
            continue
        path, turns = build_talking_recording(
            clips, work / f"talk{n}.wav", seats=n, turns_per_seat=TALK_TURNS
        )
        if kind == "talk":
            built.append(Layout(name, [(path, turns)], f"1 courtroom × {n} mics, all talking"))
        else:  # the same talkers, each alone in a one-microphone courtroom
            rooms = [(split(path, seat), only(turns, seat)) for seat in range(n)]
            built.append(Layout(name, rooms, f"{n} courtrooms × 1 mic, all talking"))
    return built


def split(path: Path, seat: int) -> Path:
    """Channel ``seat`` of a recording as a one-microphone recording."""
    with wave.open(str(path)) as w:
        channels = w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, channels)
    out = path.with_name(f"{path.stem}-seat{seat}.wav")
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.ascontiguousarray(pcm[:, seat]).tobytes())
    return out


def only(turns: list[Turn], seat: int) -> list[Turn]:
    """The turns of ``seat``, on seat 0 of its own recording."""
    return [Turn(0, t.clip, t.start_frame, t.end_frame) for t in turns if t.seat == seat]


def child(args: argparse.Namespace) -> int:
    """One measurement in this (fresh) process; prints its figures as JSON."""
    spec = json.loads(args.child)
    rooms = [(Path(path), [Turn(*t) for t in turns]) for path, turns in spec["rooms"]]
    layout = Layout(spec["name"], rooms, spec["title"])
    model = load_model(resolve(DEFAULT_MODEL, models_dir=models_dir_from_env()))
    model_mib = rss_mib()
    result = asyncio.run(measure(layout, model, spec["threads"]))
    if len(layout.rooms) == 1:
        result["speed"] = offline_speed(layout.rooms[0][0], model, spec["threads"])
    result["model_mib"] = model_mib
    print(json.dumps(result))
    return 0


def line(layout: Layout, threads: int, r: dict[str, Any]) -> str:
    return (
        f"{layout.title:<36} decode threads {threads}: "
        f"lag p95 {r['lag_p95']:.2f} s, max {r['lag_max']:.2f} s; "
        f"finals {r['finals']}/{r['expected']}, final p95 {r['final_p95']:.2f} s; "
        f"CPU {r['cpu']:.0f} %, +{r['mib_per_room']:.0f} MiB/courtroom"
        + (f"; unpaced {r['speed']:.1f}× real time" if "speed" in r else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layouts", nargs="+", default=["talk4", "talk8", "demo4", "mono8"])
    parser.add_argument("--decode-threads", type=int, nargs="+", default=[1, default_threads()])
    parser.add_argument("--update-readme", type=Path, default=None)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    for name in args.layouts:
        if not re.fullmatch(r"(talk|demo|mono)[1-9]\d*", name):
            parser.error(f"--layouts: {name!r} is not talkN, demoN or monoN")
    lines = []
    with tempfile.TemporaryDirectory(prefix="courtroom-streams-") as tmp:
        for layout in layouts(args.layouts, Path(tmp)):
            for threads in args.decode_threads:
                spec = {
                    "name": layout.name,
                    "rooms": [
                        (str(path), [[t.seat, t.clip, t.start_frame, t.end_frame] for t in turns])
                        for path, turns in layout.rooms
                    ],
                    "title": layout.title,
                    "threads": threads,
                }
                out = subprocess.run(
                    [sys.executable, __file__, "--child", json.dumps(spec)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                r = json.loads(out.stdout.strip().splitlines()[-1])
                text = line(layout, threads, r)
                print(text, flush=True)
                lines.append(text)
        lines.append(f"model loaded once per process: {r['model_mib']:.0f} MiB RSS; {machine()}")
    text = "\n".join(lines)
    print(lines[-1], flush=True)
    if args.update_readme is not None:
        update_readme(args.update_readme, "streams", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
