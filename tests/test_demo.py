"""``courtroom demo`` end to end, as a newcomer runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets.sync.client

from tests.fixtures.speech import cer
from transcription.assets import SpeechSample

pytestmark = pytest.mark.slow


def test_demo_serves_live_transcript_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path, speech: list[SpeechSample]
) -> None:
    data_dir = tmp_path / "demo"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "courtroom_agent.cli",
            "demo",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--admin-password",
            "demo-pass-1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            if match:
                url = match.group(1)
            if "Ctrl-C" in line:
                break
        assert url is not None, "demo printed no URL"
        token = httpx.post(
            f"{url}/api/login", json={"username": "admin", "password": "demo-pass-1"}
        ).json()["token"]
        courtrooms = httpx.get(
            f"{url}/api/courtrooms", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert [c["id"] for c in courtrooms] == ["demo-1"]
        ws_url = url.replace("http", "ws", 1) + f"/ws/live?token={token}"
        with websockets.sync.client.connect(ws_url) as browser:
            browser.send(json.dumps({"type": "subscribe", "courtroom": "demo-1"}))
            deadline = time.monotonic() + 60
            final = None
            while final is None and time.monotonic() < deadline:
                message = json.loads(browser.recv(timeout=30))
                if message["type"] == "final":
                    final = message["segment"]
        assert final is not None
        events = httpx.get(
            f"{url}/api/courtrooms/demo-1/events",
            params={"kind": "device"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        online = {e["body"]["device"] for e in events if "online" in e["body"]["meaning"]}
        assert online >= {"judge-camera", "matrix", "display", "recorder", "lights"}
        assert final["role"] == "审判长"
        assert cer(speech[0].text, final["text"]) <= 0.05
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()
    assert (data_dir / "hub" / "hub.db").is_file()
    assert (data_dir / "agent" / "demo-1" / "spool.sqlite").is_file()
    room = (data_dir / "room.toml").read_text(encoding="utf-8")
    assert room.count("[[devices]]") == 5
    # The demo records its courtroom like a real one: audio per seat and the camera.
    from av.recording import check_recording

    hearings = list((data_dir / "recordings" / "demo-1").iterdir())
    assert len(hearings) == 1
    report = check_recording(hearings[0])
    assert report.sound, report.problems
    videos = list(hearings[0].glob("CAM-1-*.mp4"))
    assert videos and report.video_segments == len(videos)


def test_demo_generates_a_password_uses_the_user_data_dir_and_stops_after_duration(
    tmp_path: Path,
) -> None:
    xdg = tmp_path / "xdg"
    duration = 15.0
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "courtroom_agent.cli",
            "demo",
            "--port",
            "0",
            "--duration",
            str(duration),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "XDG_DATA_HOME": str(xdg)},
    )
    try:
        assert process.stdout is not None
        printed: dict[str, str] = {}
        for line in process.stdout:
            for key, pattern in (
                ("url", r"(http://127\.0\.0\.1:\d+)/"),
                ("password", r"Password:\s+(\S+)"),
                ("data", r"Data dir:\s+(\S+)"),
            ):
                if match := re.search(pattern, line):
                    printed[key] = match.group(1)
            if "Ctrl-C" in line:
                break
        assert printed.keys() == {"url", "password", "data"}, printed
        assert len(printed["password"]) >= 12
        assert Path(printed["data"]) == xdg / "courtroom" / "demo"
        reply = httpx.post(
            f"{printed['url']}/api/login",
            json={"username": "admin", "password": printed["password"]},
        )
        assert reply.status_code == 200 and reply.json()["token"]
        wrong = httpx.post(
            f"{printed['url']}/api/login", json={"username": "admin", "password": "admin"}
        )
        assert wrong.status_code == 401
        # Nobody presses Ctrl-C: the demo ends by itself, closing its hearing.
        assert process.wait(timeout=duration + 30) == 0
        rest = process.stdout.read()
    finally:
        process.kill()
        process.wait()
    assert time.monotonic() - started >= duration
    assert "hearing closed" in rest
    data_dir = xdg / "courtroom" / "demo"
    assert (data_dir / "hub" / "hub.db").is_file()
    from av.recording import check_recording

    (hearing,) = (data_dir / "recordings" / "demo-1").iterdir()
    report = check_recording(hearing)
    assert report.sound, report.problems
