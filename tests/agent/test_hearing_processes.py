"""Hearing control across processes: ``courtroom agent`` driven by ``courtroom hearing``.

A real agent process (idle at start) against a real hub, driven by the
``courtroom hearing`` command; killed with SIGKILL during a recess, it comes
back in the same hearing, still in recess with its reason, and the recording
holds one lawful interruption from the recess to the resume.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from av.recording import check_recording
from courtroom_agent.demo_audio import build_demo_recording
from hub.server import HubServer
from tests.agent.test_hearing_control import until
from tests.hub.conftest import TIMEOUT
from tests.test_agent_resume import room_config
from tests.test_end_to_end import ROLES, hub, login  # noqa: F401
from transcription.assets import SpeechSample

pytestmark = pytest.mark.slow
COURTROOM = [sys.executable, "-m", "courtroom_agent.cli"]


async def hearing_cli(config: Path, data: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run ``courtroom hearing --json …``; (exit status, answer, stderr)."""
    process = await asyncio.create_subprocess_exec(
        *COURTROOM, "hearing", "--config", str(config), "--data-dir", str(data), "--json", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 6 * TIMEOUT)
    assert process.returncode is not None
    answer = json.loads(out) if out.strip() else {}
    return process.returncode, answer, err.decode()


async def test_agent_killed_in_recess_comes_back_in_recess(
    hub: HubServer,  # noqa: F811
    tmp_path: Path,
    speech: list[SpeechSample],
    camera_video_file: Path,
) -> None:
    wav = build_demo_recording([s.path for s in speech], tmp_path / "room.wav", roles=ROLES)
    config = room_config(tmp_path, hub.port, wav, camera_video_file)
    text = config.read_text(encoding="utf-8").replace(
        "realtime = true", "realtime = true\nloop = true"
    )
    config.write_text(text, encoding="utf-8")
    data = tmp_path / "agent"
    agent = [*COURTROOM, "agent", "--config", str(config), "--data-dir", str(data)]
    await login(hub.url)

    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(agent, stdout=log, stderr=log)  # noqa: ASYNC220
    try:

        async def idle() -> bool:
            status, answer, _ = await hearing_cli(config, data, "status")
            return status == 0 and answer["state"] == {"state": "idle"}

        await until(idle, "the agent never answered idle")
        status, answer, err = await hearing_cli(config, data, "resume")
        assert status == 1 and answer["outcome"] == "refused", err
        case = ["--case", "(2026)京01刑初9号", "--title", "盗窃案", "--party", "公诉人:王五@0"]
        status, answer, err = await hearing_cli(config, data, "open", *case)
        assert status == 0, err
        hearing_id = answer["state"]["hearing_id"]
        manifest_path = data / "recordings" / "r1" / hearing_id / "manifest.json"

        async def video_recorded() -> bool:
            return manifest_path.exists() and bool(
                json.loads(manifest_path.read_text())["video_segments"]
            )

        await until(video_recorded, "no video recorded")
        status, answer, err = await hearing_cli(
            config, data, "recess", "--reason", "closed-evidence"
        )
        assert status == 0 and answer["state"]["reason"] == "closed-evidence", err
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=TIMEOUT)
    finally:
        first.kill()
        first.wait()

    second = subprocess.Popen(agent, stdout=log, stderr=log)  # noqa: ASYNC220
    try:

        async def back_in_recess() -> dict[str, Any] | None:
            status, answer, _ = await hearing_cli(config, data, "status")
            return answer["state"] if status == 0 else None

        state = await until(back_in_recess, "the restarted agent never answered")
        assert state["state"] == "recess" and state["reason"] == "closed-evidence"
        assert state["hearing_id"] == hearing_id
        assert state["case"]["parties"] == [{"role": "公诉人", "name": "王五", "channel": 0}]
        status, answer, err = await hearing_cli(config, data, "resume")
        assert status == 0 and answer["state"]["state"] == "open", err
        status, answer, err = await hearing_cli(config, data, "close")
        assert status == 0 and answer["state"] == {"state": "idle"}, err
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=6 * TIMEOUT) == 0
    finally:
        second.kill()
        second.wait()

    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    (interruption,) = manifest["interruptions"]
    assert interruption["reason"] == "closed-evidence"
    assert interruption["end_frame"] > interruption["start_frame"]
    report = check_recording(manifest_path.parent)
    assert report.sound, report.problems
    assert report.incidents == []
