"""An agent killed mid-hearing continues the same hearing when restarted.

The agent runs as a real process (``courtroom agent``) with realtime audio
and a camera, against a real hub; it is killed with SIGKILL while recording
and started again with the same configuration. The hearing must carry on
under the same id: one recording directory with the interruption declared as
a gap, one hearing at the hub, transcript times continuing on the hearing
clock, and the open-hearing record gone once the hearing is closed.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from av.recording import check_recording
from courtroom_agent.demo_audio import build_demo_recording
from courtroom_agent.open_hearing import OPEN_HEARING_NAME
from hub.server import HubServer
from tests.test_end_to_end import ROLES, TOKEN, hub, login, transcript  # noqa: F401
from transcription.assets import SpeechSample

pytestmark = pytest.mark.slow
AGENT = [sys.executable, "-m", "courtroom_agent.cli", "agent", "--open"]


def room_config(tmp_path: Path, port: int, wav: Path, video: Path) -> Path:
    config = tmp_path / "room.toml"
    config.write_text(
        f"""
[courtroom]
id = "r1"
name = "第一法庭"
[hub]
url = "ws://127.0.0.1:{port}/ws/agent"
token = "{TOKEN}"
[audio]
source = "wav"
file = "{wav}"
realtime = true
roles = {json.dumps(ROLES, ensure_ascii=False)}
[[cameras]]
id = "CAM-1"
source = "{video}"
fps = 10
loop = true
""",
        encoding="utf-8",
    )
    return config


async def hearings(base: str, bearer: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base) as client:
        reply = await client.get(
            "/api/hearings",
            params={"courtroom": "r1"},
            headers={"Authorization": f"Bearer {bearer}"},
        )
        reply.raise_for_status()
        rows: list[dict[str, Any]] = reply.json()
        return rows


async def test_agent_killed_mid_hearing_continues_same_hearing(
    hub: HubServer,  # noqa: F811
    tmp_path: Path,
    speech: list[SpeechSample],
    camera_video_file: Path,
) -> None:
    wav = build_demo_recording(
        [s.path for s in speech], tmp_path / "room.wav", roles=ROLES, turns=2
    )
    config = room_config(tmp_path, hub.port, wav, camera_video_file)
    data = tmp_path / "agent"
    command = [*AGENT, "--config", str(config), "--data-dir", str(data)]
    recordings = data / "recordings" / "r1"
    state = data / "agent" / "r1" / OPEN_HEARING_NAME
    bearer = await login(hub.url)

    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(command, stdout=log, stderr=log)  # noqa: ASYNC220
    try:
        # Kill it once a final has reached the hub and video is being recorded.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = await hearings(hub.url, bearer)
            if rows and await transcript(hub.url, bearer, rows[0]["id"]):
                manifest = recordings / rows[0]["id"] / "manifest.json"
                if manifest.exists() and json.loads(manifest.read_text())["video_segments"]:
                    break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the first run never got a final to the hub")
        hearing_id = rows[0]["id"]
        assert json.loads(state.read_text(encoding="utf-8"))["hearing_id"] == hearing_id
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    killed_at = time.monotonic()
    before = await transcript(hub.url, bearer, hearing_id)
    await asyncio.sleep(1.0)  # the courtroom is without its agent for a moment

    # The hub runs in this event loop: wait for the second run without blocking it.
    second = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(120):
        _, raw = await second.communicate()
    stderr = raw.decode()
    assert second.returncode == 0, stderr[-2000:]
    assert "continuing hearing " + hearing_id in stderr
    down = time.monotonic() - killed_at

    # One hearing, one directory.
    assert [d.name for d in recordings.iterdir()] == [hearing_id]
    rows = await hearings(hub.url, bearer)
    assert [r["id"] for r in rows] == [hearing_id]
    assert rows[0]["closed_at"], stderr[-3000:]
    assert not state.exists()

    # The recording continues after a declared gap about as long as the outage.
    directory = recordings / hearing_id
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["sessions"]) == 2 and manifest["closed"]
    gaps = [g for g in manifest["gaps"] if g["reason"] == "recorder_interrupted"]
    assert len(gaps) == 1
    gap_seconds = (gaps[0]["end_frame"] - gaps[0]["start_frame"]) / manifest["sample_rate"]
    assert 1.0 <= gap_seconds <= down + 2.0, (gap_seconds, down)
    resumed_at = manifest["sessions"][1]["first_frame"] / manifest["sample_rate"]
    assert any(s["status"] == "interrupted" for s in manifest["segments"])
    video_after = [v for v in manifest["video_segments"] if v["start"] >= resumed_at - 0.1]
    assert video_after and all(v["status"] == "closed" for v in video_after)
    report = check_recording(directory)
    assert report.sound, report.problems

    # The transcript continues on the same hearing clock, nothing twice.
    after = await transcript(hub.url, bearer, hearing_id)
    assert after[: len(before)] == before
    later = after[len(before) :]
    assert later and all(s["start"] >= resumed_at - 0.01 for s in later)
    assert len({s["seq"] for s in after}) == len(after)

    # The patrol wall learns that the courtroom records again.
    async with httpx.AsyncClient(base_url=hub.url) as client:
        reply = await client.get(
            "/api/courtrooms/r1/events",
            params={"kind": "av.alarm"},
            headers={"Authorization": f"Bearer {bearer}"},
        )
    resumed = [e["body"] for e in reply.json() if e["body"]["kind"] == "hearing_interrupted"]
    assert [(a["active"], a["hearing_id"]) for a in resumed] == [(False, hearing_id)]
    assert "恢复" in resumed[0]["message"] and resumed[0]["time"] >= resumed_at - 0.01
