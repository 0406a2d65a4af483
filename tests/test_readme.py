"""The README's configuration examples are what a newcomer copies: they must load.

The hub block is one ``hub.toml``; the agent blocks (room, cameras and
microphones, equipment) together are one ``room.toml``. Each is written to a
file and read by the same loader the CLI uses, so an example that drifts from
the configuration model fails here, not on a court's first day.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from courtroom_agent.config import load_agent_config
from hub.config import load_config
from hub.security import hash_password

README = Path(__file__).resolve().parent.parent / "README.md"


def toml_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"^ *```toml\n(.*?)^ *```", text, flags=re.M | re.S)
    # Blocks are indented under their list item; TOML does not mind, but tidy up.
    return ["\n".join(line.strip() for line in block.splitlines()) for block in blocks]


def test_readme_has_hub_and_agent_examples() -> None:
    blocks = toml_blocks()
    assert sum("[listen]" in b for b in blocks) == 1
    assert sum("[hub]" in b for b in blocks) == 1
    assert any("[[devices]]" in b for b in blocks)
    assert any("[[cameras]]" in b for b in blocks)


def shell_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"^ *```sh\n(.*?)^ *```", text, flags=re.M | re.S)
    return ["\n".join(line.strip() for line in block.splitlines()) for block in blocks]


@pytest.fixture(scope="module")
def readme_tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's own openssl commands, run as written: the directory that
    stands in for ``/etc/courtroom`` (hub.pem, hub.key, hub-ca.pem)."""
    (commands,) = [b for b in shell_blocks() if "openssl req" in b]
    directory = tmp_path_factory.mktemp("etc-courtroom")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"[0-9a-f]{64}  -\n", done.stdout), done.stdout  # the pin
    return directory


def test_readme_hub_example_loads(tmp_path: Path, readme_tls: Path) -> None:
    (block,) = [b for b in toml_blocks() if "[listen]" in b]
    # The example's hash is elided (…); a real one comes from --hash-password.
    block = re.sub(
        r'password_hash = "scrypt\$…"', f'password_hash = "{hash_password("pw")}"', block
    )
    block = block.replace("/etc/courtroom/", f"{readme_tls}/")
    path = tmp_path / "hub.toml"
    path.write_text(block, encoding="utf-8")
    config = load_config(path)
    assert config.listen.port == 8443
    assert config.tls is not None and config.tls.cert_file == readme_tls / "hub.pem"
    assert [c.id for c in config.courtrooms] == ["fy-01"]
    assert [(u.username, u.role, u.courtrooms) for u in config.users] == [
        ("clerk1", "clerk", ("fy-01",))
    ]


def test_readme_agent_example_loads(tmp_path: Path, readme_tls: Path) -> None:
    agent = [b for b in toml_blocks() if "[listen]" not in b]
    path = tmp_path / "room.toml"
    text = "\n".join(agent).replace("/etc/courtroom/", f"{readme_tls}/")
    path.write_text(text, encoding="utf-8")
    config = load_agent_config(path)
    assert config.courtroom.id == "fy-01"
    assert config.hub.url.startswith("wss://") and config.hub.ca_file == readme_tls / "hub-ca.pem"
    assert config.audio.roles == ["审判长", "原告", "被告", "书记员"]
    assert [c.id for c in config.cameras] == ["CAM-1"]
    kinds = {d.name: d.kind for d in config.devices}
    assert kinds == {
        "judge-camera": "visca",
        "matrix": "extron-sis",
        "display": "pjlink",
        "recorder": "hyperdeck",
        "lights": "mqtt",
    }
    assert config.mqtt is not None and config.mqtt.host == "10.1.2.2"
