"""The README's configuration examples are what a newcomer copies: they must load.

The hub block is one ``hub.toml``; the agent blocks (room, cameras and
microphones, equipment) together are one ``room.toml``. Each is written to a
file and read by the same loader the CLI uses, so an example that drifts from
the configuration model fails here, not on a court's first day.
"""

from __future__ import annotations

import re
from pathlib import Path

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


def test_readme_hub_example_loads(tmp_path: Path) -> None:
    (block,) = [b for b in toml_blocks() if "[listen]" in b]
    # The example's hash is elided (…); a real one comes from --hash-password.
    block = re.sub(
        r'password_hash = "scrypt\$…"', f'password_hash = "{hash_password("pw")}"', block
    )
    path = tmp_path / "hub.toml"
    path.write_text(block, encoding="utf-8")
    config = load_config(path)
    assert config.listen.port == 8080
    assert [c.id for c in config.courtrooms] == ["fy-01"]
    assert [u.username for u in config.users] == ["clerk1"]


def test_readme_agent_example_loads(tmp_path: Path) -> None:
    agent = [b for b in toml_blocks() if "[listen]" not in b]
    path = tmp_path / "room.toml"
    path.write_text("\n".join(agent), encoding="utf-8")
    config = load_agent_config(path)
    assert config.courtroom.id == "fy-01"
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
