"""Pelco-D session (fire and forget) and its wiring to the virtual camera."""

from __future__ import annotations

import pytest

from devices.errors import DeviceUnavailableError, LocalProtocolError, RemoteProtocolError
from devices.pelco import (
    CameraPower,
    Motion,
    PanMotion,
    PelcoCommand,
    PelcoDSession,
    PelcoFrame,
    PresetClear,
    PresetGoto,
    PresetSet,
    TiltMotion,
    VirtualPelcoCamera,
    ZoomMotion,
    decode,
)
from devices.session import Completed, Failed, Fault, Sent, Unsolicited
from devices.virtual import VirtualDevice

H = bytes.fromhex
GOTO = H("FF 01 00 07 00 01 09")


def open_session(**options: object) -> PelcoDSession:
    session = PelcoDSession(**options)  # type: ignore[arg-type]
    session.connection_made(now=0.0)
    return session


def test_session_completes_once_bytes_are_written() -> None:
    session = open_session()
    session.send(PresetGoto(1), now=0.0)
    assert session.events() == []
    assert session.data_to_send() == GOTO
    assert session.events() == [Sent(PresetGoto(1), GOTO)]
    session.data_written(now=0.0)
    assert session.events() == [Completed(PresetGoto(1), None, GOTO)]
    session.data_written(now=0.0)
    assert session.events() == []
    assert session.next_deadline() is None
    session.handle_timeout(now=100.0)
    assert session.events() == []


def test_session_hands_out_commands_in_order() -> None:
    session = open_session(address=5)
    session.send(PresetSet(2), now=0.0)
    session.send(Motion(), now=0.0)
    assert session.data_to_send() == H("FF 05 00 03 00 02 0A FF 05 00 00 00 00 05")
    session.data_written(now=0.0)
    completed = [e.command for e in session.events() if isinstance(e, Completed)]
    assert completed == [PresetSet(2), Motion()]


def test_session_send_while_closed_fails_retryable() -> None:
    session = PelcoDSession()
    session.send(Motion(), now=0.0)
    (failed,) = session.events()
    assert isinstance(failed, Failed)
    assert isinstance(failed.error, DeviceUnavailableError)
    assert failed.retryable
    assert session.data_to_send() == b""


def test_session_connection_lost_fails_commands_not_handed_out() -> None:
    session = open_session(device="cam-gallery")
    session.send(PresetGoto(1), now=0.0)
    session.connection_lost(now=1.0)
    (failed,) = session.events()
    assert isinstance(failed, Failed)
    assert str(failed.error) == "cam-gallery: Pelco-D connection lost"
    assert session.data_to_send() == b""


def test_session_connection_lost_fails_commands_handed_out_but_not_written() -> None:
    session = open_session(device="cam-gallery")
    session.send(PresetGoto(1), now=0.0)
    assert session.data_to_send() == GOTO
    session.connection_lost(now=1.0)
    sent, failed = session.events()
    assert isinstance(sent, Sent) and isinstance(failed, Failed)
    assert failed.command == PresetGoto(1) and failed.retryable
    session.data_written(now=1.0)
    assert session.events() == []


def test_session_pending_limit_rejects_newest() -> None:
    session = open_session(max_queue=1)
    session.send(PresetGoto(1), now=0.0)
    session.send(PresetGoto(2), now=0.0)
    (failed,) = session.events()
    assert isinstance(failed, Failed) and failed.command == PresetGoto(2)


def test_session_incoming_garbage_is_fault_frames_unsolicited() -> None:
    session = open_session(device="cam-gallery")
    session.receive_data(H("FF 01 00 07 00 01 0A") + GOTO, now=0.0)
    fault, unsolicited = session.events()
    assert isinstance(fault, Fault)
    assert isinstance(fault.error, RemoteProtocolError)
    assert fault.error.device == "cam-gallery"
    assert fault.error.raw == H("FF 01 00 07 00 01 0A")
    assert unsolicited == Unsolicited(decode(GOTO), GOTO)


def test_session_rejects_bad_address_and_non_commands() -> None:
    with pytest.raises(LocalProtocolError):
        PelcoDSession(address=0)
    with pytest.raises(LocalProtocolError):
        open_session().send("stop", now=0.0)  # type: ignore[arg-type]


