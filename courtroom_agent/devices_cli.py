"""``courtroom devices probe|send`` and ``courtroom simulate``: equipment from the terminal.

``probe`` connects to every configured device at once and prints a table:
reachable, identity or state, round-trip time, last error; it exits 1 if any
device is unreachable. ``send`` gives one device one command and prints the
decoded reply, or exits 1 naming the device's error (``VISCA syntax error``,
``HyperDeck 104 disk full``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from courtroom_agent.config import AgentConfig, ConfigError, DeviceConfig, load_agent_config
from devices.kinds import KINDS

__all__ = ["register"]

PROBE_TIMEOUT = 5.0
#: ``devices send`` gives up after this long in all (connect, queue, retries, reply).
SEND_TIME_LIMIT = 30.0


def register(subparsers: Any) -> None:
    devices = subparsers.add_parser(
        "devices",
        help="法庭设备 · probe and command courtroom equipment",
        description="Probe or command the devices configured in a courtroom TOML file.",
    )
    verbs = devices.add_subparsers(dest="devices_command", metavar="COMMAND", required=True)
    probe = verbs.add_parser("probe", help="check every configured device")
    probe.add_argument("--config", type=Path, required=True)
    probe.add_argument("--timeout", type=float, default=PROBE_TIMEOUT, help="seconds per device")
    probe.set_defaults(func=_probe_main)
    send = verbs.add_parser(
        "send",
        help="send one command to one device",
        description="Commands per kind (courtroom devices kinds: how each is confirmed): "
        + "; ".join(
            f"{name}: {', '.join(v.usage for v in spec.verbs.values())}"
            for name, spec in KINDS.items()
        )
        + ".",
    )
    send.add_argument("--config", type=Path, required=True)
    send.add_argument("--timeout", type=float, default=PROBE_TIMEOUT, help="seconds to connect")
    send.add_argument(
        "--time-limit",
        type=float,
        default=SEND_TIME_LIMIT,
        help="seconds for the whole command, connect and reply included",
    )
    send.add_argument("name", help="device name from the config")
    send.add_argument("verb", help="command")
    send.add_argument("args", nargs="*", help="command arguments")
    send.set_defaults(func=_send_main)
    kinds = verbs.add_parser(
        "kinds",
        help="设备类型表 · list the device kinds, their verbs and how each is confirmed",
    )
    kinds.set_defaults(func=_kinds_main)
    simulate = subparsers.add_parser(
        "simulate",
        help="设备模拟器 · run a device simulator",
        description="Run a simulated device (visca, pelco-d, extron-sis, pjlink, hyperdeck, "
        "mqtt) on a pty or TCP port, with fault modes.",
        add_help=False,
    )
    # The options belong to each kind's own parser (mqtt's differ), so the
    # arguments are passed on whole; only a bare --help is answered here.
    simulate.add_argument("-h", "--help", action=_SimulateHelp, nargs=0)
    simulate.add_argument("rest", nargs=argparse.REMAINDER)
    simulate.set_defaults(func=_simulate_main)


class _SimulateHelp(argparse.Action):
    """``courtroom simulate --help``: the device simulator's help, then mqtt's usage."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        from devices.simulate import build_parser

        build_parser().print_help()
        print("\n模拟 MQTT 设备 / MQTT relay or display: courtroom simulate mqtt --help")
        parser.exit(0)


@dataclass(slots=True)
class ProbeRow:
    name: str
    kind: str
    target: str
    reachable: bool = False
    identity: str = ""
    round_trip_ms: float | None = None
    error: str | None = None


def _load(path: Path) -> AgentConfig | None:
    try:
        return load_agent_config(path)
    except ConfigError as exc:
        print(f"courtroom devices: invalid configuration\n{exc}", file=sys.stderr)
        return None


def _target(device: DeviceConfig, config: AgentConfig) -> str:
    if not device.has_line:
        broker = config.mqtt
        return f"mqtt://{broker.host}:{broker.port}" if broker else "(no broker)"
    if device.host is not None:
        return f"{device.host}:{device.tcp_port}"
    return str(device.port)


def _describe(reply: Any) -> str:
    if reply is None:
        return "ok"
    from courtroom_agent.equipment import describe

    return describe(reply)


