"""Loading Vosk models once per process.

A Vosk model holds the acoustic model and decoding graph (0.5 GB for the
small Chinese model, several GB for the large one). Every recognizer in the
process shares one loaded instance per model directory.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from courtroom_core.errors import CourtroomError

__all__ = ["LoadedModel", "ModelLoadError", "load_model"]

_lock = threading.Lock()
_cache: dict[Path, LoadedModel] = {}


class ModelLoadError(CourtroomError):
    """The directory is not a loadable Vosk model; the message says why."""


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A loaded Vosk model and the sample rate its features expect."""

    path: Path
    vosk_model: Any
    sample_rate: int


def _feature_rate(path: Path) -> int:
    """Read ``--sample-frequency`` from the model's feature config (default 16 kHz)."""
    for name in ("conf/mfcc.conf", "conf/fbank.conf"):
        conf = path / name
        if conf.is_file():
            match = re.search(r"--sample-frequency=(\d+)", conf.read_text(errors="replace"))
            if match:
                return int(match.group(1))
    return 16000


def load_model(path: Path) -> LoadedModel:
    """Return the process-wide instance of the model at ``path``, loading it once.

    Raises:
        ModelLoadError: ``path`` is not a directory holding a Vosk model, or
            Vosk refused to load it. Install one with ``courtroom models install``.
    """
    key = path.expanduser().resolve()
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        if not key.is_dir():
            raise ModelLoadError(f"model directory {path} does not exist")
        if not (key / "am").is_dir() and not (key / "final.mdl").is_file():
            raise ModelLoadError(f"{path} does not look like a Vosk model (no am/ directory)")
        import vosk

        vosk.SetLogLevel(-1)
        try:
            model = vosk.Model(str(key))
        except Exception as exc:  # vosk raises a bare Exception on failure
            raise ModelLoadError(f"Vosk could not load the model at {path}: {exc}") from exc
        loaded = LoadedModel(path=key, vosk_model=model, sample_rate=_feature_rate(key))
        _cache[key] = loaded
        return loaded