class Bench:
    """Session and virtual camera joined byte for byte; ``now`` moves by hand."""

    def __init__(self, camera: VirtualPelcoCamera, **options: object) -> None:
        self.camera = camera
        self.session = open_session(**options)
        assert camera.connected(now=0.0) == b""
        self.now = 0.0

    def run(self, command: PelcoCommand, *, corrupt: bool = False) -> None:
        self.session.send(command, now=self.now)
        data = self.session.data_to_send()
        if corrupt:
            data = data[:-1] + bytes(((data[-1] + 1) % 256,))
        assert self.camera.receive(data, now=self.now) == b""
        self.session.data_written(now=self.now)
        assert [type(e) for e in self.session.events()] == [Sent, Completed]

    def advance(self, seconds: float) -> None:
        self.now += seconds
        assert self.camera.poll(now=self.now) == b""


def test_virtual_pelco_satisfies_virtual_device_protocol() -> None:
    camera: VirtualDevice = VirtualPelcoCamera()
    assert camera.faults == frozenset({"echo"})
    with pytest.raises(ValueError):
        camera.set_fault("buffer-full", True)


def test_virtual_pelco_echo_fault_sends_applied_frames_back() -> None:
    camera = VirtualPelcoCamera()
    camera.set_fault("echo", True)
    assert camera.receive(H("00") + GOTO + H("FF 02 00 07 00 01 0A"), now=0.0) == GOTO
    camera.set_fault("echo", False)
    assert camera.receive(GOTO, now=0.0) == b""


def test_virtual_pelco_state_text_names_presets_and_power() -> None:
    bench = Bench(VirtualPelcoCamera())
    assert bench.camera.state_text() == "powered=on presets=- applied=0 rejected=0"
    bench.run(PresetSet(3))
    bench.run(PresetSet(1))
    bench.run(CameraPower(on=False))
    assert bench.camera.state_text() == "powered=off presets=1,3 applied=3 rejected=0"


def test_virtual_pelco_preset_store_and_goto() -> None:
    bench = Bench(VirtualPelcoCamera())
    bench.run(Motion(PanMotion.RIGHT, TiltMotion.UP, pan_speed=0x20, tilt_speed=0x10))
    bench.advance(2.0)
    bench.run(Motion())
    stored = bench.camera.position(now=bench.now)
    assert stored == pytest.approx((96.0, 48.0, 0.0))
    assert not bench.camera.moving
    bench.run(PresetSet(1))
    assert bench.camera.presets == {1: stored}

    bench.run(Motion(PanMotion.LEFT, zoom=ZoomMotion.TELE, pan_speed=0xFF))
    bench.advance(1.0)
    bench.run(Motion())
    assert bench.camera.position(now=bench.now) == pytest.approx((306.0, 48.0, 25.0))
    bench.run(PresetGoto(1))
    assert bench.camera.position(now=bench.now) == stored
    bench.run(PresetClear(1))
    assert bench.camera.presets == {}


def test_virtual_pelco_zoom_and_tilt_stop_at_limits() -> None:
    bench = Bench(VirtualPelcoCamera())
    bench.run(Motion(tilt=TiltMotion.DOWN, zoom=ZoomMotion.TELE, tilt_speed=0x3F))
    bench.advance(60.0)
    assert bench.camera.position(now=bench.now)[1:] == (-90.0, 100.0)


def test_virtual_pelco_camera_power() -> None:
    bench = Bench(VirtualPelcoCamera())
    bench.run(CameraPower(on=False))
    assert not bench.camera.powered
    bench.run(CameraPower(on=True))
    assert bench.camera.powered


def test_virtual_pelco_ignores_bad_checksum_and_records_it() -> None:
    bench = Bench(VirtualPelcoCamera())
    bench.run(PresetSet(3), corrupt=True)
    assert bench.camera.presets == {}
    assert len(bench.camera.rejected) == 1
    assert bench.camera.rejected[0].raw == H("FF 01 00 03 00 03 08")
    bench.run(PresetSet(3))
    assert bench.camera.presets == {3: (0.0, 0.0, 0.0)}
    assert bench.camera.applied == [PresetSet(3)]


def test_virtual_pelco_ignores_other_addresses() -> None:
    bench = Bench(VirtualPelcoCamera(address=2), address=1)
    bench.run(PresetSet(1))
    assert bench.camera.presets == {}
    assert bench.camera.applied == []
    assert bench.camera.rejected == []


def test_virtual_pelco_garbage_byte_by_byte_then_frame_applies() -> None:
    camera = VirtualPelcoCamera()
    for byte in H("00 FF 12") + GOTO + bytes.fromhex("FF 01 00 03 00 05 09"):
        assert camera.receive(bytes((byte,)), now=0.0) == b""
    assert camera.applied == [PresetGoto(1), PresetSet(5)]
    assert camera.rejected
    assert PelcoFrame(1, PresetSet(5)) == decode(H("FF 01 00 03 00 05 09"))
