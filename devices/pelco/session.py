"""Sans-I/O Pelco-D session: one receiver address on an RS-485 line.

Implements :class:`devices.session.DeviceSession`. Pelco-D has no
acknowledgement (Pelco "D" Protocol Manual, TF-0002 v2r1: receivers stay
silent on standard and preset commands), so a command is complete as soon as
its seven bytes are on the line: :meth:`PelcoDSession.data_to_send` emits
``Sent`` for each command it hands out, and :meth:`PelcoDSession.data_written`
(the transport wrote and drained them) emits ``Completed``. Nothing waits for
the device, so there is no deadline. Whether the camera really moved has to be
verified by other means (the video, an operator).

Bytes that do arrive (another controller on the bus, a receiver that echoes)
are decoded: good frames become ``Unsolicited``, everything else ``Fault``.
"""

from __future__ import annotations

from devices.errors import DeviceUnavailableError, LocalProtocolError, RemoteProtocolError
from devices.pelco.codec import FrameReader, PelcoCommand, PelcoFrame, encode
from devices.session import Completed, Failed, Fault, Sent, SessionEvent, Unsolicited

__all__ = ["PelcoDSession"]


class PelcoDSession:
    """Protocol state of one Pelco-D receiver. See the module docstring.

    Args:
        address: the receiver's Pelco-D address (1..255).
        device: configured device name, put into every error.
        max_queue: commands that may wait for the transport to take them.
            When full, :meth:`send` fails the new command at once (``Failed``
            with DeviceUnavailableError, retryable).

    Raises:
        LocalProtocolError: ``address`` is not 1..255.
    """

    def __init__(self, *, address: int = 1, device: str | None = None, max_queue: int = 64) -> None:
        if not 1 <= address <= 0xFF:
            raise LocalProtocolError(f"Pelco-D address must be 1..255, not {address}")
        self.address = address
        self.device = device
        self._max_queue = max_queue
        self._connected = False
        self._reader = FrameReader()
        self._pending: list[tuple[PelcoCommand, bytes]] = []
        self._in_flight: list[tuple[PelcoCommand, bytes]] = []
        self._events: list[SessionEvent] = []

    def connection_made(self, *, now: float) -> None:
        """The line opened; partial input from before is forgotten."""
        self._connected = True
        self._reader.clear()

    def connection_lost(self, *, now: float) -> None:
        """The line closed: commands not yet written fail (retryable).

        A frame handed out but not confirmed by :meth:`data_written` may or
        may not have reached the camera; every Pelco-D command here is
        idempotent, so sending it again is safe.
        """
        self._connected = False
        self._reader.clear()
        pending = self._in_flight + self._pending
        self._in_flight, self._pending = [], []
        for command, _ in pending:
            self._fail(command, "Pelco-D connection lost")

    def send(self, command: PelcoCommand, *, now: float) -> None:
        """Queue ``command`` for this receiver.

        Raises:
            LocalProtocolError: ``command`` is not a Pelco-D command.
        """
        raw = encode(PelcoFrame(self.address, command))
        if not self._connected:
            self._fail(command, "Pelco-D line not open")
        elif len(self._pending) >= self._max_queue:
            self._fail(command, f"Pelco-D send queue full ({self._max_queue} waiting)")
        else:
            self._pending.append((command, raw))

    def data_to_send(self) -> bytes:
        """Hand out the queued frames; each command is ``Sent`` now."""
        pending, self._pending = self._pending, []
        for command, raw in pending:
            self._events.append(Sent(command, raw))
        self._in_flight += pending
        return b"".join(raw for _, raw in pending)

    def data_written(self, *, now: float) -> None:
        """The frames handed out are on the line: each of those commands is ``Completed``."""
        written, self._in_flight = self._in_flight, []
        for command, raw in written:
            self._events.append(Completed(command, None, raw))

    def receive_data(self, data: bytes, *, now: float) -> None:
        """Decode whatever arrived. Never raises; garbage becomes ``Fault``."""
        for item in self._reader.feed(data):
            if isinstance(item, RemoteProtocolError):
                error = RemoteProtocolError(item.message, device=self.device, raw=item.raw)
                self._events.append(Fault(error))
            else:
                self._events.append(Unsolicited(item, encode(item)))

    def next_deadline(self) -> float | None:
        """Always None: Pelco-D never waits for a reply."""
        return None

    def handle_timeout(self, *, now: float) -> None:
        """Nothing to do: no command waits for a reply."""

    def events(self) -> list[SessionEvent]:
        """Return and forget the events since the last call."""
        events, self._events = self._events, []
        return events

    def _fail(self, command: PelcoCommand, message: str) -> None:
        error = DeviceUnavailableError(message, device=self.device)
        self._events.append(Failed(command, error, retryable=True))
