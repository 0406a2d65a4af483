"""``courtroom devices probe|send`` against simulators running as real processes.

A full courtroom equipment set: a VISCA camera and a Pelco-D camera on ptys
(behind stable symlinks, as /dev/serial/by-id), an Extron matrix, a PJLink
display with a password and a HyperDeck recorder on loopback TCP, and an MQTT
relay on a real Mosquitto broker.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fixtures.mosquitto import MosquittoBroker

pytestmark = pytest.mark.slow
COURTROOM = [sys.executable, "-m", "courtroom_agent.cli"]


@dataclass
class Simulators:
    config: Path
    processes: dict[str, subprocess.Popen[str]]
    control: dict[str, int]
    ports: dict[str, str]
    recordings: Path

    def control_say(self, name: str, line: str) -> str:
        with socket.create_connection(("127.0.0.1", self.control[name]), timeout=5) as sock:
            sock.sendall(line.encode() + b"\n")
            return sock.makefile().readline().strip()


def start(args: list[str]) -> tuple[subprocess.Popen[str], dict[str, list[str]]]:
    process = subprocess.Popen(
        [*COURTROOM, "simulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    endpoints: dict[str, list[str]] = {}
    while "control" not in endpoints:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"simulator {args} exited: {process.wait()}")
        words = line.split()
        endpoints[words[0]] = words[1:]
    return process, endpoints


@pytest.fixture
def simulators(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[Simulators]:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    specs = {
        "judge-camera": ["visca", "--port", str(tmp_path / "cam0"), "--option", "max-presets=16"],
        "gallery-camera": ["pelco-d", "--port", str(tmp_path / "cam1")],
        "matrix": ["extron-sis", "--port", "0"],
        "display": [
            "pjlink",
            "--port",
            "0",
            "--option",
            "password=s3cret",
            # scaled time: warm-up and cool-down of a second or less, not 20-30 s
            "--option",
            "warm-up=0.3",
            "--option",
            "cool-down=0.3",
        ],
        "recorder": [
            "hyperdeck",
            "--port",
            "0",
            "--option",
            f"directory={recordings}",
        ],
    }
    processes: dict[str, subprocess.Popen[str]] = {}
    control: dict[str, int] = {}
    ports: dict[str, str] = {}
    try:
        for name, args in specs.items():
            process, endpoints = start([*args, "--control-port", "0"])
            processes[name] = process
            control[name] = int(endpoints["control"][1])
            ports[name] = endpoints["tcp"][1] if "tcp" in endpoints else args[2]
        relay = subprocess.Popen(
            [
                *COURTROOM,
                "simulate",
                "mqtt",
                "--port",
                str(mosquitto.port),
                "--room",
                "fy-01",
                "--name",
                "lights",
                "--kind",
                "relay",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes["lights"] = relay  # type: ignore[assignment]
        wait_online(mosquitto.port, "courtroom/fy-01/devices/lights/availability")
        config = tmp_path / "room.toml"
        config.write_text(
            f"""
