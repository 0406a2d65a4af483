"""MQTT topic contract and the simulated devices' behaviour (pure, no broker)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.errors import LocalProtocolError, RemoteProtocolError
from devices.mqtt.contract import (
    MAX_PAYLOAD,
    AgentTopics,
    Availability,
    Channel,
    DeviceState,
    DeviceTopics,
    SetCommand,
    TopicError,
    decode_availability,
    decode_set,
    decode_state,
    encode_availability,
    encode_set,
    encode_state,
    parse_device_topic,
)
from devices.mqtt.virtual import SimulatorKind, VirtualMqttDevice


def test_device_topics_follow_contract() -> None:
    topics = DeviceTopics("court-3", "gallery-relay")
    assert topics.set == "courtroom/court-3/devices/gallery-relay/set"
    assert topics.state == "courtroom/court-3/devices/gallery-relay/state"
    assert topics.availability == "courtroom/court-3/devices/gallery-relay/availability"
    assert AgentTopics("court-3").availability == "courtroom/court-3/agent/availability"
    assert parse_device_topic(topics.state) == (topics, Channel.STATE)
    assert parse_device_topic("courtroom/court-3/agent/availability") is None
    assert parse_device_topic("courtroom/court-3/devices/x/other") is None


@pytest.mark.parametrize("bad", ["", "a/b", "a+", "#", "x\x00", "n" * 65])
def test_topics_reject_bad_segments(bad: str) -> None:
    with pytest.raises(TopicError):
        DeviceTopics("court-3", bad)
    with pytest.raises(ValueError):  # TopicError is a ValueError for config validators
        AgentTopics(bad)


PAYLOAD_VECTORS: list[tuple[bytes, SetCommand | DeviceState]] = [
    (
        b'{"id":"c-1","action":"power","args":{"state":"on"}}',
        SetCommand("power", {"state": "on"}, id="c-1"),
    ),
    (
        b'{"last_command_id":"c-1","state":{"power":"on","input":"hdmi1"},"error":null}',
        DeviceState({"power": "on", "input": "hdmi1"}, last_command_id="c-1"),
    ),
    (
        b'{"last_command_id":null,"state":{},"error":"unknown input \'x\'"}',
        DeviceState({}, error="unknown input 'x'"),
    ),
]


@pytest.mark.parametrize(("raw", "message"), PAYLOAD_VECTORS)
def test_payload_vectors_both_ways(raw: bytes, message: SetCommand | DeviceState) -> None:
    if isinstance(message, SetCommand):
        assert encode_set(message) == raw
        assert decode_set(raw) == message
    else:
        assert encode_state(message) == raw
        assert decode_state(raw) == message


def test_availability_payloads() -> None:
    assert encode_availability(Availability.OFFLINE) == b"offline"
    assert decode_availability(b"online") is Availability.ONLINE
    with pytest.raises(RemoteProtocolError):
        decode_availability(b"maybe")


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1,2]",
        b'{"last_command_id":5}',
        b'{"state":[]}',
        b'{"state":{"x":NaN}}',
        b"\xff\xfe",
        b'{"state":{}, "pad":"' + b"x" * MAX_PAYLOAD + b'"}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_decode_state_malformed_raises_remote_protocol_error(raw: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_state(raw)
    assert info.value.raw


def test_set_command_validates_on_construction() -> None:
    assert SetCommand("power").id.startswith("c-")
    with pytest.raises(LocalProtocolError):
        SetCommand("Power On")
    with pytest.raises(LocalProtocolError):
        SetCommand("power", id="has space")
    with pytest.raises(LocalProtocolError):
        SetCommand("power", {"when": object()})
    with pytest.raises(LocalProtocolError):
        encode_set(SetCommand("note", {"text": "x" * MAX_PAYLOAD}))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_decoders_fuzz_raise_only_remote_protocol_error(raw: bytes) -> None:
    for decode in (decode_state, decode_set, decode_availability):
        try:
            decode(raw)
        except RemoteProtocolError:
            continue


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=10),
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        max_size=5,
    )
)
def test_state_round_trips_any_json_values(values: dict[str, object]) -> None:
    state = DeviceState(values, last_command_id="c-9")
    assert decode_state(encode_state(state)) == state


def test_virtual_relay_applies_power_and_refuses_unknown() -> None:
    relay = VirtualMqttDevice(SimulatorKind.RELAY)
    state = relay.apply(SetCommand("power", {"state": "on"}, id="c-1"))
    assert state == DeviceState({"power": "on"}, last_command_id="c-1")
    refused = relay.apply(SetCommand("input", {"source": "hdmi1"}, id="c-2"))
    assert refused.error == "unsupported action 'input'"
    assert refused.values == {"power": "on"} and refused.last_command_id == "c-2"


def test_virtual_display_switches_known_inputs_only() -> None:
    display = VirtualMqttDevice(SimulatorKind.DISPLAY)
    assert display.apply(SetCommand("input", {"source": "doc-camera"})).values["input"] == (
        "doc-camera"
    )
    assert display.apply(SetCommand("input", {"source": "vga9"})).error == "unknown input 'vga9'"
