"""The pulse_server fixture itself: the sink it promises, and its stale-session cleanup."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.fixtures import pulse
from tests.fixtures.pulse import PulseServer


def test_pulse_server_has_null_sink_and_monitor_default(pulse_server: PulseServer) -> None:
    info = pulse_server.pactl("info")
    assert f"Default Sink: {pulse_server.sink}" in info
    assert f"Default Source: {pulse_server.monitor}" in info
    sinks = pulse_server.pactl("list", "short", "sinks")
    assert "courtroom_test" in sinks and "s16le 4ch 16000Hz" in sinks
    assert os.environ["PULSE_SERVER"] == pulse_server.server


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_pulse_fixture_cleans_only_dead_sessions(pulse_server: PulseServer) -> None:
    pulse._BASE.mkdir(parents=True, exist_ok=True)
    stale = pulse._BASE / "0-stale-test"
    stale.mkdir(exist_ok=True)
    live = pulse._BASE / "0-live-test"
    live.mkdir(exist_ok=True)
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    fake_daemon = subprocess.Popen([*sleeper, "pulseaudio", str(stale)])
    bystander = subprocess.Popen([*sleeper, "pulseaudio", "elsewhere"])
    try:
        (stale / "owner.pid").write_text(str(_dead_pid()))
        (stale / "daemon.pid").write_text(str(fake_daemon.pid))
        (live / "owner.pid").write_text(str(bystander.pid))  # an owner that is alive
        stale_bystander = pulse._BASE / "0-stale-bystander-test"
        stale_bystander.mkdir(exist_ok=True)
        (stale_bystander / "owner.pid").write_text(str(_dead_pid()))
        (stale_bystander / "daemon.pid").write_text(str(bystander.pid))
        pulse._clean_stale_sessions()
        assert fake_daemon.wait(timeout=5) == -9
        with pytest.raises(subprocess.TimeoutExpired):  # not naming its dir: left alone
            bystander.wait(timeout=0.2)
        assert not stale.exists() and not stale_bystander.exists()
        assert live.exists()
        assert "Server Name" in pulse_server.pactl("info"), "this session's daemon was cleaned"
    finally:
        for proc in (fake_daemon, bystander):
            proc.kill()
            proc.wait()
        for d in (live, stale):
            shutil.rmtree(d, ignore_errors=True)
