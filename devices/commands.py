"""The operator's vocabulary: ``courtroom devices send NAME COMMAND [ARGS]``.

The verbs of each kind, their usage and how each is confirmed live in one
table, :data:`devices.kinds.KINDS`; this module keeps the short functions the
CLI and older callers use. The verbs are the same across brands where the
meaning is the same (``power on`` for a camera, a display or an MQTT relay).
Matrix inputs and outputs may be given by number or by configured name
(``tie doc-camera gallery``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from devices.arguments import Builder
from devices.kinds import KINDS, kind_spec

__all__ = ["VERBS", "build_command", "probe_command"]

#: kind → verb → builder, read from :data:`devices.kinds.KINDS`.
VERBS: Mapping[str, Mapping[str, Builder]] = MappingProxyType(
    {
        name: MappingProxyType({verb: row.build for verb, row in spec.verbs.items()})
        for name, spec in KINDS.items()
    }
)


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
        LocalProtocolError: unknown kind or verb, or bad arguments; the
            message says what was expected.
    """
    return kind_spec(kind).build(verb, args, inputs=inputs, outputs=outputs)


def probe_command(kind: str) -> Any | None:
    """A harmless inquiry that proves the device answers (None: it never answers).

    Raises:
        LocalProtocolError: unknown kind.
    """
    probe = kind_spec(kind).probe
    return probe() if probe is not None else None