[courtroom]
id = "fy-01"
name = "第一法庭"
[hub]
url = "ws://127.0.0.1:9/ws/agent"
token = "unused"
[audio]
roles = ["审判长"]
[mqtt]
host = "127.0.0.1"
port = {mosquitto.port}
[[devices]]
name = "judge-camera"
kind = "visca"
port = "{ports["judge-camera"]}"
[[devices]]
name = "gallery-camera"
kind = "pelco-d"
port = "{ports["gallery-camera"]}"
[[devices]]
name = "matrix"
kind = "extron-sis"
host = "127.0.0.1"
port = {ports["matrix"]}
inputs = {{ doc-camera = 1, pc = 2 }}
outputs = {{ judge = 1, plaintiff = 2, defendant = 3, gallery = 4 }}
[[devices]]
name = "display"
kind = "pjlink"
host = "127.0.0.1"
port = {ports["display"]}
password_env = "DISPLAY_PASSWORD"
[[devices]]
name = "recorder"
kind = "hyperdeck"
host = "127.0.0.1"
port = {ports["recorder"]}
[[devices]]
name = "lights"
kind = "mqtt"
""",
            encoding="utf-8",
        )
        yield Simulators(config, processes, control, ports, recordings)
    finally:
        for process in processes.values():
            process.kill()
            process.wait()


def courtroom(*args: str, password: str = "s3cret") -> subprocess.CompletedProcess[str]:
    """Run the ``courtroom`` command line (PJLink password in the environment)."""
    import os

    return subprocess.run(
        [*COURTROOM, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"DISPLAY_PASSWORD": password, "COLUMNS": "200"},
    )


def test_devices_probe_every_device_reachable(simulators: Simulators) -> None:
    deadline = time.monotonic() + 10
    while True:  # the MQTT relay publishes its availability shortly after starting
        done = courtroom("devices", "probe", "--config", str(simulators.config))
        if done.returncode == 0 or time.monotonic() > deadline:
            break
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("judge-camera", "gallery-camera", "matrix", "display", "recorder", "lights"):
        assert name in done.stdout
    assert done.stdout.count("在线 yes") == 6


def test_devices_send_matrix_tie_by_name_then_read(simulators: Simulators) -> None:
    config = str(simulators.config)
    done = courtroom(
        "devices", "send", "--config", config, "matrix", "tie", "doc-camera", "gallery"
    )
    assert done.returncode == 0, done.stderr
    assert "Out04" in done.stdout or "output=4" in done.stdout
    done = courtroom("devices", "send", "--config", config, "matrix", "read", "gallery")
    assert done.returncode == 0 and done.stdout.strip() == "1"


def test_devices_send_recorder_disk_full_is_named(simulators: Simulators) -> None:
    config = str(simulators.config)
    done = courtroom("devices", "send", "--config", config, "recorder", "record", "hearing-1")
    assert done.returncode == 0, done.stderr
    assert any(simulators.recordings.iterdir())
    assert courtroom("devices", "send", "--config", config, "recorder", "stop").returncode == 0
    assert simulators.control_say("recorder", "fault disk-full on").startswith("OK")
    done = courtroom("devices", "send", "--config", config, "recorder", "record")
    assert done.returncode == 1
    assert "HyperDeck 104 disk full" in done.stderr


def test_devices_send_display_wrong_password_is_authentication_error(
    simulators: Simulators,
) -> None:
    config = str(simulators.config)
    assert (
        courtroom("devices", "send", "--config", config, "display", "power", "on").returncode == 0
    )
    done = courtroom("devices", "send", "--config", config, "display", "mute", "on", password="x")
    assert done.returncode == 1
    assert "ERRA" in done.stderr or "authentication" in done.stderr.lower()


def test_devices_send_camera_fault_and_bad_argument(simulators: Simulators) -> None:
    config = str(simulators.config)
    ok = courtroom("devices", "send", "--config", config, "judge-camera", "preset-recall", "3")
    assert ok.returncode == 0, ok.stderr
    done = courtroom("devices", "send", "--config", config, "judge-camera", "preset-recall", "999")
    assert done.returncode == 2 and "preset" in done.stderr
    assert simulators.control_say("judge-camera", "fault not-executable on").startswith("OK")
    done = courtroom("devices", "send", "--config", config, "judge-camera", "preset-recall", "1")
    assert done.returncode == 1 and "VISCA" in done.stderr and "not executable" in done.stderr


def test_devices_send_mqtt_relay_and_probe_names_dead_device(simulators: Simulators) -> None:
    config = str(simulators.config)
    done = courtroom("devices", "send", "--config", config, "lights", "power", "on")
    assert done.returncode == 0, done.stderr
    assert "on" in done.stdout
    simulators.processes["matrix"].kill()
    simulators.processes["matrix"].wait()
    done = courtroom("devices", "probe", "--config", config, "--timeout", "2")
    assert done.returncode == 1
    row = next(line for line in done.stdout.splitlines() if "matrix" in line)
    assert "离线 no" in row


def wait_online(port: int, topic: str, timeout: float = 20.0) -> None:
    """Wait until the simulated MQTT device's retained availability says online."""
    import threading

    import paho.mqtt.client as mqtt

    online = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe(topic)
    client.on_message = lambda _c, _u, m: online.set() if m.payload == b"online" else None
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert online.wait(timeout), f"{topic} never said online"
    finally:
        client.loop_stop()
        client.disconnect()


def send(simulators: Simulators, *words: str) -> subprocess.CompletedProcess[str]:
    return courtroom("devices", "send", "--config", str(simulators.config), *words)


