"""``courtroom models``: install, list and locate Vosk models and the demo speech.

This is the app layer of :mod:`transcription.models` and
:mod:`transcription.assets`: only here is the environment read, and other
commands that need a model or the demo speech should call the ``*_from_env``
helpers below so that every command agrees on the same directories.

Environment:
    COURTROOM_MODELS_DIR: model cache (default ``<user cache>/courtroom/models``).
    COURTROOM_SPEECH_DIR: demo speech (default ``<user cache>/courtroom/speech``).
    UV_DEFAULT_INDEX, UV_INDEX_URL, PIP_INDEX_URL: PyPI mirror, first one set wins.

Exit statuses: 0 success, 1 install failed, 2 usage error or not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from transcription.assets import (
    DEFAULT_INDEX_URL,
    InstallError,
    Progress,
    SpeechInstallError,
    default_speech_dir,
    install_speech_samples,
)
from transcription.models import (
    DEFAULT_MODEL,
    ModelInstallError,
    ModelNotFoundError,
    default_models_dir,
    install,
    list_models,
    resolve,
)
from transcription.vad import install_vad_model

_INDEX_VARIABLES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL")


def models_dir_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """``$COURTROOM_MODELS_DIR`` or the per-user model cache."""
    value = (os.environ if environ is None else environ).get("COURTROOM_MODELS_DIR")
    return Path(value).expanduser() if value else default_models_dir()


def speech_dir_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """``$COURTROOM_SPEECH_DIR`` or the per-user demo speech directory."""
    value = (os.environ if environ is None else environ).get("COURTROOM_SPEECH_DIR")
    return Path(value).expanduser() if value else default_speech_dir()


def index_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The PyPI simple index that uv or pip are configured to use, else pypi.org."""
    env = os.environ if environ is None else environ
    for variable in _INDEX_VARIABLES:
        if env.get(variable, "").startswith(("http://", "https://")):
            return env[variable]
    return DEFAULT_INDEX_URL


def resolve_model_arg(
    name_or_path: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """Resolve a ``--model`` value or config entry; None means the default model.

    Names are looked up in :func:`models_dir_from_env`; paths are used as given.

    Raises:
        ModelNotFoundError: Not installed; the message says which command to run.
    """
    return resolve(name_or_path or DEFAULT_MODEL, models_dir=models_dir_from_env(environ))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``courtroom models`` and its actions to the top-level parser."""
    parser = subparsers.add_parser(
        "models",
        help="语音识别模型与演示语音 · speech models and demo speech",
        description="Install and locate Vosk models and the demo speech samples.",
    )
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="已知与已安装的模型 · known and installed models")
    listing.set_defaults(func=_cmd_list)

    installing = actions.add_parser("install", help="安装模型 · install a model")
    installing.add_argument(
        "name",
        nargs="?",
        help=f"model name (default {DEFAULT_MODEL}, or taken from --from)",
    )
    installing.add_argument(
        "--from",
        dest="source",
        metavar="PATH_OR_ZIP",
        help="install from a local model zip or unpacked model directory first",
    )
    installing.add_argument("--quiet", action="store_true", help="print errors only")
    installing.set_defaults(func=_cmd_install)

    locating = actions.add_parser("path", help="打印模型目录 · print a model's directory")
    locating.add_argument("name", help="model name or model directory")
    locating.set_defaults(func=_cmd_path)

    vad = actions.add_parser(
        "vad",
        help="安装语音检测模型 · install the Silero speech detector the live transcript uses",
    )
    vad.add_argument("--quiet", action="store_true", help="print errors only")
    vad.set_defaults(func=_cmd_vad)

    samples = actions.add_parser("samples", help="安装演示语音 · install the demo speech")
    samples.add_argument("--quiet", action="store_true", help="print errors only")
    samples.set_defaults(func=_cmd_samples)


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    models_dir = models_dir_from_env()
    table = Table(title=f"模型 · models in {models_dir}", title_justify="left")
    table.add_column("名称 name", no_wrap=True)  # people copy it into commands
    table.add_column("状态 status")
    table.add_column("大小 size", justify="right", no_wrap=True)
    table.add_column("说明 description")
    for info in list_models(models_dir=models_dir):
        status = "已安装 installed" if info.installed else "未安装 missing"
        if info.default:
            status += " · 默认 default"
        size = f"{info.size_bytes / 1e6:,.0f} MB" if info.size_bytes is not None else ""
        table.add_row(info.name, status, size, info.description or "local")
    Console().print(table)
    return 0


def _cmd_install(args: argparse.Namespace) -> int:
    source = Path(args.source).expanduser() if args.source else None
    name: str = args.name or (_name_from_source(source) if source else DEFAULT_MODEL)
    if args.quiet:  # the per-source reasons are repeated in the final error anyway
        logging.getLogger("transcription").setLevel(logging.WARNING)
    try:
        with _progress_bar(quiet=args.quiet) as progress:
            path = install(
                name,
                models_dir=models_dir_from_env(),
                source_path=source,
                index_url=index_url_from_env(),
                progress=progress,
            )
    except ModelNotFoundError as exc:
        print(f"courtroom models install: {exc}", file=sys.stderr)
        return 2
    except ModelInstallError as exc:
        print(f"courtroom models install: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(path)
    return 0


def _cmd_vad(args: argparse.Namespace) -> int:
    try:
        path = install_vad_model(models_dir_from_env(), index_url=index_url_from_env())
    except InstallError as exc:
        print(f"courtroom models vad: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(path)
    return 0


def _cmd_path(args: argparse.Namespace) -> int:
    try:
        print(resolve(args.name, models_dir=models_dir_from_env()))
    except ModelNotFoundError as exc:
        print(f"courtroom models path: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_samples(args: argparse.Namespace) -> int:
    try:
        with _progress_bar(quiet=args.quiet) as progress:
            samples = install_speech_samples(
                speech_dir=speech_dir_from_env(),
                index_url=index_url_from_env(),
                progress=progress,
            )
    except SpeechInstallError as exc:
        print(f"courtroom models samples: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        for sample in samples:
            print(f"{sample.path}\t{sample.text}")
    return 0


def _name_from_source(source: Path) -> str:
    return source.name.removesuffix(".zip") if source.suffix == ".zip" else source.name


@contextlib.contextmanager
def _progress_bar(*, quiet: bool) -> Iterator[Progress | None]:
    """A rich download bar on stderr, or None when quiet."""
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as Bar

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Bar(*columns, console=Console(stderr=True)) as bar:
        tasks: dict[str, TaskID] = {}

        def update(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(f"下载 {label}", total=total)
            bar.update(tasks[label], completed=done, total=total)

        yield update
