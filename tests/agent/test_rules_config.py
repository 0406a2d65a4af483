"""The five-sync rules as configured: standard rules from ``[sync]``, overrides,
and ``courtroom agent --check`` naming every problem by key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from courtroom_agent.config import ConfigError, load_agent_config
from courtroom_agent.rules import merge_rules, standard_rules
from courtroom_agent.sync_check import check_sync

ROOM = """
[courtroom]
id = "fy-01"
name = "第一法庭"

[hub]
url = "ws://127.0.0.1:1/ws/agent"
token = "t"

[audio]
source = "wav"
file = "x.wav"
roles = ["审判长", "原告", "被告", "书记员"]

[[devices]]
name = "deck"
kind = "hyperdeck"
host = "127.0.0.1"

[[devices]]
name = "matrix"
kind = "extron-sis"
host = "127.0.0.1"
inputs = {doc-camera = 1, evidence-pc = 2}
outputs = {judge = 1, plaintiff = 2, defendant = 3, gallery = 4}

[[devices]]
name = "gallery-display"
kind = "pjlink"
host = "127.0.0.1"

[[devices]]
name = "judge-camera"
kind = "visca"
port = "/dev/null-cam"

[sync]
recorders = ["deck"]
matrix = "matrix"
evidence_input = "evidence-pc"
[[sync.screens]]
name = "plaintiff"
output = "plaintiff"
[[sync.screens]]
name = "gallery"
output = "gallery"
display = "gallery-display"
display_input = "31"
[[sync.seats]]
channel = 0
camera = "judge-camera"
preset = 1
"""


def _room(tmp_path: Path, extra: str = "", base: str = ROOM) -> Path:
    path = tmp_path / "room.toml"
    path.write_text(base + extra, encoding="utf-8")
    return path


def test_standard_rules_follow_the_parts(tmp_path: Path) -> None:
    config = load_agent_config(_room(tmp_path))
    assert config.sync is not None
    rules = {rule.id: rule for rule in standard_rules(config.sync)}
    assert set(rules) == {
        "recorders-record",
        "recorders-stop",
        "displays-on",
        "evidence-present",
        "evidence-withdraw",
        "follow-seat-0",
    }
    record = rules["recorders-record"]
    assert record.on == {"hearing.opened", "hearing.resumed"}
    assert [(a.device, a.verb, a.policy, a.within) for a in record.actions] == [
        ("deck", "record", "incident", 2.0)
    ]
    present = rules["evidence-present"]
    ties = [a for a in present.actions if a.verb == "tie"]
    assert [a.args for a in ties] == [("{input}", "plaintiff"), ("{input}", "gallery")]
    expanded = ties[1].expand({"input": "doc-camera"}, "evidence-present")
    assert expanded.args == ("doc-camera", "gallery")
    assert [a.verb for a in rules["evidence-withdraw"].actions] == ["restore", "restore"]
    follow = rules["follow-seat-0"]
    assert follow.matches("speaker.changed", {"channel": 0})
    assert not follow.matches("speaker.changed", {"channel": 1})
    assert check_sync(config) == []


def test_configured_rules_add_replace_and_disable(tmp_path: Path) -> None:
    extra = """
[[rules]]
id = "recorders-record"
on = ["hearing.opened"]
[[rules.actions]]
device = "deck"
do = "record 庭审"
within_ms = 3000
on_failure = "retry"
part = "recording"

[[rules]]
id = "follow-seat-0"
on = ["speaker.changed"]
enabled = false
actions = [{device = "judge-camera", do = "preset-recall 1"}]
"""
    config = load_agent_config(_room(tmp_path, extra))
    rules = {rule.id: rule for rule in merge_rules(config.sync, config.rules)}
    assert "follow-seat-0" not in rules
    replaced = rules["recorders-record"]
    assert replaced.on == {"hearing.opened"}
    assert replaced.actions[0].args == ("庭审",)
    assert replaced.actions[0].policy == "retry"
    assert replaced.actions[0].within == 3.0
    assert check_sync(config) == []


def test_check_names_every_problem_by_key_path(tmp_path: Path) -> None:
    broken = ROOM.replace('recorders = ["deck"]', 'recorders = ["deck", "judge-camera"]')
    broken = broken.replace('output = "gallery"', 'output = "lobby"')
    broken = broken.replace('camera = "judge-camera"', 'camera = "gallery-display"')
    extra = """
[[rules]]
id = "lights"
on = ["hearing.opened"]
actions = [{device = "nowhere", do = "power on"}, {device = "deck", do = "tie 1 2"}]
"""
    config = load_agent_config(_room(tmp_path, extra, broken))
    problems = check_sync(config)
    assert any(p.startswith("sync.recorders[1]: judge-camera is a visca device") for p in problems)
    assert any(p.startswith("sync.screens[1].output: 'lobby' is not an output") for p in problems)
    assert any(p.startswith("sync.seats[0].camera: gallery-display is a pjlink") for p in problems)
    assert any(
        p.startswith("rules[0].actions[0].device: no device named 'nowhere'") for p in problems
    )
    assert any(p.startswith("rules[0].actions[1].do:") for p in problems)
    assert len(problems) == 5, problems
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "courtroom_agent.cli",
            "agent",
            "--config",
            str(tmp_path / "room.toml"),
            "--check",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "sync.screens[1].output" in result.stderr
    assert "rules[0].actions[0].device" in result.stderr


def _rule(on: str = "hearing.opened", rule_id: str = "x", **action: object) -> str:
    fields = ", ".join(
        f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in action.items()
    )
    fields = ", ".join(filter(None, ['device = "deck"', 'do = "stop"', fields]))
    return f'[[rules]]\nid = "{rule_id}"\non = ["{on}"]\nactions = [{{{fields}}}]\n'.replace(
        "'", '"'
    )


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        (_rule(on="hearing.exploded"), "rules.0.on.0"),
        (_rule(within_ms=0), "rules.0.actions.0.within_ms"),
        (_rule(on_failure="pray"), "rules.0.actions.0.on_failure"),
        (_rule(rule_id="../x"), "rules.0.id"),
    ],
)
def test_hostile_rules_are_refused_naming_the_field(tmp_path: Path, toml: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_agent_config(_room(tmp_path, "\n" + toml))
    assert field in str(caught.value)
