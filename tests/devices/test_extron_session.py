"""Extron SIS session with injected time, and session ⇄ VirtualMatrix byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.errors import (
    AuthenticationError,
    DeviceReportedError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    LocalProtocolError,
    RemoteProtocolError,
)
from devices.extron import (
    Banner,
    BannerDate,
    ExtronSession,
    LoginReply,
    QueryFirmware,
    ReadTie,
    Reconfig,
    Tie,
    TieAll,
    TieAllReply,
    TieLayer,
    TieReply,
    VirtualMatrix,
)
from devices.session import Completed, Failed, Fault, Sent, SessionEvent, Unsolicited

T0 = 100.0


def connected(**kwargs: object) -> ExtronSession:
    session = ExtronSession(device="matrix", **kwargs)  # type: ignore[arg-type]
    session.connection_made(now=T0)
    return session


def exchange(session: ExtronSession, device: VirtualMatrix, now: float) -> list[SessionEvent]:
    """Move bytes both ways until both sides are quiet; return the session's events."""
    for _ in range(20):
        out = session.data_to_send()
        back = (device.receive(out, now=now) if out else b"") + device.poll(now=now)
        if not out and not back:
            break
        session.receive_data(back, now=now)
    return session.events()


def only(events: list[SessionEvent], kind: type) -> list[SessionEvent]:
    return [e for e in events if isinstance(e, kind)]


# --- session alone ----------------------------------------------------------


def test_session_tie_sends_command_and_completes_on_matching_reply() -> None:
    session = connected()
    session.send(Tie(1, 3), now=T0)
    assert session.data_to_send() == b"1*3!"
    session.receive_data(b"Out03 In01 All\r\n", now=T0 + 0.1)
    assert session.events() == [
        Sent(Tie(1, 3), b"1*3!"),
        Completed(Tie(1, 3), TieReply(3, 1), b"Out03 In01 All\r\n"),
    ]
    assert session.next_deadline() is None


def test_session_reply_byte_by_byte_completes_once() -> None:
    session = connected()
    session.send(Tie(7, 5, TieLayer.VIDEO), now=T0)
    session.events()
    for byte in b"Out05 In07 Vid\r\n":
        session.receive_data(bytes([byte]), now=T0)
    assert session.events() == [
        Completed(Tie(7, 5, TieLayer.VIDEO), TieReply(5, 7, TieLayer.VIDEO), b"Out05 In07 Vid\r\n")
    ]


def test_session_front_panel_tie_while_outstanding_is_unsolicited() -> None:
    session = connected()
    session.send(Tie(1, 3), now=T0)
    session.events()
    session.receive_data(b"Out05 In02 All\r\nOut03 In01 Aud\r\n", now=T0)
    assert session.events() == [
        Unsolicited(TieReply(5, 2), b"Out05 In02 All\r\n"),
        Unsolicited(TieReply(3, 1, TieLayer.AUDIO), b"Out03 In01 Aud\r\n"),
    ]
    assert session.next_deadline() == T0 + 2.0
    session.receive_data(b"Out03 In01 All\r\n", now=T0)
    assert only(session.events(), Completed)


def test_session_error_reply_fails_with_named_error() -> None:
    session = connected()
    session.send(Tie(1, 3), now=T0)
    session.receive_data(b"E13\r\n", now=T0)
    (failed,) = only(session.events(), Failed)
    assert isinstance(failed, Failed)
    assert isinstance(failed.error, DeviceReportedError)
    assert str(failed.error) == "matrix: Extron E13 invalid parameter"
    assert failed.error.message == "Extron E13 invalid parameter"
    assert failed.error.code == "E13"
    assert failed.error.raw == b"E13\r\n"
    assert failed.retryable is False


def test_session_busy_error_is_retryable() -> None:
    session = connected()
    session.send(ReadTie(3), now=T0)
    session.receive_data(b"E22\r\n", now=T0)
    (failed,) = only(session.events(), Failed)
    assert isinstance(failed, Failed)
    assert failed.error.message == "Extron E22 busy"
    assert failed.retryable is True


