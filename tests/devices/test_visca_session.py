"""VISCA session with injected time: completion rules, timeouts, errors, faults."""

from __future__ import annotations

import pytest

from devices.errors import (
    DeviceReportedError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    LocalProtocolError,
    RemoteProtocolError,
)
from devices.session import Completed, Failed, Fault, Sent, SessionEvent, Unsolicited
from devices.visca import (
    AddressSet,
    AddressSetReply,
    IfClear,
    IfClearBroadcastReply,
    NetworkChange,
    PanTiltDrive,
    PanTiltPosition,
    PanTiltPositionInquiry,
    Power,
    PowerInquiry,
    PowerState,
    PresetRecall,
    PresetSet,
    ViscaSession,
    ZoomPosition,
    ZoomPositionInquiry,
    is_retryable,
)

H = bytes.fromhex


def open_session(**options: object) -> ViscaSession:
    session = ViscaSession(**options)  # type: ignore[arg-type]
    session.connection_made(now=0.0)
    return session


def only(events: list[SessionEvent]) -> SessionEvent:
    assert len(events) == 1, events
    return events[0]


def test_session_command_completes_after_ack_and_completion() -> None:
    session = open_session(power_timeout=20.0)
    session.send(Power(on=True), now=1.0)
    assert session.data_to_send() == H("81 01 04 00 02 FF")
    assert session.events() == [Sent(Power(on=True), H("81 01 04 00 02 FF"))]
    assert session.next_deadline() == pytest.approx(1.5)
    session.receive_data(H("90 41 FF"), now=1.1)
    assert session.events() == []
    assert session.next_deadline() == pytest.approx(21.1)
    session.receive_data(H("90 51 FF"), now=5.0)
    assert session.events() == [Completed(Power(on=True), None, H("90 51 FF"))]
    assert session.next_deadline() is None


def test_session_replies_fed_byte_by_byte_complete_command() -> None:
    session = open_session()
    session.send(PresetSet(3), now=0.0)
    session.events()
    for byte in H("90 42 FF 90 52 FF"):
        session.receive_data(bytes((byte,)), now=0.1)
    assert session.events() == [Completed(PresetSet(3), None, H("90 52 FF"))]


@pytest.mark.parametrize(
    ("inquiry", "raw", "answer"),
    [
        (PowerInquiry(), "90 50 02 FF", PowerState(on=True)),
        (PowerInquiry(), "90 50 03 FF", PowerState(on=False)),
        (PanTiltPositionInquiry(), "90 50 00 01 02 03 0F 0F 0F 0F FF", PanTiltPosition(0x123, -1)),
        (ZoomPositionInquiry(), "90 50 04 00 00 00 FF", ZoomPosition(0x4000)),
    ],
)
def test_session_inquiry_completes_on_answer(inquiry: object, raw: str, answer: object) -> None:
    session = open_session(inquiry_timeout=1.0)
    session.send(inquiry, now=0.0)  # type: ignore[arg-type]
    session.events()
    assert session.next_deadline() == pytest.approx(1.0)
    session.receive_data(H(raw), now=0.05)
    assert session.events() == [Completed(inquiry, answer, H(raw))]


def test_session_address_set_is_broadcast_and_completes_on_reply() -> None:
    session = open_session(address=2)
    session.send(AddressSet(), now=0.0)
    assert session.data_to_send() == H("88 30 01 FF")
    session.events()
    session.receive_data(H("88 30 03 FF"), now=0.1)
    assert session.events() == [Completed(AddressSet(), AddressSetReply(3), H("88 30 03 FF"))]


def test_session_if_clear_broadcast_and_addressed() -> None:
    session = open_session()
    session.send(IfClear(broadcast=True), now=0.0)
    session.send(IfClear(), now=0.0)
    assert session.data_to_send() == H("88 01 00 01 FF")
    session.receive_data(H("88 01 00 01 FF"), now=0.1)
    assert session.data_to_send() == H("81 01 00 01 FF")
    session.receive_data(H("90 50 FF"), now=0.2)
    completed = [e for e in session.events() if isinstance(e, Completed)]
    assert completed == [
        Completed(IfClear(broadcast=True), IfClearBroadcastReply(), H("88 01 00 01 FF")),
        Completed(IfClear(), None, H("90 50 FF")),
    ]


