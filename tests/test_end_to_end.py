"""Agent → hub → browser websocket, with real Vosk, real speech and a real hub."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from av.recording import check_recording
from courtroom_agent.config import AgentConfig
from courtroom_agent.demo_audio import build_demo_recording
from courtroom_agent.runner import run_agent
from hub.config import load_config
from hub.server import HubServer
from tests.fixtures.speech import cer
from transcription.assets import SpeechSample

TOKEN = "e2e-courtroom-token"
PASSWORD = "e2e-admin-pass"
ROLES = ["审判长", "原告", "被告"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def agent_config(port: int, recording: Path, *, realtime: bool = False) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "courtroom": {"id": "r1", "name": "第一法庭"},
            "hub": {"url": f"ws://127.0.0.1:{port}/ws/agent", "token": TOKEN},
            "audio": {
                "source": "wav",
                "file": str(recording),
                "realtime": realtime,
                "roles": ROLES,
            },
        }
    )


def expected_texts(speech: list[SpeechSample], turns: int) -> list[tuple[str, str]]:
    return [(ROLES[k % len(ROLES)], speech[k % len(speech)].text) for k in range(turns)]


async def login(base: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        reply = await client.post("/api/login", json={"username": "admin", "password": PASSWORD})
        reply.raise_for_status()
        return str(reply.json()["token"])


async def transcript(base: str, bearer: str, hearing_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base) as client:
        reply = await client.get(
            f"/api/hearings/{hearing_id}/transcript",
            headers={"Authorization": f"Bearer {bearer}"},
        )
        reply.raise_for_status()
        segments: list[dict[str, Any]] = reply.json()
        return segments


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[HubServer]:
    config = load_config(
        None,
        data_dir=str(tmp_path / "hub"),
        listen={"host": "127.0.0.1", "port": 0},
        courtrooms=[{"id": "r1", "name": "第一法庭", "token": TOKEN}],
    )
    (tmp_path / "hub").mkdir()
    async with HubServer(config, admin_password=PASSWORD) as server:
        ready = asyncio.Event()
        task = asyncio.create_task(server.run(ready=ready))
        await asyncio.wait_for(ready.wait(), 30)
        yield server
        server.stop()
        await task


async def test_agent_to_browser_live_partials_and_finals(
    hub: HubServer, tmp_path: Path, speech: list[SpeechSample]
) -> None:
    recording = build_demo_recording(
        [s.path for s in speech], tmp_path / "room.wav", roles=ROLES, turns=3
    )
    bearer = await login(hub.url)
    ws_url = hub.url.replace("http://", "ws://") + f"/ws/live?token={bearer}"
    received: list[dict[str, Any]] = []
    async with websockets.connect(ws_url) as browser:
        await browser.send(json.dumps({"type": "subscribe", "courtroom": "r1"}))
        snapshot = json.loads(await browser.recv())
        assert snapshot["type"] == "snapshot"

        async def listen() -> None:
            async for frame in browser:
                message = json.loads(frame)
                received.append(message)
                if message["type"] == "hearing" and message["hearing"].get("closed_at"):
                    return

        listener = asyncio.create_task(listen())
        agent = await run_agent(agent_config(hub.port, recording), data_dir=tmp_path / "agent")
        await asyncio.wait_for(listener, 30)
    kinds = [m["type"] for m in received]
    finals = [m["segment"] for m in received if m["type"] == "final"]
    assert "partial" in kinds
    partials = [m for m in received if m["type"] == "partial"]
    assert all(m["start"] <= m["end"] for m in partials)  # the audio each reflects
    assert kinds.index("partial") < kinds.index("final")
    assert len(finals) == agent.finals == 3
    for segment, (role, text) in zip(finals, expected_texts(speech, 3), strict=True):
        assert segment["role"] == role
        assert cer(text, segment["text"]) <= 0.05, segment["text"]
        assert segment["channel"] == ROLES.index(role)
    stored = await transcript(hub.url, bearer, agent.hearing_id)
    assert [s["seq"] for s in stored] == [f["seq"] for f in finals]
    assert [s["text"] for s in stored] == [f["text"] for f in finals]
    # Hearing-clock times increase turn by turn and match the recording layout.
    starts = [s["start"] for s in stored]
    assert starts == sorted(starts) and 1.0 <= starts[0] <= 2.5
    # How far recognition runs behind capture reaches the hub with every status.
    async with httpx.AsyncClient(base_url=hub.url) as client:
        reply = await client.get(
            "/api/courtrooms/r1/events",
            params={"kind": "status"},
            headers={"Authorization": f"Bearer {bearer}"},
        )
    reports = [e["body"] for e in reply.json()]
    assert reports, "no status report archived"
    for report in reports:
        assert 0.0 <= report["lag"] <= report["max_lag"], report
        assert report["behind"] is False and report["gap_frames"] == 0, report
    # ... and each seat's latest meter reading, for the patrol view.
    levels = reports[-1]["microphones"]["levels"]
    assert [lv["role"] for lv in levels] == ROLES
    assert all(-96.0 <= lv["rms_dbfs"] <= lv["peak_dbfs"] <= 0.0 for lv in levels), levels
    # The whole hearing was recorded losslessly, seat by seat, and verifies.
    hearing_dir = tmp_path / "agent" / "recordings" / "r1" / agent.hearing_id
    report = check_recording(hearing_dir)
    assert report.sound, report.problems
    manifest = json.loads((hearing_dir / "manifest.json").read_text(encoding="utf-8"))
    with wave.open(str(recording)) as w:
        assert sum(seg["frames"] for seg in manifest["segments"]) == w.getnframes()


@pytest.fixture
def hub_process_config(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    port = free_port()
    config = tmp_path / "hub.toml"
    config.write_text(
        f"""
