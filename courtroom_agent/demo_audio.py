"""The demo courtroom's microphones: real Mandarin speech, one seat at a time.

Builds a multi-channel WAV in which each utterance (a real AISHELL-1
recording) is spoken at one seat and heard 25 dB quieter on every other
microphone, over steady room noise, with pauses between turns — what a
four-microphone courtroom mixer delivers.

:func:`build_talking_recording` builds the heated exchange instead: every
seat talks continuously (clip after clip with short pauses), each seat
starting a little later than the one before, so all talk at once.
"""

from __future__ import annotations

import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEMO_ROLES",
    "Turn",
    "build_demo_recording",
    "build_talking_recording",
    "demo_turns",
    "talking_turns",
]

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


def talking_turns(
    clip_frames: Sequence[int],
    *,
    seats: int,
    turns_per_seat: int,
    pause_s: float,
    stagger_s: float,
    rate: int = _RATE,
) -> list[Turn]:
    """Everyone talking: seat ``s`` starts ``pause_s + s * stagger_s`` in and then
    speaks clip after clip (``(s + k) % clips``) with ``pause_s`` between them.

    Turns are sorted by end frame (the order in which they finish).
    """
    pause = int(pause_s * rate)
    layout = []
    for seat in range(seats):
        at = pause + int(seat * stagger_s * rate)
        for k in range(turns_per_seat):
            clip = (seat + k) % len(clip_frames)
            layout.append(Turn(seat, clip, at, at + clip_frames[clip]))
            at += clip_frames[clip] + pause
    return sorted(layout, key=lambda t: (t.end_frame, t.seat))


def build_talking_recording(
    clips: Sequence[Path],
    path: Path,
    *,
    seats: int = 4,
    turns_per_seat: int = 4,
    pause_s: float = 1.0,
    stagger_s: float = 0.7,
    bleed_db: float = -25.0,
    noise_dbfs: float = -62.0,
    gain_db: float = 10.0,
    seed: int = 7,
) -> tuple[Path, list[Turn]]:
    """Write an all-talking recording of ``seats`` microphones to ``path``.

    Returns:
        the path and its layout (:func:`talking_turns`).
    """
    speech = [_read(p) * 10 ** (gain_db / 20) for p in clips]
    layout = talking_turns(
        [len(c) for c in speech],
        seats=seats,
        turns_per_seat=turns_per_seat,
        pause_s=pause_s,
        stagger_s=stagger_s,
    )
    _write_mix(path, speech, layout, seats, pause_s, bleed_db, noise_dbfs, seed)
    return path, layout


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
    return _write_mix(path, speech, layout, len(roles), pause_s, bleed_db, noise_dbfs, seed)


def _write_mix(
    path: Path,
    speech: Sequence[npt.NDArray[np.float64]],
    layout: Sequence[Turn],
    seats: int,
    pause_s: float,
    bleed_db: float,
    noise_dbfs: float,
    seed: int,
) -> Path:
    """Each turn's clip on its seat, ``bleed_db`` on the others, over room noise."""
    total = max(t.end_frame for t in layout) + int(pause_s * _RATE)
    rng = np.random.default_rng(seed)
    mix = rng.normal(0.0, 32768 * 10 ** (noise_dbfs / 20), (total, seats))
    bleed = 10 ** (bleed_db / 20)
    for turn in layout:
        clip = speech[turn.clip]
        for channel in range(seats):
            gain = 1.0 if channel == turn.seat else bleed
            mix[turn.start_frame : turn.end_frame, channel] += clip * gain
    pcm = np.clip(np.round(mix), -32768, 32767).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(seats)
        w.setsampwidth(2)
        w.setframerate(_RATE)
        w.writeframes(pcm.tobytes())
    tmp.replace(path)
    return path
