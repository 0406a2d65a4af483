"""Running the transcription engine in a thread behind bounded queues.

Vosk is blocking C++ code (it releases the GIL), so the engine lives in one
dedicated thread. The event loop hands it audio blocks and reads back results.
Within one block the engine may decode several talking channels at once on
the process's shared :class:`~transcription.decode_pool.DecodePool`; the
engine call still returns only when all of them are done, so everything
below (bounds, lag, failures, stalls) holds per engine call unchanged: an
exception in any channel's decoding is the call's exception, and a channel
whose decoding hangs hangs the call.

The lossless recording is the law's; the transcript is an aid. The caller
feeds both from one loop, so nothing here may hold that loop up or raise
into it: a slow, hung or failing engine costs transcript, never recording.

Bounds and overflow policy:

* Input: at most ``max_blocks`` blocks wait for the engine (default 600 ×
  100 ms = 60 s of audio). :meth:`TranscriptionWorker.put_nowait` never
  waits: when the buffer is full the block is dropped *for transcription
  only* (the caller still holds it, e.g. the recording has written it) and
  it returns False. Dropped frames are counted in ``stats.dropped_frames``;
  the engine later sees the hole as a gap in frame numbering, filled with
  silence so the hearing clock stays true. One warning is logged when a drop
  episode begins (``stats.dropping`` and ``stats.behind`` are set) and one
  line when the next block is accepted again, with the episode's total.
  :meth:`TranscriptionWorker.put` is for offline sources that can wait
  (files, benchmarks): it waits for room instead of dropping.
* Output: at most ``max_results`` results wait for the consumer; when full,
  the engine thread waits for the consumer.
* Lag — how far recognition is behind capture (now − block.captured_at when
  the engine finishes the block) — is measured for every block and reported
  by :attr:`TranscriptionWorker.stats`; it is logged when it first exceeds
  ``lag_warning`` seconds and when it recovers.
* A gap in frame numbering (frames the source could not capture, or blocks
  dropped above) is filled with silence so the hearing clock stays true.

Failure policy:

* An exception raised by the engine while it processes a block is reported
  at once: ``on_failure(error, restarts)`` is called on the event loop,
  ``stats.failing`` is set and ``stats.error`` holds the error's text. That
  block's audio, and the utterance the engine had open, are lost for
  transcription (``stats.lost_frames``). The worker builds a fresh engine
  with ``engine_factory(hearing_offset)``, the offset being the hearing time
  just after the failed block, and goes on with the next block. After the
  first block processed without error, ``on_recovered()`` is called on the
  loop and ``stats.failing`` is cleared.
* Restarts are bounded: at most ``max_restarts`` in any ``restart_window``
  seconds (a factory that raises uses up a restart too). Past that, or at
  the first failure when there is no ``engine_factory``, the worker gives up
  (``stats.gave_up``): every block is dropped and counted, ``stats.failing``
  stays set, and the results stream still ends on :meth:`close`.
* A hung engine is a failure too: when one engine call has not returned
  after ``stall_timeout`` seconds, the failure is reported as
  :class:`TranscriptionStalled` and a new thread with a fresh engine takes
  over the input (the stalled thread cannot be stopped; it is left behind as
  a daemon and exits silently if its call ever returns). At most
  ``_MAX_STUCK_THREADS`` (3) stalled threads are ever left behind: the third
  stall gives up.
* A failing or stalled final flush (on close) is reported the same way; the
  stream ends.
* Nothing is ever raised into the caller of :meth:`TranscriptionWorker.put_nowait`,
  and a callback that raises is logged, not propagated.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol, Self

import numpy as np
import numpy.typing as npt

from av.audio import AudioBlock
from transcription.engine import Result

__all__ = ["Engine", "EngineFactory", "TranscriptionStalled", "TranscriptionWorker", "WorkerStats"]

logger = logging.getLogger(__name__)

_GAP_CHUNK = 16000
_MAX_STUCK_THREADS = 3  # stalled threads left behind at most; the last one gives up


class TranscriptionStalled(Exception):
    """The engine has been inside one call for longer than ``stall_timeout``."""


class _Abandoned(BaseException):
    """Raised in a stalled thread whose call returned after it was replaced.

    A BaseException so that the engine boundary (``except Exception``) lets it
    through to the thread's top, where the thread exits without a word.
    """


class Engine(Protocol):
    """What the worker needs of an engine; :class:`TranscriptionEngine` is one."""

    @property
    def input_rate(self) -> int: ...

    @property
    def hearing_offset(self) -> float: ...

    def process(self, pcm: npt.NDArray[np.int16]) -> list[Result]: ...

    def flush(self) -> list[Result]: ...


EngineFactory = Callable[[float], Engine]
"""Builds a fresh engine whose first sample is at the given hearing time (s)."""


@dataclass(slots=True, eq=False)
class _Session:
    """One engine thread and its engine; replaced wholesale when the thread stalls."""

    engine: Engine | None
    next_frame: int | None = None
    # (frame, hearing time, input rate) of the engine's first sample.
    anchor: tuple[int, float, int] | None = None
    block: AudioBlock | None = None  # the block being processed
    busy_since: float | None = None  # time.monotonic() when the engine call began
    inherited: tuple[BaseException, AudioBlock | None] | None = None  # from a stalled thread
    thread: threading.Thread | None = None


@dataclass(slots=True)
class WorkerStats:
    """Health of the recognition thread (mutable, read by status reports).

    Attributes:
        blocks: blocks the engine processed.
        lag: recognition lag of the last block (s).
        max_lag: highest lag seen (s).
        gap_frames: frames filled with silence (source gaps and drops).
        behind: lag above ``lag_warning``, or input being dropped.
        dropping: the input buffer is full and blocks are being dropped.
        dropped_frames: frames never given to the engine (buffer full, given up).
        lost_frames: frames of blocks the engine failed on.
        restarts: engines built after a failure.
        failing: an engine failed and no block has been processed since.
        gave_up: the restart budget ran out; nothing is recognised any more.
        error: text of the last engine error.
    """

    blocks: int = 0
    lag: float = 0.0
    max_lag: float = 0.0
    gap_frames: int = 0
    behind: bool = False
    dropping: bool = False
    dropped_frames: int = 0
    lost_frames: int = 0
    restarts: int = 0
    failing: bool = False
    gave_up: bool = False
    error: str | None = None


class TranscriptionWorker:
    """The engine in a thread: ``put_nowait(block)``, ``async for r in results()``.

    Args:
        engine: the engine for the first block.
        engine_factory: builds a replacement after a failure, given the
            hearing time (s) of its first sample; without it the first
            failure stops recognition.
        on_failure: called on the event loop with the error and the number of
            restarts so far, at every engine failure.
        on_recovered: called on the event loop when a block is processed
            again after a failure.
        max_blocks: input buffer size (blocks).
        max_results: output queue size (results).
        lag_warning: lag (s) above which ``stats.behind`` is set.
        max_restarts: restarts allowed within ``restart_window``.
        restart_window: seconds over which restarts are counted.
        stall_timeout: seconds one engine call may take before the thread is
            declared stalled (:class:`TranscriptionStalled`) and replaced.
        clock: monotonic clock (the one ``AudioBlock.captured_at`` uses).

    Raises:
        ValueError: a bound is not positive.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        engine_factory: EngineFactory | None = None,
        on_failure: Callable[[BaseException, int], object] | None = None,
        on_recovered: Callable[[], object] | None = None,
        max_blocks: int = 600,
        max_results: int = 1000,
        lag_warning: float = 2.0,
        max_restarts: int = 5,
        restart_window: float = 60.0,
        stall_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (
            ("max_blocks", max_blocks),
            ("max_results", max_results),
            ("restart_window", restart_window),
            ("stall_timeout", stall_timeout),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if max_restarts < 0:
            raise ValueError(f"max_restarts must not be negative, got {max_restarts}")
        self._factory = engine_factory
        self._on_failure = on_failure
        self._on_recovered = on_recovered
        self._input_rate = engine.input_rate
        self._max_blocks = max_blocks
        self._pending: deque[AudioBlock] = deque()
        self._cond = threading.Condition()  # guards _pending, _closing, dropped_frames, gave_up
        self._closing = False
        self._episode_frames = 0
        self._out: asyncio.Queue[Result | None] | None = None
        self._max_results = max_results
        self._lag_warning = lag_warning
        self._max_restarts = max_restarts
        self._restart_window = restart_window
        self._restart_times: deque[float] = deque()
        self._clock = clock
        self._stall_timeout = stall_timeout
        self._session = _Session(engine=engine)  # guarded by _cond
        self._stuck: list[threading.Thread] = []  # stalled threads left behind
        self._watchdog: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = WorkerStats()

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._out = asyncio.Queue(maxsize=self._max_results)
        self._start(self._session)
        self._watchdog = asyncio.create_task(self._watch(), name="transcription-watchdog")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
        # Drain so a thread blocked on a full output queue can finish; the
        # watchdog goes on meanwhile, so a stalled final flush is replaced too.
        while (thread := self._session.thread) is not None and thread.is_alive():
            with contextlib.suppress(asyncio.QueueEmpty):
                assert self._out is not None
                self._out.get_nowait()
            await asyncio.sleep(0.01)
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog

    @property
    def engine(self) -> Engine | None:
        """The engine in use (None once the worker gave up)."""
        return self._session.engine

    @property
    def queued(self) -> int:
        """Blocks waiting for the engine (at most ``max_blocks``)."""
        with self._cond:
            return len(self._pending)

    def put_nowait(self, block: AudioBlock) -> bool:
        """Queue a block for recognition without ever waiting or raising.

        Returns:
            True if queued; False if dropped for transcription (buffer full,
            worker given up or closed), counted in ``stats.dropped_frames``.
        """
        stats = self.stats
        began = False
        ended = 0
        with self._cond:
            accepted = (
                not self._closing and not stats.gave_up and len(self._pending) < self._max_blocks
            )
            if accepted:
                self._pending.append(block)
                self._cond.notify_all()
                ended, self._episode_frames = self._episode_frames, 0
                stats.dropping = False
            else:
                stats.dropped_frames += block.frames
                began = not stats.dropping and not stats.gave_up and not self._closing
                if began:
                    stats.dropping = stats.behind = True
                self._episode_frames += block.frames
        if began:
            logger.warning(
                "转写积压，暂停转写（录音不受影响） · transcription input full (%d blocks):"
                " dropping audio for transcription only, the recording is unaffected",
                self._max_blocks,
            )
        if ended:
            logger.info(
                "转写恢复接收 · transcription input accepted again after dropping %.1f s of audio",
                ended / self._input_rate,
            )
        return accepted

    async def put(self, block: AudioBlock) -> bool:
        """Queue a block, waiting while the input buffer is full.

        For offline sources that can wait (files, benchmarks); a live source
        must use :meth:`put_nowait`. It waits as long as the engine does.

        Returns:
            False if dropped because the worker gave up or was closed.
        """
        while True:
            with self._cond:
                if self._closing or self.stats.gave_up:
                    break
                if len(self._pending) < self._max_blocks:
                    self._pending.append(block)
                    self._cond.notify_all()
                    return True
            await asyncio.to_thread(self._wait_for_room)
        return self.put_nowait(block)

    def _wait_for_room(self) -> None:
        with self._cond:
            self._cond.wait_for(
                lambda: len(self._pending) < self._max_blocks or self._closing or self.stats.gave_up
            )

    async def close(self) -> None:
        """No more audio: the engine flushes and :meth:`results` ends. Never waits."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

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

    def _notify(self, callback: Callable[..., object] | None, *args: object) -> None:
        """Run ``callback(*args)`` on the event loop (from the engine thread)."""
        if callback is None or self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
            self._loop.call_soon_threadsafe(_guarded, callback, args)

    def _start(self, session: _Session) -> None:
        session.thread = threading.Thread(
            target=self._run, args=(session,), name="transcription", daemon=True
        )
        session.thread.start()

    def _run(self, session: _Session) -> None:
        abandoned = False
        try:
            if session.inherited is not None:
                self._inherit(session, *session.inherited)
            while (block := self._take(session)) is not None:
                for result in self._recognise(session, block):
                    self._emit(result)
            for result in self._finish(session):
                self._emit(result)
        except _Abandoned:  # a stalled call returned after all; its successor took over
            abandoned = True
            logger.info("a stalled transcription thread returned and exits")
        except Exception as exc:  # task boundary: only _emit gets here (loop closed)
            logger.exception("transcription thread failed")
            self.stats.error = f"{type(exc).__name__}: {exc}"
        finally:
            if not abandoned:
                with contextlib.suppress(RuntimeError):  # loop already closed
                    self._emit(None)

    def _take(self, session: _Session) -> AudioBlock | None:
        with self._cond:
            self._cond.wait_for(lambda: bool(self._pending) or self._closing)
            if not self._pending:
                return None
            block = session.block = self._pending.popleft()
            self._cond.notify_all()
            return block

    def _call(self, session: _Session, call: Callable[[], list[Result]]) -> list[Result]:
        """One engine call, watched for stalls (see :meth:`_check_stall`).

        Raises:
            _Abandoned: the call stalled and another thread has taken over.
        """
        with self._cond:
            session.busy_since = time.monotonic()
        try:
            return call()
        finally:
            with self._cond:
                session.busy_since = None
                current = session is self._session
            if not current:
                raise _Abandoned  # wins over an error of the engine's own: nobody listens

    def _recognise(self, session: _Session, block: AudioBlock) -> list[Result]:
        engine = session.engine
        if engine is None:  # gave up meanwhile
            with self._cond:
                self.stats.dropped_frames += block.frames
            return []
        if session.anchor is None:
            session.anchor = (block.start_frame, engine.hearing_offset, engine.input_rate)
        try:
            results = self._process(session, engine, block)
        except Exception as exc:  # the engine's boundary: report, restart, go on
            self._fail(session, exc, block)
            return []
        self._measure(block)
        if self.stats.failing:
            self.stats.failing = False
            logger.info("转写已恢复 · transcription recovered")
            self._notify(self._on_recovered)
        return results

    def _finish(self, session: _Session) -> list[Result]:
        engine = session.engine
        if engine is None:
            return []
        try:
            return self._call(session, engine.flush)
        except Exception as exc:  # the engine's boundary: report; the stream ends anyway
            self._report_flush_failure(exc)
            return []

    def _report_flush_failure(self, error: BaseException) -> None:
        logger.error("转写引擎故障 · transcription engine failed on flush", exc_info=error)
        self._record(error)
        self._notify(self._on_failure, error, self.stats.restarts)

    def _inherit(self, session: _Session, error: BaseException, block: AudioBlock | None) -> None:
        """Start of a thread replacing a stalled one: report its failure first."""
        if block is None:  # it stalled in the final flush
            self._report_flush_failure(error)
        else:
            self._fail(session, error, block)

    def _fail(self, session: _Session, error: BaseException, block: AudioBlock) -> None:
        """The engine failed on ``block``: report, then replace it or give up."""
        stats = self.stats
        stats.lost_frames += block.frames
        session.next_frame = block.end_frame
        at = self._hearing_time(session, block.end_frame)
        session.engine = None
        while True:
            logger.error("转写引擎故障 · transcription engine failed at %.1f s", at, exc_info=error)
            self._record(error)
            if self._factory is None or not self._may_restart():
                self._give_up()
                self._notify(self._on_failure, error, stats.restarts)
                return
            stats.restarts += 1
            self._notify(self._on_failure, error, stats.restarts)
            try:
                engine = self._factory(at)
            except Exception as exc:  # counts as a failed restart
                error = exc
                continue
            session.engine = engine
            session.anchor = (block.end_frame, engine.hearing_offset, engine.input_rate)
            return

    def _record(self, error: BaseException) -> None:
        self.stats.error = f"{type(error).__name__}: {error}"
        self.stats.failing = True

    def _may_restart(self) -> bool:
        with self._cond:
            stuck = [t for t in self._stuck if t.is_alive()]
            self._stuck = stuck
        if len(stuck) >= _MAX_STUCK_THREADS:
            return False
        now = self._clock()
        times = self._restart_times
        while times and times[0] <= now - self._restart_window:
            times.popleft()
        if len(times) >= self._max_restarts:
            return False
        times.append(now)
        return True

    def _give_up(self) -> None:
        with self._cond:
            self.stats.gave_up = True
            self.stats.dropped_frames += sum(b.frames for b in self._pending)
            self._pending.clear()
            self._cond.notify_all()
        logger.error(
            "转写已停止（录音不受影响） · transcription stopped after %d restarts;"
            " the recording is unaffected",
            self.stats.restarts,
        )

    def _check_stall(self, now: float) -> bool:
        """Replace the engine thread if one engine call has run for too long.

        The stalled thread cannot be stopped: it is left behind (a daemon)
        and, should its call ever return, exits without a word. A new thread
        takes over the input and reports the failure as if the engine had
        raised :class:`TranscriptionStalled` on the block it was stuck in.

        Returns:
            True if a stalled thread was replaced.
        """
        with self._cond:
            old = self._session
            if old.busy_since is None or now - old.busy_since <= self._stall_timeout:
                return False
            error = TranscriptionStalled(
                f"one engine call has not returned for {now - old.busy_since:.1f} s"
            )
            new = _Session(
                engine=None,
                next_frame=old.next_frame,
                anchor=old.anchor,
                inherited=(error, old.block),
            )
            self._session = new
            if old.thread is not None:
                self._stuck.append(old.thread)
        self._start(new)
        return True

    async def _watch(self) -> None:
        period = min(0.5, self._stall_timeout / 4)
        while True:
            await asyncio.sleep(period)
            try:
                self._check_stall(time.monotonic())
            except Exception:  # task boundary (e.g. no thread could start): keep watching
                logger.exception("transcription watchdog failed")

    def _hearing_time(self, session: _Session, frame: int) -> float:
        assert session.anchor is not None
        first, offset, rate = session.anchor
        return offset + (frame - first) / rate

    def _process(self, session: _Session, engine: Engine, block: AudioBlock) -> list[Result]:
        results: list[Result] = []
        if session.next_frame is not None and block.start_frame > session.next_frame:
            missing = block.start_frame - session.next_frame
            self.stats.gap_frames += missing
            silence = np.zeros((min(missing, _GAP_CHUNK), block.pcm.shape[1]), dtype=np.int16)
            while missing > 0:
                take = min(missing, _GAP_CHUNK)
                results += self._call(session, functools.partial(engine.process, silence[:take]))
                missing -= take
        session.next_frame = block.end_frame
        results += self._call(session, functools.partial(engine.process, block.pcm))
        return results

    def _measure(self, block: AudioBlock) -> None:
        stats = self.stats
        stats.blocks += 1
        stats.lag = max(0.0, self._clock() - block.captured_at)
        stats.max_lag = max(stats.max_lag, stats.lag)
        if stats.lag > self._lag_warning and not stats.behind:
            stats.behind = True
            logger.warning("transcription is %.1f s behind capture", stats.lag)
        elif stats.behind and not stats.dropping and stats.lag < self._lag_warning / 2:
            stats.behind = False
            logger.info("transcription has caught up (lag %.2f s)", stats.lag)


def _guarded(callback: Callable[..., object], args: tuple[object, ...]) -> None:
    try:
        callback(*args)
    except Exception:  # a caller's callback: log it, keep the worker going
        logger.exception("transcription worker callback %r failed", callback)