@contextlib.asynccontextmanager
async def _running(link: Any, name: str) -> AsyncIterator[Any]:
    """Enter a serial/TCP ``link`` and run it for the body; stop it afterwards.

    (An MQTT link runs itself inside ``async with``.)
    """
    async with link:
        task = asyncio.create_task(link.run(), name=name)
        try:
            yield link
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _until_available(link: Any, names: list[str]) -> None:
    """Wait until the broker answered and each device's availability arrived."""
    await link.wait_connected()
    # The retained availability arrives just after subscribing; the link
    # offers no event for it, so look a few times a second.
    while any(link.status(name).availability is None for name in names):  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def _probe_line(device: DeviceConfig, row: ProbeRow, within: float) -> None:
    from courtroom_agent.equipment import build_link
    from devices.errors import DeviceError

    async with _running(build_link(device), f"probe-{device.name}") as link:
        try:
            async with asyncio.timeout(within):
                state = await link.ready()
                if not state.online:
                    row.error = state.last_error or "offline"
                    return
                probe = device.spec.probe
                if probe is None:
                    row.reachable, row.identity = True, "line open (no replies by protocol)"
                    return
                started = time.monotonic()
                reply = await link.command(probe(), retries=2)  # inquiries are idempotent
                # The link's own figure is send → reply, without the wait behind
                # a session's start-up commands (VISCA address set, HyperDeck notify).
                waited_ms = (time.monotonic() - started) * 1000
                row.round_trip_ms = link.state.round_trip_ms or waited_ms
                row.reachable, row.identity = True, _describe(reply)
        except DeviceError as exc:
            row.error = str(exc)
        except TimeoutError:
            row.error = link.state.last_error or f"no answer within {within:g} s"


async def _probe_mqtt(
    config: AgentConfig, devices: list[DeviceConfig], rows: dict[str, ProbeRow], within: float
) -> None:
    if not devices:
        return
    if config.mqtt is None:
        for device in devices:
            rows[device.name].error = "no [mqtt] broker configured"
        return
    from courtroom_agent.equipment import build_mqtt_link

    names = [d.name for d in devices]
    async with build_mqtt_link(config, names, role="probe") as link:  # runs itself
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await _until_available(link, names)
        for device in devices:
            status = link.status(device.name)
            row = rows[device.name]
            availability = getattr(status.availability, "value", status.availability)
            row.reachable = availability == "online"
            row.identity = str(availability or "no availability message")
            if status.state is not None:
                row.identity += f" {dict(status.state.values)}"
            if not row.reachable:
                if status.last_error:
                    row.error = str(status.last_error)
                else:
                    row.error = "device not online" if link.connected else "broker unreachable"


async def probe(config: AgentConfig, *, within: float = PROBE_TIMEOUT) -> list[ProbeRow]:
    """Probe every configured device concurrently; one row per device, in config order.

    Raises:
        ValueError: a device's password variable is unset.
    """
    from courtroom_agent.equipment import device_password

    for device in config.devices:
        device_password(device)  # a missing secret is a config error: say so before connecting
    broker = config.mqtt
    if broker is not None and broker.password_env and not os.environ.get(broker.password_env):
        raise ValueError(
            f"mqtt.password_env: environment variable {broker.password_env} is not set"
        )
    rows = {
        d.name: ProbeRow(name=d.name, kind=d.kind, target=_target(d, config))
        for d in config.devices
    }
    line = [d for d in config.devices if d.has_line]
    mqtt = [d for d in config.devices if not d.has_line]
    await asyncio.gather(
        *(_probe_line(d, rows[d.name], within) for d in line),
        _probe_mqtt(config, mqtt, rows, within),
    )
    return [rows[d.name] for d in config.devices]


