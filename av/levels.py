"""Per-channel level metering: peak and RMS in dBFS, clipping and silence.

:class:`LevelMeter` is a pure accumulator (no I/O, no clock). It is fed the
:class:`~av.audio.AudioBlock` objects of a source and returns a
:class:`LevelReport` for every tenth of a second of *audio*: reports are cut
at frame indices, never at wall-clock instants, so the cadence is the same
whatever the source's block size and the reports carry hearing-clock times.

Conventions (the same as :func:`transcription.gate.frame_levels`, so
thresholds mean the same thing to the meter and to the speech gate):

* 0 dBFS is a sample of magnitude 32768. A full-scale square wave reads
  0 dBFS peak and 0 dBFS RMS; a full-scale sine reads 0 dBFS peak and
  −3.01 dBFS RMS.
* Digital silence reads :data:`FLOOR_DBFS` (−96 dBFS), below the quietest
  non-zero int16 level (−90.3 dBFS), so JSON never carries ``-Infinity``.

Report windows: window *k* covers frames ``[k·rate // n, (k+1)·rate // n)``
for ``n`` reports per second, exact for any sample rate. When a source
drops frames (a :class:`~av.pyaudio_source.Gap`), the window it interrupts is
reported with the frames it did get, and windows with no audio at all are not
reported: a level is only ever claimed for audio that was heard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from av.audio import AudioBlock

__all__ = ["FLOOR_DBFS", "ChannelLevel", "LevelMeter", "LevelReport", "MeterConfig", "to_dbfs"]

FLOOR_DBFS = -96.0
"""The level reported for digital silence (and the lowest level ever reported)."""

_FULL_SCALE = 32768.0


def to_dbfs(amplitude: float) -> float:
    """Level in dBFS of a magnitude in int16 sample units, floored at :data:`FLOOR_DBFS`."""
    if amplitude <= 0.0:
        return FLOOR_DBFS
    return max(FLOOR_DBFS, 20.0 * math.log10(amplitude / _FULL_SCALE))


@dataclass(frozen=True, slots=True)
class MeterConfig:
    """Tuning of :class:`LevelMeter`.

    Attributes:
        reports_per_second: reports per second of audio (1–100).
        clip_dbfs: a sample whose magnitude is at or above this level counts
            as clipped (−6 to 0 dBFS; a level above int16's largest positive
            sample is taken as that sample, −0.0003 dBFS).
        silence_dbfs: a channel whose RMS in a report is below this level is
            flagged silent (−96 to 0 dBFS).

    Raises:
        ValueError: a value is out of its range.
    """

    reports_per_second: int = 10
    clip_dbfs: float = -0.1
    silence_dbfs: float = -60.0

    def __post_init__(self) -> None:
        if not 1 <= self.reports_per_second <= 100:
            raise ValueError("reports_per_second must be 1-100")
        if not -6.0 <= self.clip_dbfs <= 0.0:
            raise ValueError("clip_dbfs must be between -6 and 0 dBFS")
        if not FLOOR_DBFS <= self.silence_dbfs <= 0.0:
            raise ValueError("silence_dbfs must be between -96 and 0 dBFS")

    @property
    def clip_sample(self) -> int:
        """The smallest sample magnitude counted as clipped."""
        return min(32767, math.ceil(_FULL_SCALE * math.pow(10.0, self.clip_dbfs / 20.0)))


@dataclass(frozen=True, slots=True)
class ChannelLevel:
    """One channel's levels over one report window.

    Attributes:
        channel: channel index in the source (0-based).
        role: the seat or role mapped to the channel (审判长, 原告, …).
        peak_dbfs: largest sample magnitude, in dBFS.
        rms_dbfs: RMS level, in dBFS.
        clipped: samples at or above the clip level.
        silent: RMS below the meter's silence level.
    """

    channel: int
    role: str
    peak_dbfs: float
    rms_dbfs: float
    clipped: int = 0
    silent: bool = False

    def __post_init__(self) -> None:
        if self.channel < 0:
            raise ValueError("channel must be >= 0")
        for name in ("peak_dbfs", "rms_dbfs"):
            if not FLOOR_DBFS <= getattr(self, name) <= 0.0:
                raise ValueError(f"{name} must be between {FLOOR_DBFS} and 0 dBFS")
        if self.clipped < 0:
            raise ValueError("clipped must be >= 0")

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "role": self.role,
            "peak_dbfs": round(self.peak_dbfs, 2),
            "rms_dbfs": round(self.rms_dbfs, 2),
            "clipped": self.clipped,
            "silent": self.silent,
        }


@dataclass(frozen=True, slots=True)
class LevelReport:
    """Every channel's levels over one window of audio.

    Attributes:
        hearing_time: hearing-clock seconds at the end of the window's last
            frame (frame index / rate).
        duration: seconds of audio the window holds (shorter than the nominal
            window only next to a gap in the source).
        channels: one level per channel, in channel order.
    """

    hearing_time: float
    duration: float
    channels: tuple[ChannelLevel, ...]

    def __post_init__(self) -> None:
        if self.duration <= 0.0 or self.hearing_time < self.duration - 1e-9:
            raise ValueError("a report covers a positive duration ending at hearing_time")
        if [c.channel for c in self.channels] != list(range(len(self.channels))):
            raise ValueError("channels must be listed in channel order from 0")

    def to_json(self) -> dict[str, Any]:
        return {
            "hearing_time": round(self.hearing_time, 3),
            "duration": round(self.duration, 3),
            "channels": [c.to_json() for c in self.channels],
        }


class LevelMeter:
    """Meters every channel of a source, one report per window of audio.

    Args:
        rate: the source's sample rate.
        roles: the role of each channel, in channel order.
        config: thresholds and cadence.

    Raises:
        ValueError: ``rate`` is not positive or ``roles`` is empty.
    """

    def __init__(
        self, *, rate: int, roles: Sequence[str], config: MeterConfig = MeterConfig()
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if not roles:
            raise ValueError("at least one channel role is needed")
        self.rate = rate
        self.roles = tuple(roles)
        self.config = config
        self._per_second = config.reports_per_second
        self._clip = config.clip_sample
        n = len(self.roles)
        self._next_frame = 0
        self._window = 0
        self._frames = 0
        self._last_frame = 0  # one past the last frame accumulated
        self._peak = np.zeros(n, dtype=np.int64)
        self._sumsq = np.zeros(n, dtype=np.float64)
        self._clipped = np.zeros(n, dtype=np.int64)

    @property
    def channels(self) -> int:
        return len(self.roles)

    def _boundary(self, window: int) -> int:
        return window * self.rate // self._per_second

    def _window_of(self, frame: int) -> int:
        # The largest k with k * rate // per_second <= frame.
        return ((frame + 1) * self._per_second + self.rate - 1) // self.rate - 1

    def feed(self, block: AudioBlock) -> list[LevelReport]:
        """Meter ``block`` and return the reports of every window it completes.

        Blocks must come in frame order; a block may start after the previous
        one ended (frames dropped by the source), never before.

        Raises:
            ValueError: the block has the wrong channel count, or overlaps
                audio already metered.
        """
        pcm = block.pcm
        if pcm.ndim != 2 or pcm.shape[1] != self.channels:
            raise ValueError(f"expected blocks of {self.channels} channels, got shape {pcm.shape}")
        if block.start_frame < self._next_frame:
            raise ValueError(
                f"block starts at frame {block.start_frame}, before frame {self._next_frame}"
            )
        reports: list[LevelReport] = []
        pos, total = 0, pcm.shape[0]
        while pos < total:
            frame = block.start_frame + pos
            window = self._window_of(frame)
            if window != self._window:
                # A gap skipped the rest of the current window: report what it got.
                if self._frames:
                    reports.append(self._emit())
                self._window = window
            end = self._boundary(window + 1)
            take = min(total - pos, end - frame)
            self._accumulate(pcm[pos : pos + take])
            self._last_frame = frame + take
            pos += take
            if frame + take == end:
                reports.append(self._emit())
                self._window = window + 1
        self._next_frame = block.end_frame
        return reports

    def flush(self) -> LevelReport | None:
        """Report the unfinished window (at the end of a source), if it has audio."""
        return self._emit() if self._frames else None

    def _accumulate(self, pcm: npt.NDArray[np.int16]) -> None:
        wide = pcm.astype(np.int32)
        magnitude = np.abs(wide)
        np.maximum(self._peak, magnitude.max(axis=0), out=self._peak)
        as_float = wide.astype(np.float64)
        self._sumsq += np.einsum("ij,ij->j", as_float, as_float)
        self._clipped += np.count_nonzero(magnitude >= self._clip, axis=0)
        self._frames += pcm.shape[0]

    def _emit(self) -> LevelReport:
        frames = self._frames
        silence = self.config.silence_dbfs
        levels = []
        for ch, role in enumerate(self.roles):
            rms = to_dbfs(math.sqrt(float(self._sumsq[ch]) / frames))
            levels.append(
                ChannelLevel(
                    channel=ch,
                    role=role,
                    peak_dbfs=to_dbfs(float(self._peak[ch])),
                    rms_dbfs=rms,
                    clipped=int(self._clipped[ch]),
                    silent=rms < silence,
                )
            )
        report = LevelReport(
            hearing_time=self._last_frame / self.rate,
            duration=frames / self.rate,
            channels=tuple(levels),
        )
        self._frames = 0
        self._peak[:] = 0
        self._sumsq[:] = 0.0
        self._clipped[:] = 0
        return report