@pytest.mark.parametrize(
    ("raw", "code", "message", "retryable"),
    [
        ("90 60 01 FF", "01", "VISCA message length error", False),
        ("90 60 02 FF", "02", "VISCA syntax error", False),
        ("90 60 03 FF", "03", "VISCA command buffer full", True),
        ("90 61 04 FF", "04", "VISCA command cancelled", False),
        ("90 61 05 FF", "05", "VISCA no socket", False),
        ("90 61 41 FF", "41", "VISCA command not executable", False),
    ],
)
def test_session_error_reply_fails_with_named_error(
    raw: str, code: str, message: str, retryable: bool
) -> None:
    session = open_session()
    session.send(PresetRecall(1), now=0.0)
    session.events()
    session.receive_data(H(raw), now=0.1)
    failed = only(session.events())
    assert isinstance(failed, Failed)
    assert isinstance(failed.error, DeviceReportedError)
    assert str(failed.error) == message
    assert failed.error.code == code
    assert failed.error.raw == H(raw)
    assert failed.retryable is retryable


def test_session_error_names_configured_device() -> None:
    session = open_session(device="cam-judge")
    session.send(Power(on=True), now=0.0)
    session.events()
    session.receive_data(H("90 60 02 FF"), now=0.1)
    failed = only(session.events())
    assert isinstance(failed, Failed)
    assert str(failed.error) == "cam-judge: VISCA syntax error"


def test_session_error_after_ack_in_its_socket_fails_command() -> None:
    session = open_session()
    session.send(PresetRecall(1), now=0.0)
    session.receive_data(H("90 42 FF"), now=0.1)
    session.receive_data(H("90 61 41 FF"), now=0.2)  # another socket: not ours
    session.receive_data(H("90 62 04 FF"), now=0.3)
    events = session.events()
    assert isinstance(events[1], Fault)
    assert isinstance(events[2], Failed)
    assert str(events[2].error) == "VISCA command cancelled"


def test_session_no_ack_times_out_retryable() -> None:
    session = open_session(ack_timeout=0.5)
    session.send(Power(on=False), now=10.0)
    session.events()
    session.handle_timeout(now=10.4)
    assert session.events() == []
    session.handle_timeout(now=10.5)
    failed = only(session.events())
    assert isinstance(failed, Failed)
    assert isinstance(failed.error, DeviceTimeoutError)
    assert str(failed.error) == "VISCA no ACK to Power"
    assert failed.retryable
    assert session.next_deadline() is None


def test_session_recall_completion_waits_motion_timeout() -> None:
    session = open_session(motion_timeout=8.0, completion_timeout=2.0)
    session.send(PresetRecall(2), now=0.0)
    session.receive_data(H("90 41 FF"), now=0.1)
    session.handle_timeout(now=5.0)
    assert [e for e in session.events() if isinstance(e, Failed)] == []
    session.handle_timeout(now=8.1)
    failed = only(session.events())
    assert isinstance(failed, Failed)
    assert str(failed.error) == "VISCA no completion to PresetRecall"


def test_session_commands_go_out_in_order_one_at_a_time() -> None:
    session = open_session()
    session.send(PresetSet(1), now=0.0)
    session.send(PanTiltDrive(), now=0.0)
    assert session.data_to_send() == H("81 01 04 3F 01 01 FF")
    session.receive_data(H("90 41 FF 90 51 FF"), now=0.1)
    assert session.data_to_send() == H("81 01 06 01 01 01 03 03 FF")
    assert [type(e) for e in session.events()] == [Sent, Completed, Sent]


def test_session_timeout_starts_next_command() -> None:
    session = open_session(ack_timeout=0.5)
    session.send(PresetSet(1), now=0.0)
    session.send(PowerInquiry(), now=0.0)
    session.data_to_send()
    session.handle_timeout(now=0.6)
    assert session.data_to_send() == H("81 09 04 00 FF")
    assert session.next_deadline() == pytest.approx(1.6)


