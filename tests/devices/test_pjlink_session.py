"""PJLink session with injected time, and session ⇄ VirtualDisplay byte for byte."""

from __future__ import annotations

import random

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
from devices.pjlink import (
    ClassQuery,
    ErrorLevel,
    ErrorStatus,
    ErrorStatusQuery,
    InputKind,
    InputListQuery,
    InputQuery,
    InputSet,
    InputSource,
    Lamp,
    LampQuery,
    MuteQuery,
    MuteSet,
    MuteState,
    MuteTarget,
    NameQuery,
    PJLinkSession,
    PowerQuery,
    PowerSet,
    PowerState,
    VirtualDisplay,
    auth_digest,
)
from devices.session import Completed, Failed, Fault, Sent, SessionEvent, Unsolicited

T0 = 50.0
DIGEST = "5d8409bc1c3fa39749434aa3a5c38682"  # §5.1: md5("498e4a67" + "JBMIAProjectorLink")


def greeted(greeting: bytes = b"PJLINK 0\r", **kwargs: object) -> PJLinkSession:
    session = PJLinkSession(device="projector", **kwargs)  # type: ignore[arg-type]
    session.connection_made(now=T0)
    session.receive_data(greeting, now=T0)
    return session


def failures(events: list[SessionEvent]) -> list[Failed]:
    return [e for e in events if isinstance(e, Failed)]


def completions(events: list[SessionEvent]) -> list[Completed]:
    return [e for e in events if isinstance(e, Completed)]


# --- session alone ----------------------------------------------------------


def test_session_waits_for_greeting_before_sending() -> None:
    session = PJLinkSession()
    session.connection_made(now=T0)
    session.send(PowerSet(True), now=T0)
    assert session.data_to_send() == b""
    assert session.next_deadline() == T0 + 2.0
    session.receive_data(b"PJLINK 0\r", now=T0 + 0.1)
    assert session.data_to_send() == b"%1POWR 1\r"
    session.receive_data(b"%1POWR=OK\r", now=T0 + 0.2)
    assert session.events() == [
        Sent(PowerSet(True), b"%1POWR 1\r"),
        Completed(PowerSet(True), None, b"%1POWR=OK\r"),
    ]


def test_session_digest_on_first_command_only_and_not_in_events() -> None:
    password = "JBMIAProjectorLink"
    session = greeted(b"PJLINK 1 498e4a67\r", password=password)
    session.send(PowerQuery(), now=T0)
    assert session.data_to_send() == DIGEST.encode() + b"%1POWR ?\r"
    session.receive_data(b"%1POWR=0\r", now=T0)
    session.send(LampQuery(), now=T0)
    assert session.data_to_send() == b"%1LAMP ?\r"
    events = session.events()
    assert events[0] == Sent(PowerQuery(), b"%1POWR ?\r")
    assert events[1] == Completed(PowerQuery(), PowerState.OFF, b"%1POWR=0\r")
    text = repr(session) + repr(events)
    assert password not in text and DIGEST not in text


def test_session_greeting_byte_by_byte() -> None:
    session = PJLinkSession(password="pw")
    session.connection_made(now=T0)
    session.send(ClassQuery(), now=T0)
    for byte in b"PJLINK 1 0badc0de\r":
        session.receive_data(bytes([byte]), now=T0)
    assert session.data_to_send() == auth_digest("0badc0de", "pw").encode() + b"%1CLSS ?\r"


def test_session_reply_byte_by_byte_completes_once() -> None:
    session = greeted()
    session.send(ErrorStatusQuery(), now=T0)
    for byte in b"%1ERST=020000\r":
        session.receive_data(bytes([byte]), now=T0)
    (completed,) = completions(session.events())
    assert completed.reply == ErrorStatus(lamp=ErrorLevel.ERROR)


@pytest.mark.parametrize(
    ("code", "message", "retryable"),
    [
        ("ERR1", "PJLink ERR1 undefined command", False),
        ("ERR2", "PJLink ERR2 out of parameter", False),
        ("ERR3", "PJLink ERR3 unavailable time", True),
        ("ERR4", "PJLink ERR4 projector/display failure", False),
    ],
)
def test_session_error_reply_fails_with_named_error(
    code: str, message: str, retryable: bool
) -> None:
    session = greeted()
    session.send(InputSet(InputSource(InputKind.DIGITAL, 1)), now=T0)
    session.receive_data(f"%1INPT={code}\r".encode(), now=T0)
    (failed,) = failures(session.events())
    assert isinstance(failed.error, DeviceReportedError)
    assert str(failed.error) == f"projector: {message}"
    assert failed.error.code == code
    assert failed.retryable is retryable


