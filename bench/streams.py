"""How many courtrooms one 2-core agent host can transcribe in real time.

Each stream is a four-microphone courtroom (the demo recording: real
AISHELL-1 speech, one seat at a time, bleed on the others, 1-s pauses) played
at real-time pace into its own TranscriptionWorker; all streams share one
loaded model. Reports, per stream count: recognition lag (how far behind
capture the engine finishes a block: p95 and max), finals produced versus
utterances spoken, and resident memory added per stream.

Usage: ``python bench/streams.py [--streams 1 4 8 16] [--turns 12] [--update-readme README.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

from readme_block import machine, update_readme

from av.wav_source import WavFileSource
from courtroom_agent.demo_audio import DEMO_ROLES, build_demo_recording
from transcription.assets import speech_samples
from transcription.engine import TranscriptionEngine
from transcription.model import LoadedModel, load_model
from transcription.models import DEFAULT_MODEL, resolve
from transcription.models_cli import models_dir_from_env, speech_dir_from_env
from transcription.segments import Final
from transcription.worker import TranscriptionWorker


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def one_stream(recording: Path, model: LoadedModel, lags: list[float]) -> int:
    source = WavFileSource(recording, realtime=True)
    finals = 0
    async with source:
        engine = TranscriptionEngine(model, input_rate=source.format.rate, roles=DEMO_ROLES)
        async with TranscriptionWorker(engine) as worker:

            async def feed() -> None:
                async for block in source.blocks():
                    await worker.put(block)
                    lags.append(worker.stats.lag)
                await worker.close()

            feeder = asyncio.create_task(feed())
            async for result in worker.results():
                finals += isinstance(result, Final)
            await feeder
            lags.append(worker.stats.max_lag)
    return finals


async def run(streams: int, recording: Path, model: LoadedModel) -> dict[str, float]:
    before = rss_mib()
    lags: list[list[float]] = [[] for _ in range(streams)]
    started = time.monotonic()
    finals = await asyncio.gather(*(one_stream(recording, model, lags[i]) for i in range(streams)))
    wall = time.monotonic() - started
    all_lags = sorted(x for per in lags for x in per)
    return {
        "streams": streams,
        "finals": sum(finals),
        "wall": wall,
        "lag_p95": all_lags[int(0.95 * (len(all_lags) - 1))],
        "lag_max": all_lags[-1],
        "rss_per_stream": (rss_mib() - before) / streams,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--update-readme", type=Path, default=None)
    args = parser.parse_args()
    model = load_model(resolve(DEFAULT_MODEL, models_dir=models_dir_from_env()))
    samples = speech_samples(speech_dir=speech_dir_from_env())
    lines = []
    with tempfile.TemporaryDirectory(prefix="courtroom-streams-") as tmp:
        recording = build_demo_recording(
            [s.path for s in samples], Path(tmp) / "room.wav", turns=args.turns, pause_s=1.0
        )
        base = rss_mib()
        for streams in args.streams:
            r = asyncio.run(run(streams, recording, model))
            line = (
                f"{streams:3d} courtrooms × 4 mics: "
                f"finals {int(r['finals'])}/{streams * args.turns}, "
                f"lag p95 {r['lag_p95']:.2f} s, max {r['lag_max']:.2f} s, "
                f"+{r['rss_per_stream']:.0f} MiB/courtroom"
            )
            print(line, flush=True)
            lines.append(line)
        lines.append(f"model loaded once: {base:.0f} MiB RSS; {machine()}")
    text = "\n".join(lines)
    if args.update_readme is not None:
        update_readme(args.update_readme, "streams", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
