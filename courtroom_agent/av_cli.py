"""``courtroom av``: the courtroom's microphones and recordings from the terminal.

``levels``: live per-channel meters for the daily walk-from-mic-to-mic check.
``record``: record microphones and cameras without a hub (commissioning).
``check DIR``: verify a hearing recording against its manifest.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from av.audio import AudioSourceError
from av.levels_cli import LevelMaxima, render_summary, run_levels
from courtroom_agent import record_cli
from courtroom_agent.config import ConfigError, load_agent_config

__all__ = ["levels_main", "register"]


def register(subparsers: Any) -> None:
    av = subparsers.add_parser(
        "av",
        help="录音录像 · microphones, meters and recordings",
        description="Check the courtroom's microphones and recordings.",
    )
    verbs = av.add_subparsers(dest="av_command", metavar="COMMAND", required=True)
    levels = verbs.add_parser(
        "levels",
        help="逐路电平表 · live per-channel level meters",
        description="Live per-channel meters (peak/RMS dBFS, clipping, no signal) for "
        "the walk-from-microphone-to-microphone check.",
    )
    add_levels_arguments(levels)
    levels.set_defaults(func=run_levels_args)
    record = verbs.add_parser(
        "record",
        help="试录 · record microphones and cameras without a hub (commissioning)",
        description="Record the configured microphones and cameras for DURATION seconds "
        "into --out, then verify the recording.",
    )
    record_cli.add_arguments(record)
    record.set_defaults(func=record_cli.run_args)
    check = verbs.add_parser(
        "check",
        help="校验庭审录音 · verify a hearing recording",
        description="Verify a hearing recording: manifest, every segment's SHA-256, sample "
        "continuity, declared gaps, the court's reason-coded interruptions (休庭 recess, "
        "不公开举证质证 closed-evidence, 不宜录制的调解 mediation: lawful, listed) and "
        "incidents (any other stop: capture loss, crash or restart, unexplained hole), "
        "and the markers (举证: exhibits presented and withdrawn; each one in --json). "
        "Exit 0 when sound, 1 naming each problem; with --strict, 2 when sound but "
        "with incidents.",
    )
    check.add_argument("directory", help="the hearing's recording directory (has manifest.json)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--strict", action="store_true", help="事故也算失败 · exit 2 when there are incidents"
    )
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from av.recording import main

    flags = [*(["--json"] if args.json else []), *(["--strict"] if args.strict else [])]
    status: int = main([args.directory, *flags])
    return status


def add_levels_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``av levels`` options to ``parser`` (for the ``courtroom`` command)."""
    parser.add_argument("--config", type=Path, required=True, help="courtroom TOML file")
    parser.add_argument(
        "--seconds", type=float, default=None, help="stop after this much audio (default: Ctrl-C)"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if any channel had no signal or clipped",
    )


def run_levels_args(args: argparse.Namespace) -> int:
    """Run the check from parsed arguments; returns the exit status.

    Exit statuses: 0 done (or interrupted), 1 the audio source failed or,
    with ``--strict``, a channel had no signal or clipped; 2 bad configuration.
    """
    from courtroom_agent.runner import build_source  # heavy: the audio back ends

    if args.seconds is not None and args.seconds <= 0:
        print("courtroom av levels: --seconds must be positive", file=sys.stderr)
        return 2
    try:
        config = load_agent_config(args.config)
    except ConfigError as exc:
        print(f"courtroom av levels: invalid configuration\n{exc}", file=sys.stderr)
        return 2
    console = Console()
    maxima = LevelMaxima()
    source = build_source(config)
    try:
        asyncio.run(
            run_levels(
                source,
                seconds=args.seconds,
                console=console,
                roles=config.audio.roles,
                maxima=maxima,
            )
        )
    except KeyboardInterrupt:
        pass  # Ctrl-C is how an open-ended check ends
    except AudioSourceError as exc:
        print(f"courtroom av levels: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"courtroom av levels: {args.config}: {exc}", file=sys.stderr)
        return 2
    levels = maxima.levels
    if levels:
        console.print(render_summary(levels))
    bad = [level for level in levels if level.silent or level.clipped]
    return 1 if args.strict and (bad or not levels) else 0


def levels_main(argv: Sequence[str] | None = None) -> int:
    """``courtroom av levels`` as a stand-alone command; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="courtroom av levels",
        description="话筒电平检查 · live per-channel microphone levels for the daily check",
    )
    add_levels_arguments(parser)
    return run_levels_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(levels_main())
