"""``courtroom av``: the courtroom's microphones and recordings from the terminal.

``levels``: live per-channel meters for the daily walk-from-mic-to-mic check.
"""

from __future__ import annotations

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
