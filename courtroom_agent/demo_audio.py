"""The demo courtroom's microphones: real Mandarin speech, one seat at a time.

Builds a multi-channel WAV in which each utterance (a real AISHELL-1
recording) is spoken at one seat and heard 25 dB quieter on every other
microphone, over steady room noise, with pauses between turns — what a
four-microphone courtroom mixer delivers.
"""

from __future__ import annotations

import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["DEMO_ROLES", "Turn", "build_demo_recording", "demo_turns"]

DEMO_ROLES = ("审判长", "原告", "被告", "书记员")
_RATE = 16000


def _read(path: Path) -> npt.NDArray[np.float64]:
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1 or w.getframerate() != _RATE:
            raise ValueError(f"{path}: expected 16-bit mono 16 kHz speech")
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)


@dataclass(frozen=True, slots=True)
class Turn:
    """One utterance of the demo recording: who speaks, which clip, which frames."""

    seat: int
    clip: int
    start_frame: int
    end_frame: int


def demo_turns(
    clip_frames: Sequence[int], *, seats: int, turns: int, pause_s: float, rate: int = _RATE
) -> list[Turn]:
    """The layout of a demo recording: turn ``k`` is clip ``k % clips`` at seat ``k % seats``."""
    pause = int(pause_s * rate)
    at = pause
    layout = []
    for k in range(turns):
        frames = clip_frames[k % len(clip_frames)]
        layout.append(Turn(k % seats, k % len(clip_frames), at, at + frames))
        at += frames + pause
    return layout


def build_demo_recording(
    clips: Sequence[Path],
    path: Path,
    *,
    roles: Sequence[str] = DEMO_ROLES,
    turns: int = 8,
    pause_s: float = 1.5,
    bleed_db: float = -25.0,
    noise_dbfs: float = -62.0,
    gain_db: float = 10.0,
    seed: int = 7,
) -> Path:
    """Write the demo recording to ``path`` and return it.

    Turn ``k`` is clip ``k % len(clips)`` spoken at seat ``k % len(roles)``.
    """
    speech = [_read(p) * 10 ** (gain_db / 20) for p in clips]
    layout = demo_turns([len(c) for c in speech], seats=len(roles), turns=turns, pause_s=pause_s)
    total = layout[-1].end_frame + int(pause_s * _RATE)
    rng = np.random.default_rng(seed)
    mix = rng.normal(0.0, 32768 * 10 ** (noise_dbfs / 20), (total, len(roles)))
    bleed = 10 ** (bleed_db / 20)
    for turn in layout:
        clip = speech[turn.clip]
        for channel in range(len(roles)):
            gain = 1.0 if channel == turn.seat else bleed
            mix[turn.start_frame : turn.end_frame, channel] += clip * gain
    pcm = np.clip(np.round(mix), -32768, 32767).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(len(roles))
        w.setsampwidth(2)
        w.setframerate(_RATE)
        w.writeframes(pcm.tobytes())
    tmp.replace(path)
    return path
