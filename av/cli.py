"""``courtroom av``: the courtroom's microphones and recordings from the terminal.

``levels``: live per-channel meters for the daily walk-from-mic-to-mic check.
``record``: record microphones and cameras without a hub (commissioning).
``check DIR``: verify a hearing recording against its manifest.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    from av import levels_cli

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
    levels_cli.add_arguments(levels)
    levels.set_defaults(func=levels_cli.run_args)
    record = verbs.add_parser(
        "record",
        help="试录 · record microphones and cameras without a hub (commissioning)",
        description="Record the configured microphones and cameras for DURATION seconds "
        "into --out, then verify the recording.",
    )
    _record_cli().add_arguments(record)
    record.set_defaults(func=lambda args: _record_cli().run_args(args))
    check = verbs.add_parser(
        "check",
        help="校验庭审录音 · verify a hearing recording",
        description="Verify a hearing recording: manifest, every segment's SHA-256, sample "
        "continuity, declared gaps, the court's reason-coded interruptions (休庭 recess, "
        "不公开举证质证 closed-evidence, 不宜录制的调解 mediation: lawful, listed) and "
        "incidents (any other stop: capture loss, crash or restart, unexplained hole). "
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


def _record_cli() -> Any:
    # The app layer builds sources and cameras from the courtroom config.
    import importlib

    return importlib.import_module("courtroom_agent.record_cli")