def test_session_error_with_nothing_outstanding_is_unsolicited() -> None:
    session = connected()
    session.receive_data(b"E10\r\n", now=T0)
    (event,) = session.events()
    assert isinstance(event, Unsolicited)


def test_session_timeout_fails_command_and_sends_next() -> None:
    session = connected(reply_timeout=0.5)
    session.send(Tie(1, 3), now=T0)
    session.send(Tie(2, 4), now=T0)
    assert session.data_to_send() == b"1*3!"
    assert session.next_deadline() == T0 + 0.5
    session.handle_timeout(now=T0 + 0.4)
    assert only(session.events(), Failed) == []
    session.handle_timeout(now=T0 + 0.5)
    events = session.events()
    (failed,) = only(events, Failed)
    assert isinstance(failed, Failed)
    assert isinstance(failed.error, DeviceTimeoutError)
    assert failed.retryable is True
    assert only(events, Sent) == [Sent(Tie(2, 4), b"2*4!")]
    assert session.data_to_send() == b"2*4!"
    assert session.next_deadline() == T0 + 1.0


def test_session_commands_go_out_strictly_in_order() -> None:
    session = connected()
    session.send(Tie(1, 1), now=T0)
    session.send(Tie(2, 2), now=T0)
    session.send(ReadTie(2), now=T0)
    assert session.data_to_send() == b"1*1!"
    session.receive_data(b"Out01 In01 All\r\n", now=T0)
    assert session.data_to_send() == b"2*2!"
    session.receive_data(b"Out02 In02 All\r\n", now=T0)
    assert session.data_to_send() == b"2!"
    session.receive_data(b"02\r\n", now=T0)
    completed = only(session.events(), Completed)
    assert [c.reply for c in completed if isinstance(c, Completed)] == [
        TieReply(1, 1),
        TieReply(2, 2),
        2,
    ]


def test_session_garbage_is_fault_then_resyncs_on_next_line() -> None:
    session = connected()
    session.send(Tie(1, 3), now=T0)
    session.events()
    session.receive_data(b"\xff\xfe\x00garbage\r\nOut03 In01 All\r\n", now=T0)
    fault, completed = session.events()
    assert isinstance(fault, Fault)
    assert isinstance(fault.error, RemoteProtocolError)
    assert fault.error.device == "matrix"
    assert isinstance(completed, Completed)


def test_session_overlong_line_is_fault_and_skipped_to_next_lf() -> None:
    session = connected()
    session.send(QueryFirmware(), now=T0)
    session.events()
    session.receive_data(b"A" * 300, now=T0)
    (fault,) = session.events()
    assert isinstance(fault, Fault)
    session.receive_data(b"AAAA\r\n1.05\r\n", now=T0)
    assert session.events() == [Completed(QueryFirmware(), "1.05", b"1.05\r\n")]


def test_session_value_with_nothing_asked_is_fault() -> None:
    session = connected()
    session.receive_data(b"07\r\n", now=T0)
    (fault,) = session.events()
    assert isinstance(fault, Fault)


def test_session_trailing_partial_line_waits_for_lf() -> None:
    session = connected()
    session.send(Tie(1, 3), now=T0)
    session.events()
    session.receive_data(b"Out03 In01 All\r\nOut0", now=T0)
    assert len(session.events()) == 1
    session.receive_data(b"4 In02 All\r\n", now=T0)
    assert session.events() == [Unsolicited(TieReply(4, 2), b"Out04 In02 All\r\n")]


