"""The ``courtroom`` command: one entry point, subcommands registered by each package.

Each package that adds a subcommand has a ``cli.py`` with
``register(subparsers)``; a registered parser sets ``func`` to a callable that
takes the parsed arguments and returns the exit status.

Exit statuses: 0 success, 1 runtime failure, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Packages whose cli module registers subcommands, in help order.
_COMMAND_MODULES = (
    "courtroom_agent.agent_cli",
    "courtroom_agent.hearing_cli",
    "transcription.transcribe_cli",
    "transcription.models_cli",
    "hub.cli",
    "hub.users_cli",
    "courtroom_agent.devices_cli",
    "courtroom_agent.av_cli",
    "courtroom_agent.demo_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="courtroom",
        description="数字法庭 · digital courtroom: agent, live transcript, hub",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
