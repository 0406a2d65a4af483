"""``courtroom av record``: record the room's microphones and cameras without a hub.

For commissioning a courtroom: the same recorder and cameras as a hearing,
written to ``--out`` and verified at the end (``courtroom av check``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["add_arguments", "run_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="courtroom TOML file")
    parser.add_argument("--out", type=Path, required=True, help="recordings root directory")
    parser.add_argument("--duration", type=float, required=True, help="seconds to record")
    parser.add_argument(
        "--segment-seconds", type=float, default=300.0, help="segment length (default 300)"
    )


def run_args(args: argparse.Namespace) -> int:
    from av.audio import AudioSourceError
    from courtroom_agent.config import ConfigError, load_agent_config

    try:
        config = load_agent_config(args.config)
    except ConfigError as exc:
        print(f"courtroom av record: invalid configuration\n{exc}", file=sys.stderr)
        return 2
    if args.duration <= 0 or args.segment_seconds <= 0:
        print(
            "courtroom av record: --duration and --segment-seconds must be positive",
            file=sys.stderr,
        )
        return 2
    try:
        directory = asyncio.run(
            _record(config, out=args.out, duration=args.duration, segment=args.segment_seconds)
        )
    except AudioSourceError as exc:
        print(f"courtroom av record: {exc}", file=sys.stderr)
        return 1
    from av.recording import check_recording

    report = check_recording(directory)
    print(f"录制完成 · recorded: {directory}")
    for problem in report.problems:
        print(f"  问题 problem: {problem}")
    return 0 if report.sound else 1


async def _record(config: object, *, out: Path, duration: float, segment: float) -> Path:
    from av.audio import CaptureClock
    from courtroom_agent.agent import new_hearing_id
    from courtroom_agent.config import AgentConfig
    from courtroom_agent.hearing_recording import HearingRecording
    from courtroom_agent.runner import build_source

    assert isinstance(config, AgentConfig)
    source = build_source(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with source:
        # Names the hearing only. The burned-in time is taken from the first
        # block's capture stamp (HearingRecording.put), as the manifest's
        # started_at: a device may deliver its first frame a second or more
        # after it opened, so neither the time before nor after opening will do.
        started = datetime.now(UTC)
        rate = source.format.rate
        clock = CaptureClock(rate)
        recording = HearingRecording(
            root=out,
            courtroom=config.courtroom.id,
            hearing_id=new_hearing_id(config.courtroom.id, started),
            sample_rate=rate,
            roles=config.audio.roles,
            cameras=config.cameras,
            title=config.courtroom.name,
            font=config.courtroom.overlay_font,
            segment_seconds=segment,
            recording=config.recording,
        )
        await recording.open()
        try:
            await recording.start(origin_frame=0, epoch=started, hearing_clock=clock.now)
            async for block in source.blocks():
                await recording.put(block)
                clock.advance(block)
                if block.end_frame >= duration * rate or stop.is_set():
                    break
        finally:
            await recording.close(end=clock.captured)
    return recording.directory