def test_devices_send_pelco_preset_set_and_recall_complete_and_apply(
    simulators: Simulators,
) -> None:
    started = time.monotonic()
    done = send(simulators, "gallery-camera", "preset-set", "3")
    assert done.returncode == 0, done.stderr
    done = send(simulators, "gallery-camera", "preset-recall", "3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert time.monotonic() - started < 20  # it used to hang until killed
    state = simulators.control_say("gallery-camera", "state")
    assert state == "OK powered=on presets=3 applied=2 rejected=0"
    done = send(simulators, "gallery-camera", "power", "off")
    assert done.returncode == 0, done.stderr
    assert "powered=off" in simulators.control_say("gallery-camera", "state")


def test_devices_send_time_limit_ends_a_command_that_never_answers(
    simulators: Simulators,
) -> None:
    assert simulators.control_say("recorder", "slow 20000").startswith("OK slow=20000")
    started = time.monotonic()
    done = send(simulators, "recorder", "status", "--time-limit", "1")
    assert time.monotonic() - started < 15
    assert done.returncode == 1, done.stdout
    assert "recorder: no answer within the 1 s time limit" in done.stderr


def test_devices_send_camera_power_preset_set_and_syntax_error(simulators: Simulators) -> None:
    done = send(simulators, "judge-camera", "power", "off")
    assert done.returncode == 0, done.stderr
    done = send(simulators, "judge-camera", "status")
    assert done.returncode == 0 and "on=False" in done.stdout, done.stdout
    assert send(simulators, "judge-camera", "power", "on").returncode == 0
    done = send(simulators, "judge-camera", "preset-set", "4")
    assert done.returncode == 0, done.stderr
    done = send(simulators, "judge-camera", "preset-recall", "20")  # the model stores 16
    assert done.returncode == 1
    assert "judge-camera: VISCA syntax error" in done.stderr


def test_devices_send_matrix_tie_layers_and_untie(simulators: Simulators) -> None:
    done = send(simulators, "matrix", "tie", "pc", "judge", "video")
    assert done.returncode == 0, done.stderr
    assert "VIDEO" in done.stdout.upper() and "output=1" in done.stdout, done.stdout
    done = send(simulators, "matrix", "tie", "doc-camera", "plaintiff", "audio")
    assert done.returncode == 0, done.stderr
    assert "AUDIO" in done.stdout.upper() and "output=2" in done.stdout, done.stdout
    assert send(simulators, "matrix", "tie", "doc-camera", "gallery").returncode == 0
    assert send(simulators, "matrix", "read", "gallery").stdout.strip() == "1"
    done = send(simulators, "matrix", "untie", "gallery")
    assert done.returncode == 0, done.stderr
    assert send(simulators, "matrix", "read", "gallery").stdout.strip() == "0"
    done = send(simulators, "matrix", "tie", "doc-camera", "gallery", "sideways")
    assert done.returncode == 2 and "layer must be all, video or audio" in done.stderr


def wait_display_power(simulators: Simulators, state: str) -> None:
    for _ in range(20):  # each round is one CLI process, ~0.5 s; warm-up is 0.3 s
        if state in send(simulators, "display", "status").stdout.upper():
            return
    raise AssertionError(f"display never reached {state}")


def test_devices_send_display_input_and_mute_off(simulators: Simulators) -> None:
    assert send(simulators, "display", "power", "on").returncode == 0
    wait_display_power(simulators, "ON")
    done = send(simulators, "display", "input", "31")
    assert done.returncode == 0, done.stderr
    done = send(simulators, "display", "mute", "on")
    assert done.returncode == 0, done.stderr
    done = send(simulators, "display", "mute", "off")
    assert done.returncode == 0, done.stderr
    done = send(simulators, "display", "power", "off")
    assert done.returncode == 0, done.stderr
    wait_display_power(simulators, "OFF")


def test_devices_send_recorder_status_reports_transport(simulators: Simulators) -> None:
    done = send(simulators, "recorder", "status")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("TransportInfo(status=PREVIEW, slot_id=1"), done.stdout
    assert send(simulators, "recorder", "record", "hearing-2").returncode == 0
    done = send(simulators, "recorder", "status")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("TransportInfo(status=RECORD, slot_id=1"), done.stdout
    assert send(simulators, "recorder", "stop").returncode == 0


def test_devices_probe_table_shows_identity_and_round_trip(simulators: Simulators) -> None:
    deadline = time.monotonic() + 10
    while True:
        done = courtroom("devices", "probe", "--config", str(simulators.config))
        if done.returncode == 0 or time.monotonic() > deadline:
            break
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {
        cells[0]: cells
        for line in done.stdout.splitlines()
        if len(cells := [c.strip() for c in line.split("│")[1:-1]]) == 7
    }
    for name in ("judge-camera", "matrix", "display", "recorder"):
        identity, round_trip = rows[name][4], rows[name][5]
        assert identity, name
        assert round_trip.isdigit() and int(round_trip) < 2000, (name, round_trip)
    assert rows["judge-camera"][4] == "PowerState(on=True)"
    assert rows["matrix"][4] == "1.05"  # the firmware version it reports
    assert rows["display"][4] == "OFF"
    assert rows["recorder"][4].startswith("DeviceInfo(protocol_version=1.11, model=HyperDeck")
    assert rows["gallery-camera"][4].startswith("line open") and rows["gallery-camera"][5] == ""
    assert rows["lights"][4].startswith("online")
