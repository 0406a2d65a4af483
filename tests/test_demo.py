"""``courtroom demo`` end to end, as a newcomer runs it."""

from __future__ import annotations

import json
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