def test_session_erra_fails_pending_with_authentication_error_and_refuses_more() -> None:
    session = greeted(b"PJLINK 1 498e4a67\r", password="wrong")
    session.send(PowerSet(True), now=T0)
    session.send(PowerQuery(), now=T0)
    session.receive_data(b"PJLINK ERRA\r", now=T0)
    failed = failures(session.events())
    assert [f.command for f in failed] == [PowerSet(True), PowerQuery()]
    assert all(isinstance(f.error, AuthenticationError) and not f.retryable for f in failed)
    assert failed[0].error.code == "ERRA"
    session.send(PowerQuery(), now=T0)
    (again,) = failures(session.events())
    assert isinstance(again.error, AuthenticationError)


def test_session_auth_greeting_without_password_is_authentication_error() -> None:
    session = PJLinkSession()
    session.connection_made(now=T0)
    session.send(PowerQuery(), now=T0)
    session.receive_data(b"PJLINK 1 498e4a67\r", now=T0)
    (failed,) = failures(session.events())
    assert isinstance(failed.error, AuthenticationError)
    assert session.data_to_send() == b""


def test_session_reply_timeout_after_two_seconds() -> None:
    session = greeted()
    session.send(PowerQuery(), now=T0)
    session.send(InputQuery(), now=T0)
    assert session.next_deadline() == T0 + 2.0
    session.handle_timeout(now=T0 + 1.9)
    assert failures(session.events()) == []
    session.handle_timeout(now=T0 + 2.0)
    events = session.events()
    (failed,) = failures(events)
    assert isinstance(failed.error, DeviceTimeoutError) and failed.retryable
    assert session.data_to_send() == b"%1POWR ?\r%1INPT ?\r"
    assert session.next_deadline() == T0 + 4.0


def test_session_no_greeting_fails_queued_after_timeout() -> None:
    session = PJLinkSession(reply_timeout=1.0)
    session.connection_made(now=T0)
    session.send(PowerQuery(), now=T0)
    session.handle_timeout(now=T0 + 1.0)
    (failed,) = failures(session.events())
    assert isinstance(failed.error, DeviceTimeoutError)
    assert session.next_deadline() is None


def test_session_garbage_is_fault_then_resyncs() -> None:
    session = greeted()
    session.send(PowerQuery(), now=T0)
    session.events()
    session.receive_data(b"\x00\xffnoise\r%1POWR=1\r", now=T0)
    fault, completed = session.events()
    assert isinstance(fault, Fault) and isinstance(fault.error, RemoteProtocolError)
    assert fault.error.device == "projector"
    assert completed == Completed(PowerQuery(), PowerState.ON, b"%1POWR=1\r")


def test_session_overlong_line_is_fault_and_skipped() -> None:
    session = greeted()
    session.send(NameQuery(), now=T0)
    session.events()
    session.receive_data(b"%1NAME=" + b"x" * 200, now=T0)
    (fault,) = session.events()
    assert isinstance(fault, Fault)
    session.receive_data(b"xxx\r%1NAME=bench\r", now=T0)
    assert session.events() == [Completed(NameQuery(), "bench", b"%1NAME=bench\r")]


def test_session_reply_for_other_body_is_fault_and_command_stays_outstanding() -> None:
    session = greeted()
    session.send(PowerQuery(), now=T0)
    session.events()
    session.receive_data(b"%1INPT=31\r", now=T0)
    (fault,) = session.events()
    assert isinstance(fault, Fault)
    assert session.next_deadline() == T0 + 2.0


def test_session_unparsable_answer_fails_command_as_remote_error() -> None:
    session = greeted()
    session.send(PowerQuery(), now=T0)
    session.receive_data(b"%1POWR=9\r", now=T0)
    (failed,) = failures(session.events())
    assert isinstance(failed.error, RemoteProtocolError)
    assert failed.error.raw == b"%1POWR=9\r"


def test_session_connection_lost_fails_outstanding_and_queued() -> None:
    session = greeted()
    session.send(PowerQuery(), now=T0)
    session.send(LampQuery(), now=T0)
    session.events()
    session.connection_lost(now=T0 + 30)
    failed = failures(session.events())
    assert [f.command for f in failed] == [PowerQuery(), LampQuery()]
    assert all(isinstance(f.error, DeviceUnavailableError) and f.retryable for f in failed)
    session.send(PowerQuery(), now=T0 + 31)
    assert session.data_to_send() == b""  # waits for the next connection and greeting


