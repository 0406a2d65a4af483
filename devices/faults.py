"""Fault modes shared by every device simulator (line devices and MQTT devices).

``slow_ms`` delays replies (or applied states), ``drop`` is the probability
that a command goes unanswered, ``garbage`` the probability of malformed bytes
(a junk line on a serial/TCP line, cut-off JSON on an MQTT ``/state``), and
``disconnect_every`` hangs up every so many seconds (0: never). What each
means for its transport is in :mod:`devices.simulator` and
:mod:`devices.mqtt.virtual`.

:data:`SCENARIOS` names the equipment failures a demo or an end-to-end test
stages (``courtroom demo --fault DEVICE:FAULT``) by the control-port lines
(:mod:`devices.simulator`) that stage them on a running simulator; ``clear``
undoes any of them.

=====================  ===========================  ==========================================
scenario               control lines                what the controller sees
=====================  ===========================  ==========================================
``recorder:disk-full``  ``fault disk-full on``       HyperDeck: a recording in progress stops,
                                                    ``508 transport info`` ``status: stopped``
                                                    is sent; ``record`` answers ``104 disk
                                                    full``
``matrix:drop``         ``drop 1``                   Extron: every command goes unanswered
                                                    (line up, no reply): ties time out
``display:unplug``      ``unplug``                   PJLink: the connection closes, new ones
                                                    are refused until ``plug``/``clear``
=====================  ===========================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCENARIOS", "Faults"]

#: Staged failures: ``ROLE:FAULT`` → control-port lines (see the module docstring).
SCENARIOS: dict[str, tuple[str, ...]] = {
    "recorder:disk-full": ("fault disk-full on",),
    "matrix:drop": ("drop 1",),
    "display:unplug": ("unplug",),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """Fault modes of a simulated device.

    Raises:
        ValueError: on construction, for a negative delay or period, or a
            probability outside ``[0, 1]``.
    """

    slow_ms: float = 0.0
    drop: float = 0.0
    garbage: float = 0.0
    disconnect_every: float = 0.0

    def __post_init__(self) -> None:
        if self.slow_ms < 0 or self.disconnect_every < 0:
            raise ValueError("slow_ms and disconnect_every must be >= 0")
        if not (0 <= self.drop <= 1 and 0 <= self.garbage <= 1):
            raise ValueError("drop and garbage are probabilities in [0, 1]")

    def describe(self) -> str:
        """Return ``slow=… drop=… garbage=… disconnect-every=…``."""
        return (
            f"slow={self.slow_ms:g} drop={self.drop:g} garbage={self.garbage:g} "
            f"disconnect-every={self.disconnect_every:g}"
        )
