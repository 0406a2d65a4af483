"""Several capture devices merged into one multi-channel stream.

A courtroom may wire its microphones into more than one interface (two USB
mixers of 8 channels each). :class:`MultiSource` opens them all and yields one
stream whose channels are the devices' channels side by side, in order: one
task per device moves its blocks into the sans-I/O :class:`FrameMerger`.

How frames are numbered, how gaps and clock drift are handled and when a
device counts as stopped: see :mod:`av.frame_merger`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Self

from av.audio import AudioBlock, AudioFormat, AudioSource, AudioSourceError
from av.frame_merger import DeviceSync, FrameMerger, MergeStats

__all__ = ["DeviceSync", "FrameMerger", "MergeStats", "MultiSource"]


class MultiSource:
    """An :class:`~av.audio.AudioSource` merging several sources' channels (module docstring).

    Opening opens the sources one after another, the master last, and
    closing closes them all. Not concurrently: PortAudio must not be
    initialised from two threads at once (glibc aborts on a corrupted heap).
    The master last: the devices opened before it start earlier, and their
    leading frames are dropped by the start alignment, so the merged stream
    begins at or near master frame 0. The format is the first source's rate
    and the sum of the channels.

    Args:
        sources: the devices, master first; at least one.
        names: a name per source for stats and errors (default ``source 0``...).
        max_skew_ms, start_ms, skew_threshold_ms, smoothing_s, max_slew_ppm:
            see :class:`FrameMerger`.

    Raises:
        ValueError: no sources, or names of another length.
    """

    def __init__(
        self,
        sources: Sequence[AudioSource],
        *,
        names: Sequence[str] | None = None,
        max_skew_ms: float = 2000.0,
        start_ms: float = 10_000.0,
        skew_threshold_ms: float = 2.0,
        smoothing_s: float = 4.0,
        max_slew_ppm: float = 1000.0,
    ) -> None:
        if not sources:
            raise ValueError("MultiSource needs at least one source")
        names = list(names) if names is not None else [f"source {i}" for i in range(len(sources))]
        if len(names) != len(sources):
            raise ValueError("give one name per source")
        self._sources = list(sources)
        self._names = names
        self._options = {
            "max_skew_ms": max_skew_ms,
            "start_ms": start_ms,
            "skew_threshold_ms": skew_threshold_ms,
            "smoothing_s": smoothing_s,
            "max_slew_ppm": max_slew_ppm,
        }
        self._merger: FrameMerger | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    @property
    def sources(self) -> tuple[AudioSource, ...]:
        """The merged sources, master first (e.g. for their own capture stats)."""
        return tuple(self._sources)

    @property
    def format(self) -> AudioFormat:
        """Raises AudioSourceError before the source is opened."""
        return self._open_merger().format

    @property
    def stats(self) -> MergeStats:
        """The merge so far; raises AudioSourceError before the source is opened."""
        return self._open_merger().stats

    def _open_merger(self) -> FrameMerger:
        if self._merger is None:
            raise AudioSourceError("MultiSource is not open")
        return self._merger

    async def __aenter__(self) -> Self:
        """Open every source, the master last.

        Raises:
            AudioSourceError: a source cannot be opened (the others are closed
                again), or the sources' rates differ.
        """
        if self._stack is not None:
            raise AudioSourceError("MultiSource can be opened only once")
        self._stack = stack = contextlib.AsyncExitStack()
        try:
            for source in reversed(self._sources):
                await stack.enter_async_context(source)
            self._merger = FrameMerger(
                [s.format for s in self._sources], self._names, **self._options
            )
        except BaseException:
            await stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stack is not None:
            await self._stack.aclose()

    async def blocks(self) -> AsyncIterator[AudioBlock]:
        """Yield merged blocks until a source ends or the source is closed.

        Raises:
            AudioSourceError: the source is not open, a device stopped
                delivering (see the module docstring), or a source failed (its
                own error, naming the device).
        """
        merger = self._open_merger()
        changed = asyncio.Event()
        failure: list[BaseException] = []

        async def feed(index: int, source: AudioSource) -> None:
            try:
                async for block in source.blocks():
                    while not merger.accepts(index):
                        changed.clear()
                        await changed.wait()
                    merger.push(index, block)
                    changed.set()
            except Exception as e:  # the task boundary: blocks() raises it
                failure.append(e)
            finally:
                merger.end(index)
                changed.set()

        tasks = [
            asyncio.create_task(feed(i, s), name=f"multi-source feed {self._names[i]}")
            for i, s in enumerate(self._sources)
        ]
        try:
            while True:
                block = merger.pop()
                if block is not None:
                    changed.set()  # room for a waiting feed
                    yield block
                    continue
                if failure:
                    raise failure[0]
                if merger.finished:
                    return
                changed.clear()  # no await since pop(): nothing can have changed
                await changed.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
