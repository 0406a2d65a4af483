"""The hearing clock read from the capture."""

from __future__ import annotations

import numpy as np

from av.audio import AudioBlock, CaptureClock


def test_capture_clock_exact_at_capture_then_runs_on_monotonic() -> None:
    now = [50.0]
    clock = CaptureClock(16000, monotonic=lambda: now[0])
    assert clock.now() == 0.0 and clock.captured == 0.0
    clock.advance(AudioBlock(0, np.zeros((16000, 2), np.int16), captured_at=50.0))
    assert clock.now() == 1.0 and clock.captured == 1.0
    now[0] = 50.25
    assert clock.now() == 1.25 and clock.captured == 1.0
    # A block captured "late" by the clock never runs the hearing time backwards
    # past its own end frame.
    clock.advance(AudioBlock(16000, np.zeros((1600, 2), np.int16), captured_at=50.3))
    assert clock.now() == 1.1 and clock.captured == 1.1
