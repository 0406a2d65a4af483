"""The agent runs the courtroom's equipment and sends its audit trail to the hub."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from av.recording import check_recording
from courtroom_agent.demo_audio import build_demo_recording
from courtroom_agent.runner import run_agent
from hub.server import HubServer
from tests.test_end_to_end import agent_config, hub, login  # noqa: F401
from transcription.assets import SpeechSample

pytestmark = pytest.mark.slow


async def device_events(base: str, bearer: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base) as client:
        reply = await client.get(
            "/api/courtrooms/r1/events",
            params={"kind": "device"},
            headers={"Authorization": f"Bearer {bearer}"},
        )
        reply.raise_for_status()
        events: list[dict[str, Any]] = reply.json()
        return events


def start_simulator(*argv: str) -> tuple[subprocess.Popen[str], dict[str, list[str]]]:
    """``courtroom simulate ARGV --control-port 0`` as a process; its ready lines by kind."""
    simulator = subprocess.Popen(
        [sys.executable, "-m", "courtroom_agent.cli", "simulate", *argv, "--control-port=0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert simulator.stdout is not None
    ready: dict[str, list[str]] = {}
    while "control" not in ready:
        words = simulator.stdout.readline().split()
        assert words, "simulator exited before it was ready"
        ready[words[0]] = words[1:]
    return simulator, ready


@pytest.fixture
def simulators(tmp_path: Path) -> Iterator[dict[str, tuple[subprocess.Popen[str], int, int]]]:
    """A matrix and a recorder: name → (process, TCP port, control port)."""
    running: dict[str, tuple[subprocess.Popen[str], int, int]] = {}
    (tmp_path / "clips").mkdir()
    try:
        for name, argv in (
            ("matrix", ("extron-sis", "--port=0")),
            ("recorder", ("hyperdeck", "--port=0", f"--option=directory={tmp_path / 'clips'}")),
        ):
            process, ready = start_simulator(*argv)
            running[name] = process, int(ready["tcp"][1]), int(ready["control"][1])
        yield running
    finally:
        for process, _, _ in running.values():
            process.kill()
            process.wait()


async def control(port: int, line: str) -> str:
    """Send one command to a simulator's control port; return its answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(line.encode() + b"\n")
        return (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
    finally:
        writer.close()


async def test_agent_device_traffic_and_online_offline_reach_hub(
    hub: HubServer,  # noqa: F811
    simulators: dict[str, tuple[subprocess.Popen[str], int, int]],
    tmp_path: Path,
    speech: list[SpeechSample],
) -> None:
    roles = ["审判长", "原告", "被告"]
    recording = build_demo_recording(
        [s.path for s in speech], tmp_path / "room.wav", roles=roles, turns=2
    )
    config = agent_config(hub.port, recording, realtime=True)
    devices = [
        {"name": name, "kind": kind, "host": "127.0.0.1", "port": simulators[name][1]}
        for name, kind in (("matrix", "extron-sis"), ("recorder", "hyperdeck"))
    ]
    config = config.model_validate(config.model_dump() | {"devices": devices})
    stop = asyncio.Event()
    agent_task = asyncio.create_task(run_agent(config, data_dir=tmp_path / "agent", stop=stop))
    bearer = await login(hub.url)

    async def seen(match: Any) -> list[dict[str, Any]]:
        for _ in range(200):
            bodies = [e["body"] for e in await device_events(hub.url, bearer)]
            if any(match(b) for b in bodies):
                return bodies
            await asyncio.sleep(0.05)
        raise AssertionError(f"not at the hub: {bodies}")

    # The recorder's session subscribes on connect: a command and its reply.
    await seen(lambda b: b["device"] == "recorder" and b["direction"] == "rx")
    await seen(lambda b: b["device"] == "matrix" and b["direction"] == "state")
    # Someone at the equipment: a front-panel tie, a recording started on the deck.
    assert (await control(simulators["matrix"][2], "tie 1 2 all")).startswith("OK")
    assert (await control(simulators["recorder"][2], "transport record Panel")).startswith("OK")
    await seen(lambda b: b["meaning"].startswith("TieReply("))
    await seen(lambda b: "status=RECORD" in b["meaning"])
    matrix = simulators["matrix"][0]
    matrix.kill()
    await asyncio.to_thread(matrix.wait)
    bodies = await seen(lambda b: b["device"] == "matrix" and "offline" in b["meaning"])
    stop.set()
    agent = await asyncio.wait_for(agent_task, 60)
    recorder = [b for b in bodies if b["device"] == "recorder"]
    tx = next(b for b in recorder if b["direction"] == "tx")
    assert tx["meaning"].startswith("Command(name=NOTIFY")
    assert bytes.fromhex(tx["raw"]) == b"notify: transport: true slot: true\r\n"
    rx = next(b for b in recorder if b["direction"] == "rx")
    assert rx["meaning"].endswith(": ok") and bytes.fromhex(rx["raw"]) == b"200 ok\r\n"
    deck = next(b for b in recorder if "status=RECORD" in b["meaning"])
    assert deck["direction"] == "unsolicited" and deck["meaning"].startswith("TransportChange(")
    assert bytes.fromhex(deck["raw"]).startswith(b"508 transport info:\r\nstatus: record\r\n")
    tie = next(b for b in bodies if b["meaning"].startswith("TieReply("))
    assert tie["device"] == "matrix" and tie["direction"] == "unsolicited"
    assert tie["meaning"].startswith("TieReply(output=2, input=1, layer=ALL")
    assert bytes.fromhex(tie["raw"]) == b"Out02 In01 All\r\n"
    assert tie.get("hearing_id") == agent.hearing_id and tie["time"] >= 0.0
    states = [b for b in bodies if b["device"] == "matrix" and b["direction"] == "state"]
    assert len(states) == 2
    assert "online" in states[0]["meaning"] and "offline" in states[1]["meaning"]
    # Online may come before 开庭; the outage happened during the hearing.
    assert states[1].get("hearing_id") == agent.hearing_id
    assert 0.0 <= states[0]["time"] <= tie["time"] <= states[1]["time"]


async def test_agent_dead_microphone_alarm_reaches_hub(
    hub: HubServer,  # noqa: F811
    tmp_path: Path,
    speech: list[SpeechSample],
) -> None:
    roles = ["审判长", "原告", "被告"]
    recording = build_demo_recording(
        [s.path for s in speech], tmp_path / "room.wav", roles=roles[:2], turns=3
    )
    # A third microphone that carries nothing at all: unplugged.
    import wave

    import numpy as np

    with wave.open(str(recording)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, 2)
    three = np.concatenate([pcm, np.zeros((len(pcm), 1), np.int16)], axis=1)
    with wave.open(str(recording), "wb") as w:
        w.setnchannels(3)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(three.tobytes())
    config = agent_config(hub.port, recording)
    config = config.model_validate(
        config.model_dump() | {"microphones": {"dead_after_s": 3.0, "silent_below_dbfs": -70}}
    )
    agent = await run_agent(config, data_dir=tmp_path / "agent")
    bearer = await login(hub.url)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        events = (
            await client.get(
                "/api/courtrooms/r1/events",
                params={"kind": "av.alarm"},
                headers={"Authorization": f"Bearer {bearer}"},
            )
        ).json()
    alarms = [e["body"] for e in events]
    assert alarms, "no alarm reached the hub"
    dead = [a for a in alarms if a["kind"] == "dead_mic"]
    assert dead and dead[0]["role"] == "被告" and dead[0]["active"] is True
    assert dead[0]["source"] == "microphone"
    assert dead[0]["hearing_id"] == agent.hearing_id
    assert "麦克风" in dead[0]["message"]


async def test_agent_records_camera_beside_audio_with_events_at_hub(
    hub: HubServer,  # noqa: F811
    camera_stream: Any,
    tmp_path: Path,
    speech: list[SpeechSample],
) -> None:
    stream = camera_stream("testsrc2")
    recording = build_demo_recording(
        [s.path for s in speech], tmp_path / "room.wav", roles=["审判长", "原告", "被告"], turns=1
    )
    config = agent_config(hub.port, recording, realtime=True)
    camera = {"id": "CAM-1", "source": stream.url, "fps": 10, "thumbnail_interval": 1}
    config = config.model_validate(config.model_dump() | {"cameras": [camera]})
    agent = await run_agent(config, data_dir=tmp_path / "agent")
    hearing_dir = tmp_path / "agent" / "recordings" / "r1" / agent.hearing_id
    manifest = json.loads((hearing_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["cameras"] == [{"id": "CAM-1", "fps": 10}]
    segments = manifest["video_segments"]
    assert segments and all(s["status"] == "closed" for s in segments)
    assert (hearing_dir / segments[0]["file"]).stat().st_size > 0
    # Video segments carry the audio segments' indexes and start times.
    audio = [(s["index"], s["first_frame"] / 16000) for s in manifest["segments"]]
    assert [(s["index"], s["start"]) for s in segments] == audio
    report = check_recording(hearing_dir)
    assert report.sound and report.video_segments == len(segments), report.problems
    # Constant frame rate on the hearing clock: frames cover the whole hearing.
    frames = sum(s["frames"] for s in segments)
    assert abs(frames - agent.captured_time * 10) <= 10
    bearer = await login(hub.url)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        events = (
            await client.get(
                "/api/courtrooms/r1/events",
                params={"kind": "av.alarm"},
                headers={"Authorization": f"Bearer {bearer}"},
            )
        ).json()
    # Coming online clears the camera's offline alarm (the one alarm shape).
    online = [e["body"] for e in events if e["body"]["kind"] == "offline"]
    assert any(b["subject"] == "CAM-1" and b["active"] is False for b in online), events
    assert all(e["body"]["hearing_id"] == agent.hearing_id for e in events)
    # The patrol wall: the camera's latest picture, a real JPEG, behind login.
    async with httpx.AsyncClient(base_url=hub.url) as client:
        url = "/api/courtrooms/r1/cameras/CAM-1/thumbnail"
        assert (await client.get(url)).status_code == 401
        picture = await client.get(url, headers={"Authorization": f"Bearer {bearer}"})
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(picture.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[1] <= 320
    assert 0.0 <= float(picture.headers["x-hearing-time"]) <= agent.captured_time + 1


async def test_agent_reports_how_several_audio_devices_keep_in_step(
    hub: HubServer,  # noqa: F811
    tmp_path: Path,
    speech: list[SpeechSample],
) -> None:
    # Two interfaces (one of two seats, one of one) merged into one stream;
    # the status at the hub says how the devices keep in step.
    from av.multi_source import MultiSource
    from av.wav_source import WavFileSource

    room = build_demo_recording(
        [s.path for s in speech], tmp_path / "room.wav", roles=["审判长", "原告", "被告"], turns=1
    )
    import wave

    with wave.open(str(room)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, 3)
    for name, part in (("a.wav", pcm[:, :2]), ("b.wav", pcm[:, 2:])):
        with wave.open(str(tmp_path / name), "wb") as w:
            w.setnchannels(part.shape[1])
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(np.ascontiguousarray(part).tobytes())
    source = MultiSource(
        [
            WavFileSource(tmp_path / "a.wav", realtime=True),
            WavFileSource(tmp_path / "b.wav", realtime=True),
        ],
        names=["mixer-a", "mixer-b"],
    )
    agent = await run_agent(
        agent_config(hub.port, room), data_dir=tmp_path / "agent", source=source
    )
    assert agent.finals >= 1
    bearer = await login(hub.url)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        events = (
            await client.get(
                "/api/courtrooms/r1/events",
                params={"kind": "status"},
                headers={"Authorization": f"Bearer {bearer}"},
            )
        ).json()
    reports = [e["body"]["audio_devices"] for e in events if "audio_devices" in e["body"]]
    assert reports, "no status carried the devices' sync"
    last = reports[-1]
    assert [(d["name"], d["channels"]) for d in last["devices"]] == [("mixer-a", 2), ("mixer-b", 1)]
    assert last["gaps"] == 0 and all(abs(d["skew_ms"]) < 20 for d in last["devices"])
