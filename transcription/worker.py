"""Running the transcription engine in a thread behind bounded queues.

Vosk is blocking C++ code (it releases the GIL), so the engine lives in one
dedicated thread. The event loop hands it audio blocks and reads back results.

Bounds and overflow policy:

* Input: at most ``max_blocks`` blocks wait for the engine (default 600 ×
  100 ms = 60 s of audio). When it is full, :meth:`TranscriptionWorker.put`
  waits: backpressure goes to the audio source, whose own policy accounts for
  any audio it cannot hold (see :mod:`av`). Audio is never dropped here.
* Output: at most ``max_results`` results wait for the consumer; when full,
  the engine thread waits for the consumer.
* Lag — how far recognition is behind capture (now − block.captured_at when
  the engine finishes the block) — is measured for every block and reported
  by :attr:`TranscriptionWorker.stats`; it is logged when it first exceeds
  ``lag_warning`` seconds and when it recovers.
* A gap in frame numbering (frames the source could not capture) is filled
  with silence so the hearing clock stays true.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Self

import numpy as np

from av.audio import AudioBlock
from transcription.engine import Result, TranscriptionEngine

__all__ = ["TranscriptionWorker", "WorkerStats"]

logger = logging.getLogger(__name__)

_STOP = object()
_GAP_CHUNK = 16000


@dataclass(slots=True)
class WorkerStats:
    """Health of the recognition thread (mutable, read by status reports)."""

    blocks: int = 0
    lag: float = 0.0
    max_lag: float = 0.0
    gap_frames: int = 0
    behind: bool = False
    error: str | None = None


class TranscriptionWorker:
    """The engine in a thread: ``await put(block)``, ``async for r in results()``."""

    def __init__(
        self,
        engine: TranscriptionEngine,
        *,
        max_blocks: int = 600,
        max_results: int = 1000,
        lag_warning: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._in: queue.Queue[object] = queue.Queue(maxsize=max_blocks)
        self._out: asyncio.Queue[Result | None] | None = None
        self._max_results = max_results
        self._lag_warning = lag_warning
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_frame: int | None = None
        self._closed = False
        self.stats = WorkerStats()

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._out = asyncio.Queue(maxsize=self._max_results)
        self._thread = threading.Thread(target=self._run, name="transcription", daemon=True)
        self._thread.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
        if self._thread is not None:
            # Drain so a thread blocked on a full output queue can finish.
            while self._thread.is_alive():
                with contextlib.suppress(asyncio.QueueEmpty):
                    assert self._out is not None
                    self._out.get_nowait()
                await asyncio.sleep(0.01)

    async def put(self, block: AudioBlock) -> None:
        """Queue a block for recognition, waiting while the input queue is full."""
        try:
            self._in.put_nowait(block)
        except queue.Full:
            await asyncio.to_thread(self._in.put, block)

    async def close(self) -> None:
        """No more audio: the engine flushes and :meth:`results` ends."""
        if self._thread is not None and self._thread.is_alive() and not self._closed:
            self._closed = True
            try:
                self._in.put_nowait(_STOP)
            except queue.Full:
                await asyncio.to_thread(self._in.put, _STOP)

    async def results(self) -> AsyncIterator[Result]:
        """Results in order; ends after :meth:`close` once all audio is processed."""
        assert self._out is not None, "use 'async with TranscriptionWorker(...)'"
        while True:
            item = await self._out.get()
            if item is None:
                return
            yield item

    def _emit(self, item: Result | None) -> None:
        assert self._loop is not None and self._out is not None
        if self._loop.is_closed():
            raise RuntimeError("the event loop is closed")  # don't build an orphan put()
        put = self._out.put(item)
        try:
            future = asyncio.run_coroutine_threadsafe(put, self._loop)
        except RuntimeError:
            put.close()  # the loop closed meanwhile: never awaited, never warned about
            raise
        future.result()

    def _run(self) -> None:
        try:
            while True:
                item = self._in.get()
                if item is _STOP:
                    for result in self._engine.flush():
                        self._emit(result)
                    break
                assert isinstance(item, AudioBlock)
                for result in self._process(item):
                    self._emit(result)
                self._measure(item)
        except Exception as exc:  # task boundary: report, then end the stream
            logger.exception("transcription thread failed")
            self.stats.error = f"{type(exc).__name__}: {exc}"
        finally:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._emit(None)

    def _process(self, block: AudioBlock) -> list[Result]:
        results: list[Result] = []
        if self._next_frame is not None and block.start_frame > self._next_frame:
            missing = block.start_frame - self._next_frame
            self.stats.gap_frames += missing
            silence = np.zeros((min(missing, _GAP_CHUNK), block.pcm.shape[1]), dtype=np.int16)
            while missing > 0:
                take = min(missing, _GAP_CHUNK)
                results += self._engine.process(silence[:take])
                missing -= take
        self._next_frame = block.end_frame
        results += self._engine.process(block.pcm)
        return results

    def _measure(self, block: AudioBlock) -> None:
        stats = self.stats
        stats.blocks += 1
        stats.lag = max(0.0, self._clock() - block.captured_at)
        stats.max_lag = max(stats.max_lag, stats.lag)
        if stats.lag > self._lag_warning and not stats.behind:
            stats.behind = True
            logger.warning("transcription is %.1f s behind capture", stats.lag)
        elif stats.behind and stats.lag < self._lag_warning / 2:
            stats.behind = False
            logger.info("transcription has caught up (lag %.2f s)", stats.lag)
