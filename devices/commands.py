"""The operator's vocabulary: ``courtroom devices send NAME COMMAND [ARGS]``.

One table maps each device kind's verbs to the protocol command objects its
session takes. The verbs are the same across brands where the meaning is
the same (``power on`` for a camera, a display or an MQTT relay).

=========== =================================================================
kind        verbs
=========== =================================================================
visca       ``power on|off``, ``preset-recall N``, ``preset-set N``, ``status``
pelco-d     ``power on|off``, ``preset-recall N``, ``preset-set N``, ``preset-clear N``
extron-sis  ``tie IN OUT [all|video|audio]``, ``untie OUT``, ``read OUT``, ``status``
pjlink      ``power on|off``, ``input CODE``, ``mute on|off``, ``status``
hyperdeck   ``record [CLIP]``, ``stop``, ``status``
mqtt        ``power on|off``, ``input SOURCE``, ``set ACTION [KEY=VALUE …]``
=========== =================================================================

Matrix inputs and outputs may be given by number or by configured name
(``tie doc-camera gallery``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from devices import extron, hyperdeck, pelco, pjlink, visca
from devices.errors import LocalProtocolError, RemoteProtocolError
from devices.mqtt.contract import SetCommand

__all__ = ["VERBS", "build_command", "probe_command"]

Builder = Callable[[Sequence[str], Mapping[str, int], Mapping[str, int]], Any]


def _on_off(args: Sequence[str]) -> bool:
    if len(args) != 1 or args[0] not in ("on", "off"):
        raise LocalProtocolError("expected 'on' or 'off'")
    return args[0] == "on"


def _number(args: Sequence[str], what: str = "N") -> int:
    if len(args) != 1 or not args[0].isdigit():
        raise LocalProtocolError(f"expected one number {what}")
    return int(args[0])


def _port(value: str, names: Mapping[str, int], what: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        return names[value]
    except KeyError:
        known = ", ".join(sorted(names)) or "none configured"
        raise LocalProtocolError(f"unknown {what} {value!r} (names: {known})") from None


_LAYERS = {
    "all": extron.TieLayer.ALL,
    "video": extron.TieLayer.VIDEO,
    "audio": extron.TieLayer.AUDIO,
}


def _tie(args: Sequence[str], inputs: Mapping[str, int], outputs: Mapping[str, int]) -> Any:
    if len(args) not in (2, 3):
        raise LocalProtocolError("usage: tie IN OUT [all|video|audio]")
    layer = _LAYERS.get(args[2] if len(args) == 3 else "all")
    if layer is None:
        raise LocalProtocolError("layer must be all, video or audio")
    return extron.Tie(_port(args[0], inputs, "input"), _port(args[1], outputs, "output"), layer)


def _untie(args: Sequence[str], inputs: Mapping[str, int], outputs: Mapping[str, int]) -> Any:
    if len(args) != 1:
        raise LocalProtocolError("usage: untie OUT")
    return extron.Tie(0, _port(args[0], outputs, "output"))


def _read(args: Sequence[str], inputs: Mapping[str, int], outputs: Mapping[str, int]) -> Any:
    if len(args) != 1:
        raise LocalProtocolError("usage: read OUT")
    return extron.ReadTie(_port(args[0], outputs, "output"))


def _mqtt_set(args: Sequence[str]) -> SetCommand:
    if not args:
        raise LocalProtocolError("usage: set ACTION [KEY=VALUE …]")
    pairs = [a.split("=", 1) for a in args[1:]]
    if any(len(p) != 2 for p in pairs):
        raise LocalProtocolError("arguments must be KEY=VALUE")
    return SetCommand(args[0], {k: v for k, v in pairs})


def _simple(build: Callable[[Sequence[str]], Any]) -> Builder:
    return lambda args, inputs, outputs: build(args)


def _no_args(command: Callable[[], Any]) -> Callable[[Sequence[str]], Any]:
    def build(args: Sequence[str]) -> Any:
        if args:
            raise LocalProtocolError("takes no arguments")
        return command()

    return build


def _record(args: Sequence[str]) -> Any:
    if len(args) > 1:
        raise LocalProtocolError("usage: record [CLIP]")
    return hyperdeck.Command.record(name=args[0] if args else None)


VERBS: dict[str, dict[str, Builder]] = {
    "visca": {
        "power": _simple(lambda a: visca.Power(on=_on_off(a))),
        "preset-recall": _simple(lambda a: visca.PresetRecall(_number(a))),
        "preset-set": _simple(lambda a: visca.PresetSet(_number(a))),
        "status": _simple(_no_args(visca.PowerInquiry)),
    },
    "pelco-d": {
        "power": _simple(lambda a: pelco.CameraPower(_on_off(a))),
        "preset-recall": _simple(lambda a: pelco.PresetGoto(_number(a))),
        "preset-set": _simple(lambda a: pelco.PresetSet(_number(a))),
        "preset-clear": _simple(lambda a: pelco.PresetClear(_number(a))),
    },
    "extron-sis": {
        "tie": _tie,
        "untie": _untie,
        "read": _read,
        "status": _simple(_no_args(extron.QueryFirmware)),
    },
    "pjlink": {
        "power": _simple(lambda a: pjlink.PowerSet(_on_off(a))),
        "input": _simple(lambda a: pjlink.InputSet(pjlink.InputSource.from_code(a[0]))),
        "mute": _simple(lambda a: pjlink.MuteSet(pjlink.MuteTarget.AV, _on_off(a))),
        "status": _simple(_no_args(pjlink.PowerQuery)),
    },
    "hyperdeck": {
        "record": _simple(_record),
        "stop": _simple(_no_args(lambda: hyperdeck.Command.simple(hyperdeck.CommandName.STOP))),
        "status": _simple(
            _no_args(lambda: hyperdeck.Command.simple(hyperdeck.CommandName.TRANSPORT_INFO))
        ),
    },
    "mqtt": {
        "power": _simple(lambda a: SetCommand("power", {"state": "on" if _on_off(a) else "off"})),
        "input": _simple(lambda a: SetCommand("input", {"source": a[0]} if len(a) == 1 else {})),
        "set": _simple(_mqtt_set),
    },
}

_PROBES: dict[str, Callable[[], Any]] = {
    "visca": visca.PowerInquiry,
    "extron-sis": extron.QueryFirmware,
    "pjlink": pjlink.PowerQuery,
    "hyperdeck": lambda: hyperdeck.Command.simple(hyperdeck.CommandName.DEVICE_INFO),
}


def build_command(
    kind: str,
    verb: str,
    args: Sequence[str],
    *,
    inputs: Mapping[str, int] | None = None,
    outputs: Mapping[str, int] | None = None,
) -> Any:
    """The protocol command for ``verb args`` on a device of ``kind``.

    Raises:
        LocalProtocolError: unknown verb for this kind, or bad arguments; the
            message says what was expected.
    """
    verbs = VERBS.get(kind)
    if verbs is None:
        raise LocalProtocolError(f"unknown device kind {kind!r}")
    builder = verbs.get(verb)
    if builder is None:
        raise LocalProtocolError(f"{kind} devices understand: {', '.join(sorted(verbs))}")
    try:
        return builder(args, inputs or {}, outputs or {})
    except (IndexError, ValueError, RemoteProtocolError) as exc:
        raise LocalProtocolError(f"{verb}: {exc or 'missing argument'}") from exc


def probe_command(kind: str) -> Any | None:
    """A harmless inquiry that proves the device answers (None: it never answers)."""
    factory = _PROBES.get(kind)
    return factory() if factory is not None else None
