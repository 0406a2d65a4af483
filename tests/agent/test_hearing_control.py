"""Hearing control on a real agent: idle, open, recess with a reason, resume, close.

The agent runs all day on real-time looped speech against a real hub; the
court drives it through the local control socket, exactly as
``courtroom hearing`` does. Checked: every transition and its refusal, the
case's seating in the transcript, nothing transcribed during a recess, the
recording's manifest holding the interruption with its reason and who
ordered it, ``check_recording`` accepting it, and every command archived.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from av.recording import check_recording
from courtroom_agent.agent import CourtroomAgent
from courtroom_agent.config import AgentConfig
from courtroom_agent.control import ControlError, request, unix_path
from courtroom_agent.demo_audio import build_demo_recording
from courtroom_agent.runner import control_socket, run_agent, spool_file
from courtroom_agent.spool import EventSpool
from hub.server import HubServer
from tests.hub.conftest import TIMEOUT
from tests.test_end_to_end import ROLES, TOKEN, hub, login, transcript  # noqa: F401
from transcription.assets import SpeechSample

pytestmark = pytest.mark.slow
OPERATOR = f"local:{getpass.getuser()}"
CASE = {
    "number": "(2026)京0105民初1234号",
    "title": "买卖合同纠纷",
    "parties": [{"role": "公诉人", "name": "李四", "channel": 1}],
}


@dataclass
class Running:
    hub: HubServer
    bearer: str
    socket: Path
    data_dir: Path
    task: asyncio.Task[CourtroomAgent]
    stop: asyncio.Event

    async def order(self, body: dict[str, Any]) -> dict[str, Any]:
        return await request(self.socket, body, wait=4 * TIMEOUT)

    async def events(self, kind: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.hub.url) as client:
            reply = await client.get(
                "/api/courtrooms/r1/events",
                params={"kind": kind},
                headers={"Authorization": f"Bearer {self.bearer}"},
            )
            reply.raise_for_status()
            rows: list[dict[str, Any]] = reply.json()
            return rows


async def until(predicate: Any, what: str, seconds: float = 6 * TIMEOUT) -> Any:
    """Poll an async predicate until it returns something truthy."""
    async with asyncio.timeout(seconds):
        while not (value := await predicate()):  # noqa: ASYNC110 - polling the archive
            await asyncio.sleep(0.05)
    assert value, what
    return value


@pytest.fixture
async def running(
    hub: HubServer,  # noqa: F811
    tmp_path: Path,
    speech: list[SpeechSample],
) -> AsyncIterator[Running]:
    wav = build_demo_recording([s.path for s in speech], tmp_path / "room.wav", roles=ROLES)
    config = AgentConfig.model_validate(
        {
            "courtroom": {"id": "r1", "name": "第一法庭"},
            "hub": {"url": f"ws://127.0.0.1:{hub.port}/ws/agent", "token": TOKEN},
            "audio": {
                "source": "wav",
                "file": str(wav),
                "realtime": True,
                "loop": True,
                "roles": ROLES,
            },
            "status_interval_s": 0.5,
        }
    )
    data_dir = tmp_path / "agent"
    stop = asyncio.Event()
    task = asyncio.create_task(run_agent(config, data_dir=data_dir, stop=stop, open_at_start=False))
    socket = control_socket(config, data_dir=data_dir)
    bearer = await login(hub.url)
    run = Running(hub, bearer, socket, data_dir, task, stop)

    async def answering() -> bool:
        with contextlib.suppress(ControlError):
            answer = await request(socket, {"action": "status"}, wait=TIMEOUT)
            return bool(answer["outcome"] == "done")
        return task.done()

    await until(answering, "the agent never served its control socket")
    yield run
    stop.set()
    await asyncio.wait_for(task, 6 * TIMEOUT)


async def test_a_hearing_day_through_the_control_socket(running: Running) -> None:
    # The courtroom starts idle: nothing recorded, the patrol wall sees it idle.
    status = await running.order({"action": "status"})
    assert status["state"] == {"state": "idle"}
    reports = await until(lambda: running.events("status"), "no status report")
    assert reports[-1]["body"]["hearing_state"]["state"] == "idle"
    assert "levels" in reports[-1]["body"]["microphones"]
    assert not (running.data_dir / "recordings").exists()

    refused = await running.order({"action": "resume"})
    assert refused["outcome"] == "refused"
    assert "cannot resume a hearing that is idle" in refused["message"]

    opened = await running.order({"action": "open", "case": CASE})
    assert opened["outcome"] == "done", opened
    hearing_id = opened["state"]["hearing_id"]
    assert opened["state"]["state"] == "open"
    assert opened["state"]["case"]["number"] == CASE["number"]

    # The case seats 公诉人 on channel 1 for this hearing (the room says 原告).
    async def seated() -> list[dict[str, Any]]:
        lines = await transcript(running.hub.url, running.bearer, hearing_id)
        return [line for line in lines if line["channel"] == 1]

    first = await until(seated, "no final from channel 1")
    assert {line["role"] for line in first} == {"公诉人"}

    recessed = await running.order({"action": "recess", "reason": "mediation"})
    assert recessed["outcome"] == "done", recessed
    recessed["state"].pop("time")
    assert recessed["state"] == {
        "state": "recess",
        "reason": "mediation",
        "hearing_id": hearing_id,
        "title": CASE["title"],
        "case": CASE,
    }
    again = await running.order({"action": "recess", "reason": "recess"})
    assert again["outcome"] == "refused"
    assert "cannot recess a hearing that is recess" in again["message"]
    (recess_event,) = await until(lambda: running.events("hearing.recessed"), "not archived")
    recess_at = recess_event["body"]["time"]
    assert recess_event["body"]["ordered_by"] == OPERATOR
    assert recess_event["body"]["reason"] == "mediation"

    # In recess the recogniser hears nothing: let speech play on for 3 s of the
    # hearing clock, which keeps running.
    async def three_seconds_later() -> bool:
        state = (await running.order({"action": "status"}))["state"]
        return bool(state["state"] == "recess" and state["time"] >= recess_at + 3.0)

    await until(three_seconds_later, "the hearing clock stopped in recess")
    resumed = await running.order({"action": "resume"})
    assert resumed["outcome"] == "done", resumed
    (resume_event,) = await until(lambda: running.events("hearing.resumed"), "not archived")
    resume_at = resume_event["body"]["time"]
    assert resume_at - recess_at >= 2.5

    async def after_resume() -> list[dict[str, Any]]:
        lines = await transcript(running.hub.url, running.bearer, hearing_id)
        return [line for line in lines if line["start"] >= resume_at]

    await until(after_resume, "no final after 继续开庭")
    lines = await transcript(running.hub.url, running.bearer, hearing_id)
    inside = [line for line in lines if recess_at + 0.5 < line["start"] < resume_at - 0.5]
    assert inside == [], "transcribed during the recess"

    closed = await running.order({"action": "close"})
    assert closed["outcome"] == "done" and closed["state"] == {"state": "idle"}

    # The recording holds the interruption with its reason and who ordered it.
    directory = running.data_dir / "recordings" / "r1" / hearing_id
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    (interruption,) = manifest["interruptions"]
    assert interruption["reason"] == "mediation"
    assert interruption["ordered_by"] == interruption["resumed_by"] == OPERATOR
    rate = manifest["sample_rate"]
    assert abs(interruption["start_frame"] / rate - recess_at) < 0.2
    assert abs(interruption["end_frame"] / rate - resume_at) < 0.2
    report = check_recording(directory)
    assert report.sound, report.problems
    assert report.incidents == []

    # Every order and its outcome is in the ledger, with who and when.
    commands = await until(lambda: _at_least(running.events("command"), 6), "commands not archived")
    outcomes = [(c["body"]["action"], c["body"]["outcome"]) for c in commands]
    assert outcomes == [
        ("resume", "refused"),
        ("open", "done"),
        ("recess", "done"),
        ("recess", "refused"),
        ("resume", "done"),
        ("close", "done"),
    ]
    assert {c["body"]["by"] for c in commands} == {OPERATOR}
    assert {c["body"]["source"] for c in commands} == {"local"}


async def _at_least(rows: Any, n: int) -> list[dict[str, Any]] | None:
    got: list[dict[str, Any]] = await rows
    return got if len(got) >= n else None


@pytest.mark.parametrize(
    ("line", "named"),
    [
        (b'{"action": "recess", "reason": "lunch"}\n', "request.reason"),
        (b'{"action": "adjourn"}\n', "request.action"),
        (b'{"action": "open", "case": {"number": ""}}\n', "case.number"),
        (b'{"action": "open", "by": "judge"}\n', "unexpected fields"),
        (b"[1, 2]\n", "JSON object"),
        (b'{"action": NaN}\n', "NaN"),
        (b"x" * 70_000 + b"\n", "exceeds"),
    ],
)
async def test_a_hostile_request_is_invalid_naming_the_field(
    running: Running, line: bytes, named: str
) -> None:
    with unix_path(running.socket) as name:
        reader, writer = await asyncio.open_unix_connection(name)
    writer.write(line)
    await writer.drain()
    answer = json.loads(await asyncio.wait_for(reader.readline(), TIMEOUT))
    writer.close()
    assert answer["outcome"] == "invalid"
    assert named in answer["message"]
    # Nothing happened, and the agent still answers.
    assert (await running.order({"action": "status"}))["state"] == {"state": "idle"}


async def test_the_socket_is_the_agent_users_alone(running: Running) -> None:
    assert running.socket.stat().st_mode & 0o777 == 0o600
    assert running.socket.parent.stat().st_mode & 0o777 == 0o700


async def test_the_record_goes_on_while_hub_camera_and_device_all_fail(
    tmp_path: Path, speech: list[SpeechSample]
) -> None:
    """No hub (the link fails), a camera that never answers, a display that is
    unplugged: the court still opens and closes its hearing at the PC, every
    seat's FLAC covers the hearing without a gap, and the alarms wait in the
    spool for the hub."""
    wav = build_demo_recording([s.path for s in speech], tmp_path / "room.wav", roles=ROLES)
    dead = [_closed_port() for _ in range(3)]
    config = AgentConfig.model_validate(
        {
            "courtroom": {"id": "r1", "name": "第一法庭"},
            "hub": {"url": f"ws://127.0.0.1:{dead[0]}/ws/agent", "token": TOKEN},
            "audio": {
                "source": "wav", "file": str(wav), "realtime": True, "loop": True, "roles": ROLES,
            },
            "cameras": [{"id": "CAM-1", "source": f"rtsp://127.0.0.1:{dead[1]}/cam",
                         "no_frame_timeout": 1.0}],
            "devices": [{"name": "display", "kind": "pjlink", "host": "127.0.0.1",
                         "port": dead[2]}],
        }
    )  # fmt: skip
    data_dir = tmp_path / "agent"
    stop = asyncio.Event()
    task = asyncio.create_task(run_agent(config, data_dir=data_dir, stop=stop, open_at_start=False))
    socket = control_socket(config, data_dir=data_dir)
    try:

        async def answering() -> bool:
            with contextlib.suppress(ControlError):
                answer = await request(socket, {"action": "status"}, wait=TIMEOUT)
                return bool(answer["outcome"] == "done")
            assert not task.done(), task
            return False

        await until(answering, "the agent never served its control socket")
        opened = await request(socket, {"action": "open", "case": {"number": "(2026)京01民初3号"}})
        assert opened["outcome"] == "done", opened
        hearing_id = opened["state"]["hearing_id"]

        async def six_seconds() -> bool:
            state = (await request(socket, {"action": "status"}))["state"]
            return bool(state["time"] >= 6.0)

        await until(six_seconds, "the hearing clock stopped")
        closed = await request(socket, {"action": "close"})
        assert closed["outcome"] == "done", closed
    finally:
        stop.set()
        await asyncio.wait_for(task, 6 * TIMEOUT)

    directory = data_dir / "recordings" / "r1" / hearing_id
    report = check_recording(directory)
    assert report.sound, report.problems
    assert report.incidents == [] and report.gap_frames == 0
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert report.recorded_frames / manifest["sample_rate"] >= 6.0
    # Everything for the hub is spooled: the hearing, and why the camera failed.
    with EventSpool.open(spool_file(config, data_dir=data_dir), courtroom="r1") as spool:
        kinds = [(e.kind, e.body.get("source"), e.body.get("kind")) for e in spool.pending(
            after_seq=0, limit=10_000)]  # fmt: skip
    assert ("hearing.opened", None, None) in kinds and ("hearing.closed", None, None) in kinds
    assert ("av.alarm", "camera", "offline") in kinds
    assert any(kind == "device" for kind, _, _ in kinds)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_an_idle_courtroom_still_shows_its_cameras_on_the_patrol_wall(
    hub: HubServer,  # noqa: F811
    tmp_path: Path,
    speech: list[SpeechSample],
    camera_video_file: Path,
) -> None:
    wav = build_demo_recording([s.path for s in speech], tmp_path / "room.wav", roles=ROLES)
    config = AgentConfig.model_validate(
        {
            "courtroom": {"id": "r1", "name": "第一法庭"},
            "hub": {"url": f"ws://127.0.0.1:{hub.port}/ws/agent", "token": TOKEN},
            "audio": {
                "source": "wav", "file": str(wav), "realtime": True, "loop": True, "roles": ROLES,
            },
            "cameras": [{"id": "CAM-1", "source": str(camera_video_file), "fps": 10,
                         "loop": True, "thumbnail_interval": 1}],
        }
    )  # fmt: skip
    data_dir = tmp_path / "agent"
    stop = asyncio.Event()
    task = asyncio.create_task(run_agent(config, data_dir=data_dir, stop=stop, open_at_start=False))
    bearer = await login(hub.url)
    try:

        async def thumbnails() -> list[dict[str, Any]]:
            async with httpx.AsyncClient(base_url=hub.url) as client:
                reply = await client.get(
                    "/api/courtrooms/r1/cameras", headers={"Authorization": f"Bearer {bearer}"}
                )
            assert not task.done(), task
            rows: list[dict[str, Any]] = reply.json() if reply.status_code == 200 else []
            return rows

        (camera,) = await until(thumbnails, "no thumbnail while idle")
        assert camera["camera"] == "CAM-1"
        socket = control_socket(config, data_dir=data_dir)
        assert (await request(socket, {"action": "status"}))["state"] == {"state": "idle"}
        assert not (data_dir / "recordings").exists()  # pictures shown, nothing recorded
        # At 开庭 the hearing's cameras take the device and record it.
        opened = await request(socket, {"action": "open", "case": {"number": "(2026)京01民初4号"}})
        assert opened["outcome"] == "done", opened
        manifest = data_dir / "recordings" / "r1" / opened["state"]["hearing_id"] / "manifest.json"

        async def video() -> bool:
            return manifest.exists() and bool(json.loads(manifest.read_text())["video_segments"])

        await until(video, "the hearing's camera never recorded")
        closed = await request(socket, {"action": "close"})
        assert closed["outcome"] == "done", closed
    finally:
        stop.set()
        await asyncio.wait_for(task, 6 * TIMEOUT)


async def test_display_pages_that_cannot_listen_never_stop_the_hearing(
    hub: HubServer,  # noqa: F811
    tmp_path: Path,
    speech: list[SpeechSample],
) -> None:
    # Another program holds the display pages' port: the agent alarms and records.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        wav = build_demo_recording([s.path for s in speech], tmp_path / "room.wav", roles=ROLES)
        config = AgentConfig.model_validate(
            {
                "courtroom": {"id": "r1", "name": "第一法庭"},
                "hub": {"url": f"ws://127.0.0.1:{hub.port}/ws/agent", "token": TOKEN},
                "audio": {
                    "source": "wav",
                    "file": str(wav),
                    "realtime": True,
                    "loop": True,
                    "roles": ROLES,
                },
                "display": {"port": taken.getsockname()[1]},
                "status_interval_s": 0.5,
            }
        )
        data_dir = tmp_path / "agent"
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_agent(config, data_dir=data_dir, stop=stop, open_at_start=False)
        )
        run = Running(
            hub,
            await login(hub.url),
            control_socket(config, data_dir=data_dir),
            data_dir,
            task,
            stop,
        )
        try:

            async def alarmed() -> list[dict[str, Any]]:
                return [
                    e["body"]
                    for e in await run.events("av.alarm")
                    if e["body"]["kind"] == "display_unavailable"
                ]

            (alarm,) = await until(alarmed, "no display_unavailable alarm at the hub")
            assert alarm["active"] is True and "8" in (alarm["detail"] or "")

            async def answering() -> dict[str, Any] | None:
                with contextlib.suppress(ControlError):
                    answer: dict[str, Any] = await run.order({"action": "open", "case": CASE})
                    return answer
                return None

            opened = await until(answering, "the agent never took the order")
            assert opened["outcome"] == "done", opened
            await until(lambda: run.events("transcript.final"), "no final while recording")
            closed = await run.order({"action": "close"})
            assert closed["outcome"] == "done", closed
        finally:
            stop.set()
            await asyncio.wait_for(task, 6 * TIMEOUT)
    (hearing_dir,) = (data_dir / "recordings" / "r1").iterdir()
    assert check_recording(hearing_dir).sound
