"""HyperDeck session with injected time, and session ⇄ virtual recorder byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import DeviceTimeoutError, DeviceUnavailableError, RemoteProtocolError
from devices.hyperdeck import (
    Command,
    CommandName,
    DeviceInfo,
    ErrorCode,
    HyperDeckError,
    HyperDeckSession,
    Response,
    SlotChange,
    SlotInfo,
    SlotStatus,
    TransportChange,
    TransportInfo,
    TransportStatus,
    VirtualHyperDeck,
)
from devices.session import Completed, Failed, Fault, Sent, SessionEvent, Unsolicited

TRANSPORT_INFO = Command.simple(CommandName.TRANSPORT_INFO)
STOP = Command.simple(CommandName.STOP)
PING = Command.simple(CommandName.PING)


def connected_session(**kwargs: float) -> HyperDeckSession:
    session = HyperDeckSession(device="rec", **kwargs)  # type: ignore[arg-type]
    session.connection_made(now=0.0)
    return session


def test_session_sends_in_order_one_outstanding() -> None:
    session = connected_session()
    session.send(PING, now=0.0)
    session.send(STOP, now=0.0)
    assert session.data_to_send() == b"ping\r\n"
    session.receive_data(b"200 ok\r\n", now=0.1)
    assert session.data_to_send() == b"stop\r\n"
    events = session.events()
    assert [type(e) for e in events] == [Sent, Completed, Sent]
    assert events[1] == Completed(PING, None, b"200 ok\r\n")


def test_session_error_reply_maps_to_named_error() -> None:
    session = connected_session()
    session.send(Command.record(name="A"), now=0.0)
    session.receive_data(b"104 disk full\r\n", now=0.1)
    failed = session.events()[-1]
    assert isinstance(failed, Failed) and not failed.retryable
    assert isinstance(failed.error, HyperDeckError)
    assert failed.error.error_code is ErrorCode.DISK_FULL
    assert failed.error.code == "104"
    assert failed.error.message == "HyperDeck 104 disk full"
    assert str(failed.error) == "rec: HyperDeck 104 disk full"
    unnamed = HyperDeckError.from_response(Response(110, "no input"))
    assert str(unnamed) == "HyperDeck 110 no input"


def test_session_timeout_then_late_reply_of_other_kind_is_fault() -> None:
    session = connected_session(timeout=2.0)
    session.send(TRANSPORT_INFO, now=0.0)
    session.send(STOP, now=0.0)
    session.data_to_send()
    assert session.next_deadline() == 2.0
    session.handle_timeout(now=1.9)
    assert [type(e) for e in session.events()] == [Sent]
    session.handle_timeout(now=2.0)
    events = session.events()
    assert isinstance(events[0], Failed) and isinstance(events[0].error, DeviceTimeoutError)
    assert events[0].retryable
    assert session.data_to_send() == b"stop\r\n"
    # the late 208 cannot answer "stop": dropped as a fault, stop still waits
    session.receive_data(b"208 transport info:\r\nstatus: preview\r\n\r\n200 ok\r\n", now=2.5)
    fault, done = session.events()
    assert isinstance(fault, Fault) and "unexpected reply 208" in fault.error.message
    assert done == Completed(STOP, None, b"200 ok\r\n")


def test_session_notification_between_command_and_reply() -> None:
    session = connected_session()
    session.send(TRANSPORT_INFO, now=0.0)
    session.events()
    session.receive_data(
        b"508 transport info:\r\nstatus: record\r\nslot id: 1\r\nclip id: 1\r\ntimecode: "
        b"00:00:00:00\r\nvideo format: 1080i50\r\n\r\n208 transport info:\r\nstatus: record"
        b"\r\nslot id: 1\r\nclip id: none\r\ntimecode: 00:00:01:00\r\n"
        b"video format: 1080i50\r\n\r\n",
        now=0.2,
    )
    notified, completed = session.events()
    assert isinstance(notified, Unsolicited) and notified.message.clip_id == 1
    assert isinstance(completed, Completed) and completed.reply.clip_id is None


def test_session_garbage_is_fault_and_resyncs() -> None:
    session = connected_session()
    session.send(PING, now=0.0)
    session.events()
    session.receive_data(b"\x00\xffnoise\r\n20", now=0.1)
    session.receive_data(b"0 ok\r\n", now=0.2)
    fault, completed = session.events()
    assert isinstance(fault, Fault) and isinstance(fault.error, RemoteProtocolError)
    assert fault.error.device == "rec"
    assert completed == Completed(PING, None, b"200 ok\r\n")


def test_session_connection_lost_fails_outstanding_and_queued() -> None:
    session = connected_session()
    for command in (PING, STOP, TRANSPORT_INFO):
        session.send(command, now=0.0)
    session.events()
    session.connection_lost(now=1.0)
    events = session.events()
    assert [e.command for e in events if isinstance(e, Failed)] == [PING, STOP, TRANSPORT_INFO]
    assert all(isinstance(e, Failed) and e.retryable for e in events)
    assert all(isinstance(e.error, DeviceUnavailableError) for e in events if isinstance(e, Failed))
    assert session.next_deadline() is None


def test_session_connection_rejected_fails_everything() -> None:
    session = connected_session()
    session.send(PING, now=0.0)
    session.send(STOP, now=0.0)
    session.events()
    session.receive_data(b"120 connection rejected\r\n", now=0.1)
    events = session.events()
    assert [str(e.error) for e in events if isinstance(e, Failed)] == [
        "rec: HyperDeck 120 connection rejected"
    ] * 2


def test_session_queue_overflow_fails_new_command() -> None:
    session = HyperDeckSession(max_queue=1)
    session.send(PING, now=0.0)  # not connected: queued
    session.send(STOP, now=0.0)
    (failed,) = session.events()
    assert isinstance(failed, Failed) and failed.command == STOP


# --- session ⇄ virtual recorder, real bytes both ways --------------------------------


class Bench:
    """Wire a session and a virtual deck together with an injected clock."""

    def __init__(
        self, directory: Path, *, bytes_per_second: int = 64_000, slot_capacity: int = 1 << 20
    ) -> None:
        self.deck = VirtualHyperDeck(
            directory,
            wall_clock=lambda: 1_700_000_000.0,
            bytes_per_second=bytes_per_second,
            slot_capacity=slot_capacity,
        )
        self.session = HyperDeckSession(device="rec", timeout=2.0)
        self.now = 0.0
        self.wire: list[bytes] = []
        self.session.connection_made(now=self.now)
        self._deliver(self.deck.connected(now=self.now))

    def _deliver(self, data: bytes) -> None:
        if data:
            self.wire.append(data)
            self.session.receive_data(data, now=self.now)

    def step(self) -> list[SessionEvent]:
        while out := self.session.data_to_send():
            self._deliver(self.deck.receive(out, now=self.now))
        self._deliver(self.deck.poll(now=self.now))
        return self.session.events()

    def run(self, command: Command) -> list[SessionEvent]:
        self.session.send(command, now=self.now)
        return self.step()

    def advance(self, seconds: float) -> list[SessionEvent]:
        self.now += seconds
        return self.step()


def completed(events: list[SessionEvent]) -> object:
    (done,) = [e for e in events if isinstance(e, Completed | Failed)]
    assert isinstance(done, Completed), done
    return done.reply


def test_virtual_greeting_and_device_info(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    assert bench.wire[0] == (
        b"500 connection info:\r\nprotocol version: 1.11\r\nmodel: HyperDeck Studio Mini\r\n\r\n"
    )
    (greeting,) = bench.session.events()
    assert isinstance(greeting, Unsolicited)
    assert greeting.message == DeviceInfo("1.11", "HyperDeck Studio Mini")
    info = completed(bench.run(Command.simple(CommandName.DEVICE_INFO)))
    assert isinstance(info, DeviceInfo) and info.unique_id


def test_virtual_record_writes_growing_file_with_notification_before_reply(
    tmp_path: Path,
) -> None:
    bench = Bench(tmp_path, bytes_per_second=1000)
    bench.session.events()
    assert completed(bench.run(Command.notify())) is None
    events = bench.run(Command.record(name="Case 42"))
    assert isinstance(events[1], Unsolicited) and isinstance(events[2], Completed)
    assert events[1].message.status is TransportStatus.RECORD
    assert bench.wire[-1].startswith(b"508 transport info:\r\nstatus: record\r\n")
    assert bench.wire[-1].endswith(b"\r\n\r\n200 ok\r\n")
    (clip,) = tmp_path.iterdir()
    assert clip.name == "Case_42-20231114T221320Z.clip"
    header = clip.stat().st_size
    bench.advance(3.0)
    assert clip.stat().st_size == header + 3000
    info = completed(bench.run(TRANSPORT_INFO))
    assert isinstance(info, TransportInfo) and info.timecode == "00:00:03:00"
    events = bench.run(STOP)
    assert events[1].message.status is TransportStatus.STOPPED  # type: ignore[union-attr]
    bench.advance(5.0)
    assert clip.stat().st_size == header + 3000
    slot = completed(bench.run(Command.slot_info(slot_id=1)))
    assert isinstance(slot, SlotInfo) and slot.status is SlotStatus.MOUNTED


def test_virtual_disk_full_stops_recording_with_notification(tmp_path: Path) -> None:
    bench = Bench(tmp_path, bytes_per_second=1000, slot_capacity=10_000)
    bench.run(Command.notify())
    bench.run(Command.record())
    events = bench.advance(4.0)
    assert events == []
    bench.deck.set_fault("disk-full", True)
    (stopped,) = bench.advance(0.5)
    assert isinstance(stopped, Unsolicited)
    assert stopped.message.status is TransportStatus.STOPPED
    failed = bench.run(Command.record())[-1]
    assert isinstance(failed, Failed) and str(failed.error) == "rec: HyperDeck 104 disk full"


def test_virtual_slot_filling_up_stops_recording(tmp_path: Path) -> None:
    bench = Bench(tmp_path, bytes_per_second=1000, slot_capacity=2500)
    bench.run(Command.notify())
    bench.run(Command.record(name="long"))
    (stopped,) = bench.advance(10.0)
    assert isinstance(stopped, Unsolicited) and stopped.message.status is TransportStatus.STOPPED
    (clip,) = tmp_path.iterdir()
    assert clip.stat().st_size == len(clip.read_bytes().split(b"\n")[0]) + 1 + 2500
    failed = bench.run(Command.record())[-1]
    assert isinstance(failed, Failed) and failed.error.code == "104"


@pytest.mark.parametrize(
    ("fault", "code", "text"), [("no-input", "110", "no input"), ("no-disk", "105", "no disk")]
)
def test_virtual_device_faults_map_to_named_errors(
    tmp_path: Path, fault: str, code: str, text: str
) -> None:
    bench = Bench(tmp_path)
    bench.deck.set_fault(fault, True)
    failed = bench.run(Command.record())[-1]
    assert isinstance(failed, Failed) and failed.error.code == code
    assert failed.error.message == f"HyperDeck {code} {text}"
    bench.deck.set_fault(fault, False)
    assert completed(bench.run(Command.record())) is None
    assert list(tmp_path.iterdir())


def test_virtual_no_disk_sends_slot_notification_and_stops(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    bench.run(Command.notify())
    bench.run(Command.record())
    bench.deck.set_fault("no-disk", True)
    events = bench.advance(0.1)
    assert [type(e.message) for e in events if isinstance(e, Unsolicited)] == [
        TransportChange,
        SlotChange,
    ]
    # As from a real deck: only what changed, the slot named.
    assert events[1].message == SlotChange(1, SlotStatus.EMPTY, "", 0)  # type: ignore[union-attr]
    assert events[0].message.status is TransportStatus.STOPPED  # type: ignore[union-attr]
    assert events[0].message.slot_id is None  # "slot id: none" is a change too
    assert b"status: stopped" in events[0].raw and b"video format" not in events[0].raw


def test_virtual_front_panel_presses_are_notified_with_only_the_changes(
    tmp_path: Path,
) -> None:
    bench = Bench(tmp_path, bytes_per_second=1000)
    bench.run(Command.notify())
    assert bench.deck.control(["transport", "record", "Panel"], now=bench.now).startswith(
        "recording Panel-"
    )
    (started,) = [e for e in bench.advance(2.0) if isinstance(e, Unsolicited)]
    assert started.message == TransportChange(status=TransportStatus.RECORD, clip_id=1)
    assert bench.deck.control(["transport", "stopped"], now=bench.now) == "stopped"
    (stopped,) = [e for e in bench.advance(0.1) if isinstance(e, Unsolicited)]
    assert stopped.message == TransportChange(
        status=TransportStatus.STOPPED, timecode="00:00:02:00"
    )
    assert stopped.raw == (
        b"508 transport info:\r\nstatus: stopped\r\n"
        b"display timecode: 00:00:02:00\r\ntimecode: 00:00:02:00\r\n\r\n"
    )
    bench.deck.control(["transport", "stopped"], now=bench.now)
    assert not bench.advance(0.1)  # nothing changed, nothing said
    bench.deck.set_fault("disk-full", True)
    with pytest.raises(ValueError, match="104 disk full"):
        bench.deck.control(["transport", "record"], now=bench.now)
    with pytest.raises(ValueError, match="unknown HyperDeck control"):
        bench.deck.control(["eject"], now=bench.now)


def test_virtual_without_notify_sends_no_notifications(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    events = bench.run(Command.record())
    assert [type(e) for e in events] == [Unsolicited, Sent, Completed]  # greeting only


def test_virtual_answers_syntax_errors(tmp_path: Path) -> None:
    deck = VirtualHyperDeck(tmp_path)
    deck.connected(now=0.0)
    assert deck.receive(b"fly\r\nslot info: slot id: 9\r\nnotify: slot: maybe\n", now=0.0) == (
        b"100 syntax error\r\n102 invalid value\r\n102 invalid value\r\n"
    )
    with pytest.raises(ValueError, match="unknown HyperDeck fault"):
        deck.set_fault("overheat", True)
