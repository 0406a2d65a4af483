"""Live-transcript latency: from capture to a clerk's browser websocket.

Runs a real hub and a real agent in this process. The agent's four
microphones are a demo recording (real AISHELL-1 speech, one seat per turn,
the other seats hearing it 25 dB quieter, 1-s pauses) played at real-time
pace; from the audio source on, everything is the live pipeline: speech gate,
pooled Vosk recognizers, spool, hub link, hub, /ws/live.

* final latency: arrival of a final segment at the /ws/live client − capture
  time of the end of the utterance's last spoken word. The AISHELL-1 clips
  carry ~0.6 s of room noise after the last word, so the end of the clip is
  not the end of speech: each clip's last word ends where plain Vosk (a fresh
  recognizer on the clean clip, word timings on) puts it;
* text-change latency: for every word of the reference (the same plain-Vosk
  word timings), arrival of the first partial or final of that utterance
  showing at least as many characters as the reference up to and including
  that word − capture time of the word's end. This is how long a clerk
  waits to see a word after it was said;
* delivery: arrival of a partial − capture time of the last audio sample it
  reflects (``partial.end``): the pipeline's own transport time.

Capture time of frame ``f`` is ``source.started_at + f / rate``: the paced
source releases a block when its last frame is due, as a sound card does.

Usage: ``python bench/latency.py [--turns 24] [--update-readme README.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import websockets
from readme_block import machine, percentile, update_readme

from av.wav_source import WavFileSource
from courtroom_agent.config import AgentConfig
from courtroom_agent.demo_audio import DEMO_ROLES, build_demo_recording, demo_turns
from courtroom_agent.runner import run_agent
from hub.config import load_config
from hub.server import HubServer
from transcription.assets import speech_samples
from transcription.models_cli import speech_dir_from_env

TOKEN = "bench-courtroom-token"
PASSWORD = "bench-password"
PAUSE_S = 1.0


def reference_words(clip: Path) -> list[tuple[str, float]]:
    """(word, end s) of each word plain Vosk hears in the clean clip."""
    import vosk

    from transcription.model import load_model
    from transcription.models_cli import resolve_model_arg

    model = load_model(resolve_model_arg(None))
    recognizer = vosk.KaldiRecognizer(model.vosk_model, float(model.sample_rate))
    recognizer.SetWords(True)
    with wave.open(str(clip)) as w:
        recognizer.AcceptWaveform(w.readframes(w.getnframes()))
    words = json.loads(recognizer.FinalResult()).get("result", [])
    return [(str(w["word"]), float(w["end"])) for w in words]


async def measure(turns: int, work: Path, *, endpoint_ms: int | None = None) -> dict[str, Any]:
    samples = speech_samples(speech_dir=speech_dir_from_env())
    recording = build_demo_recording(
        [s.path for s in samples], work / "room.wav", turns=turns, pause_s=PAUSE_S
    )
    clip_frames = []
    for sample in samples:
        with wave.open(str(sample.path)) as w:
            clip_frames.append(w.getnframes())
    layout = demo_turns(clip_frames, seats=len(DEMO_ROLES), turns=turns, pause_s=PAUSE_S)
    words = [reference_words(sample.path) for sample in samples]
    hub_config = load_config(
        None,
        data_dir=str(work),
        listen={"host": "127.0.0.1", "port": 0},
        courtrooms=[{"id": "bench", "name": "基准法庭", "token": TOKEN}],
    )
    async with HubServer(hub_config, admin_password=PASSWORD) as hub:
        ready = asyncio.Event()
        hub_task = asyncio.create_task(hub.run(ready=ready))
        await ready.wait()
        async with httpx.AsyncClient(base_url=hub.url) as client:
            reply = await client.post(
                "/api/login", json={"username": "admin", "password": PASSWORD}
            )
            bearer = reply.json()["token"]
        source = WavFileSource(recording, realtime=True)
        config = AgentConfig.model_validate(
            {
                "courtroom": {"id": "bench", "name": "基准法庭"},
                "hub": {"url": f"ws://127.0.0.1:{hub.port}/ws/agent", "token": TOKEN},
                "audio": {"source": "wav", "file": str(recording), "roles": list(DEMO_ROLES)},
                "transcription": {} if endpoint_ms is None else {"endpoint_ms": endpoint_ms},
            }
        )
        arrivals: list[tuple[float, dict[str, Any]]] = []
        ws_url = hub.url.replace("http", "ws", 1) + f"/ws/live?token={bearer}"
        async with websockets.connect(ws_url) as browser:
            await browser.send(json.dumps({"type": "subscribe", "courtroom": "bench"}))
            await browser.recv()  # snapshot

            async def listen() -> None:
                async for frame in browser:
                    arrivals.append((time.monotonic(), json.loads(frame)))

            listener = asyncio.create_task(listen())
            agent = await run_agent(config, data_dir=work, source=source)
            await asyncio.sleep(0.5)
            listener.cancel()
        hub.stop()
        await hub_task
    rate = source.format.rate
    t0 = source.started_at
    finals = [(t, m["segment"]) for t, m in arrivals if m["type"] == "final"]
    partials = [(t, m) for t, m in arrivals if m["type"] == "partial" and m.get("end")]
    spoken = [t0 + turn.start_frame / rate + words[turn.clip][-1][1] for turn in layout]
    final_lat = [t - end for (t, _), end in zip(finals, spoken, strict=False)]
    partial_lat = [t - (t0 + m["end"]) for t, m in partials]
    misplaced = sum(
        seg["channel"] != turn.seat for (_, seg), turn in zip(finals, layout, strict=False)
    )
    shown = [(t, m["channel"], m["start"], m["text"]) for t, m in partials] + [
        (t, seg["channel"], seg["start"], seg["text"]) for t, seg in finals
    ]
    shown.sort()
    change_lat: list[float] = []
    for turn in layout:
        begin, finish = turn.start_frame / rate - 0.6, turn.end_frame / rate + 0.6
        mine = [
            (t, len(text.replace(" ", "")))
            for t, channel, start, text in shown
            if channel == turn.seat and begin <= start <= finish
        ]
        needed = 0
        for word, end in words[turn.clip]:
            needed += len(word)
            seen = next((t for t, n in mine if n >= needed), None)
            if seen is not None:
                change_lat.append(seen - (t0 + turn.start_frame / rate + end))
    return {
        "turns": turns,
        "finals": len(finals),
        "agent_finals": agent.finals,
        "misplaced": misplaced,
        "final": final_lat,
        "change": change_lat,
        "partial": partial_lat,
    }


def summary(result: dict[str, Any]) -> str:
    final, change, partial = result["final"], result["change"], result["partial"]
    lines = [
        f"utterances: {result['turns']} (finals received {result['finals']}, "
        f"on the wrong seat {result['misplaced']})",
        f"final after the last word:   p50 {statistics.median(final):.3f} s, "
        f"p95 {percentile(final, 95):.3f} s, max {max(final):.3f} s",
        f"word visible after spoken:   p50 {statistics.median(change):.3f} s, "
        f"p95 {percentile(change, 95):.3f} s  ({len(change)} words)",
        f"partial delivery:            p50 {statistics.median(partial):.3f} s, "
        f"p95 {percentile(partial, 95):.3f} s  ({len(partial)} partials)",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=24, help="utterances (>= 20)")
    parser.add_argument(
        "--endpoint-ms", type=int, default=None, help="the gate's endpoint (default: the agent's)"
    )
    parser.add_argument("--update-readme", type=Path, default=None)
    args = parser.parse_args()
    if args.turns < 20:
        parser.error("--turns: at least 20 utterances for a meaningful p95")
    with tempfile.TemporaryDirectory(prefix="courtroom-bench-") as tmp:
        result = asyncio.run(measure(args.turns, Path(tmp), endpoint_ms=args.endpoint_ms))
    endpoint = args.endpoint_ms or AgentConfig.model_fields["transcription"].default.endpoint_ms
    text = summary(result) + f"\nspeech gate endpoint {endpoint} ms; " + machine()
    print(text)
    if result["finals"] != result["turns"]:
        print("warning: not every utterance produced exactly one final", file=sys.stderr)
    if args.update_readme is not None and args.endpoint_ms is None:
        update_readme(args.update_readme, "latency", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