def test_session_queue_full_fails_new_command() -> None:
    session = greeted(max_queue=1)
    for command in (PowerQuery(), LampQuery(), NameQuery()):
        session.send(command, now=T0)
    (failed,) = failures(session.events())
    assert failed.command == NameQuery() and failed.retryable


def test_session_send_non_pjlink_command_raises_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        greeted().send(b"%1POWR 1\r", now=T0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=10))
def test_session_receive_data_fuzz_never_raises(chunks: list[bytes]) -> None:
    session = PJLinkSession(password="pw")
    session.connection_made(now=T0)
    session.send(PowerQuery(), now=T0)
    for chunk in chunks:
        session.receive_data(chunk, now=T0)
    for event in session.events():
        assert isinstance(event, Sent | Completed | Failed | Fault | Unsolicited)


# --- session ⇄ VirtualDisplay -----------------------------------------------


def exchange(session: PJLinkSession, display: VirtualDisplay, now: float) -> list[SessionEvent]:
    for _ in range(20):
        out = session.data_to_send()
        back = (display.receive(out, now=now) if out else b"") + display.poll(now=now)
        if not out and not back:
            break
        session.receive_data(back, now=now)
    return session.events()


def wired(
    *, session_password: str | None = None, **kwargs: object
) -> tuple[PJLinkSession, VirtualDisplay]:
    display = VirtualDisplay(rng=random.Random(7), warm_up=10.0, cool_down=5.0, **kwargs)  # type: ignore[arg-type]
    session = PJLinkSession(device="projector", password=session_password)
    session.connection_made(now=T0)
    session.receive_data(display.connected(now=T0), now=T0)
    return session, display


def ask(session: PJLinkSession, display: VirtualDisplay, command: object, now: float) -> object:
    session.send(command, now=now)
    events = exchange(session, display, now)
    done = [e for e in events if isinstance(e, Completed | Failed)]
    assert len(done) == 1, events
    result = done[0]
    return result.reply if isinstance(result, Completed) else result.error


def test_virtual_power_cycle_with_warm_up_and_cool_down() -> None:
    session, display = wired()
    assert ask(session, display, PowerQuery(), T0) is PowerState.OFF
    assert ask(session, display, PowerSet(True), T0) is None
    assert ask(session, display, PowerQuery(), T0 + 1) is PowerState.WARM_UP
    error = ask(session, display, PowerSet(False), T0 + 2)
    assert isinstance(error, DeviceReportedError) and error.code == "ERR3"
    assert ask(session, display, PowerQuery(), T0 + 10) is PowerState.ON
    assert ask(session, display, PowerSet(False), T0 + 3610) is None
    assert ask(session, display, PowerQuery(), T0 + 3611) is PowerState.COOLING
    assert ask(session, display, PowerQuery(), T0 + 3615) is PowerState.OFF
    assert ask(session, display, LampQuery(), T0 + 3615) == (Lamp(1, False),)


def test_virtual_input_and_mute_need_power_on() -> None:
    session, display = wired()
    hdmi2 = InputSource(InputKind.DIGITAL, 2)
    error = ask(session, display, InputSet(hdmi2), T0)
    assert isinstance(error, DeviceReportedError) and error.code == "ERR3"
    ask(session, display, PowerSet(True), T0)
    later = T0 + 10
    assert ask(session, display, InputSet(hdmi2), later) is None
    assert ask(session, display, InputQuery(), later) == hdmi2
    missing = ask(session, display, InputSet(InputSource(InputKind.NETWORK, 9)), later)
    assert isinstance(missing, DeviceReportedError) and missing.code == "ERR2"
    assert ask(session, display, MuteSet(MuteTarget.AV, True), later) is None
    assert ask(session, display, MuteQuery(), later) == MuteState(video=True, audio=True)
    assert ask(session, display, MuteSet(MuteTarget.AUDIO, False), later) is None
    assert ask(session, display, MuteQuery(), later) == MuteState(video=True, audio=False)
    assert ask(session, display, InputListQuery(), later) == (
        InputSource(InputKind.RGB, 1),
        InputSource(InputKind.DIGITAL, 1),
        hdmi2,
    )


def test_virtual_identity_queries() -> None:
    session, display = wired(name="法庭一号")
    assert ask(session, display, NameQuery(), T0) == "法庭一号"
    assert ask(session, display, ClassQuery(), T0) == "1"
    assert ask(session, display, ErrorStatusQuery(), T0) == ErrorStatus()


