"""Cost of recording a courtroom: 8 microphones + 2 cameras at 1280×720, 25 fps.

Runs the agent as in a hearing — lossless per-seat FLAC segments, two cameras
encoded to fragmented H.264 MP4 with the recording time burned in, and live
transcription of whichever seats are speaking — for ``--seconds`` of
real-time audio, against an in-process hub. The microphones are the demo
recording widened to eight seats; each camera is a looping 720p25 test-card
file read through OpenCV, as a network camera's stream would be.

Prints CPU (percent of one core: the agent process, its threads, and its
ffmpeg encoders) and peak memory (the agent process, and the encoders' RSS
sampled from ``/proc`` every 0.25 s), and with ``--update-readme`` writes them
to README.md. The encoders' CPU is what the children reaped during the run
used: the rusage of the ffmpeg that made the test card beforehand is taken as
the baseline and subtracted.

Usage: ``python bench/recording.py [--seconds 60] [--update-readme README.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from readme_block import machine, update_readme

from courtroom_agent.config import AgentConfig
from courtroom_agent.demo_audio import build_demo_recording
from courtroom_agent.runner import run_agent
from hub.config import load_config
from hub.server import HubServer
from transcription.assets import speech_samples
from transcription.models_cli import speech_dir_from_env

ROLES = ["审判长", "审判员1", "审判员2", "书记员", "原告", "原告代理人", "被告", "被告代理人"]
TOKEN = "bench-recording-token"


def child_encoders_rss() -> dict[int, int]:
    """RSS in bytes of each running ffmpeg child of this process, from ``/proc``."""
    me, found = os.getpid(), {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid != me or comm != "ffmpeg":
                continue
            pages = int((entry / "statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not readable
        found[int(entry.name)] = pages * page
    return found


class EncoderMemory:
    """Peak RSS of the ffmpeg encoders, together and one by one, sampled while they run."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peak_total = 0
        self.peak_each = 0
        self.encoders: set[int] = set()

    async def run(self) -> None:
        while True:
            rss = await asyncio.to_thread(child_encoders_rss)
            self.encoders |= rss.keys()
            self.peak_total = max(self.peak_total, sum(rss.values()))
            self.peak_each = max(self.peak_each, *rss.values(), 0)
            await asyncio.sleep(self.interval)


def make_camera_file(path: Path) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("ffmpeg is required (make setup installs it)")
    card = ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=10"]
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(
        [ffmpeg, "-nostdin", "-loglevel", "error", "-y", *card, *encode],
        check=True,
    )
    return path


async def measure(seconds: float, work: Path) -> dict[str, float]:
    samples = speech_samples(speech_dir=speech_dir_from_env())
    turns = max(2, int(seconds / 5.2) + 1)
    recording = build_demo_recording(
        [s.path for s in samples], work / "room.wav", roles=ROLES, turns=turns, pause_s=1.0
    )
    camera = make_camera_file(work / "camera.mp4")
    hub_config = load_config(
        None,
        data_dir=str(work / "hub"),
        listen={"host": "127.0.0.1", "port": 0},
        courtrooms=[{"id": "bench", "name": "基准法庭", "token": TOKEN}],
    )
    (work / "hub").mkdir()
    async with HubServer(hub_config) as hub:
        ready = asyncio.Event()
        hub_task = asyncio.create_task(hub.run(ready=ready))
        await ready.wait()
        config = AgentConfig.model_validate(
            {
                "courtroom": {"id": "bench", "name": "基准法庭"},
                "hub": {"url": f"ws://127.0.0.1:{hub.port}/ws/agent", "token": TOKEN},
                "audio": {"source": "wav", "file": str(recording), "roles": ROLES},
                "cameras": [
                    {"id": f"CAM-{i}", "source": str(camera), "fps": 25, "loop": True}
                    for i in (1, 2)
                ],
            }
        )
        # Baselines: the test card's ffmpeg is a reaped child already.
        before_self = resource.getrusage(resource.RUSAGE_SELF)
        before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        memory = EncoderMemory()
        sampler = asyncio.create_task(memory.run(), name="bench: encoder memory")
        started = time.monotonic()
        try:
            agent = await run_agent(config, data_dir=work / "agent")
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        wall = time.monotonic() - started
        after_self = resource.getrusage(resource.RUSAGE_SELF)
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        hub.stop()
        await hub_task
    cpu_self = (after_self.ru_utime + after_self.ru_stime) - (
        before_self.ru_utime + before_self.ru_stime
    )
    cpu_children = (after_children.ru_utime + after_children.ru_stime) - (
        before_children.ru_utime + before_children.ru_stime
    )
    return {
        "audio_seconds": agent.captured_time,
        "wall": wall,
        "agent_cpu": 100 * cpu_self / wall,
        "encoder_cpu": 100 * cpu_children / wall,
        "peak_rss_mib": after_self.ru_maxrss / 1024,
        "encoder_rss_mib": memory.peak_total / (1 << 20),
        "encoder_each_rss_mib": memory.peak_each / (1 << 20),
        "encoders": len(memory.encoders),
        "finals": agent.finals,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--update-readme", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="courtroom-rec-bench-") as tmp:
        r = asyncio.run(measure(args.seconds, Path(tmp)))
    text = (
        f"8 microphones (FLAC per seat) + 2 cameras 1280×720 25 fps (H.264) + live transcript, "
        f"{r['audio_seconds']:.0f} s of hearing:\n"
        f"agent + hub process {r['agent_cpu']:.0f} % of one core (capture, gate, Vosk, FLAC, "
        f"OpenCV decode, overlay), peak RSS {r['peak_rss_mib']:.0f} MiB (model included);\n"
        f"ffmpeg encoders ({int(r['encoders'])} processes) "
        f"{r['encoder_cpu']:.0f} % of one core, peak RSS {r['encoder_rss_mib']:.0f} MiB "
        f"together ({r['encoder_each_rss_mib']:.0f} MiB the largest); "
        f"{int(r['finals'])} finals\n"
        f"{machine()}"
    )
    print(text)
    if args.update_readme is not None:
        update_readme(args.update_readme, "recording", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
