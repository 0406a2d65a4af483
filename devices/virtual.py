"""The sans-I/O contract of a simulated device (used by ``courtroom simulate``).

A virtual device is the device's behaviour only: bytes in, bytes out, state,
and its own faults (camera command buffer full, recorder disk full …). The
serving harness (:mod:`devices.simulate`) puts it on a pty or a TCP port and
adds the faults every line can have: slow replies, dropped replies, garbage
bytes, disconnects.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["VirtualDevice"]


class VirtualDevice(Protocol):
    """One simulated device behind one serial line or one TCP connection."""

    #: Names of device-specific faults :meth:`set_fault` accepts.
    faults: frozenset[str]

    def connected(self, *, now: float) -> bytes:
        """A client connected (TCP) or the line opened; return any greeting."""
        ...

    def receive(self, data: bytes, *, now: float) -> bytes:
        """Bytes arrived from the controller; return the bytes to answer now."""
        ...

    def poll(self, *, now: float) -> bytes:
        """Return unsolicited output that is due by ``now`` (completions, notifications)."""
        ...

    def set_fault(self, name: str, active: bool) -> None:
        """Switch a device-specific fault on or off.

        Raises:
            ValueError: ``name`` is not in :attr:`faults`.
        """
        ...
