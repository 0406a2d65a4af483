"""Choosing an input device by index, name or default (pure, no PortAudio)."""

from __future__ import annotations

import pytest

from av import AudioSourceError, InputDevice, resolve_input_device

DEVICES = [
    InputDevice(0, "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "ALSA", 2, 44100.0),
    InputDevice(2, "USB Audio Device: - (hw:1,0)", "ALSA", 4, 48000.0),
    InputDevice(5, "pulse", "ALSA", 32, 44100.0),
    InputDevice(6, "pulse monitor", "ALSA", 32, 44100.0),
    InputDevice(7, "default", "ALSA", 32, 44100.0),
]


@pytest.mark.parametrize(
    ("spec", "index"),
    [
        (2, 2),
        ("USB", 2),
        ("usb audio", 2),
        ("hw:0,0", 0),
        ("pulse", 5),
        ("PULSE", 5),
        ("monitor", 6),
        (" default ", 7),
        (None, 7),
    ],
)
def test_resolve_input_device_finds_match(spec: str | int | None, index: int) -> None:
    assert resolve_input_device(DEVICES, spec, default_index=7).index == index


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Focusrite", "no audio input device matches 'Focusrite'"),
        (1, "no audio input device with index 1"),
        ("", "empty audio device name"),
    ],
)
def test_resolve_input_device_missing_lists_devices(spec: str | int, message: str) -> None:
    with pytest.raises(AudioSourceError, match=message) as caught:
        resolve_input_device(DEVICES, spec, default_index=7)
    text = str(caught.value)
    assert all(str(d) in text for d in DEVICES)
    assert "[2] USB Audio Device: - (hw:1,0) (ALSA, 4 ch, 48000 Hz)" in text


def test_resolve_input_device_ambiguous_lists_matches() -> None:
    with pytest.raises(AudioSourceError, match="ambiguous") as caught:
        resolve_input_device(DEVICES, "hw:", default_index=7)
    text = str(caught.value)
    assert "[0] HDA Intel" in text and "[2] USB Audio" in text and "pulse" not in text


def test_resolve_input_device_without_default_raises() -> None:
    with pytest.raises(AudioSourceError, match="no default audio input device"):
        resolve_input_device(DEVICES, None, default_index=None)
    with pytest.raises(AudioSourceError, match="没有输入设备"):
        resolve_input_device([], None, default_index=None)
