"""Live audio from a PortAudio input device (PyAudio).

Threading: the stream runs in PortAudio's callback mode, so PortAudio's own
capture thread is the dedicated reader. Its callback only numbers the frames,
wraps them in an :class:`~av.audio.AudioBlock` and appends it to a bounded,
lock-protected queue; the event loop is woken through one coalesced
``call_soon_threadsafe``. Callback mode is used instead of blocking reads in
a thread of our own because PyAudio's blocking ``read()`` either hides
PortAudio's input-overflow flag or, when asked to report it, throws away the
whole block that carried it; the callback receives the flag *with* the data.

Overflow policy (audio is never lost silently):

* The callback never blocks, so PortAudio's ring buffer is drained at the
  device's pace no matter how slow the consumer is.
* When the consumer falls ``queue_blocks`` blocks behind, newly captured
  blocks are dropped and counted as one :class:`Gap` per stall (first frame
  and frame count). Frame numbering keeps advancing across the gap, so the
  next delivered block's ``start_frame`` jumps by exactly the lost frames and
  ``start_frame / rate`` stays true hearing time. The first drop and the
  recovery are logged as warnings. Dropping the newest rather than the oldest
  block lets the consumer finish the contiguous audio it already has queued.
* PortAudio's own input-overflow flag (the device buffer overran, which the
  non-blocking callback makes unlikely) is counted in
  :attr:`CaptureStats.device_overflows` with the frame index where the
  discontinuity lies, and logged. PortAudio does not say how many frames were
  lost then, so numbering does not jump for it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pyaudio

from av.audio import AudioBlock, AudioFormat, AudioSourceError
from av.devices import (
    InputDevice,
    default_input_index,
    input_devices_of,
    open_portaudio,
    resolve_input_device,
)

__all__ = ["CaptureStats", "Gap", "PyAudioSource"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Gap:
    """Frames captured by the device but dropped because the consumer lagged."""

    start_frame: int
    frames: int

    @property
    def end_frame(self) -> int:
        return self.start_frame + self.frames


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """A snapshot of what a :class:`PyAudioSource` has captured and lost.

    Attributes:
        frames_captured: frames numbered so far (delivered, queued or dropped).
        frames_queued: frames waiting in the queue.
        overflow_frames: frames dropped because the queue was full.
        gaps: the dropped ranges, oldest first; the last may still be growing.
        device_overflows: frame indices where PortAudio reported an input overflow.
    """

    frames_captured: int
    frames_queued: int
    overflow_frames: int
    gaps: tuple[Gap, ...]
    device_overflows: tuple[int, ...]


class PyAudioSource:
    """An :class:`~av.audio.AudioSource` recording a PortAudio input device.

    Args:
        device: device index, (part of) its name, or None for the default
            input. With the PulseAudio ALSA plugin, ``"pulse"`` records
            PulseAudio's default source (``PULSE_SOURCE`` overrides it).
        rate: sample rate to record at.
        channels: channels to record.
        block_ms: block length in milliseconds.
        queue_blocks: blocks held for a slow consumer before audio is dropped
            (see the module docstring for the policy).
        stall_timeout: seconds without any block after which :meth:`blocks`
            raises, because the device has stopped delivering.
        start_timeout: the same limit for the first block; opening a stream
            takes longer (about 1.5 s through the PulseAudio ALSA plugin).
        clock: monotonic clock for ``captured_at`` and ``started_at``.
    """

    def __init__(
        self,
        device: str | int | None,
        *,
        rate: int,
        channels: int,
        block_ms: int = 100,
        queue_blocks: int = 300,
        stall_timeout: float = 5.0,
        start_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._format = AudioFormat(rate=rate, channels=channels)
        if not 1 <= block_ms <= 10_000:
            raise ValueError(f"block_ms {block_ms} is out of range")
        if queue_blocks < 1:
            raise ValueError("queue_blocks must be at least 1")
        self._device_spec = device
        self.block_frames = max(1, rate * block_ms // 1000)
        self._queue_blocks = queue_blocks
        self._stall_timeout = stall_timeout
        self._start_timeout = start_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._queue: collections.deque[AudioBlock] = collections.deque()
        self._next_frame = 0
        self._gaps: list[Gap] = []
        self._gap_open = False
        self._device_overflows: list[int] = []
        self._wake_pending = False
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pa: pyaudio.PyAudio | None = None
        self._stream: Any = None
        self._closed = False
        self.device: InputDevice | None = None
        self.started_at: float | None = None

    @property
    def format(self) -> AudioFormat:
        return self._format

    @property
    def active(self) -> bool:
        """True while the PortAudio stream is open and running."""
        stream = self._stream
        return stream is not None and bool(stream.is_active())

    @property
    def stats(self) -> CaptureStats:
        with self._lock:
            return CaptureStats(
                frames_captured=self._next_frame,
                frames_queued=sum(b.frames for b in self._queue),
                overflow_frames=sum(g.frames for g in self._gaps),
                gaps=tuple(self._gaps),
                device_overflows=tuple(self._device_overflows),
            )

    @property
    def overflow_frames(self) -> int:
        """Frames dropped so far because the consumer lagged."""
        return self.stats.overflow_frames

    @property
    def gaps(self) -> list[Gap]:
        """Dropped frame ranges so far, oldest first."""
        return list(self.stats.gaps)

    async def __aenter__(self) -> Self:
        """Find the device, open the stream and start recording.

        Raises:
            AudioSourceError: the device is missing or ambiguous (the message
                lists the input devices), or it refuses the rate/channels.
        """
        if self._loop is not None:
            raise AudioSourceError("PyAudioSource can be opened only once")
        self._loop = loop = asyncio.get_running_loop()
        opening = asyncio.ensure_future(asyncio.to_thread(self._open_blocking))
        try:
            await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The open goes on in its thread; close what it opens, then pass the cancel on.
            def undo(f: asyncio.Future[None]) -> None:
                if not f.cancelled() and f.exception() is None:
                    loop.run_in_executor(None, self._close_blocking)

            self._closed = True
            opening.add_done_callback(undo)
            raise
        return self

    def _open_blocking(self) -> None:
        pa = open_portaudio()
        try:
            devices = input_devices_of(pa)
            device = resolve_input_device(
                devices, self._device_spec, default_index=default_input_index(pa)
            )
            if self._format.channels > device.max_input_channels:
                raise AudioSourceError(
                    f"device {device} records at most {device.max_input_channels} channels, "
                    f"not {self._format.channels}"
                )
            try:
                self._stream = pa.open(
                    format=pyaudio.paInt16,
                    channels=self._format.channels,
                    rate=self._format.rate,
                    input=True,
                    input_device_index=device.index,
                    frames_per_buffer=self.block_frames,
                    stream_callback=self._on_audio,
                    start=False,
                )
                self.started_at = self._clock()
                self._stream.start_stream()
            except (OSError, ValueError) as e:
                raise AudioSourceError(
                    f"cannot record {self._format.channels} ch at {self._format.rate} Hz "
                    f"from {device}: {e}"
                ) from e
        except BaseException:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
            pa.terminate()
            raise
        self._pa = pa
        self.device = device
        _log.info("recording %s: %d Hz, %d ch", device, self._format.rate, self._format.channels)

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop the stream, wait for PortAudio's thread, release PortAudio.

        Runs to completion in a worker thread even if the awaiting task is
        cancelled; any consumer still iterating :meth:`blocks` stops.
        """
        self._closed = True
        self._wake.set()
        await asyncio.shield(asyncio.to_thread(self._close_blocking))

    def _close_blocking(self) -> None:
        stream, pa = self._stream, self._pa
        self._stream = self._pa = None
        try:
            if stream is not None:
                stream.stop_stream()  # returns after the last callback has finished
                stream.close()
        finally:
            if pa is not None:
                pa.terminate()
        stats = self.stats
        if stats.overflow_frames or stats.device_overflows:
            _log.warning(
                "capture closed after %d frames; %d frames dropped in %d gaps, %d device overflows",
                stats.frames_captured,
                stats.overflow_frames,
                len(stats.gaps),
                len(stats.device_overflows),
            )

    def _on_audio(
        self, in_data: bytes | None, frame_count: int, time_info: Mapping[str, float], status: int
    ) -> tuple[None, int]:
        """PortAudio's capture thread: number, queue or count the block; never block."""
        if in_data is None:
            return None, pyaudio.paContinue
        now = self._clock()
        pcm = np.frombuffer(in_data, dtype=np.int16).reshape(-1, self._format.channels)
        with self._lock:
            start = self._next_frame
            self._next_frame += frame_count
            if status & pyaudio.paInputOverflow:
                self._device_overflows.append(start)
                _log.warning("audio device overflow before frame %d: audio was lost", start)
            if len(self._queue) >= self._queue_blocks:
                if self._gap_open:
                    last = self._gaps[-1]
                    self._gaps[-1] = Gap(last.start_frame, last.frames + frame_count)
                else:
                    self._gap_open = True
                    self._gaps.append(Gap(start, frame_count))
                    _log.warning(
                        "audio consumer is %d blocks behind: dropping audio from frame %d",
                        len(self._queue),
                        start,
                    )
                return None, pyaudio.paContinue
            if self._gap_open:
                self._gap_open = False
                gap = self._gaps[-1]
                _log.warning(
                    "audio consumer caught up: %d frames (%.2f s) lost from frame %d",
                    gap.frames,
                    gap.frames / self._format.rate,
                    gap.start_frame,
                )
            self._queue.append(AudioBlock(start_frame=start, pcm=pcm, captured_at=now))
            notify = not self._wake_pending
            self._wake_pending = True
        if notify and self._loop is not None:
            # RuntimeError: the loop is closed, and __aexit__ is stopping us.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._set_wake)
        return None, pyaudio.paContinue

    def _set_wake(self) -> None:
        with self._lock:
            self._wake_pending = False
        self._wake.set()

    async def blocks(self) -> AsyncIterator[AudioBlock]:
        """Yield blocks in capture order until the source is closed.

        A block whose ``start_frame`` is past the previous block's end follows
        a :class:`Gap` (see :attr:`stats`).

        Raises:
            AudioSourceError: the source is not open, or no audio arrived for
                ``stall_timeout`` seconds, or none for ``start_timeout``
                seconds after opening (device unplugged, server gone).
        """
        if self._loop is None:
            raise AudioSourceError("PyAudioSource is not open")
        while True:
            with self._lock:
                block = self._queue.popleft() if self._queue else None
            if block is not None:
                yield block
                continue
            if self._closed:
                return
            self._wake.clear()
            with self._lock:
                if self._queue:
                    continue
            limit = self._stall_timeout if self._next_frame else self._start_timeout
            try:
                async with asyncio.timeout(limit):  # not wait_for: see av/camera/source.py
                    await self._wake.wait()
            except TimeoutError:
                raise AudioSourceError(
                    f"no audio from {self.device} for {limit:g} s "
                    f"(stream {'active' if self.active else 'stopped'})"
                ) from None
