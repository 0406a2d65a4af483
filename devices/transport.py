"""Byte transports: the thin layer that moves a session's bytes.

Two kinds, one small interface (:class:`Transport`): ``open`` / ``close`` /
``read`` / ``write``. They know nothing of any protocol; every failure
(port missing, permission denied, connection refused, lost, closed by the
device) is raised as :class:`~devices.errors.DeviceUnavailableError` whose
``__cause__`` is the original ``OSError`` / ``SerialException`` so a retry
loop can classify it (:func:`courtroom_core.backoff.classify`).

* :class:`SerialTransport` — any pyserial URL: a device path
  (``/dev/ttyUSB0``, ``/dev/serial/by-id/…``, a pty ``/dev/pts/7``),
  ``socket://host:port`` (serial-over-TCP servers), ``rfc2217://host:port``,
  ``loop://``. Ports with a file descriptor run on the event loop through
  ``pyserial-asyncio-fast``; URL handlers without one (``loop://``,
  ``rfc2217://``) are polled every ``poll_interval`` seconds.
* :class:`TcpTransport` — a plain TCP connection (PJLink, HyperDeck, Extron
  over Telnet) through asyncio streams, with TCP keepalive on.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import urllib.parse
from functools import partial
from typing import Any, Protocol

import serial
import serial_asyncio_fast

from devices.errors import DeviceUnavailableError

__all__ = ["SerialTransport", "TcpTransport", "Transport", "transport_for"]

_READ_SIZE = 4096


class Transport(Protocol):
    """What :class:`devices.link.DeviceLink` needs from a byte transport."""

    @property
    def target(self) -> str:
        """Where the transport goes (``/dev/ttyUSB0``, ``10.0.0.5:4352``), for messages."""
        ...

    async def open(self) -> None:
        """Open the port or connect.

        Raises:
            DeviceUnavailableError: the port or host cannot be reached.
        """
        ...

    async def read(self) -> bytes:
        """Return the next bytes received (never empty).

        Raises:
            DeviceUnavailableError: not open, closed by the device, or lost.
        """
        ...

    async def write(self, data: bytes) -> None:
        """Send ``data``.

        Raises:
            DeviceUnavailableError: not open or lost.
        """
        ...

    async def close(self) -> None:
        """Close; safe to call when not open or already lost. Never raises."""
        ...


class _Streams:
    """Shared stream handling for serial (fd) ports and TCP."""

    target: str
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    def _unavailable(
        self, reason: str, cause: BaseException | None = None
    ) -> DeviceUnavailableError:
        detail = f": {cause}" if cause is not None and str(cause) else ""
        return DeviceUnavailableError(f"{self.target}: {reason}{detail}")

    async def read(self) -> bytes:
        if self._reader is None:
            raise self._unavailable("not open")
        try:
            data = await self._reader.read(_READ_SIZE)
        except (OSError, serial.SerialException) as exc:
            raise self._unavailable("connection lost", exc) from exc
        if not data:
            error = self._unavailable("connection closed by the device")
            error.code = "closed"  # the peer hung up cleanly (an idle timeout, or a shutdown)
            raise error
        return data

    async def write(self, data: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            raise self._unavailable("not open")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (OSError, serial.SerialException) as exc:
            raise self._unavailable("write failed", exc) from exc

    async def _close_streams(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        # The line may already be gone; closing it is all we wanted.
        with contextlib.suppress(OSError, serial.SerialException):
            await writer.wait_closed()


class TcpTransport(_Streams):
    """A TCP connection to ``host:port``.

    Args:
        host: device host name or address.
        port: TCP port (PJLink 4352, HyperDeck 9993, Extron Telnet 23).
        connect_timeout: seconds to wait for the connection.
    """

    def __init__(self, host: str, port: int, *, connect_timeout: float = 3.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.target = f"{host}:{port}"

    async def open(self) -> None:
        """Connect.

        Raises:
            DeviceUnavailableError: refused, unreachable, name not resolved or
                no answer within ``connect_timeout``.
        """
        await self._close_streams()
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:  # includes TimeoutError and socket.gaierror
            reason = "no answer" if isinstance(exc, TimeoutError) else "cannot connect"
            raise self._unavailable(reason, exc) from exc
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # A device unplugged from the network never sends a FIN; keepalive notices.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._reader, self._writer = reader, writer

    async def close(self) -> None:
        await self._close_streams()


class SerialTransport(_Streams):
    """A serial line given as a pyserial URL or device path.

    Args:
        url: ``/dev/ttyUSB0``, ``socket://host:port``, ``rfc2217://host:port``,
            ``loop://`` … (see pyserial's URL handlers).
        baudrate: line speed (VISCA 9600, Pelco-D 2400/4800/9600).
        bytesize: data bits, 5–8.
        parity: ``"N"``, ``"E"``, ``"O"``, ``"M"`` or ``"S"``.
        stopbits: 1, 1.5 or 2.
        rtscts: hardware flow control.
        xonxoff: software flow control.
        poll_interval: seconds between reads for URL handlers that have no
            file descriptor (``loop://``, ``rfc2217://``).

    An invalid setting (baudrate -1, parity ``"X"``) raises ``ValueError``
    from :meth:`open`: that is a configuration bug, not an unavailable device.
    """

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        rtscts: bool = False,
        xonxoff: bool = False,
        poll_interval: float = 0.01,
    ) -> None:
        self.url = url
        self.target = url
        self.poll_interval = poll_interval
        self._options: dict[str, Any] = {
            "baudrate": baudrate,
            "bytesize": bytesize,
            "parity": parity,
            "stopbits": stopbits,
            "rtscts": rtscts,
            "xonxoff": xonxoff,
        }
        self._polled: Any = None  # a serial.Serial without a file descriptor

    async def open(self) -> None:
        """Open the port.

        Raises:
            DeviceUnavailableError: the port is missing, busy, not permitted
                (``__cause__`` is then a ``PermissionError``) or refused.
            ValueError: a line setting pyserial rejects.
        """
        await self.close()
        loop = asyncio.get_running_loop()
        scheme = urllib.parse.urlparse(self.url).scheme
        try:
            if scheme == "socket":
                self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
                    url=self.url, **self._options
                )
                return
            port = await loop.run_in_executor(
                None, partial(serial.serial_for_url, self.url, **self._options)
            )
        except (OSError, serial.SerialException) as exc:
            raise self._unavailable("cannot open", _root_cause(exc)) from _root_cause(exc)
        try:
            port.fileno()
        except io.UnsupportedOperation:
            port.timeout = 0
            self._polled = port
            return
        reader = asyncio.StreamReader(limit=2**16)
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await serial_asyncio_fast.connection_for_serial(loop, lambda: protocol, port)
        self._reader, self._writer = reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    async def read(self) -> bytes:
        if self._polled is None:
            return await super().read()
        while True:
            port = self._polled
            if port is None:
                raise self._unavailable("not open")
            try:
                data: bytes = port.read(max(1, port.in_waiting))
            except (OSError, serial.SerialException) as exc:
                raise self._unavailable("connection lost", exc) from exc
            if data:
                return data
            await asyncio.sleep(self.poll_interval)

    async def write(self, data: bytes) -> None:
        if self._polled is None:
            return await super().write(data)
        try:
            await asyncio.to_thread(self._polled.write, data)
        except (OSError, serial.SerialException) as exc:
            raise self._unavailable("write failed", exc) from exc

    async def close(self) -> None:
        port, self._polled = self._polled, None
        if port is not None:
            port.close()
        await self._close_streams()


def transport_for(
    *,
    port: str | int,
    host: str | None = None,
    baudrate: int = 9600,
    connect_timeout: float = 3.0,
) -> SerialTransport | TcpTransport:
    """Pick the transport a ``[[devices]]`` entry describes.

    Args:
        port: with ``host``, the TCP port; without, a serial device path or
            pyserial URL.
        host: device host for TCP devices.
        baudrate: serial line speed (ignored for TCP).
        connect_timeout: TCP connect timeout (ignored for serial).

    Raises:
        ValueError: a TCP port that is not a number in 1–65535.
    """
    if host is None:
        return SerialTransport(str(port), baudrate=baudrate)
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError(f"TCP port {port!r} out of range 1-65535")
    return TcpTransport(host, number, connect_timeout=connect_timeout)


def _root_cause(exc: BaseException) -> BaseException:
    """pyserial wraps ``OSError`` (ENOENT, EACCES) in SerialException; unwrap it.

    ``classify`` then sees the ``PermissionError`` of a port the agent's user
    may not open (not in the ``dialout`` group) and treats it as CONFIG.
    """
    if isinstance(exc, serial.SerialException) and exc.args and isinstance(exc.args[0], int):
        errno = exc.args[0]
        return OSError(errno, exc.args[1] if len(exc.args) > 1 else str(exc)) if errno else exc
    return exc
