"""Decoding several channels of one audio block at once, on every core.

Vosk decodes in C++ and its cffi binding releases the GIL around each call,
so threads decode in parallel. One :class:`DecodePool` per process is shared
by every courtroom's engine (:func:`shared_decode_pool`): an engine hands it
the block's per-channel jobs with :meth:`DecodePool.run` and gets their
results back in job order, as if it had run them one after the other.

How a batch runs (``threads`` = n):

* One job, or ``n == 1``: every job runs on the calling thread, in order —
  no hand-off, no cost (a one-microphone room, or one person speaking).
* Otherwise the jobs after the first are offered to the n − 1 shared helper
  threads, the caller runs the first, then *claims back* every job no helper
  has started and runs it itself. A job is run exactly once, by whichever
  thread claims it first. So one block never waits for helpers that are busy
  with other courtrooms, and at most n jobs of one batch run at once.
* :meth:`DecodePool.run` returns only when every job of its batch has
  finished. That is the back-pressure: an engine never has more than one
  block in flight, so the worker's bounded input queue still bounds the
  audio waiting for recognition.

Bounds and overflow policy: the helpers' queue holds at most ``max_queued``
jobs (default 16 per helper). When it is full a job is not queued; the caller
runs it itself (caller-runs), so nothing is dropped and nothing waits for
room. Queued jobs that the caller claimed back are skipped by the helpers.

Errors: a job that raises does not stop the others of its batch; once all
have finished, :meth:`DecodePool.run` raises the exception of the first
failing job in job order — the same exception the jobs would have raised run
one by one — so the worker's failure policy sees it unchanged. A job that
never returns holds its helper (and its caller, which the worker's stall
watchdog then replaces); the other engines go on, with one helper fewer.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["MAX_THREADS", "DecodePool", "default_threads", "shared_decode_pool"]

T = TypeVar("T")

MAX_THREADS = 256
"""Upper bound of ``threads``: more would only cost memory (a stack each)."""


def default_threads() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class _Job(Generic[T]):
    """One job of a batch: claimed once, then run, then done."""

    __slots__ = ("call", "claimed", "done", "error", "result")

    def __init__(self, call: Callable[[], T]) -> None:
        self.call = call
        self.claimed = False  # guarded by the pool's lock
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None

    def execute(self) -> None:
        try:
            self.result = self.call()
        except BaseException as exc:  # handed to the caller of run(), which re-raises it
            self.error = exc
        finally:
            self.done.set()


class DecodePool:
    """Runs batches of blocking jobs, up to ``threads`` of one batch at once.

    Args:
        threads: how many jobs of one batch may run at once: the calling
            thread plus ``threads - 1`` helper threads (daemons, started on
            first need, shared by every caller). 1 runs everything inline.
        max_queued: bound of the helpers' queue (see the module docstring
            for the overflow policy); default 16 per helper.
        name: prefix of the helper threads' names.

    Raises:
        ValueError: ``threads`` is not within 1 … :data:`MAX_THREADS`, or
            ``max_queued`` is not positive.
    """

    def __init__(
        self, threads: int, *, max_queued: int | None = None, name: str = "decode"
    ) -> None:
        if not 1 <= threads <= MAX_THREADS:
            raise ValueError(f"threads must be within 1 … {MAX_THREADS}, got {threads}")
        if max_queued is not None and max_queued <= 0:
            raise ValueError(f"max_queued must be positive, got {max_queued}")
        self._threads = threads
        self._max_queued = max_queued if max_queued is not None else 16 * max(1, threads - 1)
        self._name = name
        self._lock = threading.Lock()  # guards _Job.claimed and _helpers
        self._queue: queue.Queue[_Job[Any] | None] = queue.Queue(maxsize=self._max_queued)
        self._helpers: list[threading.Thread] = []
        self._closed = False

    @property
    def threads(self) -> int:
        """Jobs of one batch that may run at once (the caller included)."""
        return self._threads

    @property
    def max_queued(self) -> int:
        """Bound of the helpers' queue (jobs)."""
        return self._max_queued

    @property
    def queued(self) -> int:
        """Jobs waiting in the helpers' queue (claimed-back ones included)."""
        return self._queue.qsize()

    @property
    def helpers(self) -> int:
        """Helper threads started so far (at most ``threads - 1``)."""
        return len(self._helpers)

    def run(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Run every call, some on helper threads; return their results in order.

        Returns only when all have finished.

        Raises:
            BaseException: the exception of the first call (in order) that
                raised, after all have finished.
        """
        if len(calls) <= 1 or self._threads == 1 or self._closed:
            return [call() for call in calls]
        jobs: list[_Job[T]] = [_Job(call) for call in calls]
        self._start_helpers()
        for job in jobs[1:]:
            try:
                self._queue.put_nowait(job)
            except queue.Full:  # caller-runs: it is claimed back below
                break
        for job in jobs:  # the caller runs whatever no helper has begun
            if self._claim(job):
                job.execute()
        for job in jobs:
            job.done.wait()
        for job in jobs:
            if job.error is not None:
                raise job.error
        return [job.result for job in jobs]  # type: ignore[misc]

    def close(self) -> None:
        """Stop the helpers once the queue is drained; later batches run inline.

        Waits for the helpers' running jobs (a job that never returns keeps
        ``close`` waiting too). The process-wide pool is never closed.
        """
        with self._lock:
            self._closed = True
            helpers = list(self._helpers)
        for _ in helpers:
            self._queue.put(None)
        for helper in helpers:
            helper.join()

    def _claim(self, job: _Job[T]) -> bool:
        with self._lock:
            if job.claimed:
                return False
            job.claimed = True
            return True

    def _start_helpers(self) -> None:
        with self._lock:
            while len(self._helpers) < self._threads - 1:
                helper = threading.Thread(
                    target=self._serve,
                    name=f"{self._name}-{len(self._helpers) + 1}",
                    daemon=True,
                )
                helper.start()
                self._helpers.append(helper)

    def _serve(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._claim(job):
                job.execute()


_shared: DecodePool | None = None
_shared_lock = threading.Lock()


def shared_decode_pool(threads: int | None = None) -> DecodePool:
    """The process-wide pool every engine uses unless given its own.

    Created on first call with ``threads`` (default: :func:`default_threads`).

    Raises:
        ValueError: ``threads`` differs from the size of the pool already
            created (size it once, where the process is configured).
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = DecodePool(threads if threads is not None else default_threads())
        elif threads is not None and threads != _shared.threads:
            raise ValueError(
                f"the shared decode pool already has {_shared.threads} threads, not {threads}"
            )
        return _shared
