"""Device events: the equipment audit trail of a hearing.

Every command sent, every reply, error, unsolicited message, line fault and
online/offline change of a device becomes one :class:`DeviceEvent`, stamped
with the hearing clock. :class:`devices.link.DeviceLink` produces them; the
agent appends them to its spool (kind :data:`DEVICE_EVENT_KIND`) and the hub
keeps them with the transcript, so a clerk can later show that the document
camera was switched to the defendant's screen at 00:41:07.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["DEVICE_EVENT_KIND", "MAX_MEANING", "MAX_RAW", "DeviceEvent", "Direction"]

#: Spool / wire event kind under which the agent publishes device events.
DEVICE_EVENT_KIND = "device"
#: Longest ``meaning`` kept, in characters; :meth:`DeviceEvent.of` shortens.
MAX_MEANING = 200
#: Most raw bytes kept per event; :meth:`DeviceEvent.of` cuts longer input
#: (a recorder's multi-line slot listing) and says so in ``meaning``.
MAX_RAW = 1024

_HEX_DIGITS = frozenset("0123456789abcdef")


class Direction(enum.StrEnum):
    """Which way an event went, from the agent's point of view."""

    TX = "tx"
    """A command was sent to the device."""
    RX = "rx"
    """The device answered a command successfully."""
    ERROR = "error"
    """A command failed: error reply, timeout, or the line went down."""
    UNSOLICITED = "unsolicited"
    """The device said something on its own (notification, state change)."""
    FAULT = "fault"
    """The device sent bytes that are no valid message; the line resynchronised."""
    STATE = "state"
    """The link went online or offline."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceEvent:
    """One entry of the equipment audit trail.

    Attributes:
        time: hearing-clock seconds when the link saw the event.
        device: configured device name (``doc-camera``, ``matrix``).
        direction: see :class:`Direction`.
        meaning: short decoded text (``PresetRecall(preset=3)``,
            ``VISCA syntax error``, ``offline: connection refused``).
        raw_hex: the bytes involved, lowercase hex without separators; empty
            for state changes and timeouts.

    Raises:
        ValueError: on construction, if ``time`` is not finite, ``device`` is
            empty, ``meaning`` is longer than :data:`MAX_MEANING` or
            ``raw_hex`` is not even-length lowercase hex of at most
            :data:`MAX_RAW` bytes.
    """

    time: float
    device: str
    direction: Direction
    meaning: str
    raw_hex: str = ""

    def __post_init__(self) -> None:
        if not math.isfinite(self.time):
            raise ValueError(f"device event time must be finite, not {self.time!r}")
        if not self.device:
            raise ValueError("device event needs a device name")
        if not isinstance(self.direction, Direction):
            raise ValueError(f"unknown device event direction {self.direction!r}")
        if len(self.meaning) > MAX_MEANING:
            raise ValueError(f"device event meaning longer than {MAX_MEANING} characters")
        if len(self.raw_hex) % 2 or not set(self.raw_hex) <= _HEX_DIGITS:
            raise ValueError("device event raw_hex must be lowercase hex digit pairs")
        if len(self.raw_hex) > 2 * MAX_RAW:
            raise ValueError(f"device event raw longer than {MAX_RAW} bytes")

    @classmethod
    def of(
        cls, *, time: float, device: str, direction: Direction, meaning: str, raw: bytes = b""
    ) -> DeviceEvent:
        """Build an event, shortening ``meaning`` and ``raw`` to fit.

        Raises:
            ValueError: as the constructor, for a non-finite ``time`` or an
                empty ``device``.
        """
        if len(raw) > MAX_RAW:
            meaning = f"{meaning} [{len(raw)} bytes, first {MAX_RAW} kept]"
            raw = raw[:MAX_RAW]
        if len(meaning) > MAX_MEANING:
            meaning = meaning[: MAX_MEANING - 1] + "…"
        return cls(
            time=time, device=device, direction=direction, meaning=meaning, raw_hex=raw.hex()
        )

    @property
    def raw(self) -> bytes:
        """The bytes involved, decoded from :attr:`raw_hex`."""
        return bytes.fromhex(self.raw_hex)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object the agent spools and the hub stores."""
        return {
            "time": self.time,
            "device": self.device,
            "direction": self.direction.value,
            "meaning": self.meaning,
            "raw": self.raw_hex,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeviceEvent:
        """Rebuild an event from :meth:`to_json` output.

        Raises:
            ValueError: a field is missing, of the wrong type or invalid.
        """
        try:
            time, device = data["time"], data["device"]
            meaning, raw = data["meaning"], data.get("raw", "")
            direction = Direction(data["direction"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed device event: {exc}") from exc
        if isinstance(time, bool) or not isinstance(time, int | float):
            raise ValueError("device event time must be a number")
        if not all(isinstance(v, str) for v in (device, meaning, raw)):
            raise ValueError("device event device, meaning and raw must be strings")
        return cls(
            time=float(time), device=device, direction=direction, meaning=meaning, raw_hex=raw
        )