def _probe_main(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 2
    if not config.devices:
        print(f"{args.config}: no [[devices]] configured")
        return 0
    try:
        rows = asyncio.run(probe(config, within=args.timeout))
    except ValueError as exc:
        print(f"courtroom devices: {args.config}: {exc}", file=sys.stderr)
        return 2
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{config.courtroom.name} · 设备 devices")
    for column in (
        "设备 device",
        "类型 kind",
        "连接 target",
        "状态 reachable",
        "信息 identity",
        "往返 ms",
        "错误 last error",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.name,
            row.kind,
            row.target,
            "[green]在线 yes[/]" if row.reachable else "[red]离线 no[/]",
            row.identity,
            f"{row.round_trip_ms:.0f}" if row.round_trip_ms is not None else "",
            row.error or "",
        )
    Console().print(table)
    return 0 if all(r.reachable for r in rows) else 1


async def send(
    config: AgentConfig,
    name: str,
    verb: str,
    args: list[str],
    *,
    within: float,
    limit: float = SEND_TIME_LIMIT,
) -> str:
    """Send one command; return the decoded reply as text.

    Args:
        within: seconds to wait for the connection.
        limit: seconds for everything; no device can hold the caller longer.

    Raises:
        KeyError: no device ``name``.
        DeviceTimeoutError: nothing came back within ``limit``.
        DeviceError: the command failed; ``str(err)`` names the device's error.
    """
    from devices.errors import DeviceTimeoutError

    try:
        async with asyncio.timeout(limit):
            return await _send(config, name, verb, args, within=within)
    except TimeoutError:
        raise DeviceTimeoutError(
            f"no answer within the {limit:g} s time limit", device=name, code="time-limit"
        ) from None


async def _send(
    config: AgentConfig, name: str, verb: str, args: list[str], *, within: float
) -> str:
    from devices.errors import DeviceUnavailableError

    device = next((d for d in config.devices if d.name == name), None)
    if device is None:
        raise KeyError(name)
    command = device.spec.build(verb, args, inputs=device.inputs, outputs=device.outputs)
    if not device.has_line:
        return await _send_mqtt(config, device, command, within=within)
    from courtroom_agent.equipment import build_link

    async with _running(build_link(device), f"send-{name}") as link:
        try:
            async with asyncio.timeout(within):
                await link.wait_online()
        except TimeoutError:
            reason = link.state.last_error or "no connection"
            raise DeviceUnavailableError(reason, device=name) from None
        return _describe(await link.command(command))


async def _send_mqtt(
    config: AgentConfig, device: DeviceConfig, command: Any, *, within: float
) -> str:
    from courtroom_agent.equipment import build_mqtt_link
    from devices.errors import DeviceUnavailableError

    if config.mqtt is None:
        raise DeviceUnavailableError("no [mqtt] broker configured", device=device.name)
    link = build_mqtt_link(config, [device.name], role="send")
    async with link:  # runs itself
        try:
            async with asyncio.timeout(within):
                await _until_available(link, [device.name])
        except TimeoutError:
            raise DeviceUnavailableError(
                "broker or device unreachable", device=device.name
            ) from None
        state = await link.send(device.name, command)
        return str(dict(state.values))


def _send_main(args: argparse.Namespace) -> int:
    from devices.errors import DeviceError, LocalProtocolError

    config = _load(args.config)
    if config is None:
        return 2
    try:
        reply = asyncio.run(
            send(
                config,
                args.name,
                args.verb,
                args.args,
                within=args.timeout,
                limit=args.time_limit,
            )
        )
    except KeyError:
        names = ", ".join(d.name for d in config.devices) or "none"
        print(f"courtroom devices: no device {args.name!r} (configured: {names})", file=sys.stderr)
        return 2
    except LocalProtocolError as exc:
        print(f"courtroom devices: {args.name}: {exc}", file=sys.stderr)
        return 2
    except DeviceError as exc:
        print(f"courtroom devices: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"courtroom devices: {args.config}: {exc}", file=sys.stderr)
        return 2
    print(reply)
    return 0


def kinds_table() -> list[tuple[str, str, str, str, str]]:
    """One row per kind and verb: kind, role, line, verb usage, how it is confirmed."""
    rows: list[tuple[str, str, str, str, str]] = []
    for name, spec in KINDS.items():
        line: str = spec.transport.line
        if spec.transport.tcp_port is not None:
            line += (
                f" / tcp {spec.transport.tcp_port}"
                if line != "tcp"
                else f" {spec.transport.tcp_port}"
            )
        for verb in spec.verbs.values():
            expect = verb.expect
            confirmed = "应答即结果 · the answer is the result" if expect is None else expect.text
            rows.append((name, spec.role.value, line, verb.usage, confirmed))
    return rows


def _kinds_main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="设备类型 device kinds")
    for column in ("类型 kind", "角色 role", "线路 line", "命令 verb", "确认 confirmed by"):
        table.add_column(column)
    for row in kinds_table():
        table.add_row(*row)
    Console().print(table)
    return 0


def _simulate_main(args: argparse.Namespace) -> int:
    if args.rest[:1] == ["mqtt"]:
        return _simulate_mqtt(args.rest[1:])
    from devices.simulate import main as simulate_main

    return simulate_main(args.rest)


def _simulate_mqtt(argv: list[str]) -> int:
    from devices.errors import LocalProtocolError
    from devices.mqtt.virtual import MqttFaults, run_mqtt_simulator

    parser = argparse.ArgumentParser(
        prog="courtroom simulate mqtt",
        description="模拟 MQTT 设备 / Run a simulated MQTT relay or display on a broker.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="broker address")
    parser.add_argument("--port", type=int, default=1883, help="broker port")
    parser.add_argument("--room", required=True, help="courtroom id")
    parser.add_argument("--name", required=True, help="device name")
    parser.add_argument("--kind", choices=["relay", "display"], default="relay")
    parser.add_argument("--slow", type=float, default=0.0, metavar="MS", help="delay applying")
    parser.add_argument("--drop", type=float, default=0.0, metavar="P", help="ignore commands")
    parser.add_argument(
        "--garbage", type=float, default=0.0, metavar="P", help="publish malformed state first"
    )
    parser.add_argument(
        "--disconnect-every",
        type=float,
        default=0.0,
        metavar="S",
        help="drop the broker connection (last will fires), then reconnect",
    )
    parser.add_argument("--seed", type=int, help="seed for drop and garbage randomness")
    args = parser.parse_args(argv)
    try:
        faults = MqttFaults(
            slow_ms=args.slow,
            drop=args.drop,
            garbage=args.garbage,
            disconnect_every=args.disconnect_every,
        )
        run_mqtt_simulator(
            args.host, args.port, args.room, args.name, args.kind, faults=faults, seed=args.seed
        )
    except (ValueError, LocalProtocolError) as exc:
        print(f"courtroom simulate mqtt: {exc}", file=sys.stderr)
        return 2
    return 0
