"""Loading Vosk models once per process.

A Vosk model holds the acoustic model and decoding graph (0.5 GB for the
small Chinese model, several GB for the large one). Every recognizer in the
process shares one loaded instance per model directory.

**Who ends an utterance.** Vosk's decoder has endpoint rules of its own
(``--endpoint.rule*`` in the model's ``conf/model.conf``: 0.5/1.0/2.0 s of
trailing silence in small-cn). Inside an utterance the speech gate is still
feeding, the 0.5-s rule fires on a 500-ms pause mid-sentence and splits the
sentence. Switching all the rules off was measured worse (``bench/accuracy.py
--sweep``: CER 0.34 against 0.21 in noise), because in babble the decoder's
own endpoints still cut a long gated stretch where it should be cut. So by
default a model is loaded through a *view* (``endpointing="gate"``): a
directory of symbolic links to the installed model whose ``conf/model.conf``
raises that one rule's trailing silence to :data:`GATE_RULE2_S`; the gate
(``endpoint_ms``) ends utterances first, the decoder's rules are the backstop.
The installed model is never written to. Plain Vosk, as shipped, is
``endpointing="vosk"`` (the accuracy baseline).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from courtroom_core.errors import CourtroomError
from transcription.assets import default_cache_dir

__all__ = ["LoadedModel", "ModelLoadError", "load_model"]

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_cache: dict[tuple[Path, str], LoadedModel] = {}

Endpointing = Literal["gate", "vosk"]

GATE_RULE2_S = 0.8
"""Vosk's shortest endpoint rule in the gate's view: longer than any pause the
gate keeps inside a sentence (500 ms), so the decoder never splits one."""

_GATE_RULES: Mapping[str, str] = MappingProxyType(
    {"--endpoint.rule2.min-trailing-silence": f"{GATE_RULE2_S}"}
)


class ModelLoadError(CourtroomError):
    """The directory is not a loadable Vosk model; the message says why."""


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A loaded Vosk model and the sample rate its features expect."""

    path: Path
    vosk_model: Any
    sample_rate: int
    endpointing: Endpointing = "gate"


def _feature_rate(path: Path) -> int:
    """Read ``--sample-frequency`` from the model's feature config (default 16 kHz)."""
    for name in ("conf/mfcc.conf", "conf/fbank.conf"):
        conf = path / name
        if conf.is_file():
            match = re.search(r"--sample-frequency=(\d+)", conf.read_text(errors="replace"))
            if match:
                return int(match.group(1))
    return 16000


def gate_view(model: Path, *, views_dir: Path | None = None) -> Path:
    """A view of ``model`` with the gate's endpoint rules (see above).

    Every entry of the model is a symbolic link to the original except
    ``conf/model.conf``, a copy with the options of :data:`_GATE_RULES`
    replaced. Rebuilt when the original's configuration changes.

    Raises:
        OSError: the views directory cannot be written.
    """
    base = views_dir or default_cache_dir() / "model-views"
    digest = hashlib.sha256(str(model).encode()).hexdigest()[:12]
    view = base / f"{model.name}-{digest}"
    original = model / "conf" / "model.conf"
    lines = original.read_text(errors="replace").splitlines() if original.is_file() else []
    kept = [line for line in lines if line.strip().split("=")[0] not in _GATE_RULES]
    conf = "\n".join([*kept, *(f"{k}={v}" for k, v in _GATE_RULES.items())]) + "\n"
    target = view / "conf" / "model.conf"
    if target.is_file() and target.read_text() == conf:
        return view
    (view / "conf").mkdir(parents=True, exist_ok=True)
    for entry in model.iterdir():
        if entry.name != "conf":
            _link(view / entry.name, entry)
    if (model / "conf").is_dir():
        for entry in (model / "conf").iterdir():
            if entry.name != "model.conf":
                _link(view / "conf" / entry.name, entry)
    partial = target.with_name(f".model.conf.{os.getpid()}.{threading.get_ident()}")
    partial.write_text(conf)
    os.replace(partial, target)
    return view


def _link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target``, atomically (two processes may build one view)."""
    if link.is_symlink() and link.readlink() == target:
        return
    partial = link.with_name(f".{link.name}.{os.getpid()}.{threading.get_ident()}")
    partial.unlink(missing_ok=True)
    partial.symlink_to(target)
    os.replace(partial, link)


def load_model(path: Path, *, endpointing: Endpointing = "gate") -> LoadedModel:
    """Return the process-wide instance of the model at ``path``, loading it once.

    ``endpointing="gate"`` (the live pipeline's) loads it through
    :func:`gate_view`; ``"vosk"`` loads it as shipped.

    Raises:
        ModelLoadError: ``path`` is not a directory holding a Vosk model, or
            Vosk refused to load it. Install one with ``courtroom models install``.
    """
    if endpointing not in ("gate", "vosk"):
        raise ValueError(f"endpointing must be 'gate' or 'vosk', not {endpointing!r}")
    key = path.expanduser().resolve()
    with _lock:
        cached = _cache.get((key, endpointing))
        if cached is not None:
            return cached
        if not key.is_dir():
            raise ModelLoadError(f"model directory {path} does not exist")
        if not (key / "am").is_dir() and not (key / "final.mdl").is_file():
            raise ModelLoadError(f"{path} does not look like a Vosk model (no am/ directory)")
        import vosk

        vosk.SetLogLevel(-1)
        where = key
        if endpointing == "gate":
            try:
                where = gate_view(key)
            except OSError as exc:  # a read-only cache: transcribe anyway, as shipped
                logger.warning(
                    "cannot write the gate's view of %s (%s); Vosk's own 0.5-s endpoint"
                    " rule may split sentences at mid-sentence pauses",
                    path,
                    exc,
                )
        try:
            model = vosk.Model(str(where))
        except Exception as exc:  # vosk raises a bare Exception on failure
            raise ModelLoadError(f"Vosk could not load the model at {path}: {exc}") from exc
        loaded = LoadedModel(
            path=key, vosk_model=model, sample_rate=_feature_rate(key), endpointing=endpointing
        )
        _cache[(key, endpointing)] = loaded
        return loaded
