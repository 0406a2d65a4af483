"""Audio from a WAV file, optionally paced like a live microphone.

The RIFF/WAVE header is parsed here rather than with :mod:`wave`, because the
standard module of Python 3.11 rejects IEEE-float and ``WAVE_FORMAT_EXTENSIBLE``
files, and the latter is what sox and most recorders write for more than two
channels or more than 16 bits. Only the header is held in memory: samples are
read one block at a time, so an hour-long hearing file costs one block of RAM.

Supported sample formats (converted to int16):

===========  ==========================================================
8-bit int    unsigned, ``(x - 128) << 8``
16-bit int   as is
24-bit int   top 16 bits (truncation, no dither)
32-bit int   top 16 bits (truncation, no dither)
32/64 float  ``rint(x * 32768)`` clipped to ``[-32768, 32767]``
===========  ==========================================================
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Self

import numpy as np
import numpy.typing as npt

from av.audio import AudioBlock, AudioFormat, AudioSourceError

__all__ = ["WavFileSource", "WavInfo", "parse_wav_header"]

_log = logging.getLogger(__name__)

_FORMAT_PCM = 0x0001
_FORMAT_FLOAT = 0x0003
_FORMAT_EXTENSIBLE = 0xFFFE
# KSDATAFORMAT_SUBTYPE_* GUIDs share this tail; the first two bytes are the format tag.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_HEADER_LIMIT = 1 << 20  # chunks before "data" (LIST, bext...) larger than this are refused


@dataclass(frozen=True, slots=True)
class WavInfo:
    """What the header of a WAV file says.

    Attributes:
        format: sample rate and channel count.
        sample_format: ``"int"`` or ``"float"``.
        bits: bits per sample as stored (8, 16, 24, 32 or 64).
        data_offset: byte offset of the first sample in the file.
        frames: number of whole frames in the data chunk.
    """

    format: AudioFormat
    sample_format: str
    bits: int
    data_offset: int
    frames: int

    @property
    def frame_bytes(self) -> int:
        return self.format.channels * self.bits // 8


def parse_wav_header(f: BinaryIO, *, file_size: int) -> WavInfo:
    """Read RIFF chunks up to the ``data`` chunk and describe the samples.

    A data chunk size that runs past the end of the file (streamed WAVs write
    0 or 0xFFFFFFFF) is taken to mean "up to the end of the file".

    Raises:
        AudioSourceError: not a RIFF/WAVE file, no ``fmt``/``data`` chunk, a
            sample format not listed in the module docstring, or no frames.
    """
    riff = f.read(12)
    if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        raise AudioSourceError("not a WAV file (no RIFF/WAVE header)")
    fmt: bytes | None = None
    while True:
        head = f.read(8)
        if len(head) < 8:
            raise AudioSourceError("WAV file has no data chunk")
        chunk_id, size = head[:4], struct.unpack("<I", head[4:])[0]
        if chunk_id == b"data":
            break
        if size > _HEADER_LIMIT:
            raise AudioSourceError(f"WAV chunk {chunk_id!r} of {size} bytes is too large")
        body = f.read(size + (size & 1))  # chunks are word-aligned
        if chunk_id == b"fmt ":
            fmt = body[:size]
    if fmt is None or len(fmt) < 16:
        raise AudioSourceError("WAV file has no valid fmt chunk before its data")
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _FORMAT_EXTENSIBLE:
        if len(fmt) < 40 or fmt[26:40] != _GUID_TAIL:
            raise AudioSourceError("WAV extensible format with an unknown sub-format")
        tag = struct.unpack("<H", fmt[24:26])[0]
    if tag == _FORMAT_PCM and bits in (8, 16, 24, 32):
        sample_format = "int"
    elif tag == _FORMAT_FLOAT and bits in (32, 64):
        sample_format = "float"
    else:
        raise AudioSourceError(
            f"unsupported WAV sample format (tag 0x{tag:04x}, {bits} bits); "
            "use 8/16/24/32-bit PCM or 32/64-bit float"
        )
    try:
        audio_format = AudioFormat(rate=rate, channels=channels)
    except ValueError as e:
        raise AudioSourceError(f"unsupported WAV stream: {e}") from e
    if block_align != channels * bits // 8:
        raise AudioSourceError(f"WAV block align {block_align} does not match {channels}×{bits}")
    data_offset = f.tell()
    data_bytes = min(size, file_size - data_offset)
    frames = data_bytes // block_align
    if frames == 0:
        raise AudioSourceError("WAV file contains no audio frames")
    return WavInfo(audio_format, sample_format, bits, data_offset, frames)


def decode_samples(raw: bytes, info: WavInfo) -> npt.NDArray[np.int16]:
    """Convert whole frames of raw sample bytes to int16 ``(frames, channels)``."""
    channels = info.format.channels
    if info.sample_format == "float":
        dtype = "<f4" if info.bits == 32 else "<f8"
        x = np.frombuffer(raw, dtype=dtype)
        out = np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)
    elif info.bits == 8:
        out = ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    elif info.bits == 16:
        out = np.frombuffer(raw, dtype="<i2").astype(np.int16)
    elif info.bits == 24:
        # Little-endian 3-byte samples: bytes 1 and 2 are the top 16 bits.
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        out = np.ascontiguousarray(b[:, 1:3]).view("<i2").reshape(-1).astype(np.int16)
    else:
        out = (np.frombuffer(raw, dtype="<i4") >> 16).astype(np.int16)
    return out.reshape(-1, channels)


class WavFileSource:
    """An :class:`~av.audio.AudioSource` reading a WAV file block by block.

    With ``realtime=True`` the file behaves like a microphone that started when
    the source was opened: block *k* is handed out no earlier than
    ``started_at + end_frame / rate`` and is stamped with that due time. A
    consumer that falls behind gets the overdue blocks at once (nothing is
    skipped). With ``realtime=False`` blocks come as fast as they are taken and
    are stamped with the clock when read.

    Args:
        path: the WAV file.
        realtime: pace blocks at the file's sample rate.
        block_ms: block length in milliseconds (the last block may be shorter).
        clock: monotonic clock, injectable for tests.
        sleep: coroutine used to wait for a block's due time, injectable.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        realtime: bool,
        block_ms: int = 100,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not 1 <= block_ms <= 10_000:
            raise ValueError(f"block_ms {block_ms} is out of range")
        self._path = Path(path)
        self._realtime = realtime
        self._block_ms = block_ms
        self._clock = clock
        self._sleep = sleep
        self._file: BinaryIO | None = None
        self._info: WavInfo | None = None
        self._next_frame = 0
        self._started_at: float | None = None

    @property
    def info(self) -> WavInfo:
        """The parsed header. Raises AudioSourceError before the source is opened."""
        if self._info is None:
            raise AudioSourceError(f"{self._path}: source is not open")
        return self._info

    @property
    def format(self) -> AudioFormat:
        return self.info.format

    @property
    def started_at(self) -> float:
        """Monotonic time of frame 0: frame *f* was "captured" at ``started_at + f / rate``."""
        if self._started_at is None:
            raise AudioSourceError(f"{self._path}: source is not open")
        return self._started_at

    @property
    def block_frames(self) -> int:
        return max(1, self.format.rate * self._block_ms // 1000)

    async def __aenter__(self) -> Self:
        """Open the file and parse its header; the realtime clock starts now.

        Raises:
            AudioSourceError: the file is missing, unreadable, not a WAV file,
                in an unsupported sample format or without audio frames.
        """
        try:
            f = self._path.open("rb")
        except OSError as e:
            raise AudioSourceError(f"{self._path}: cannot open: {e.strerror or e}") from e
        try:
            size = self._path.stat().st_size
            if size == 0:
                raise AudioSourceError("file is empty")
            self._info = parse_wav_header(f, file_size=size)
            f.seek(self._info.data_offset)
        except AudioSourceError as e:
            f.close()
            raise AudioSourceError(f"{self._path}: {e}") from e
        except OSError as e:
            f.close()
            raise AudioSourceError(f"{self._path}: cannot read: {e}") from e
        self._file = f
        self._next_frame = 0
        self._started_at = self._clock()
        _log.debug("opened %s: %s", self._path, self._info)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    async def blocks(self) -> AsyncIterator[AudioBlock]:
        """Yield the file's audio until its end or until the source is closed.

        Raises:
            AudioSourceError: the source is not open, or the file cannot be read.
        """
        info = self.info
        rate = info.format.rate
        while self._file is not None and self._next_frame < info.frames:
            frames = min(self.block_frames, info.frames - self._next_frame)
            try:
                raw = self._file.read(frames * info.frame_bytes)
            except OSError as e:
                raise AudioSourceError(f"{self._path}: read failed: {e}") from e
            frames = len(raw) // info.frame_bytes
            if frames == 0:  # the file shrank under us
                _log.warning("%s ended early at frame %d", self._path, self._next_frame)
                return
            pcm = decode_samples(raw[: frames * info.frame_bytes], info)
            start = self._next_frame
            self._next_frame += frames
            if self._realtime:
                due = self.started_at + self._next_frame / rate
                delay = due - self._clock()
                if delay > 0:
                    await self._sleep(delay)
                captured_at = due
            else:
                captured_at = self._clock()
            yield AudioBlock(start_frame=start, pcm=pcm, captured_at=captured_at)