def test_virtual_password_with_injected_rng_authenticates() -> None:
    session, display = wired(password="JBMIAProjectorLink", session_password="JBMIAProjectorLink")
    expected_random = f"{random.Random(7).getrandbits(32):08x}"
    session.send(PowerQuery(), now=T0)
    wire = session.data_to_send()
    assert wire == auth_digest(expected_random, "JBMIAProjectorLink").encode() + b"%1POWR ?\r"
    session.receive_data(display.receive(wire, now=T0), now=T0)
    assert completions(session.events())[0].reply is PowerState.OFF
    assert ask(session, display, LampQuery(), T0) == (Lamp(0, False),)


def test_virtual_wrong_password_is_authentication_error() -> None:
    session, display = wired(password="right", session_password="wrong")
    error = ask(session, display, PowerSet(True), T0)
    assert isinstance(error, AuthenticationError)
    assert display.power is PowerState.OFF


def test_virtual_auth_reject_fault() -> None:
    session, display = wired(password="pw", session_password="pw")
    display.set_fault("auth-reject", True)
    error = ask(session, display, PowerQuery(), T0)
    assert isinstance(error, AuthenticationError) and error.code == "ERRA"


def test_virtual_lamp_failure_fault() -> None:
    session, display = wired()
    display.set_fault("lamp-failure", True)
    status = ask(session, display, ErrorStatusQuery(), T0)
    assert isinstance(status, ErrorStatus) and status.lamp is ErrorLevel.ERROR
    error = ask(session, display, PowerSet(True), T0)
    assert isinstance(error, DeviceReportedError)
    assert error.message == "PJLink ERR4 projector/display failure"
    display.set_fault("lamp-failure", False)
    assert ask(session, display, PowerSet(True), T0) is None


def test_virtual_unknown_body_answers_err1() -> None:
    display = VirtualDisplay()
    display.connected(now=T0)
    assert display.receive(b"%1FREZ ?\r", now=T0) == b"%1FREZ=ERR1\r"
    assert display.receive(b"%1POWR 5\r", now=T0) == b"%1POWR=ERR2\r"
    assert display.receive(b"hello\r", now=T0) == b""


def test_virtual_unknown_fault_raises_value_error() -> None:
    with pytest.raises(ValueError):
        VirtualDisplay().set_fault("busy", True)


def test_virtual_reconnect_sends_fresh_challenge() -> None:
    display = VirtualDisplay(password="pw", rng=random.Random(1))
    first = display.connected(now=T0)
    second = display.connected(now=T0)
    assert first.startswith(b"PJLINK 1 ") and second.startswith(b"PJLINK 1 ")
    assert first != second


def test_session_digest_repeats_until_first_response() -> None:
    session = greeted(b"PJLINK 1 498e4a67\r", password="JBMIAProjectorLink")
    session.send(PowerQuery(), now=T0)
    session.send(LampQuery(), now=T0)
    assert session.data_to_send().startswith(DIGEST.encode())
    session.handle_timeout(now=T0 + 2.0)  # no answer: not known to be authenticated yet
    assert session.data_to_send() == DIGEST.encode() + b"%1LAMP ?\r"


def test_session_digest_every_command_option() -> None:
    session = greeted(
        b"PJLINK 1 498e4a67\r", password="JBMIAProjectorLink", digest_every_command=True
    )
    session.send(PowerQuery(), now=T0)
    session.data_to_send()
    session.receive_data(b"%1POWR=0\r", now=T0)
    session.send(LampQuery(), now=T0)
    assert session.data_to_send() == DIGEST.encode() + b"%1LAMP ?\r"


def test_virtual_accepts_digest_on_every_command() -> None:
    display = VirtualDisplay(password="pw", rng=random.Random(3))
    session = PJLinkSession(password="pw", digest_every_command=True)
    session.connection_made(now=T0)
    session.receive_data(display.connected(now=T0), now=T0)
    assert ask(session, display, PowerQuery(), T0) is PowerState.OFF
    assert ask(session, display, NameQuery(), T0) == "courtroom-display"


def test_virtual_loads_through_simulate_with_numeric_options() -> None:
    from devices.simulate import load_device

    display, frame_end = load_device("pjlink", {"password": 1234, "seed": 5, "warm_up": 0.5})
    assert frame_end == b"\r"
    session = PJLinkSession(password="1234")
    session.connection_made(now=T0)
    assert isinstance(display, VirtualDisplay)
    session.receive_data(display.connected(now=T0), now=T0)
    assert ask(session, display, PowerSet(True), T0) is None
    assert ask(session, display, PowerQuery(), T0 + 0.5) is PowerState.ON