def test_session_banner_and_reconfig_are_unsolicited() -> None:
    session = connected()
    session.receive_data(
        b"\r\n(c) Copyright 2024, Extron Electronics, DXP 88 HDMI, V1.05, 60-1000-01\r\n"
        b"Mon, 01 Jan 2024 09:00:00\r\nReconfig\r\n",
        now=T0,
    )
    messages = [e.message for e in session.events() if isinstance(e, Unsolicited)]
    assert [type(m) for m in messages] == [Banner, BannerDate, Reconfig]


def test_session_connection_lost_fails_outstanding_and_queued() -> None:
    session = connected()
    session.send(Tie(1, 1), now=T0)
    session.send(Tie(2, 2), now=T0)
    session.events()
    session.connection_lost(now=T0 + 1)
    failed = session.events()
    assert [f.command for f in failed if isinstance(f, Failed)] == [Tie(1, 1), Tie(2, 2)]
    assert all(
        isinstance(f, Failed) and isinstance(f.error, DeviceUnavailableError) for f in failed
    )
    assert session.next_deadline() is None
    assert session.data_to_send() == b""


def test_session_send_while_disconnected_waits_for_connection() -> None:
    session = ExtronSession()
    session.send(Tie(1, 1), now=T0)
    assert session.data_to_send() == b""
    session.connection_made(now=T0 + 1)
    assert session.data_to_send() == b"1*1!"


def test_session_queue_full_fails_new_command_at_once() -> None:
    session = connected(max_queue=1)
    session.send(Tie(1, 1), now=T0)  # outstanding
    session.send(Tie(2, 2), now=T0)  # queued
    session.send(Tie(3, 3), now=T0)  # overflow
    (failed,) = only(session.events(), Failed)
    assert isinstance(failed, Failed)
    assert failed.command == Tie(3, 3)
    assert failed.retryable is True


def test_session_send_non_extron_command_raises_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        connected().send("1*3!", now=T0)


def test_session_password_answers_prompt_and_holds_commands_until_login() -> None:
    session = connected(password="s3cret")
    session.send(Tie(1, 3), now=T0)
    assert session.data_to_send() == b""
    session.receive_data(b"\r\nPassword:", now=T0 + 0.1)
    assert session.data_to_send() == b"s3cret\r"
    assert session.events() == []  # the password is never an audit event
    session.receive_data(b"\r\nLogin Administrator\r\n", now=T0 + 0.2)
    assert session.data_to_send() == b"1*3!"
    assert session.events() == [
        Unsolicited(LoginReply("Administrator"), b"Login Administrator\r\n"),
        Sent(Tie(1, 3), b"1*3!"),
    ]
    assert "s3cret" not in repr(session)


def test_session_wrong_password_fails_with_authentication_error() -> None:
    session = connected(password="wrong")
    session.send(Tie(1, 3), now=T0)
    session.receive_data(b"Password:", now=T0)
    session.data_to_send()
    session.receive_data(b"\r\nPassword:", now=T0)
    (failed,) = session.events()
    assert isinstance(failed, Failed)
    assert isinstance(failed.error, AuthenticationError)
    assert failed.retryable is False
    session.send(Tie(2, 2), now=T0)
    (again,) = session.events()
    assert isinstance(again, Failed) and isinstance(again.error, AuthenticationError)
    assert session.data_to_send() == b""


def test_session_prompt_without_configured_password_fails_queued() -> None:
    session = connected()
    session.send(Tie(1, 3), now=T0)
    session.receive_data(b"\r\nPassword:", now=T0)
    failed = only(session.events(), Failed)
    assert len(failed) == 1
    assert isinstance(failed[0], Failed) and isinstance(failed[0].error, AuthenticationError)


def test_session_password_without_prompt_sends_after_login_timeout() -> None:
    session = connected(password="s3cret", reply_timeout=1.0)  # a serial line never prompts
    session.send(Tie(1, 3), now=T0)
    assert session.next_deadline() == T0 + 1.0
    session.handle_timeout(now=T0 + 1.0)
    assert session.data_to_send() == b"1*3!"


