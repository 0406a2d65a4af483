"""Serve a :class:`~devices.virtual.VirtualDevice` on a pty or a TCP port.

The harness gives a simulated device the faults every line can have, on top
of the device's own (:meth:`VirtualDevice.set_fault`):

* ``slow`` — every reply is delayed by ``slow_ms`` milliseconds;
* ``drop`` — each reply is dropped with probability ``drop`` (1 = all);
* ``garbage`` — with probability ``garbage`` a reply is preceded by 1–8
  garbage bytes from 0x80–0x8F (no valid reply in any of our protocols
  starts with them) and the device's frame end, so the controller sees one
  bad frame and must resynchronise before the real reply;
* ``disconnect`` — every ``disconnect_every`` seconds (or once, on demand):
  TCP clients are closed; a pty is replaced by a new pair, whose path the
  stable symlink then names (as a USB adapter re-enumerating under
  ``/dev/serial/by-id``).

Some devices hang up on a controller that stays silent (a PJLink display
after 30 s): with ``idle_close`` (default: the device's ``idle_close``
attribute, if it has one) a TCP client that sent nothing for that long is
closed.

"Replies" are what :meth:`VirtualDevice.receive` and :meth:`~VirtualDevice.poll`
return; the greeting of :meth:`~VirtualDevice.connected` is sent untouched.
One device instance serves every TCP connection in turn, so its state (ties,
presets, recordings) survives reconnects, as the hardware's would.

Pulling the cable: ``unplug`` closes every TCP client and stops listening,
so the device neither answers nor accepts a connection (refused) until
``plug``; on a pty the pair is closed and the stable symlink removed, as a
USB adapter pulled out. ``plug`` listens again on the same TCP port (a new
pty behind the same symlink); the device's state (power, ties, recordings)
survives, as the hardware's would across a cable pull.

Faults switch at run time through a line-based control port on loopback
(``--control-port``): ``slow MS``, ``drop P``, ``garbage P``,
``disconnect-every S``, ``disconnect``, ``unplug``, ``plug``, ``fault NAME
on|off``, ``clear`` (all off, plugged in), ``status``; each is answered ``OK
<status>`` or ``ERR <reason>``. ``drop 1`` drops every reply while the line
stays up (the greeting of a new connection still comes): a matrix that takes
commands and never answers. ``state``
answers ``OK <device state>`` for a device with a ``state_text()`` method
(Pelco-D, which never replies, so tests in another process can see what it
applied).

Any other command goes to the device's own ``control(words, now=…)``
method, if it has one: what a person does at the device, which the device
then announces unsolicited to every controller (sent at once). Extron:
``tie IN OUT [all|video|rgb|audio]`` (a front-panel tie, ``OutNN InNN All``)
and ``reconfig``; HyperDeck: ``transport record [NAME]``, ``transport
stopped``, ``transport preview`` (a ``508`` with what changed). They are
answered ``OK <what the device did>`` or ``ERR <reason>``.

This module is the harness; :mod:`devices.simulate` picks the device by kind,
runs it (:func:`devices.simulate.serve`) and is the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import tty
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Self

from devices.faults import Faults
from devices.virtual import VirtualDevice

__all__ = ["LineFaults", "Simulator"]

_MAX_BACKLOG = 256  # reply chunks waiting per connection; beyond this they are lost (overrun)


#: Generic line faults of a served device (see the module docstring).
LineFaults = Faults


class _Outlet:
    """Writes reply chunks to one connection in order, each at its due time."""

    def __init__(self, write: Callable[[bytes], None], name: str) -> None:
        self._write = write
        self._queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_MAX_BACKLOG)
        self._task = asyncio.create_task(self._pump(), name=name)

    def put(self, due: float, data: bytes) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait((due, data))

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, data = await self._queue.get()
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._write(data)

    def close(self) -> None:
        self._task.cancel()


class Simulator:
    """Serves one virtual device; an async context manager with :meth:`run`.

    Args:
        device: the simulated device.
        pty: serve on a new pty pair; ``pty_path`` names its slave.
        pty_link: also keep a symlink at this path naming the current slave
            (implies ``pty``); controllers configure this stable path.
        tcp_port: serve on this TCP port (0 picks a free one; see ``tcp_port``).
        host: address for the TCP and control ports.
        control_port: open the control port (0 picks a free one).
        faults: line faults active from the start.
        garbage_end: frame end appended to injected garbage (default: the
            device's ``frame_end`` attribute if it has one, else none).
        clock: seconds passed to the device as ``now``.
        poll_interval: seconds between :meth:`VirtualDevice.poll` calls.
        rng: randomness for drop and garbage (seed it for reproducible runs).
        idle_close: close a TCP client silent for this many seconds (see
            the module docstring); None or 0 never.
    """

    def __init__(
        self,
        device: VirtualDevice,
        *,
        pty: bool = False,
        pty_link: str | Path | None = None,
        tcp_port: int | None = None,
        host: str = "127.0.0.1",
        control_port: int | None = None,
        faults: LineFaults | None = None,
        garbage_end: bytes | None = None,
        clock: Callable[[], float] = time.monotonic,
        poll_interval: float = 0.02,
        rng: random.Random | None = None,
        idle_close: float | None = None,
    ) -> None:
        self.device = device
        if idle_close is None:
            idle_close = getattr(device, "idle_close", None)
        self.idle_close = idle_close
        self.pty_link = Path(pty_link) if pty_link is not None else None
        self._want_pty = pty or pty_link is not None
        self._want_tcp = tcp_port
        self._want_control = control_port
        self.host = host
        self.faults = faults or LineFaults()
        self.garbage_end = (
            garbage_end if garbage_end is not None else getattr(device, "frame_end", b"")
        )
        self._clock = clock
        self.poll_interval = poll_interval
        self._rng = rng or random.Random()
        self.device_faults: set[str] = set()
        self.pty_path: str | None = None
        self.tcp_port: int | None = None
        self.control_port: int | None = None
        self._pty_fds: tuple[int, int] | None = None
        self._pty_outlet: _Outlet | None = None
        self._clients: dict[asyncio.StreamWriter, _Outlet] = {}
        #: TCP connections accepted so far.
        self.connections = 0
        self._servers: list[asyncio.Server] = []
        self._device_server: asyncio.Server | None = None
        #: The cable is pulled (:meth:`unplug`).
        self.unplugged = False
        self._last_disconnect = 0.0

    async def __aenter__(self) -> Self:
        if self._want_pty:
            self._open_pty()
        if self._want_tcp is not None:
            server = await asyncio.start_server(self._serve_client, self.host, self._want_tcp)
            self._device_server = server
            self.tcp_port = server.sockets[0].getsockname()[1]
        if self._want_control is not None:
            server = await asyncio.start_server(self._serve_control, self.host, self._want_control)
            self._servers.append(server)
            self.control_port = server.sockets[0].getsockname()[1]
        self._last_disconnect = self._clock()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for server in self._servers:
            server.close()
        if self._device_server is not None:
            self._device_server.close()
        for writer, outlet in list(self._clients.items()):
            outlet.close()
            writer.close()
        self._close_pty()
        # Like udev removing a by-id link on unplug, unless another harness took it over.
        if self.pty_link is not None and self.pty_path is not None:
            with contextlib.suppress(OSError):
                if os.readlink(self.pty_link) == self.pty_path:
                    self.pty_link.unlink()

    async def run(self) -> None:
        """Poll the device for unsolicited output and apply periodic disconnects, forever."""
        while True:
            now = self._clock()
            output = self.device.poll(now=now)
            if output:
                self._broadcast(output)
            every = self.faults.disconnect_every
            if every and now - self._last_disconnect >= every:
                self.disconnect()
            await asyncio.sleep(self.poll_interval)

    def set_line_faults(self, faults: LineFaults) -> None:
        """Replace the active line faults."""
        self.faults = faults

    def set_fault(self, name: str, active: bool) -> None:
        """Switch a device-specific fault.

        Raises:
            ValueError: the device has no fault ``name``.
        """
        self.device.set_fault(name, active)
        (self.device_faults.add if active else self.device_faults.discard)(name)

    def disconnect(self) -> None:
        """Drop every TCP client now and replace the pty by a new one."""
        self._last_disconnect = self._clock()
        for writer in list(self._clients):
            writer.close()
        if self._pty_fds is not None:
            old = self._pty_fds, self._pty_outlet
            self._pty_fds = None
            self._open_pty()  # the symlink names the new slave before the old one hangs up
            self._close_pty(*old)

    def unplug(self) -> None:
        """Pull the cable: drop every client, refuse new ones, close the pty (see module)."""
        if self.unplugged:
            return
        self.unplugged = True
        if self._device_server is not None:
            self._device_server.close()
            self._device_server = None
        for writer in list(self._clients):
            writer.close()
        if self._pty_fds is not None:
            self._close_pty()
            if self.pty_link is not None and self.pty_path is not None:
                with contextlib.suppress(OSError):
                    if os.readlink(self.pty_link) == self.pty_path:
                        self.pty_link.unlink()

    async def plug(self) -> None:
        """Put the cable back: listen on the same TCP port, or a new pty behind the link.

        Raises:
            OSError: the TCP port was taken meanwhile.
        """
        if not self.unplugged:
            return
        if self.tcp_port is not None:
            self._device_server = await asyncio.start_server(
                self._serve_client, self.host, self.tcp_port
            )
        if self._want_pty:
            self._open_pty()
        self.unplugged = False

    def status(self) -> str:
        """Return the fault status line of the control port."""
        names = ",".join(sorted(self.device_faults)) or "-"
        cable = " unplugged" if self.unplugged else ""
        return f"{self.faults.describe()} faults={names}{cable}"

    # -- replies -----------------------------------------------------------

    def _shape(self, data: bytes) -> tuple[float, bytes] | None:
        """Apply the line faults to one reply: (due time, bytes) or None if dropped."""
        faults = self.faults
        if faults.drop and self._rng.random() < faults.drop:
            return None
        if faults.garbage and self._rng.random() < faults.garbage:
            junk = bytes(self._rng.randrange(0x80, 0x90) for _ in range(self._rng.randint(1, 8)))
            data = junk + self.garbage_end + data
        return asyncio.get_running_loop().time() + faults.slow_ms / 1000.0, data

    def _reply(self, outlet: _Outlet, data: bytes) -> None:
        if data and (shaped := self._shape(data)) is not None:
            outlet.put(*shaped)

    def _broadcast(self, data: bytes) -> None:
        outlets = list(self._clients.values())
        if self._pty_outlet is not None:
            outlets.append(self._pty_outlet)
        for outlet in outlets:
            self._reply(outlet, data)

    # -- TCP -----------------------------------------------------------------

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        outlet = _Outlet(writer.write, name="simulator tcp writer")
        self._clients[writer] = outlet
        self.connections += 1
        try:
            greeting = self.device.connected(now=self._clock())
            if greeting:
                outlet.put(0.0, greeting)
            while data := await self._read_client(reader):
                self._reply(outlet, self.device.receive(data, now=self._clock()))
        except ConnectionError:
            pass  # the controller went away; it may come back
        finally:
            self._clients.pop(writer, None)
            outlet.close()
            writer.close()

    async def _read_client(self, reader: asyncio.StreamReader) -> bytes:
        """The next bytes from a TCP client; b"" when it left or stayed silent too long."""
        if not self.idle_close:
            return await reader.read(4096)
        try:
            return await asyncio.wait_for(reader.read(4096), self.idle_close)
        except TimeoutError:
            return b""  # the device hangs up on an idle controller

    async def _serve_control(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while line := await reader.readline():
                words = line.decode("ascii", "replace").split()
                if words in (["plug"], ["clear"]):
                    try:
                        await self.plug()
                    except OSError as exc:
                        writer.write(f"ERR cannot listen again: {exc}\n".encode())
                        await writer.drain()
                        continue
                writer.write(self._control(words).encode())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _control(self, words: list[str]) -> str:
        """Run one control command; return its answer line."""
        try:
            match words:
                case ["slow", ms]:
                    self.faults = replace(self.faults, slow_ms=float(ms))
                case ["drop", p]:
                    self.faults = replace(self.faults, drop=float(p))
                case ["garbage", p]:
                    self.faults = replace(self.faults, garbage=float(p))
                case ["disconnect-every", s]:
                    self.faults = replace(self.faults, disconnect_every=float(s))
                case ["disconnect"]:
                    self.disconnect()
                case ["unplug"]:
                    self.unplug()
                case ["plug"]:
                    pass  # done by the caller, which may await
                case ["fault", name, ("on" | "off") as state]:
                    self.set_fault(name, state == "on")
                case ["clear"]:
                    self.faults = LineFaults()
                    for name in list(self.device_faults):
                        self.set_fault(name, False)
                case ["status"]:
                    pass
                case ["state"]:
                    state_text = getattr(self.device, "state_text", None)
                    if state_text is None:
                        return "ERR this device has no state report\n"
                    return f"OK {state_text()}\n"
                case [_, *_] if (control := getattr(self.device, "control", None)) is not None:
                    done = control(words, now=self._clock())
                    # Announce at once rather than at the next poll tick.
                    if output := self.device.poll(now=self._clock()):
                        self._broadcast(output)
                    return f"OK {done}\n"
                case _:
                    return f"ERR unknown command {' '.join(words)!r}\n"
        except ValueError as exc:
            return f"ERR {exc}\n"
        return f"OK {self.status()}\n"

    # -- pty -----------------------------------------------------------------

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline until the controller configures it
        os.set_blocking(master, False)
        self._pty_fds = master, slave
        self.pty_path = os.ttyname(slave)
        if self.pty_link is not None:
            temporary = self.pty_link.with_name(self.pty_link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            temporary.symlink_to(self.pty_path)
            temporary.replace(self.pty_link)
        self._pty_outlet = _Outlet(lambda data: _write_master(master, data), "simulator pty")
        asyncio.get_running_loop().add_reader(master, self._pty_readable, master)
        greeting = self.device.connected(now=self._clock())
        if greeting:
            self._pty_outlet.put(0.0, greeting)

    def _pty_readable(self, master: int) -> None:
        try:
            data = os.read(master, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: no slave open; ours stays open, so this is transient
        if data and self._pty_outlet is not None:
            self._reply(self._pty_outlet, self.device.receive(data, now=self._clock()))

    def _close_pty(self, fds: tuple[int, int] | None = None, outlet: _Outlet | None = None) -> None:
        if fds is None:
            fds, outlet = self._pty_fds, self._pty_outlet
            self._pty_fds = self._pty_outlet = None
        if outlet is not None:
            outlet.close()
        if fds is not None:
            asyncio.get_running_loop().remove_reader(fds[0])
            for fd in fds:
                os.close(fd)


def _write_master(master: int, data: bytes) -> None:
    # A real UART also loses bytes nobody reads; never block the simulator.
    with contextlib.suppress(BlockingIOError, OSError):
        os.write(master, data)
