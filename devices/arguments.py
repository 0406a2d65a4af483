"""Parsers for the operator's verb arguments (``tie doc-camera gallery``, ``power on``).

Each builder turns the words after a verb into one protocol command object;
:mod:`devices.kinds` names which builder each kind's verb uses. A builder
raises :class:`~devices.errors.LocalProtocolError` saying what it expected;
:func:`devices.kinds.DeviceKindSpec.build` adds the verb to the message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from devices import extron, hyperdeck
from devices.errors import LocalProtocolError
from devices.mqtt.contract import SetCommand

__all__ = [
    "Builder",
    "mqtt_set",
    "no_args",
    "number",
    "on_off",
    "one_word",
    "read",
    "record",
    "simple",
    "tie",
    "untie",
]

#: ``(args, matrix input names, matrix output names) -> protocol command``.
Builder = Callable[[Sequence[str], Mapping[str, int], Mapping[str, int]], Any]


def on_off(args: Sequence[str]) -> bool:
    """``on`` → True, ``off`` → False; anything else is refused."""
    if len(args) != 1 or args[0] not in ("on", "off"):
        raise LocalProtocolError("expected 'on' or 'off'")
    return args[0] == "on"


def number(args: Sequence[str], what: str = "N") -> int:
    """Exactly one decimal number."""
    if len(args) != 1 or not args[0].isdigit():
        raise LocalProtocolError(f"expected one number {what}")
    return int(args[0])


def one_word(args: Sequence[str], what: str) -> str:
    """Exactly one word."""
    if len(args) != 1:
        raise LocalProtocolError(f"expected one {what}")
    return args[0]


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


def tie(args: Sequence[str], inputs: Mapping[str, int], outputs: Mapping[str, int]) -> Any:
    """``tie IN OUT [all|video|audio]``, ports by number or configured name."""
    if len(args) not in (2, 3):
        raise LocalProtocolError("usage: tie IN OUT [all|video|audio]")
    layer = _LAYERS.get(args[2] if len(args) == 3 else "all")
    if layer is None:
        raise LocalProtocolError("layer must be all, video or audio")
    return extron.Tie(_port(args[0], inputs, "input"), _port(args[1], outputs, "output"), layer)


def untie(args: Sequence[str], inputs: Mapping[str, int], outputs: Mapping[str, int]) -> Any:
    """``untie OUT``: tie input 0 (nothing) to the output."""
    if len(args) != 1:
        raise LocalProtocolError("usage: untie OUT")
    return extron.Tie(0, _port(args[0], outputs, "output"))


def read(args: Sequence[str], inputs: Mapping[str, int], outputs: Mapping[str, int]) -> Any:
    """``read OUT``: which input feeds the output."""
    if len(args) != 1:
        raise LocalProtocolError("usage: read OUT")
    return extron.ReadTie(_port(args[0], outputs, "output"))


def mqtt_set(args: Sequence[str]) -> SetCommand:
    """``set ACTION [KEY=VALUE …]``: any action of the MQTT contract."""
    if not args:
        raise LocalProtocolError("usage: set ACTION [KEY=VALUE …]")
    pairs = [a.split("=", 1) for a in args[1:]]
    if any(len(p) != 2 for p in pairs):
        raise LocalProtocolError("arguments must be KEY=VALUE")
    return SetCommand(args[0], {k: v for k, v in pairs})


def record(args: Sequence[str]) -> Any:
    """``record [CLIP]``."""
    if len(args) > 1:
        raise LocalProtocolError("usage: record [CLIP]")
    return hyperdeck.Command.record(name=args[0] if args else None)


def simple(build: Callable[[Sequence[str]], Any]) -> Builder:
    """A builder that needs no matrix port names."""
    return lambda args, inputs, outputs: build(args)


def no_args(command: Callable[[], Any]) -> Callable[[Sequence[str]], Any]:
    """A verb without arguments."""

    def build(args: Sequence[str]) -> Any:
        if args:
            raise LocalProtocolError("takes no arguments")
        return command()

    return build
