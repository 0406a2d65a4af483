"""The engine thread behind bounded queues."""

from __future__ import annotations

import asyncio

import numpy as np

from av.audio import AudioBlock
from tests.fixtures.speech import cer, read_mono
from transcription.assets import SpeechSample
from transcription.engine import TranscriptionEngine
from transcription.model import LoadedModel
from transcription.segments import Final
from transcription.worker import TranscriptionWorker


def blocks(pcm: np.ndarray, size: int, *, start: int = 0, captured_at: float = 0.0):
    for i in range(0, len(pcm), size):
        chunk = pcm[i : i + size]
        yield AudioBlock(start_frame=start + i, pcm=chunk, captured_at=captured_at)


async def test_worker_transcribes_and_reports_lag(
    vosk_model: LoadedModel, speech: list[SpeechSample]
) -> None:
    pcm = np.concatenate([read_mono(speech[0].path), np.zeros(8000, np.int16)])[:, None]
    engine = TranscriptionEngine(vosk_model, input_rate=16000, roles=["审判长"])
    now = [100.0]
    async with TranscriptionWorker(engine, clock=lambda: now[0], lag_warning=1.0) as worker:
        for block in blocks(pcm, 1600, captured_at=97.5):
            await worker.put(block)
        await worker.close()
        results = [r async for r in worker.results()]
    finals = [r for r in results if isinstance(r, Final)]
    assert len(finals) == 1 and cer(speech[0].text, finals[0].text) <= 0.05
    assert worker.stats.blocks == -(-len(pcm) // 1600)
    assert worker.stats.lag == 2.5 and worker.stats.behind


async def test_worker_fills_capture_gap_so_clock_stays_true(
    vosk_model: LoadedModel, speech: list[SpeechSample]
) -> None:
    clip = read_mono(speech[1].path)[:, None]
    engine = TranscriptionEngine(vosk_model, input_rate=16000, roles=["原告"])
    async with TranscriptionWorker(engine) as worker:
        await worker.put(AudioBlock(0, np.zeros((1600, 1), np.int16), 0.0))
        # 3 s of frames were lost by the source between these blocks.
        for block in blocks(clip, 1600, start=1600 + 48000):
            await worker.put(block)
        await worker.close()
        finals = [r async for r in worker.results() if isinstance(r, Final)]
    assert worker.stats.gap_frames == 48000
    assert finals and finals[0].start >= 3.1
    assert engine.hearing_time >= (1600 + 48000 + len(clip)) / 16000


async def test_worker_input_is_bounded_and_waits_instead_of_dropping(
    vosk_model: LoadedModel, speech: list[SpeechSample]
) -> None:
    pcm = np.tile(read_mono(speech[0].path), 2)[:, None]
    engine = TranscriptionEngine(vosk_model, input_rate=16000, roles=["审判长"])
    async with TranscriptionWorker(engine, max_blocks=2, max_results=1) as worker:
        results: list[object] = []

        async def consume() -> None:
            async for r in worker.results():
                results.append(r)
                await asyncio.sleep(0.01)  # a slow consumer

        consumer = asyncio.create_task(consume())
        for block in blocks(pcm, 800):
            await worker.put(block)
            assert worker.queued <= 2
        await worker.close()
        await consumer
    assert worker.stats.blocks == -(-len(pcm) // 800)
    assert sum(isinstance(r, Final) for r in results) >= 1
