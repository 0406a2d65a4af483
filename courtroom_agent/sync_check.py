"""``courtroom agent --check`` for the five-sync rules: every problem by key path.

The rules must fit the configured devices: each action's device exists, its
verb is one that device's kind understands and its arguments parse (matrix
inputs and outputs by name); each part of ``[sync]`` names a device of the
right kind.
"""

from __future__ import annotations

from collections.abc import Mapping

from courtroom_agent.config import AgentConfig, DeviceConfig
from courtroom_agent.rules import Action, merge_rules
from devices.commands import build_command
from devices.errors import DeviceError

__all__ = ["check_sync"]

_ROLES: Mapping[str, frozenset[str]] = {
    "recorder": frozenset({"hyperdeck", "mqtt"}),
    "matrix": frozenset({"extron-sis"}),
    "display": frozenset({"pjlink", "mqtt"}),
    "camera": frozenset({"visca", "pelco-d"}),
}
"""Which device kinds may play each part."""


def _device(
    devices: Mapping[str, DeviceConfig], name: str | None, role: str, path: str
) -> list[str]:
    if name is None:
        return []
    device = devices.get(name)
    if device is None:
        known = ", ".join(sorted(devices)) or "none configured"
        return [f"{path}: no device named {name!r} (devices: {known})"]
    if device.kind not in _ROLES[role]:
        kinds = ", ".join(sorted(_ROLES[role]))
        return [f"{path}: {name} is a {device.kind} device; a {role} must be {kinds}"]
    return []


def _action(devices: Mapping[str, DeviceConfig], action: Action, path: str) -> list[str]:
    if "{" in action.device:
        return []
    device = devices.get(action.device)
    if device is None:
        return [f"{path}.device: no device named {action.device!r}"]
    if action.verb == "restore":
        if device.kind != "extron-sis":
            return [f"{path}.do: restore is for a matrix, {action.device} is {device.kind}"]
        verb, args = "read", action.args[:1]
    else:
        verb, args = action.verb, action.args
    # Placeholders are filled from the event: check with a plausible value.
    sample = tuple("1" if "{" in a else a for a in args)
    try:
        build_command(device.kind, verb, sample, inputs=device.inputs, outputs=device.outputs)
    except DeviceError as exc:
        return [f"{path}.do: {exc}"]
    return []


def check_sync(config: AgentConfig) -> list[str]:
    """Every problem of ``[sync]`` and ``[[rules]]`` against the devices (empty: fine)."""
    devices = {d.name: d for d in config.devices}
    problems: list[str] = []
    sync = config.sync
    if sync is not None:
        for i, name in enumerate(sync.recorders):
            problems += _device(devices, name, "recorder", f"sync.recorders[{i}]")
        problems += _device(devices, sync.matrix, "matrix", "sync.matrix")
        matrix = devices.get(sync.matrix or "")
        evidence = sync.evidence_input
        if evidence and matrix and not evidence.isdigit() and evidence not in matrix.inputs:
            problems.append(
                f"sync.evidence_input: {evidence!r} is not an input of "
                f"{matrix.name} ({', '.join(sorted(matrix.inputs)) or 'none named'})"
            )
        for i, screen in enumerate(sync.screens):
            path = f"sync.screens[{i}]"
            problems += _device(devices, screen.display, "display", f"{path}.display")
            if screen.output is not None:
                if sync.matrix is None:
                    problems.append(f"{path}.output: no sync.matrix to route it")
                elif (
                    matrix is not None
                    and not screen.output.isdigit()
                    and screen.output not in matrix.outputs
                ):
                    problems.append(
                        f"{path}.output: {screen.output!r} is not an output of {matrix.name}"
                    )
        names = [s.name for s in sync.screens]
        for dupe in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"sync.screens: screen {dupe!r} given twice")
        for i, seat in enumerate(sync.seats):
            problems += _device(devices, seat.camera, "camera", f"sync.seats[{i}].camera")
            if seat.channel >= len(config.audio.roles or []) and config.audio.roles:
                problems.append(
                    f"sync.seats[{i}].channel: {seat.channel} is not a microphone "
                    f"(audio.roles has {len(config.audio.roles)})"
                )
    for i, rule in enumerate(config.rules):
        for j, action in enumerate(merge_rules(None, [rule])[0].actions if rule.enabled else []):
            problems += _action(devices, action, f"rules[{i}].actions[{j}]")
    return problems