data_dir = "{tmp_path / "hubdata"}"
[listen]
host = "127.0.0.1"
port = {port}
[[courtrooms]]
id = "r1"
name = "第一法庭"
token = "{TOKEN}"
""",
        encoding="utf-8",
    )
    (tmp_path / "hubdata").mkdir()
    yield config, port


def start_hub(config: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "courtroom_agent.cli", "hub", "--config", str(config)],
        env=os.environ | {"COURTROOM_ADMIN_PASSWORD": PASSWORD},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("hub did not start")


async def test_hub_killed_mid_hearing_every_final_stored_exactly_once(
    hub_process_config: tuple[Path, int], tmp_path: Path, speech: list[SpeechSample]
) -> None:
    config, port = hub_process_config
    turns = 12
    recording = build_demo_recording(
        [s.path for s in speech], tmp_path / "room.wav", roles=ROLES, turns=turns
    )
    base = f"http://127.0.0.1:{port}"
    hub = start_hub(config, port)
    try:
        bearer = await login(base)
        agent_task = asyncio.create_task(
            run_agent(agent_config(port, recording), data_dir=tmp_path / "agent")
        )
        # Wait until part of the hearing is archived, then kill the hub hard.
        async with httpx.AsyncClient(base_url=base) as client:
            while True:
                hearings = (
                    await client.get(
                        "/api/hearings",
                        params={"courtroom": "r1"},
                        headers={"Authorization": f"Bearer {bearer}"},
                    )
                ).json()
                if hearings:
                    stored = await transcript(base, bearer, hearings[0]["id"])
                    if len(stored) >= 2:
                        break
                assert not agent_task.done(), "agent finished before the hub was killed"
                await asyncio.sleep(0.05)
        hub.send_signal(signal.SIGKILL)
        hub.wait()
        await asyncio.sleep(1.5)  # the agent goes on transcribing into its spool
        hub = start_hub(config, port)
        agent = await asyncio.wait_for(agent_task, 120)
        bearer = await login(base)
        stored = await transcript(base, bearer, agent.hearing_id)
    finally:
        hub.kill()
        hub.wait()
    seqs = [s["seq"] for s in stored]
    assert len(seqs) == len(set(seqs)) == agent.finals == turns
    keys = [(s["channel"], s["start"], s["text"]) for s in stored]
    assert len(set(keys)) == len(keys)
    for segment, (role, text) in zip(stored, expected_texts(speech, turns), strict=True):
        assert segment["role"] == role and cer(text, segment["text"]) <= 0.05
