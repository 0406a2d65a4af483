"""``courtroom demo`` end to end, as a newcomer runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets.sync.client

from tests.fixtures.demo import read_banner, start_demo
from tests.fixtures.speech import cer
from transcription.assets import SpeechSample

pytestmark = pytest.mark.slow


def test_demo_serves_live_transcript_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path, speech: list[SpeechSample]
) -> None:
    data_dir = tmp_path / "demo"
    process = start_demo("--data-dir", str(data_dir), "--admin-password", "demo-pass-1")
    try:
        printed = read_banner(process)
        url = printed.get("url")
        assert url is not None, "demo printed no URL"
        # make setup installs PulseAudio: the microphones take a live room's capture path.
        mics = printed.get("mics")
        assert mics is not None and mics.startswith("PulseAudio courtroom_demo → PyAudio (4"), mics
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
        # A Pelco-D camera never answers: its link is online once its pty opens.
        online = {e["body"]["device"] for e in events if "online" in e["body"]["meaning"]}
        assert online >= {
            "judge-camera",
            "gallery-camera",
            "matrix",
            "plaintiff-display",
            "defendant-display",
            "gallery-display",
            "recorder",
            "lights",
        }
        # Each simulator is a child process of the demo, as `courtroom simulate` runs it.
        simulators = _simulator_children(process.pid)
        assert sorted(simulators.values()) == [
            "extron-sis",
            "hyperdeck",
            "mqtt",
            "pelco-d",
            "pjlink",
            "pjlink",
            "pjlink",
            "visca",
        ]
        assert final["role"] == "审判长"
        assert cer(speech[0].text, final["text"]) <= 0.05
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()
    assert not [pid for pid in simulators if _alive(pid)]
    assert not (data_dir / "equipment" / "judge-camera").is_symlink()
    assert (data_dir / "hub" / "hub.db").is_file()
    assert (data_dir / "agent" / "demo-1" / "spool.sqlite").is_file()
    room = (data_dir / "room.toml").read_text(encoding="utf-8")
    assert room.count("[[devices]]") == 8
    assert 'kind = "pelco-d"' in room
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
    process = start_demo("--duration", str(duration), env={**os.environ, "XDG_DATA_HOME": str(xdg)})
    try:
        printed = read_banner(process)
        assert printed.keys() == {"url", "password", "data", "mics", "displays"}, printed
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
    # The scripted hearing, as a clerk drives it: each order done, in order.
    for action in ("open", "recess", "resume", "close"):
        assert f"演示 · demo: {action} → done" in rest, rest
    assert "hearing closed" in rest
    data_dir = xdg / "courtroom" / "demo"
    assert (data_dir / "hub" / "hub.db").is_file()
    from av.recording import check_recording

    (hearing,) = (data_dir / "recordings" / "demo-1").iterdir()
    report = check_recording(hearing)
    assert report.sound, report.problems
    assert [i.reason for i in report.interruptions] == ["recess"]
    assert report.incidents == []


def _simulator_children(parent: int) -> dict[int, str]:
    """The simulator processes whose parent is ``parent``: pid → device kind."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
            argv = (stat.parent / "cmdline").read_bytes().decode().split("\0")
        except (OSError, ValueError):
            continue  # gone meanwhile
        if ppid != parent or "simulate" not in " ".join(argv):
            continue
        if "devices.simulate" in argv:
            found[int(stat.parent.name)] = argv[argv.index("devices.simulate") + 1]
        else:
            found[int(stat.parent.name)] = argv[argv.index("simulate") + 1]
    return found


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting to be reaped does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


_EQUIPMENT_ONLY = """
import asyncio, json, sys
from pathlib import Path
from courtroom_agent.demo_equipment import DemoEquipment

async def main():
    async with DemoEquipment(Path(sys.argv[1]), room="demo-1") as equipment:
        pids = {name: p.pid for name, p in equipment.processes.items()}
        print(json.dumps({"devices": equipment.devices, "pids": pids}), flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def test_demo_equipment_simulators_die_with_a_killed_demo(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _EQUIPMENT_ONLY, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        pids = started["pids"]
        assert sorted(_simulator_children(process.pid)) == sorted(pids.values())
        cameras = [Path(d["port"]) for d in started["devices"] if "camera" in d["name"]]
        assert len(cameras) == 2 and all(os.readlink(c).startswith("/dev/pts/") for c in cameras)
        matrix = next(d for d in started["devices"] if d["kind"] == "extron-sis")
        with socket.create_connection(("127.0.0.1", matrix["port"]), timeout=5) as line:
            assert b"Extron" in line.recv(4096)
    finally:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids.values()):
        assert time.monotonic() < deadline, "simulators outlived the killed demo"
        time.sleep(0.05)
    # They stopped cleanly on the kernel's SIGTERM: the pty symlinks are gone.
    assert not any(camera.is_symlink() for camera in cameras)
