"""How the demo's microphones reach the agent when PulseAudio is missing.

With PulseAudio (as ``make setup`` installs it) the demo records a private
PulseAudio mixer through PyAudio: ``tests/test_demo.py`` runs it so. Here the
tools are hidden from ``PATH``: ``--capture pulse`` refuses to start and says
why, ``--capture auto`` falls back to the WAV file and says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.demo import read_banner, start_demo

pytestmark = pytest.mark.slow


def demo(tmp_path: Path, capture: str) -> subprocess.Popen[str]:
    return start_demo(
        "--data-dir",
        str(tmp_path / "demo"),
        "--capture",
        capture,
        env={**os.environ, "PATH": str(tmp_path / "empty-path")},
        stderr=subprocess.PIPE,
    )


def test_demo_capture_pulse_without_pulseaudio_exits_1_naming_what_is_missing(
    tmp_path: Path,
) -> None:
    process = demo(tmp_path, "pulse")
    try:
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, err
    assert "--capture pulse: PulseAudio tools not found: pulseaudio, pactl, paplay" in err
    assert "Demo courtroom running" not in out


def test_demo_capture_auto_without_pulseaudio_plays_the_wav_file(tmp_path: Path) -> None:
    process = demo(tmp_path, "auto")
    try:
        mics = read_banner(process).get("mics")
        assert mics is not None and mics.startswith("WAV demo-microphones.wav"), mics
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()
