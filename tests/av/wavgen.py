"""Writing WAV test files byte by byte, including formats :mod:`wave` cannot write."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

PCM = 0x0001
FLOAT = 0x0003
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def wav_bytes(
    raw: bytes,
    *,
    rate: int,
    channels: int,
    bits: int,
    tag: int = PCM,
    extensible: bool = False,
    data_size: int | None = None,
    extra_chunks: bytes = b"",
) -> bytes:
    """A RIFF/WAVE file around ``raw`` sample bytes."""
    align = channels * bits // 8
    base = struct.pack(
        "<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * align, align, bits
    )
    if extensible:
        fmt = base + struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + _GUID_TAIL
    else:
        fmt = base
    body = (
        b"WAVE"
        + extra_chunks
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(raw) if data_size is None else data_size)
        + raw
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def encode(samples: npt.NDArray[np.generic], bits: int) -> bytes:
    """Interleaved little-endian sample bytes: int arrays hold the stored integer values."""
    if samples.dtype.kind == "f":
        return samples.astype("<f4" if bits == 32 else "<f8").tobytes()
    if bits == 8:
        return samples.astype(np.uint8).tobytes()
    if bits == 24:
        b = samples.astype("<i4").reshape(-1, 1).view(np.uint8)
        return b[:, :3].tobytes()
    return samples.astype("<i2" if bits == 16 else "<i4").tobytes()


def write_wav(
    path: Path,
    samples: npt.NDArray[np.generic],
    *,
    rate: int,
    bits: int = 16,
    extensible: bool = False,
) -> Path:
    """Write ``samples`` (frames, channels) as PCM (int dtypes) or IEEE float (float dtypes)."""
    tag = FLOAT if samples.dtype.kind == "f" else PCM
    path.write_bytes(
        wav_bytes(
            encode(samples, bits),
            rate=rate,
            channels=samples.shape[1],
            bits=bits,
            tag=tag,
            extensible=extensible,
        )
    )
    return path


def tones(
    freqs: list[float], *, rate: int, seconds: float, amplitude: float = 0.5
) -> npt.NDArray[np.float64]:
    """One sine per channel, shape (frames, len(freqs)), in [-amplitude, amplitude]."""
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([amplitude * np.sin(2 * np.pi * f * t) for f in freqs], axis=1)


def dominant_frequency(x: npt.NDArray[np.generic], rate: int) -> float:
    """The frequency of the strongest FFT bin of a 1-D signal."""
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])
