"""``courtroom agent --config room.toml``: run a courtroom's agent."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from av.audio import AudioSourceError
from courtroom_agent.config import ConfigError, load_agent_config
from courtroom_agent.spool import SpoolError
from transcription.model import ModelLoadError
from transcription.models import ModelNotFoundError

__all__ = ["register"]

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "agent",
        help="运行法庭代理 · run a courtroom agent",
        description="Capture the courtroom microphones, transcribe live, stream to the hub.",
    )
    parser.add_argument("--config", type=Path, required=True, help="courtroom TOML file")
    parser.add_argument("--title", default="", help="hearing title (default: courtroom name)")
    parser.add_argument("--data-dir", type=Path, default=None, help="spool and state directory")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        config = load_agent_config(args.config)
    except ConfigError as exc:
        print(f"courtroom agent: invalid configuration\n{exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: OK ({config.courtroom.id} {config.courtroom.name})")
        return 0
    from courtroom_agent.runner import default_data_dir  # heavy: the whole pipeline

    data_dir = args.data_dir or default_data_dir()
    try:
        asyncio.run(_run(config, data_dir=data_dir, title=args.title))
    except (ValueError, ModelNotFoundError, ModelLoadError) as exc:
        print(f"courtroom agent: {args.config}: {exc}", file=sys.stderr)
        return 2
    except (AudioSourceError, SpoolError) as exc:
        print(f"courtroom agent: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(config: Any, *, data_dir: Path, title: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    from courtroom_agent.runner import run_agent

    agent = await run_agent(config, data_dir=data_dir, title=title, stop=stop)
    logger.info("hearing %s closed, %d final segments", agent.hearing_id, agent.finals)
