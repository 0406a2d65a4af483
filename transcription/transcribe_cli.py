"""``courtroom transcribe FILE``: batch transcription of a courtroom recording."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from av.audio import AudioSourceError
from av.wav_source import WavFileSource
from transcription.engine import TranscriptionEngine
from transcription.formats import FORMATS, render
from transcription.model import ModelLoadError, load_model
from transcription.models import ModelNotFoundError
from transcription.models_cli import resolve_model_arg
from transcription.segments import Final

__all__ = ["parse_roles", "register", "transcribe_file"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "transcribe",
        help="转写录音文件 · transcribe a WAV recording",
        description="Transcribe a WAV file of any rate and channel count. Each channel "
        "of a multi-channel file is one courtroom microphone.",
    )
    parser.add_argument("file", type=Path, help="WAV file")
    parser.add_argument("--model", default=None, help="model name or model directory")
    parser.add_argument("--format", choices=sorted(FORMATS), default="txt")
    parser.add_argument(
        "--roles",
        default=None,
        help="comma-separated role per channel, in channel order, e.g. 审判长,原告,被告,书记员",
    )
    parser.add_argument("--output", "-o", type=Path, default=None, help="write here, not stdout")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(func=_main)


def parse_roles(spec: str | None, channels: int) -> list[str]:
    """Role names for ``channels`` channels from ``"a,b,c"`` (default 声道1…).

    Raises:
        ValueError: the number of roles differs from the number of channels.
    """
    if spec is None:
        return [f"声道{i + 1}" for i in range(channels)]
    roles = [r.strip() for r in spec.split(",")]
    if len(roles) != channels or not all(roles):
        raise ValueError(
            f"--roles names {len(roles)} roles but the recording has {channels} channels"
        )
    return roles


async def transcribe_file(
    path: Path,
    *,
    model_dir: Path,
    roles_spec: str | None,
    progress: bool = False,
) -> list[Final]:
    """Transcribe ``path`` as fast as possible and return its final segments.

    Raises:
        AudioSourceError: the file is missing, empty or not a readable WAV.
        ValueError: ``roles_spec`` does not match the channel count.
        ModelLoadError: the model cannot be loaded.
    """
    # The agent's 100-ms blocks: Vosk checks its endpoint rules once per block
    # fed, so the same blocks give the file the live transcript's text.
    source = WavFileSource(path, realtime=False, block_ms=100)
    finals: list[Final] = []
    async with source:
        fmt = source.format
        roles = parse_roles(roles_spec, fmt.channels)
        model = load_model(model_dir)
        engine = TranscriptionEngine(model, input_rate=fmt.rate, roles=roles)
        total = source.info.frames
        with Progress(
            TextColumn("转写 transcribing"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
            disable=not progress,
            transient=True,
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task("transcribe", total=total)
            async for block in source.blocks():
                finals += [r for r in engine.process(block.pcm) if isinstance(r, Final)]
                bar.update(task, completed=block.end_frame)
        finals += [r for r in engine.flush() if isinstance(r, Final)]
    return finals


def _main(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"courtroom transcribe: {path}: no such file", file=sys.stderr)
        return 2
    try:
        model_dir = resolve_model_arg(args.model)
        finals = asyncio.run(
            transcribe_file(
                path,
                model_dir=model_dir,
                roles_spec=args.roles,
                progress=not args.quiet and sys.stderr.isatty(),
            )
        )
    except AudioSourceError as exc:
        print(f"courtroom transcribe: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"courtroom transcribe: {path}: {exc}", file=sys.stderr)
        return 2
    except (ModelLoadError, ModelNotFoundError) as exc:
        print(f"courtroom transcribe: {exc}", file=sys.stderr)
        return 1
    text = render(finals, args.format)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
