"""The courtroom agent's TOML configuration and ``courtroom agent --check``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from courtroom_agent.config import ConfigError, load_agent_config

GOOD = """
[courtroom]
id = "fy-01"
name = "第一法庭"

[hub]
url = "ws://127.0.0.1:8080/ws/agent"
token_env = "FY01_TOKEN"

[audio]
source = "wav"
file = "room.wav"
roles = ["审判长", "原告", "被告", "书记员"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "room.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_agent_config_good_file_resolves_relative_wav(tmp_path: Path) -> None:
    config = load_agent_config(write(tmp_path, GOOD))
    assert config.courtroom.id == "fy-01"
    assert config.audio.file == tmp_path / "room.wav"
    assert config.audio.roles == ["审判长", "原告", "被告", "书记员"]
    assert config.transcription.model == "vosk-model-small-cn-0.22"


def test_load_agent_config_reports_every_problem_with_key_path(tmp_path: Path) -> None:
    bad = (
        GOOD.replace('id = "fy-01"', 'id = "fy 01"')
        .replace('roles = ["审判长", "原告", "被告", "书记员"]', 'roles = ["审判长", "审判长"]')
        .replace("[hub]", "[hub]\ncolour = 'blue'")
    )
    with pytest.raises(ConfigError) as caught:
        load_agent_config(write(tmp_path, bad))
    text = str(caught.value)
    assert "room.toml: courtroom.id:" in text
    assert "room.toml: hub.colour: unknown key" in text
    assert "room.toml: audio: roles must be distinct" in text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[courtroom\n", "not valid TOML"),
        (GOOD.replace('token_env = "FY01_TOKEN"', ""), "hub: give exactly one of"),
        (GOOD.replace('source = "wav"', 'source = "pyaudio"'), "only for source = 'wav'"),
        (GOOD.replace("ws://", "http://"), "hub.url"),
        (GOOD + "\n[transcription]\nendpoint_ms = 10\n", "transcription.endpoint_ms"),
        (
            GOOD.replace('name = "第一法庭"', 'name = "第一法庭"\noverlay_font = "/nope/f.ttc"'),
            "courtroom: overlay_font: no such file: /nope/f.ttc",
        ),
    ],
)
def test_load_agent_config_refuses(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_agent_config(write(tmp_path, text))


def test_load_agent_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_agent_config(tmp_path / "absent.toml")


def test_hub_token_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_agent_config(write(tmp_path, GOOD))
    monkeypatch.delenv("FY01_TOKEN", raising=False)
    with pytest.raises(ValueError, match="FY01_TOKEN is not set"):
        config.hub.resolve_token()
    monkeypatch.setenv("FY01_TOKEN", "abc")
    assert config.hub.resolve_token() == "abc"


def test_agent_cli_bad_config_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("rate", "x").replace('source = "wav"', "source = 3"))
    done = subprocess.run(
        [sys.executable, "-m", "courtroom_agent.cli", "agent", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{path}: audio.source:" in done.stderr
    assert "Traceback" not in done.stderr


def test_agent_cli_check_good_config(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "courtroom_agent.cli",
            "agent",
            "--config",
            str(write(tmp_path, GOOD)),
            "--check",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "fy-01" in done.stdout


DEVICES = """
[[devices]]
name = "judge-camera"
kind = "visca"
port = "/dev/ttyUSB0"
address = 1

[[devices]]
name = "matrix"
kind = "extron-sis"
host = "192.0.2.10"
inputs = { doc-camera = 1, pc = 2 }
outputs = { judge = 1, plaintiff = 2, defendant = 3, gallery = 4 }

[[devices]]
name = "projector"
kind = "pjlink"
host = "192.0.2.11"
password_env = "PJLINK_PASSWORD"

[[devices]]
name = "recorder"
kind = "hyperdeck"
host = "192.0.2.12"

[[devices]]
name = "light"
kind = "mqtt"
"""


def test_devices_config_accepts_full_equipment_set(tmp_path: Path) -> None:
    config = load_agent_config(write(tmp_path, GOOD + DEVICES))
    by_name = {d.name: d for d in config.devices}
    assert by_name["matrix"].outputs["gallery"] == 4
    assert by_name["matrix"].tcp_port == 23
    assert by_name["projector"].tcp_port == 4352
    assert by_name["recorder"].tcp_port == 9993
    assert by_name["judge-camera"].baudrate == 9600


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('name = "c"\nkind = "visca"\nhost = "h"', "needs 'port'"),
        ('name = "c"\nkind = "visca"\nport = "/dev/ttyS0"\naddress = 9', "1-7"),
        ('name = "p"\nkind = "pjlink"', "needs 'host'"),
        ('name = "p"\nkind = "pjlink"\nhost = "h"\nport = "x"', "must be a number"),
        ('name = "m"\nkind = "mqtt"\nhost = "h"', "courtroom's broker"),
        ('name = "r"\nkind = "hyperdeck"\nhost = "h"\ninputs = { a = 1 }', "only for a matrix"),
        ('name = "x"\nkind = "telex"\nport = "p"', "devices.0.kind"),
    ],
)
def test_devices_config_refuses(tmp_path: Path, table: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_agent_config(write(tmp_path, GOOD + "\n[[devices]]\n" + table + "\n"))


def test_devices_config_refuses_duplicate_names(tmp_path: Path) -> None:
    twice = '\n[[devices]]\nname = "cam"\nkind = "pelco-d"\nport = "/dev/ttyS1"\n' * 2
    with pytest.raises(ConfigError, match="duplicate device names: cam"):
        load_agent_config(write(tmp_path, GOOD + twice))