def test_session_password_sent_but_no_login_reply_is_authentication_error() -> None:
    session = connected(password="s3cret", reply_timeout=1.0)
    session.send(Tie(1, 3), now=T0)
    session.receive_data(b"Password:", now=T0 + 0.5)
    assert session.next_deadline() == T0 + 1.5
    session.handle_timeout(now=T0 + 1.5)
    (failed,) = session.events()
    assert isinstance(failed, Failed) and isinstance(failed.error, AuthenticationError)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=10))
def test_session_receive_data_fuzz_never_raises(chunks: list[bytes]) -> None:
    session = connected()
    session.send(Tie(1, 3), now=T0)
    for chunk in chunks:
        session.receive_data(chunk, now=T0)
    for event in session.events():
        assert isinstance(event, Sent | Completed | Failed | Unsolicited | Fault)


# --- session ⇄ VirtualMatrix ------------------------------------------------


def wired(**kwargs: object) -> tuple[ExtronSession, VirtualMatrix, list[SessionEvent]]:
    password = kwargs.pop("session_password", None)
    device = VirtualMatrix(**kwargs)  # type: ignore[arg-type]
    session = ExtronSession(device="matrix", password=password)  # type: ignore[arg-type]
    session.connection_made(now=T0)
    session.receive_data(device.connected(now=T0), now=T0)
    return session, device, exchange(session, device, T0)


def test_virtual_banner_reaches_session_as_unsolicited() -> None:
    _, _, events = wired()
    messages = [e.message for e in events if isinstance(e, Unsolicited)]
    assert [type(m) for m in messages] == [Banner, BannerDate]
    assert isinstance(messages[0], Banner) and "DXP 88 HDMI" in messages[0].text


def test_virtual_tie_untie_and_read_back() -> None:
    session, device, _ = wired()
    session.send(Tie(2, 3), now=T0)
    session.send(ReadTie(3), now=T0)
    session.send(Tie(0, 3), now=T0)
    session.send(ReadTie(3), now=T0)
    completed = only(exchange(session, device, T0), Completed)
    assert [c.reply for c in completed if isinstance(c, Completed)] == [
        TieReply(3, 2),
        2,
        TieReply(3, 0),
        0,
    ]
    assert device.tie_of(3) == 0


def test_virtual_audio_breakaway_keeps_video_tie() -> None:
    session, device, _ = wired()
    session.send(Tie(1, 2), now=T0)
    session.send(Tie(4, 2, TieLayer.AUDIO), now=T0)
    session.send(ReadTie(2, TieLayer.AUDIO), now=T0)
    session.send(ReadTie(2, TieLayer.VIDEO), now=T0)
    completed = only(exchange(session, device, T0), Completed)
    assert [c.reply for c in completed if isinstance(c, Completed)][2:] == [4, 1]


def test_virtual_tie_all_reaches_every_output() -> None:
    session, device, _ = wired(inputs=4, outputs=3)
    session.send(TieAll(4), now=T0)
    (completed,) = only(exchange(session, device, T0), Completed)
    assert isinstance(completed, Completed) and completed.reply == TieAllReply(4)
    assert [device.tie_of(o) for o in (1, 2, 3)] == [4, 4, 4]


@pytest.mark.parametrize(
    ("command", "code"), [(Tie(9, 1), "E01"), (Tie(1, 9), "E12"), (ReadTie(9), "E12")]
)
def test_virtual_out_of_range_is_named_error(command: Tie | ReadTie, code: str) -> None:
    session, device, _ = wired()
    session.send(command, now=T0)
    (failed,) = only(exchange(session, device, T0), Failed)
    assert isinstance(failed, Failed) and failed.error.code == code


