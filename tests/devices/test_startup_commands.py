"""What a session sends on its own when the line opens: VISCA address set and
IF_Clear, HyperDeck ``notify``; and that the deck's asynchronous 5xx
notifications then arrive as device events through a real link.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from courtroom_agent.config import DeviceConfig
from courtroom_agent.equipment import build_session, describe
from devices import hyperdeck, visca
from devices.events import DeviceEvent, Direction
from devices.link import DeviceLink
from devices.session import Completed, DeviceSession, Sent
from devices.simulate import Simulator
from devices.transport import SerialTransport, TcpTransport, Transport
from devices.virtual import VirtualDevice
from tests.devices.test_simulate_echo import eventually

H = bytes.fromhex
NOTIFY = b"notify: transport: true slot: true\r\n"
WITHIN = 5.0


def test_visca_initialize_sends_address_set_then_if_clear_first() -> None:
    session = visca.ViscaSession(address=3, initialize=True)
    session.connection_made(now=0.0)
    session.send(visca.PowerInquiry(), now=0.0)
    assert session.data_to_send() == H("88 30 03 FF")  # only one outstanding
    session.receive_data(H("88 30 04 FF"), now=0.0)  # the next camera would be 4
    assert session.data_to_send() == H("88 01 00 01 FF")
    session.receive_data(H("88 01 00 01 FF"), now=0.0)
    assert session.data_to_send() == H("83 09 04 00 FF")
    sent = [e.command for e in session.events() if isinstance(e, Sent)]
    assert sent == [visca.AddressSet(first=3), visca.IfClear(broadcast=True), visca.PowerInquiry()]


def test_visca_without_initialize_sends_only_what_it_is_given() -> None:
    session = visca.ViscaSession(address=3)
    session.connection_made(now=0.0)
    assert session.data_to_send() == b""


def test_hyperdeck_notify_goes_first_on_every_connection() -> None:
    session = hyperdeck.HyperDeckSession(notify=True)
    session.send(hyperdeck.Command.simple(hyperdeck.CommandName.PING), now=0.0)
    session.connection_made(now=0.0)
    assert session.data_to_send() == NOTIFY
    session.receive_data(b"200 ok\r\n", now=0.0)
    assert session.data_to_send() == b"ping\r\n"
    session.connection_lost(now=1.0)
    session.events()
    session.connection_made(now=2.0)
    assert session.data_to_send() == NOTIFY


def test_agent_sessions_are_built_with_their_start_up_commands() -> None:
    camera = DeviceConfig(name="cam", kind="visca", port="/dev/ttyUSB0", address=2)
    deck = DeviceConfig(name="deck", kind="hyperdeck", host="10.0.0.9", port=9993)
    camera_session = build_session(camera)
    deck_session = build_session(deck)
    assert isinstance(camera_session, visca.ViscaSession) and camera_session.initialize
    assert isinstance(deck_session, hyperdeck.HyperDeckSession) and deck_session.notify


@contextlib.asynccontextmanager
async def served(
    device: VirtualDevice, session: DeviceSession, tmp_path: Path, *, serial: bool
) -> AsyncIterator[tuple[Simulator, DeviceLink, list[DeviceEvent]]]:
    stable = tmp_path / "usb-camera"
    async with Simulator(
        device,
        pty_link=stable if serial else None,
        tcp_port=None if serial else 0,
        poll_interval=0.005,
    ) as simulator:
        sim_task = asyncio.create_task(simulator.run(), name="simulator")
        transport: Transport
        if serial:
            transport = SerialTransport(str(stable))
        else:
            assert simulator.tcp_port is not None
            transport = TcpTransport("127.0.0.1", simulator.tcp_port)
        events: list[DeviceEvent] = []
        link = DeviceLink(
            name="dev",
            session=session,
            transport=transport,
            on_event=events.append,
            describe=describe,  # as the agent's links do
        )
        async with link:
            link_task = asyncio.create_task(link.run(), name="device dev")
            await asyncio.wait_for(link.wait_online(), WITHIN)
            try:
                yield simulator, link, events
            finally:
                for task in (link_task, sim_task):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


async def test_visca_camera_at_another_address_takes_the_configured_one(tmp_path: Path) -> None:
    camera = visca.VirtualViscaCamera(address=1)  # as it came from the factory
    session = visca.ViscaSession(address=2, initialize=True, ack_timeout=0.5)
    async with served(camera, session, tmp_path, serial=True) as (_, link, events):
        reply = await asyncio.wait_for(link.command(visca.PowerInquiry()), WITHIN)
        assert reply == visca.PowerState(on=True)  # not the address set's reply
        assert camera.address == 2
        tx = [e.meaning for e in events if e.direction is Direction.TX]
        assert tx[:3] == ["AddressSet(first=2)", "IfClear(broadcast=True)", "PowerInquiry()"]


async def test_hyperdeck_transport_notifications_become_device_events(tmp_path: Path) -> None:
    deck = hyperdeck.VirtualHyperDeck(tmp_path)
    session = hyperdeck.HyperDeckSession(notify=True, timeout=1.0)
    async with served(deck, session, tmp_path, serial=False) as (simulator, link, events):
        record = hyperdeck.Command.record(name="hearing-7")
        assert await asyncio.wait_for(link.command(record), WITHIN) is None

        def notified(prefix: str) -> bool:
            return any(
                e.meaning.startswith(prefix) for e in events if e.direction is Direction.UNSOLICITED
            )

        await eventually(lambda: notified("TransportChange(status=RECORD"))
        simulator.set_fault("disk-full", True)  # the deck stops on its own and says so
        await eventually(lambda: notified("TransportChange(status=STOPPED"))
        async with asyncio.timeout(WITHIN):
            info = await link.command(
                hyperdeck.Command.simple(hyperdeck.CommandName.TRANSPORT_INFO)
            )
        assert isinstance(info, hyperdeck.TransportInfo)
        assert info.status is hyperdeck.TransportStatus.STOPPED


def test_visca_initialize_commands_complete_as_session_events() -> None:
    session = visca.ViscaSession(address=1, initialize=True)
    session.connection_made(now=0.0)
    session.data_to_send()
    session.receive_data(H("88 30 02 FF"), now=0.0)
    done = [e for e in session.events() if isinstance(e, Completed)]
    assert [e.command for e in done] == [visca.AddressSet(first=1)]
