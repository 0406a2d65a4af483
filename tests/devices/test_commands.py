"""The operator's verbs map onto each protocol's commands and bytes."""

from __future__ import annotations

import pytest

from devices import extron, hyperdeck, pelco, pjlink, visca
from devices.commands import VERBS, build_command, probe_command
from devices.errors import LocalProtocolError
from devices.mqtt.contract import SetCommand

INPUTS = {"doc-camera": 1, "pc": 2}
OUTPUTS = {"judge": 1, "plaintiff": 2, "defendant": 3, "gallery": 4}


def test_visca_verbs_encode_to_spec_bytes() -> None:
    cmd = build_command("visca", "preset-recall", ["5"])
    assert cmd == visca.PresetRecall(5)
    assert visca.encode_command(cmd, address=1) == bytes.fromhex("8101043f0205ff")
    assert build_command("visca", "power", ["on"]) == visca.Power(on=True)


def test_pelco_preset_goto_frame() -> None:
    cmd = build_command("pelco-d", "preset-recall", ["3"])
    frame = pelco.encode(pelco.PelcoFrame(address=1, command=cmd))
    assert frame == bytes([0xFF, 0x01, 0x00, 0x07, 0x00, 0x03, 0x0B])


def test_matrix_tie_by_name_and_number() -> None:
    cmd = build_command(
        "extron-sis", "tie", ["doc-camera", "gallery"], inputs=INPUTS, outputs=OUTPUTS
    )
    assert cmd == extron.Tie(1, 4, extron.TieLayer.ALL)
    assert extron.encode_command(cmd) == b"1*4!"
    video = build_command("extron-sis", "tie", ["2", "3", "video"], inputs=INPUTS, outputs=OUTPUTS)
    assert extron.encode_command(video) == b"2*3%"
    assert build_command("extron-sis", "untie", ["judge"], outputs=OUTPUTS) == extron.Tie(0, 1)


def test_pjlink_hyperdeck_mqtt_verbs() -> None:
    assert build_command("pjlink", "input", ["31"]) == pjlink.InputSet(
        pjlink.InputSource.from_code("31")
    )
    assert build_command("pjlink", "mute", ["on"]) == pjlink.MuteSet(pjlink.MuteTarget.AV, True)
    record = build_command("hyperdeck", "record", ["hearing-1"])
    assert hyperdeck.codec.encode_command(record) == b"record: name: hearing-1\r\n"
    power = build_command("mqtt", "power", ["off"])
    assert (
        isinstance(power, SetCommand) and power.action == "power" and power.args == {"state": "off"}
    )
    custom = build_command("mqtt", "set", ["brightness", "level=40"])
    assert custom.action == "brightness" and custom.args == {"level": "40"}


@pytest.mark.parametrize(
    ("kind", "verb", "args", "message"),
    [
        ("visca", "zoom", [], "visca devices understand"),
        ("visca", "power", ["maybe"], "'on' or 'off'"),
        ("visca", "preset-recall", ["x"], "number"),
        ("visca", "preset-recall", ["999"], "preset"),
        ("extron-sis", "tie", ["nowhere", "judge"], "unknown input 'nowhere'"),
        ("extron-sis", "tie", ["1", "2", "smell"], "all, video or audio"),
        ("pjlink", "input", ["99"], "input"),
        ("hyperdeck", "stop", ["now"], "no arguments"),
        ("mqtt", "set", ["x", "novalue"], "KEY=VALUE"),
        ("telex", "power", ["on"], "unknown device kind"),
    ],
)
def test_build_command_refuses_with_reason(
    kind: str, verb: str, args: list[str], message: str
) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        build_command(kind, verb, args, inputs=INPUTS, outputs=OUTPUTS)


def test_probe_command_per_kind() -> None:
    assert probe_command("visca") == visca.PowerInquiry()
    assert probe_command("pelco-d") is None  # Pelco-D never answers
    assert set(VERBS) == {"visca", "pelco-d", "extron-sis", "pjlink", "hyperdeck", "mqtt"}
