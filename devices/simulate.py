"""Run a simulated courtroom device: ``courtroom simulate KIND``.

Picks the :class:`~devices.virtual.VirtualDevice` of a kind (:data:`KINDS`,
or any importable class) and serves it with the line-fault harness of
:mod:`devices.simulator` (slow, drop, garbage, disconnect; a control port to
switch them at run time). :class:`LineFaults` and :class:`Simulator` are
re-exported here.

Command line (``courtroom simulate KIND``, or ``python -m devices.simulate``)::

    courtroom simulate visca --port /tmp/doc-camera --garbage 0.1
    courtroom simulate pjlink --port 4352 --control-port 0 --option password=JBMIAProjectorLink
    courtroom simulate tests.devices.test_simulate_echo:EchoDevice --port 0

``--port`` is a TCP port number, or a path: the device is served on a new pty
and the path becomes a symlink naming it (configure that path in the
courtroom TOML). Once ready, one line per endpoint is printed:
``pty /dev/pts/7 /tmp/doc-camera``, ``tcp 127.0.0.1 4352``,
``control 127.0.0.1 40123``. SIGTERM or Ctrl-C stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import random
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any

from devices.kinds import KINDS as DEVICE_KINDS
from devices.simulator import LineFaults, Simulator
from devices.virtual import VirtualDevice

__all__ = [
    "DEFAULT_OPTIONS",
    "KINDS",
    "LineFaults",
    "Simulator",
    "build_parser",
    "load_device",
    "main",
    "serve",
]


async def serve(
    device: VirtualDevice,
    *,
    pty: bool | str | None = None,
    tcp_port: int | None = None,
    faults: LineFaults | None = None,
    control_port: int | None = None,
    host: str = "127.0.0.1",
    garbage_end: bytes | None = None,
    seed: int | None = None,
    device_faults: Iterable[str] = (),
    on_ready: Callable[[Simulator], None] | None = None,
) -> None:
    """Serve ``device`` until cancelled.

    Args:
        device: the simulated device.
        pty: ``True`` for a pty pair, or a path for a pty whose slave that
            symlink names (kept current across disconnects).
        tcp_port: TCP port to serve on (0 = any free one).
        faults: line faults from the start.
        control_port: open the control port (0 = any free one).
        host: address for TCP and control ports.
        garbage_end: frame end appended to garbage (see :class:`Simulator`).
        seed: seed for drop/garbage randomness.
        device_faults: device-specific faults to switch on from the start.
        on_ready: called once the ports are open (paths and ports are set).

    Raises:
        ValueError: neither ``pty`` nor ``tcp_port`` given, or an unknown
            device fault.
        OSError: the TCP port is taken or a pty cannot be created.
    """
    if not pty and tcp_port is None:
        raise ValueError("serve on a pty, a TCP port, or both")
    simulator = Simulator(
        device,
        pty=bool(pty),
        pty_link=pty if isinstance(pty, str) else None,
        tcp_port=tcp_port,
        host=host,
        control_port=control_port,
        faults=faults,
        garbage_end=garbage_end,
        rng=random.Random(seed),
    )
    for name in device_faults:
        simulator.set_fault(name, True)
    async with simulator:
        if on_ready is not None:
            on_ready(simulator)
        await simulator.run()


#: ``courtroom simulate KIND``: the module holding each kind's virtual device
#: (imported only when chosen) and the frame end that terminates injected
#: garbage, from each kind's ``simulator`` in :data:`devices.kinds.KINDS`.
KINDS: dict[str, tuple[str, bytes]] = {
    name: spec.simulator for name, spec in DEVICE_KINDS.items() if spec.simulator is not None
}

#: Constructor options a kind needs that the command line may leave out: per
#: kind, option name -> maker, called only when ``--option`` does not give it.
DEFAULT_OPTIONS: dict[str, dict[str, Callable[[], Any]]] = {
    "hyperdeck": {"directory": lambda: Path(tempfile.mkdtemp(prefix="courtroom-hyperdeck-"))},
}


def load_device(kind: str, options: dict[str, Any]) -> tuple[VirtualDevice, bytes]:
    """Build the virtual device of ``kind`` with constructor ``options``.

    ``kind`` is a name of :data:`KINDS` or ``package.module:Class`` (any
    importable VirtualDevice, for tests and new equipment). For a registered
    kind the class is the one VirtualDevice the module defines.

    Returns:
        The device and the frame end for garbage injection.

    Raises:
        LookupError: unknown kind, or no single VirtualDevice class in the module.
        ImportError: the module cannot be imported.
        ValueError: the options do not fit the constructor; the message names
            the kind and says which ``--option`` is wrong or missing.
    """
    if kind in KINDS:
        module_name, frame_end = KINDS[kind]
        module = importlib.import_module(module_name)
        found = [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__
            and all(
                hasattr(cls, a) for a in ("faults", "connected", "receive", "poll", "set_fault")
            )
        ]
        if len(found) != 1:
            raise LookupError(f"{module_name} defines {len(found)} virtual devices, expected 1")
        factory: Any = found[0]
    elif ":" in kind:
        module_name, _, name = kind.partition(":")
        factory = getattr(importlib.import_module(module_name), name, None)
        if factory is None:
            raise LookupError(f"{module_name} has no {name}")
        frame_end = b""
    else:
        raise LookupError(f"unknown device kind {kind!r}; choose one of {', '.join(KINDS)}")
    try:
        device: VirtualDevice = factory(**options)
    except TypeError as exc:  # a missing or unknown keyword: a usage error
        raise ValueError(f"{kind}: {exc}; give it as --option KEY=VALUE") from exc
    return device, getattr(device, "frame_end", frame_end)


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {text!r}")
    for convert in (int, float):
        with contextlib.suppress(ValueError):
            return key.replace("-", "_"), convert(value)
    return key.replace("-", "_"), value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``courtroom simulate KIND`` (all kinds but mqtt)."""
    parser = argparse.ArgumentParser(
        prog="courtroom simulate",
        description="模拟法庭设备 / Run a simulated courtroom device on a pty or a TCP port.",
    )
    parser.add_argument("kind", help=f"{' | '.join(KINDS)} | package.module:Class")
    parser.add_argument(
        "--port",
        default="0",
        help="TCP port number (default 0: any free port, printed once ready); or a path: "
        "serve on a pty and keep this symlink naming it; or 'pty' for a bare pty",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address for TCP and control ports")
    parser.add_argument("--control-port", type=int, help="open the fault control port (0 = any)")
    parser.add_argument("--slow", type=float, default=0.0, metavar="MS", help="delay replies")
    parser.add_argument("--drop", type=float, default=0.0, metavar="P", help="drop replies")
    parser.add_argument("--garbage", type=float, default=0.0, metavar="P", help="inject garbage")
    parser.add_argument("--disconnect-every", type=float, default=0.0, metavar="S")
    parser.add_argument("--fault", action="append", default=[], help="device-specific fault")
    parser.add_argument("--option", action="append", type=_option, default=[], metavar="K=V")
    parser.add_argument("--seed", type=int, help="seed for drop and garbage randomness")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``courtroom simulate``: serve a device until interrupted.

    Prints one line per endpoint once ready (``pty /dev/pts/7 /tmp/cam1``,
    ``tcp 127.0.0.1 4352``, ``control 127.0.0.1 40123``).

    Returns:
        0 when interrupted, 2 for a usage or configuration error, 1 when
        the port cannot be served.
    """
    args = build_parser().parse_args(argv)
    given = dict(args.option)
    made = {k: make() for k, make in DEFAULT_OPTIONS.get(args.kind, {}).items() if k not in given}
    try:
        device, frame_end = load_device(args.kind, made | given)
        faults = LineFaults(
            slow_ms=args.slow,
            drop=args.drop,
            garbage=args.garbage,
            disconnect_every=args.disconnect_every,
        )
    except (ImportError, LookupError, ValueError) as exc:
        print(f"courtroom simulate: {exc}", file=sys.stderr)
        return 2
    for key, value in made.items():
        print(f"courtroom simulate: {key} = {value} (default; --option {key}=…)", file=sys.stderr)
    tcp_port = int(args.port) if args.port.isdigit() else None
    pty: bool | str | None = None if tcp_port is not None else args.port
    if pty == "pty":
        pty = True

    def ready(sim: Simulator) -> None:
        if sim.pty_path is not None:
            print("pty", sim.pty_path, sim.pty_link or "-", flush=True)
        if sim.tcp_port is not None:
            print("tcp", sim.host, sim.tcp_port, flush=True)
        if sim.control_port is not None:
            print("control", sim.host, sim.control_port, flush=True)

    coroutine = serve(
        device,
        pty=pty,
        tcp_port=tcp_port,
        faults=faults,
        control_port=args.control_port,
        host=args.host,
        garbage_end=frame_end,
        seed=args.seed,
        device_faults=args.fault,
        on_ready=ready,
    )
    try:
        asyncio.run(_until_terminated(coroutine))
    except KeyboardInterrupt:
        return 0
    except ValueError as exc:
        print(f"courtroom simulate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"courtroom simulate: cannot serve: {exc}", file=sys.stderr)
        return 1
    return 0


async def _until_terminated(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine``; SIGTERM ends it cleanly (the pty symlink is removed)."""
    task = asyncio.create_task(coroutine, name="simulator")
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


if __name__ == "__main__":
    sys.exit(main())
