"""A failing, hung or overloaded engine costs transcript, never the caller's loop.

Issue 12 §4: the recording is fed from the same loop as the worker, so
``put_nowait`` must never wait or raise, and an engine failure must be
reported at once and recovered from.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from av.audio import AudioBlock
from courtroom_agent.demo_audio import build_talking_recording
from tests.fixtures.speech import cer, read_mono
from tests.hub.conftest import TIMEOUT
from transcription.assets import SpeechSample
from transcription.decode_pool import DecodePool
from transcription.engine import Result, TranscriptionEngine
from transcription.model import LoadedModel
from transcription.recognizer import StreamRecognizer
from transcription.segments import Final
from transcription.worker import TranscriptionStalled, TranscriptionWorker

RATE = 16000
# Long enough for a real engine call on a loaded 2-core machine (a recognizer's
# creation is the slowest), short enough to keep the tests quick; the default is 5 s.
STALL = TIMEOUT / 5


class InjectedFault(RuntimeError):
    pass


class FaultyEngine:
    """A real engine that raises on chosen ``process`` calls (1-based) or on flush."""

    def __init__(
        self,
        engine: TranscriptionEngine,
        *,
        fail_on: Callable[[int], bool] = lambda n: False,
        fail_flush: bool = False,
    ) -> None:
        self.inner = engine
        self.calls = 0
        self._fail_on = fail_on
        self._fail_flush = fail_flush

    @property
    def input_rate(self) -> int:
        return self.inner.input_rate

    @property
    def hearing_offset(self) -> float:
        return self.inner.hearing_offset

    def process(self, pcm: npt.NDArray[np.int16]) -> list[Result]:
        self.calls += 1
        if self._fail_on(self.calls):
            raise InjectedFault(f"injected fault on block {self.calls}")
        return self.inner.process(pcm)

    def flush(self) -> list[Result]:
        if self._fail_flush:
            raise InjectedFault("injected fault on flush")
        return self.inner.flush()


class BlockingEngine(FaultyEngine):
    """A real engine whose ``process`` (or ``flush``) hangs until released."""

    def __init__(self, engine: TranscriptionEngine, *, in_flush: bool = False) -> None:
        super().__init__(engine)
        self.entered = threading.Event()
        self.release = threading.Event()
        self._in_flush = in_flush

    def process(self, pcm: npt.NDArray[np.int16]) -> list[Result]:
        if not self._in_flush:
            self._hang()
        return super().process(pcm)

    def flush(self) -> list[Result]:
        if self._in_flush:
            self._hang()
        return super().flush()

    def _hang(self) -> None:
        self.entered.set()
        self.release.wait()


class Calls:
    """Callback recorder: what the worker reported, and an event per report."""

    def __init__(self) -> None:
        self.failures: list[tuple[BaseException, int]] = []
        self.recovered = 0
        self.failed = asyncio.Event()
        self.back = asyncio.Event()

    def on_failure(self, error: BaseException, restarts: int) -> None:
        self.failures.append((error, restarts))
        self.failed.set()

    def on_recovered(self) -> None:
        self.recovered += 1
        self.back.set()


def blocks(pcm: npt.NDArray[np.int16], size: int, *, start: int = 0) -> Iterator[AudioBlock]:
    for i in range(0, len(pcm), size):
        yield AudioBlock(start_frame=start + i, pcm=pcm[i : i + size], captured_at=time.monotonic())


def real_engine(model: LoadedModel, at: float = 0.0) -> TranscriptionEngine:
    return TranscriptionEngine(model, input_rate=RATE, roles=["审判长"], hearing_offset=at)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not condition():  # noqa: ASYNC110 - the engine thread sets the stats polled
            await asyncio.sleep(0.005)


async def test_worker_failure_is_reported_at_once_and_recognition_restarts(
    vosk_model: LoadedModel, speech: list[SpeechSample]
) -> None:
    calls = Calls()
    offsets: list[float] = []

    def factory(at: float) -> TranscriptionEngine:
        offsets.append(at)
        return real_engine(vosk_model, at)

    first = read_mono(speech[0].path)[:, None]
    engine = FaultyEngine(real_engine(vosk_model), fail_on=lambda n: n == 3)
    async with TranscriptionWorker(
        engine,
        engine_factory=factory,
        on_failure=calls.on_failure,
        on_recovered=calls.on_recovered,
    ) as worker:
        head = list(blocks(first[: 3 * 1600], 1600))
        assert all(worker.put_nowait(b) for b in head[:2])
        await until(lambda: worker.stats.blocks == 2)
        started = time.monotonic()
        assert worker.put_nowait(head[2])
        await asyncio.wait_for(calls.failed.wait(), TIMEOUT)
        latency = time.monotonic() - started
        print(f"failure reported {latency * 1000:.1f} ms after the failing block was queued")
        assert latency < 2.0
        assert worker.stats.failing and worker.stats.restarts == 1
        # Real speech after the failure: half a second of room, then the second clip.
        clip = np.concatenate([np.zeros(8000, np.int16), read_mono(speech[1].path)])
        after = np.concatenate([clip, np.zeros(8000, np.int16)])[:, None]
        clip_at = 3 * 1600 + 8000
        for block in blocks(after, 1600, start=3 * 1600):
            assert worker.put_nowait(block)
        await asyncio.wait_for(calls.back.wait(), TIMEOUT)
        await worker.close()
        finals = [r async for r in worker.results() if isinstance(r, Final)]
    assert [(type(e), n) for e, n in calls.failures] == [(InjectedFault, 1)]
    assert calls.recovered == 1
    assert offsets == [3 * 1600 / RATE]  # the new engine starts just after the lost block
    stats = worker.stats
    assert stats.restarts == 1 and not stats.failing and not stats.gave_up
    assert stats.lost_frames == 1600 and stats.dropped_frames == 0
    assert stats.error is not None and "injected fault on block 3" in stats.error
    assert len(finals) == 1
    assert cer(speech[1].text, finals[0].text) <= 0.1, finals[0].text
    assert finals[0].start >= clip_at / RATE  # the hearing clock stayed true across the restart


async def test_worker_put_nowait_never_blocks_behind_a_hung_engine(
    vosk_model: LoadedModel,
) -> None:
    engine = BlockingEngine(real_engine(vosk_model))
    silence = np.zeros((160 * 5002, 1), np.int16)
    feed = list(blocks(silence, 160))
    # A stall would be reported after 60 s; this test is about the caller only.
    async with TranscriptionWorker(engine, max_blocks=4, stall_timeout=60.0) as worker:
        try:
            assert worker.put_nowait(feed[0])
            assert await asyncio.to_thread(engine.entered.wait, TIMEOUT)
            started = time.monotonic()
            accepted = [worker.put_nowait(b) for b in feed[1:5001]]
            elapsed = time.monotonic() - started
            print(f"5000 put_nowait behind a hung engine: {elapsed * 1000:.1f} ms")
            assert elapsed < 0.5
            assert accepted == [True] * 4 + [False] * 4996
            stats = worker.stats
            assert stats.dropped_frames == 4996 * 160
            assert stats.dropping and stats.behind and worker.queued == 4
        finally:
            engine.release.set()
        await until(lambda: worker.queued == 0)
        assert worker.put_nowait(feed[5001])  # the drop episode ends
        assert not worker.stats.dropping
        await worker.close()
        assert [r async for r in worker.results()] == []
    # The dropped hole was heard as silence: the hearing clock is still true.
    assert worker.stats.gap_frames == 4996 * 160
    assert engine.inner.hearing_time >= (len(silence) - 160) / RATE


async def test_worker_gives_up_after_the_restart_budget_and_still_never_blocks(
    vosk_model: LoadedModel,
) -> None:
    calls = Calls()

    def factory(at: float) -> FaultyEngine:
        return FaultyEngine(real_engine(vosk_model, at), fail_on=lambda n: True)

    feed = list(blocks(np.zeros((1600 * 1005, 1), np.int16), 1600))
    async with TranscriptionWorker(
        factory(0.0),
        engine_factory=factory,
        on_failure=calls.on_failure,
        on_recovered=calls.on_recovered,
        max_restarts=2,
    ) as worker:
        for block in feed[:5]:
            worker.put_nowait(block)
        await until(lambda: worker.stats.gave_up)
        await until(lambda: len(calls.failures) == 3)
        started = time.monotonic()
        accepted = [worker.put_nowait(b) for b in feed[5:]]
        elapsed = time.monotonic() - started
        assert not any(accepted) and elapsed < 0.5
        await worker.close()
        assert [r async for r in worker.results()] == []
        assert not worker.put_nowait(feed[0])  # after close: refused, not raised
    assert [n for _, n in calls.failures] == [1, 2, 2]
    stats = worker.stats
    assert stats.failing and stats.gave_up and stats.restarts == 2
    assert stats.lost_frames == 3 * 1600
    assert stats.dropped_frames == (len(feed) - 3 + 1) * 1600
    assert calls.recovered == 0 and worker.engine is None


async def test_worker_restart_budget_is_per_window(vosk_model: LoadedModel) -> None:
    calls = Calls()
    now = [0.0]

    def factory(at: float) -> FaultyEngine:
        return FaultyEngine(real_engine(vosk_model, at), fail_on=lambda n: True)

    async with TranscriptionWorker(
        factory(0.0),
        engine_factory=factory,
        on_failure=calls.on_failure,
        max_restarts=1,
        restart_window=60.0,
        clock=lambda: now[0],
    ) as worker:
        for i, block in enumerate(blocks(np.zeros((1600 * 3, 1), np.int16), 1600)):
            now[0] = 61.0 * i  # one failure a minute stays within one restart a minute
            assert worker.put_nowait(block)
            await until(lambda i=i: len(calls.failures) == i + 1)
        await worker.close()
        assert [r async for r in worker.results()] == []
    assert [n for _, n in calls.failures] == [1, 2, 3]
    assert not worker.stats.gave_up and worker.stats.restarts == 3


async def test_worker_without_factory_gives_up_at_the_first_failure(
    vosk_model: LoadedModel,
) -> None:
    calls = Calls()
    engine = FaultyEngine(real_engine(vosk_model), fail_on=lambda n: n == 1)
    async with TranscriptionWorker(engine, on_failure=calls.on_failure) as worker:
        assert worker.put_nowait(AudioBlock(0, np.zeros((1600, 1), np.int16), 0.0))
        await asyncio.wait_for(calls.failed.wait(), TIMEOUT)
        assert not worker.put_nowait(AudioBlock(1600, np.zeros((1600, 1), np.int16), 0.0))
        await worker.close()
        assert [r async for r in worker.results()] == []
    assert [n for _, n in calls.failures] == [0]
    assert worker.stats.gave_up and worker.stats.failing


async def test_worker_results_end_cleanly_when_the_flush_fails(
    vosk_model: LoadedModel, speech: list[SpeechSample]
) -> None:
    calls = Calls()
    # Speech with no trailing silence: the utterance is still open at close.
    pcm = read_mono(speech[0].path)[:, None]
    engine = FaultyEngine(real_engine(vosk_model), fail_flush=True)
    async with TranscriptionWorker(engine, on_failure=calls.on_failure) as worker:
        for block in blocks(pcm, 1600):
            assert worker.put_nowait(block)
        await worker.close()
        results = [r async for r in worker.results()]
    assert not any(isinstance(r, Final) for r in results)  # the flushed final was lost
    assert [(type(e), n) for e, n in calls.failures] == [(InjectedFault, 0)]
    assert worker.stats.failing and worker.stats.error == "InjectedFault: injected fault on flush"


async def test_worker_stalled_engine_is_reported_and_replaced(
    vosk_model: LoadedModel, speech: list[SpeechSample], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="transcription.worker")
    calls = Calls()
    stalled = BlockingEngine(real_engine(vosk_model))
    clip = np.concatenate([np.zeros(8000, np.int16), read_mono(speech[1].path)])
    after = np.concatenate([clip, np.zeros(8000, np.int16)])[:, None]
    try:
        async with TranscriptionWorker(
            stalled,
            engine_factory=lambda at: real_engine(vosk_model, at),
            on_failure=calls.on_failure,
            on_recovered=calls.on_recovered,
            stall_timeout=STALL,
        ) as worker:
            assert worker.put_nowait(AudioBlock(0, np.zeros((1600, 1), np.int16), 0.0))
            assert await asyncio.to_thread(stalled.entered.wait, TIMEOUT)
            started = time.monotonic()
            await asyncio.wait_for(calls.failed.wait(), TIMEOUT)
            latency = time.monotonic() - started
            print(
                f"stall reported {latency * 1000:.0f} ms after the engine hung (timeout {STALL} s)"
            )
            assert latency < STALL + 1.0  # one watchdog period (<= 0.5 s) and some slack
            for block in blocks(after, 1600, start=1600):
                assert worker.put_nowait(block)
            await asyncio.wait_for(calls.back.wait(), TIMEOUT)
            await worker.close()
            finals = [r async for r in worker.results() if isinstance(r, Final)]
    finally:
        stalled.release.set()
    assert [(type(e), n) for e, n in calls.failures] == [(TranscriptionStalled, 1)]
    assert worker.stats.lost_frames == 1600 and not worker.stats.failing
    assert len(finals) == 1 and cer(speech[1].text, finals[0].text) <= 0.1, finals
    assert finals[0].start >= (1600 + 8000) / RATE
    # Released at last, the stalled thread exits without a word into the ended stream.
    await until(lambda: any("stalled transcription thread" in r.message for r in caplog.records))


async def test_worker_stalled_flush_still_ends_the_stream(
    vosk_model: LoadedModel, speech: list[SpeechSample]
) -> None:
    calls = Calls()
    engine = BlockingEngine(real_engine(vosk_model), in_flush=True)
    try:
        async with TranscriptionWorker(
            engine, on_failure=calls.on_failure, stall_timeout=STALL
        ) as worker:
            for block in blocks(read_mono(speech[0].path)[:, None], 1600):
                assert worker.put_nowait(block)
            await worker.close()
            async with asyncio.timeout(TIMEOUT):
                results = [r async for r in worker.results()]
    finally:
        engine.release.set()
    assert not any(isinstance(r, Final) for r in results)
    assert [(type(e), n) for e, n in calls.failures] == [(TranscriptionStalled, 0)]
    assert worker.stats.failing


async def test_worker_gives_up_at_the_third_stalled_thread(
    vosk_model: LoadedModel,
) -> None:
    calls = Calls()
    engines: list[BlockingEngine] = []

    def factory(at: float) -> BlockingEngine:
        engines.append(BlockingEngine(real_engine(vosk_model, at)))
        return engines[-1]

    feed = list(blocks(np.zeros((1600 * 4, 1), np.int16), 1600))
    try:
        async with TranscriptionWorker(
            factory(0.0),
            engine_factory=factory,
            on_failure=calls.on_failure,
            stall_timeout=0.2,
            max_restarts=10,
        ) as worker:
            for i, block in enumerate(feed[:3]):
                calls.failed.clear()
                assert worker.put_nowait(block)
                await asyncio.wait_for(calls.failed.wait(), TIMEOUT)
                assert len(calls.failures) == i + 1
            assert worker.stats.gave_up and not worker.put_nowait(feed[3])
            await worker.close()
            assert [r async for r in worker.results()] == []
    finally:
        for engine in engines:
            engine.release.set()
    assert [n for _, n in calls.failures] == [1, 2, 2]  # max_restarts=10 is not the bound
    assert len(engines) == 3
    assert all(isinstance(e, TranscriptionStalled) for e, _ in calls.failures)


def talking_pcm(speech: list[SpeechSample], tmp_path: Path) -> npt.NDArray[np.int16]:
    """Two seats talking at once (real speech), so blocks have two decode jobs."""
    path, _ = build_talking_recording(
        [s.path for s in speech], tmp_path / "talking.wav", seats=2, turns_per_seat=2
    )
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, 2)


def two_seat_engine(model: LoadedModel, pool: DecodePool, at: float = 0.0) -> TranscriptionEngine:
    return TranscriptionEngine(
        model, input_rate=RATE, roles=["审判长", "原告"], hearing_offset=at, decode_pool=pool
    )


async def test_worker_failure_inside_a_parallel_channel_job_restarts_the_engine(
    vosk_model: LoadedModel,
    speech: list[SpeechSample],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = Calls()
    raised: list[tuple[str, float]] = []  # thread, hearing time
    accept = StreamRecognizer.accept

    def faulty(self: StreamRecognizer, pcm: bytes) -> object:
        # The first call a helper thread (not the engine's) runs fails.
        if not raised and threading.current_thread().name.startswith("decode-"):
            raised.append((threading.current_thread().name, self.hearing_time))
            raise InjectedFault("injected fault in a decode job")
        return accept(self, pcm)

    monkeypatch.setattr(StreamRecognizer, "accept", faulty)
    pool = DecodePool(2)
    pcm = talking_pcm(speech, tmp_path)
    async with TranscriptionWorker(
        two_seat_engine(vosk_model, pool),
        engine_factory=lambda at: two_seat_engine(vosk_model, pool, at),
        on_failure=calls.on_failure,
        on_recovered=calls.on_recovered,
    ) as worker:
        for block in blocks(pcm, 1600):
            assert worker.put_nowait(block)
        await asyncio.wait_for(calls.back.wait(), TIMEOUT)
        await worker.close()
        finals = [r async for r in worker.results() if isinstance(r, Final)]
    pool.close()
    assert [thread for thread, _ in raised] == ["decode-1"]
    assert [(type(e), n) for e, n in calls.failures] == [(InjectedFault, 1)]
    assert calls.recovered == 1 and worker.stats.restarts == 1
    assert worker.stats.lost_frames == 1600 and not worker.stats.failing
    assert worker.stats.error == "InjectedFault: injected fault in a decode job"
    # The fresh engine went on transcribing both seats after the failure.
    after = [f for f in finals if f.start > raised[0][1]]
    assert {f.channel for f in after} == {0, 1}


async def test_worker_hung_decode_job_is_a_stall_and_the_next_engine_goes_on(
    vosk_model: LoadedModel,
    speech: list[SpeechSample],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = Calls()
    entered = threading.Event()
    release = threading.Event()
    accept = StreamRecognizer.accept

    def hanging(self: StreamRecognizer, pcm: bytes) -> object:
        # The first call a helper thread runs hangs: the pool's only helper is stuck.
        if not entered.is_set() and threading.current_thread().name.startswith("decode-"):
            entered.set()
            release.wait()
        return accept(self, pcm)

    monkeypatch.setattr(StreamRecognizer, "accept", hanging)
    pool = DecodePool(2)
    pcm = talking_pcm(speech, tmp_path)
    try:
        async with TranscriptionWorker(
            two_seat_engine(vosk_model, pool),
            engine_factory=lambda at: two_seat_engine(vosk_model, pool, at),
            on_failure=calls.on_failure,
            on_recovered=calls.on_recovered,
            stall_timeout=STALL,
        ) as worker:
            for block in blocks(pcm, 1600):
                assert worker.put_nowait(block)
            assert await asyncio.to_thread(entered.wait, TIMEOUT)
            await asyncio.wait_for(calls.failed.wait(), TIMEOUT)
            # With its helper stuck, the replacement engine decodes both seats itself.
            await asyncio.wait_for(calls.back.wait(), TIMEOUT)
            await worker.close()
            async with asyncio.timeout(4 * TIMEOUT):
                finals = [r async for r in worker.results() if isinstance(r, Final)]
    finally:
        release.set()
    pool.close()
    assert [(type(e), n) for e, n in calls.failures] == [(TranscriptionStalled, 1)]
    assert not worker.stats.failing and worker.stats.lost_frames == 1600
    assert {f.channel for f in finals} == {0, 1}
