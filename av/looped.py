"""Replaying a finite source forever (demo rooms, soak tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Self

from av.audio import AudioBlock, AudioFormat, AudioSource, AudioSourceError

__all__ = ["LoopedSource"]


class LoopedSource:
    """Plays sources made by ``factory`` one after another, ``times`` times or forever.

    Frame numbers continue across repetitions, so the hearing clock keeps
    counting. Every repetition must have the same format.
    """

    def __init__(self, factory: Callable[[], AudioSource], *, times: int | None = None) -> None:
        if times is not None and times < 1:
            raise ValueError("times must be >= 1")
        self._factory = factory
        self._times = times
        self._format: AudioFormat | None = None

    @property
    def format(self) -> AudioFormat:
        if self._format is None:
            raise AudioSourceError("source is not open")
        return self._format

    async def __aenter__(self) -> Self:
        async with self._factory() as first:
            self._format = first.format
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def blocks(self) -> AsyncIterator[AudioBlock]:
        offset = 0
        played = 0
        while self._times is None or played < self._times:
            async with self._factory() as source:
                if source.format != self.format:
                    raise AudioSourceError(f"repetition has format {source.format}")
                end = offset
                async for block in source.blocks():
                    end = offset + block.end_frame
                    yield replace(block, start_frame=offset + block.start_frame)
            if end == offset:
                raise AudioSourceError("source yielded no audio; refusing to loop forever")
            offset = end
            played += 1