def test_session_garbage_is_fault_then_resyncs() -> None:
    session = open_session()
    session.send(Power(on=True), now=0.0)
    session.events()
    session.receive_data(H("12 34 FF") + bytes(30) + H("FF 90 41 FF 90 51 FF"), now=0.1)
    events = session.events()
    assert [type(e) for e in events] == [Fault, Fault, Completed]
    assert isinstance(events[0], Fault)
    assert isinstance(events[0].error, RemoteProtocolError)
    assert events[0].error.raw == H("12 34 FF")


def test_session_reply_without_command_is_fault() -> None:
    session = open_session()
    session.receive_data(H("90 51 FF"), now=0.0)
    fault = only(session.events())
    assert isinstance(fault, Fault)
    assert "no command outstanding" in str(fault.error)


def test_session_stale_completion_of_other_socket_is_fault() -> None:
    session = open_session()
    session.send(PresetSet(1), now=0.0)
    session.receive_data(H("90 41 FF"), now=0.1)
    session.receive_data(H("90 52 FF 90 51 FF"), now=0.2)
    assert [type(e) for e in session.events()] == [Sent, Fault, Completed]


def test_session_reply_from_other_camera_is_fault() -> None:
    session = open_session(address=1)
    session.send(PresetSet(1), now=0.0)
    session.receive_data(H("A0 41 FF"), now=0.1)
    assert [type(e) for e in session.events()] == [Sent, Fault]


def test_session_network_change_is_unsolicited() -> None:
    session = open_session()
    session.receive_data(H("90 38 FF"), now=0.0)
    assert session.events() == [Unsolicited(NetworkChange(1), H("90 38 FF"))]


def test_session_garbled_answer_is_fault_and_failure() -> None:
    session = open_session()
    session.send(ZoomPositionInquiry(), now=0.0)
    session.events()
    session.receive_data(H("90 50 04 00 FF"), now=0.1)
    events = session.events()
    assert [type(e) for e in events] == [Fault, Failed]
    assert isinstance(events[1], Failed)
    assert events[1].retryable


def test_session_connection_lost_fails_outstanding_and_queued() -> None:
    session = open_session()
    session.send(PresetRecall(1), now=0.0)
    session.send(PresetRecall(2), now=0.0)
    session.events()
    session.connection_lost(now=1.0)
    events = session.events()
    assert [e.command for e in events if isinstance(e, Failed)] == [
        PresetRecall(1),
        PresetRecall(2),
    ]
    assert all(isinstance(e, Failed) and e.retryable for e in events)
    assert all(
        isinstance(e, Failed) and isinstance(e.error, DeviceUnavailableError) for e in events
    )
    assert session.next_deadline() is None
    assert session.data_to_send() == b""


def test_session_send_while_closed_fails_at_once() -> None:
    session = ViscaSession()
    session.send(Power(on=True), now=0.0)
    failed = only(session.events())
    assert isinstance(failed, Failed)
    assert isinstance(failed.error, DeviceUnavailableError)
    assert session.data_to_send() == b""


def test_session_queue_full_rejects_newest() -> None:
    session = open_session(max_queue=1)
    session.send(PresetRecall(1), now=0.0)
    session.send(PresetRecall(2), now=0.0)
    session.send(PresetRecall(3), now=0.0)
    failed = [e for e in session.events() if isinstance(e, Failed)]
    assert [e.command for e in failed] == [PresetRecall(3)]
    assert "queue full" in str(failed[0].error)


def test_session_rejects_bad_address_and_non_commands() -> None:
    with pytest.raises(LocalProtocolError):
        ViscaSession(address=8)
    with pytest.raises(LocalProtocolError):
        open_session().send("power on", now=0.0)  # type: ignore[arg-type]


def test_is_retryable_policy() -> None:
    assert is_retryable(DeviceReportedError("x", code="03"))
    assert not is_retryable(DeviceReportedError("x", code="02"))
    assert not is_retryable(DeviceReportedError("x", code="41"))
    assert is_retryable(DeviceTimeoutError("x"))
    assert is_retryable(DeviceUnavailableError("x"))
    assert not is_retryable(LocalProtocolError("x"))
