"""``courtroom agent --config room.toml``: run a courtroom's agent.

``--adopt-hub-seq N`` is the operator's one-off answer to the link's refusal
"hub holds N events of courtroom X but this spool has sent only M": with the
agent stopped, the spool numbers its events after N, and the agent is then
started as usual.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from av.audio import AudioSourceError
from courtroom_agent.config import AgentConfig, ConfigError, load_agent_config
from courtroom_agent.control import ControlError
from courtroom_agent.spool import MAX_SEQ, EventSpool, SpoolError
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
    parser.add_argument(
        "--open",
        action="store_true",
        help="启动即开庭 · open a hearing as soon as the agent starts (unattended recording); "
        "without it the courtroom starts idle and the court opens hearings with "
        "'courtroom hearing open' or from the hub",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="spool and state directory")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="validate the configuration and exit")
    action.add_argument(
        "--adopt-hub-seq",
        type=_hub_seq,
        metavar="N",
        default=None,
        help="本机缓存已更换、集控端已存有 1..N 号事件时使用 · the hub already holds events "
        "1..N of this courtroom (PC reinstalled, spool replaced): number this spool's "
        "events after N, then exit; the agent must be stopped",
    )
    parser.set_defaults(func=_main)


def _hub_seq(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= value <= MAX_SEQ:
        raise argparse.ArgumentTypeError(f"{value} is not within 1..{MAX_SEQ}")
    return value


def _main(args: argparse.Namespace) -> int:
    try:
        config = load_agent_config(args.config)
    except ConfigError as exc:
        print(f"courtroom agent: invalid configuration\n{exc}", file=sys.stderr)
        return 2
    if args.check:
        from courtroom_agent.sync_check import check_sync

        problems = check_sync(config)
        if problems:
            print(
                f"courtroom agent: {args.config}: 五同步规则有误 · rules do not fit the devices\n"
                + "\n".join(f"  {p}" for p in problems),
                file=sys.stderr,
            )
            return 2
        print(f"{args.config}: OK ({config.courtroom.id} {config.courtroom.name})")
        return 0
    from courtroom_agent.runner import default_data_dir  # heavy: the whole pipeline

    data_dir = args.data_dir or default_data_dir()
    if args.adopt_hub_seq is not None:
        return _adopt(config, data_dir=data_dir, hub_seq=args.adopt_hub_seq)
    try:
        asyncio.run(_run(config, data_dir=data_dir, title=args.title, open_at_start=args.open))
    except (ValueError, ModelNotFoundError, ModelLoadError) as exc:
        print(f"courtroom agent: {args.config}: {exc}", file=sys.stderr)
        return 2
    except (AudioSourceError, SpoolError, ControlError) as exc:
        print(f"courtroom agent: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(config: Any, *, data_dir: Path, title: str, open_at_start: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    from courtroom_agent.runner import run_agent

    agent = await run_agent(
        config, data_dir=data_dir, title=title, stop=stop, open_at_start=open_at_start
    )
    logger.info("agent stopped; %d final segments", agent.finals)


def _adopt(config: AgentConfig, *, data_dir: Path, hub_seq: int) -> int:
    """Make the spool number after the hub's ``hub_seq``; the exit status."""
    from courtroom_agent.runner import spool_file

    path = spool_file(config, data_dir=data_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with EventSpool.open(path, courtroom=config.courtroom.id) as spool:
            try:
                spool.adopt_hub_seq(hub_seq, at=time.time())
            except ValueError as exc:
                print(f"courtroom agent: {path}: {exc}", file=sys.stderr)
                return 2
            print(
                f"{path}: 事件编号从 {hub_seq + 1} 继续 · events now numbered after hub seq "
                f"{hub_seq}; {spool.pending_count} pending, first {spool.acked_seq + 1}"
            )
    except (OSError, SpoolError) as exc:
        print(f"courtroom agent: {exc}", file=sys.stderr)
        return 1
    return 0
