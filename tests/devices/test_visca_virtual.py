"""VISCA session ⇄ virtual camera, wired byte for byte (no sockets), time injected."""

from __future__ import annotations

import pytest

from devices.errors import DeviceReportedError, DeviceTimeoutError
from devices.session import Completed, Failed, SessionEvent
from devices.virtual import VirtualDevice
from devices.visca import (
    AddressSet,
    AddressSetReply,
    IfClear,
    IfClearBroadcastReply,
    PanDirection,
    PanTiltDrive,
    PanTiltPosition,
    PanTiltPositionInquiry,
    Power,
    PowerInquiry,
    PowerState,
    PresetRecall,
    PresetReset,
    PresetSet,
    TiltDirection,
    VirtualViscaCamera,
    ViscaCommand,
    ViscaSession,
    Zoom,
    ZoomDirection,
    ZoomPosition,
    ZoomPositionInquiry,
)

H = bytes.fromhex


class Bench:
    """A session and a camera joined by a perfect wire; ``now`` moves by hand."""

    def __init__(self, camera: VirtualViscaCamera, **options: object) -> None:
        self.camera = camera
        self.session = ViscaSession(**options)  # type: ignore[arg-type]
        self.now = 0.0
        self.session.connection_made(now=self.now)
        assert camera.connected(now=self.now) == b""

    def pump(self) -> None:
        while data := self.session.data_to_send():
            self.session.receive_data(self.camera.receive(data, now=self.now), now=self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.session.receive_data(self.camera.poll(now=self.now), now=self.now)
        deadline = self.session.next_deadline()
        if deadline is not None and deadline <= self.now:
            self.session.handle_timeout(now=self.now)
        self.pump()

    def run(self, command: ViscaCommand) -> SessionEvent:
        """Send ``command`` and return its outcome (Completed or Failed)."""
        self.session.send(command, now=self.now)
        self.pump()
        for _ in range(200):
            outcomes = [e for e in self.session.events() if isinstance(e, Completed | Failed)]
            if outcomes:
                assert len(outcomes) == 1
                return outcomes[0]
            self.advance(0.05)
        raise AssertionError("command neither completed nor failed")


def reply(event: SessionEvent) -> object:
    assert isinstance(event, Completed), event
    return event.reply


def error_of(event: SessionEvent) -> str:
    assert isinstance(event, Failed), event
    return str(event.error)


def test_virtual_camera_satisfies_virtual_device_protocol() -> None:
    camera: VirtualDevice = VirtualViscaCamera()
    assert camera.faults == {"buffer-full", "not-executable", "no-completion"}


def test_virtual_startup_address_set_if_clear_and_power_inquiry() -> None:
    bench = Bench(VirtualViscaCamera(address=3), address=1)
    assert reply(bench.run(AddressSet())) == AddressSetReply(2)
    assert bench.camera.address == 1
    assert reply(bench.run(IfClear(broadcast=True))) == IfClearBroadcastReply()
    assert reply(bench.run(IfClear())) is None
    assert reply(bench.run(PowerInquiry())) == PowerState(on=True)


def test_virtual_preset_store_and_recall_takes_movement_time() -> None:
    bench = Bench(VirtualViscaCamera(recall_seconds=1.0))
    right_up = PanTiltDrive(PanDirection.RIGHT, TiltDirection.UP, pan_speed=10, tilt_speed=5)
    reply(bench.run(right_up))
    bench.advance(1.0)
    reply(bench.run(PanTiltDrive()))
    reply(bench.run(Zoom(ZoomDirection.TELE, speed=3)))
    bench.advance(1.0)
    reply(bench.run(Zoom()))
    stored = reply(bench.run(PanTiltPositionInquiry()))
    assert isinstance(stored, PanTiltPosition)
    assert stored.pan == pytest.approx(400, abs=20)
    assert stored.tilt == pytest.approx(200, abs=20)
    zoom = reply(bench.run(ZoomPositionInquiry()))
    assert isinstance(zoom, ZoomPosition)
    assert zoom.zoom == pytest.approx(4096, abs=300)
    reply(bench.run(PresetSet(4)))
    assert bench.camera.presets == {4: (stored.pan, stored.tilt, zoom.zoom)}

    reply(bench.run(PanTiltDrive(PanDirection.LEFT, pan_speed=0x18)))
    bench.advance(1.0)
    reply(bench.run(PanTiltDrive()))
    assert bench.camera.position(now=bench.now)[0] < 0

    start = bench.now
    bench.session.send(PresetRecall(4), now=bench.now)
    bench.pump()
    bench.advance(0.5)
    assert not [e for e in bench.session.events() if isinstance(e, Completed)]
    halfway = bench.camera.position(now=bench.now)[0]
    assert halfway < stored.pan
    while not [e for e in bench.session.events() if isinstance(e, Completed)]:
        bench.advance(0.05)
    assert bench.now - start == pytest.approx(1.0, abs=0.06)
    assert reply(bench.run(PanTiltPositionInquiry())) == PanTiltPosition(stored.pan, stored.tilt)
    assert reply(bench.run(ZoomPositionInquiry())) == ZoomPosition(zoom.zoom)


def test_virtual_preset_reset_forgets_preset() -> None:
    bench = Bench(VirtualViscaCamera())
    reply(bench.run(PresetSet(1)))
    reply(bench.run(PresetReset(1)))
    assert bench.camera.presets == {}


def test_virtual_standby_is_not_executable_until_power_on_completes() -> None:
    bench = Bench(VirtualViscaCamera(powered=False, power_on_seconds=2.0), power_timeout=5.0)
    assert reply(bench.run(PowerInquiry())) == PowerState(on=False)
    failed = bench.run(PresetRecall(1))
    assert error_of(failed) == "VISCA command not executable"
    assert isinstance(failed, Failed) and not failed.retryable
    start = bench.now
    assert reply(bench.run(Power(on=True))) is None
    assert bench.now - start == pytest.approx(2.0, abs=0.06)
    assert reply(bench.run(PowerInquiry())) == PowerState(on=True)
    assert reply(bench.run(Power(on=False))) is None
    assert reply(bench.run(PowerInquiry())) == PowerState(on=False)


def test_virtual_fault_buffer_full_is_retryable_error() -> None:
    bench = Bench(VirtualViscaCamera())
    bench.camera.set_fault("buffer-full", True)
    failed = bench.run(PresetRecall(1))
    assert error_of(failed) == "VISCA command buffer full"
    assert isinstance(failed, Failed) and failed.retryable
    assert isinstance(failed.error, DeviceReportedError) and failed.error.code == "03"
    bench.camera.set_fault("buffer-full", False)
    assert reply(bench.run(PresetSet(1))) is None


def test_virtual_fault_not_executable_forced_while_powered() -> None:
    bench = Bench(VirtualViscaCamera())
    bench.camera.set_fault("not-executable", True)
    failed = bench.run(Zoom(ZoomDirection.WIDE))
    assert error_of(failed) == "VISCA command not executable"
    assert reply(bench.run(PowerInquiry())) == PowerState(on=True)


def test_virtual_fault_no_completion_times_out_after_ack() -> None:
    bench = Bench(VirtualViscaCamera(), completion_timeout=2.0)
    bench.camera.set_fault("no-completion", True)
    start = bench.now
    failed = bench.run(PresetSet(2))
    assert isinstance(failed, Failed) and isinstance(failed.error, DeviceTimeoutError)
    assert error_of(failed) == "VISCA no completion to PresetSet"
    assert failed.retryable
    assert bench.now - start == pytest.approx(2.0, abs=0.06)
    assert bench.camera.presets == {2: (0, 0, 0)}  # executed, only the completion was lost


def test_virtual_unknown_fault_name_raises_value_error() -> None:
    with pytest.raises(ValueError, match="disk-full"):
        VirtualViscaCamera().set_fault("disk-full", True)


def test_virtual_third_concurrent_command_gets_buffer_full() -> None:
    camera = VirtualViscaCamera()
    camera.receive(H("81 01 04 3F 01 01 FF"), now=0.0)
    assert camera.receive(H("81 01 04 3F 02 01 FF"), now=0.0) == H("90 41 FF")
    assert camera.receive(H("81 01 04 3F 02 01 FF"), now=0.0) == H("90 42 FF")
    assert camera.busy_sockets == {1, 2}
    assert camera.receive(H("81 01 04 3F 02 01 FF"), now=0.0) == H("90 60 03 FF")
    assert camera.poll(now=0.5) == b""
    assert camera.poll(now=1.0) == H("90 51 FF 90 52 FF")


def test_virtual_if_clear_cancels_pending_completion() -> None:
    camera = VirtualViscaCamera()
    camera.receive(H("81 01 04 3F 01 01 FF"), now=0.0)
    assert camera.receive(H("81 01 04 3F 02 01 FF"), now=0.0) == H("90 41 FF")
    assert camera.receive(H("81 01 00 01 FF"), now=0.1) == H("90 50 FF")
    assert camera.poll(now=2.0) == b""


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        ("81 01 04 99 FF", "90 60 02 FF"),  # unknown command
        ("81 01 04 3F 01 80 FF", "90 60 02 FF"),  # preset out of range
        ("81" + " 00" * 20 + " FF", "90 60 01 FF"),  # over-long packet
        ("82 01 04 00 02 FF", ""),  # another camera's command
        ("12 34 FF", ""),  # not a VISCA packet
    ],
)
def test_virtual_answers_invalid_packets_like_a_camera(sent: str, answer: str) -> None:
    assert VirtualViscaCamera().receive(H(sent), now=0.0) == H(answer)


def test_virtual_camera_at_other_address_leaves_session_to_time_out() -> None:
    bench = Bench(VirtualViscaCamera(address=2), address=1, inquiry_timeout=1.0)
    failed = bench.run(PowerInquiry())
    assert isinstance(failed, Failed) and isinstance(failed.error, DeviceTimeoutError)


def test_virtual_drive_clamps_at_mechanical_limits() -> None:
    camera = VirtualViscaCamera()
    camera.receive(H("81 01 06 01 18 17 02 02 FF"), now=0.0)  # down-right, full speed
    pan, tilt, _ = camera.position(now=60.0)
    assert (pan, tilt) == (0x0990, -0x0190)


def test_virtual_camera_preset_beyond_model_range_is_syntax_error() -> None:
    bench = Bench(VirtualViscaCamera(max_presets=6))
    assert isinstance(bench.run(PresetSet(5)), Completed)
    for command in (PresetSet(6), PresetRecall(6), PresetReset(100)):
        failed = bench.run(command)
        assert isinstance(failed, Failed) and isinstance(failed.error, DeviceReportedError)
        assert str(failed.error) == "VISCA syntax error" and not failed.retryable
    assert set(bench.camera.presets) == {5}