def test_virtual_front_panel_tie_is_unsolicited_and_does_not_complete_command() -> None:
    session, device, _ = wired()
    session.send(Tie(1, 3), now=T0)
    assert session.data_to_send() == b"1*3!"
    device.front_panel_tie(5, 3)
    session.receive_data(device.poll(now=T0), now=T0)
    assert session.events()[-1] == Unsolicited(TieReply(3, 5), b"Out03 In05 All\r\n")
    session.receive_data(device.receive(b"1*3!", now=T0), now=T0)
    (completed,) = session.events()
    assert isinstance(completed, Completed) and completed.reply == TieReply(3, 1)


def test_virtual_busy_fault_answers_e22_until_cleared() -> None:
    session, device, _ = wired()
    device.set_fault("busy", True)
    session.send(Tie(1, 1), now=T0)
    (failed,) = only(exchange(session, device, T0), Failed)
    assert isinstance(failed, Failed)
    assert failed.error.message == "Extron E22 busy" and failed.retryable
    device.set_fault("busy", False)
    session.send(Tie(1, 1), now=T0)
    assert only(exchange(session, device, T0), Completed)


def test_virtual_unknown_fault_raises_value_error() -> None:
    with pytest.raises(ValueError):
        VirtualMatrix().set_fault("disk-full", True)


def test_virtual_password_login_then_tie() -> None:
    session, device, events = wired(password="s3cret", session_password="s3cret")
    assert Unsolicited(LoginReply("Administrator"), b"Login Administrator\r\n") in events
    session.send(Tie(2, 2), now=T0)
    assert only(exchange(session, device, T0), Completed)


def test_virtual_wrong_password_is_authentication_error() -> None:
    session, device, _ = wired(password="s3cret", session_password="guess")
    session.send(Tie(2, 2), now=T0)
    (failed,) = only(session.events(), Failed)
    assert isinstance(failed, Failed) and isinstance(failed.error, AuthenticationError)
    assert device.tie_of(2) == 0


def test_virtual_holds_front_panel_messages_until_login() -> None:
    device = VirtualMatrix(password="pw")
    device.connected(now=T0)
    device.front_panel_tie(1, 1)
    assert device.poll(now=T0) == b""
    assert device.receive(b"pw\r\n", now=T0) == b"\r\nLogin Administrator\r\n"
    assert device.poll(now=T0) == b"Out01 In01 All\r\n"


def test_virtual_junk_answers_e10_and_resyncs() -> None:
    device = VirtualMatrix()
    assert device.receive(b"xyz1*3!", now=T0) == b"E10\r\nOut03 In01 All\r\n"
    assert device.receive(b"1*", now=T0) == b""
    assert device.receive(b"4%", now=T0) == b"Out04 In01 Vid\r\n"


def test_virtual_large_matrix_uses_three_digits_and_session_matches() -> None:
    session, device, _ = wired(inputs=128, outputs=128)
    session.send(Tie(118, 67), now=T0)
    (completed,) = only(exchange(session, device, T0), Completed)
    assert isinstance(completed, Completed) and completed.raw == b"Out067 In118 All\r\n"


def test_virtual_reconfigure_is_announced() -> None:
    session, device, _ = wired()
    device.reconfigure()
    session.receive_data(device.poll(now=T0), now=T0)
    assert session.events() == [Unsolicited(Reconfig(), b"Reconfig\r\n")]


def test_virtual_loads_through_simulate_with_numeric_options() -> None:
    from devices.simulate import load_device

    device, frame_end = load_device(
        "extron-sis", {"inputs": 4, "outputs": 2, "password": 1234, "firmware": 2.1}
    )
    assert frame_end == b"\r\n" and isinstance(device, VirtualMatrix)
    session = ExtronSession(password="1234")
    session.connection_made(now=T0)
    session.receive_data(device.connected(now=T0), now=T0)
    exchange(session, device, T0)
    session.send(QueryFirmware(), now=T0)
    session.send(Tie(4, 2), now=T0)
    completed = only(exchange(session, device, T0), Completed)
    assert [c.reply for c in completed if isinstance(c, Completed)] == ["2.1", TieReply(2, 4)]
