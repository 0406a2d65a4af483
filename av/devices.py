"""PortAudio input devices: listing them and choosing one by index or name.

The choice itself (:func:`resolve_input_device`) is a pure function over a
device list, so it is tested without audio hardware; only
:func:`open_portaudio` and :func:`list_input_devices` touch PyAudio.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyaudio

from av.audio import AudioSourceError

__all__ = [
    "InputDevice",
    "default_input_index",
    "describe_devices",
    "input_devices_of",
    "list_input_devices",
    "open_portaudio",
    "resolve_input_device",
]


@dataclass(frozen=True, slots=True)
class InputDevice:
    """A PortAudio device that can record.

    Attributes:
        index: PortAudio device index (valid for the PyAudio instance it came from).
        name: device name, e.g. ``"pulse"`` or ``"USB Audio: - (hw:1,0)"``.
        host_api: host API name, e.g. ``"ALSA"``.
        max_input_channels: most channels the device records.
        default_rate: the device's default sample rate.
    """

    index: int
    name: str
    host_api: str
    max_input_channels: int
    default_rate: float

    def __str__(self) -> str:
        return (
            f"[{self.index}] {self.name} ({self.host_api}, "
            f"{self.max_input_channels} ch, {self.default_rate:g} Hz)"
        )


def describe_devices(devices: Sequence[InputDevice]) -> str:
    """One line per device, for error messages and ``courtroom devices``."""
    if not devices:
        return "  (no input devices / 没有输入设备)"
    return "\n".join(f"  {d}" for d in devices)


def resolve_input_device(
    devices: Sequence[InputDevice], spec: str | int | None, *, default_index: int | None
) -> InputDevice:
    """Pick the input device named by ``spec``.

    ``spec`` is a device index, a name, or ``None`` for the host's default
    input. A name matches a device whose name equals it (case-insensitive);
    failing that, the one device whose name contains it.

    Raises:
        AudioSourceError: no such device, several devices match, or no
            default input; the message lists the available input devices.
    """
    listing = describe_devices(devices)
    if spec is None:
        for d in devices:
            if d.index == default_index:
                return d
        raise AudioSourceError(f"no default audio input device; available:\n{listing}")
    if isinstance(spec, int):
        for d in devices:
            if d.index == spec:
                return d
        raise AudioSourceError(f"no audio input device with index {spec}; available:\n{listing}")
    wanted = spec.strip().casefold()
    if not wanted:
        raise AudioSourceError(f"empty audio device name; available:\n{listing}")
    exact = [d for d in devices if d.name.casefold() == wanted]
    if len(exact) == 1:
        return exact[0]
    partial = exact or [d for d in devices if wanted in d.name.casefold()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise AudioSourceError(f"no audio input device matches {spec!r}; available:\n{listing}")
    matches = describe_devices(partial)
    raise AudioSourceError(
        f"audio device name {spec!r} is ambiguous; it matches:\n{matches}\n"
        "give a longer name or the index"
    )


@contextlib.contextmanager
def _c_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment.

    PortAudio's probe of ALSA and JACK prints dozens of harmless lines straight
    to fd 2 from C; they would bury the agent's own messages.
    """
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_portaudio(*, quiet: bool = True) -> pyaudio.PyAudio:
    """Initialise PortAudio; the caller must call ``terminate()`` on the result.

    Args:
        quiet: hide the C libraries' device-probe chatter on stderr.
    """
    if not quiet:
        return pyaudio.PyAudio()
    with _c_stderr_silenced():
        return pyaudio.PyAudio()


def input_devices_of(pa: pyaudio.PyAudio) -> list[InputDevice]:
    """The input devices known to an initialised PyAudio instance."""
    out = []
    for i in range(pa.get_device_count()):
        info: dict[str, Any] = pa.get_device_info_by_index(i)
        if int(info["maxInputChannels"]) < 1:
            continue
        api: dict[str, Any] = pa.get_host_api_info_by_index(int(info["hostApi"]))
        out.append(
            InputDevice(
                index=i,
                name=str(info["name"]),
                host_api=str(api["name"]),
                max_input_channels=int(info["maxInputChannels"]),
                default_rate=float(info["defaultSampleRate"]),
            )
        )
    return out


def default_input_index(pa: pyaudio.PyAudio) -> int | None:
    """Index of the host's default input device, or None if there is none."""
    try:
        info: dict[str, Any] = pa.get_default_input_device_info()
    except OSError:
        return None
    return int(info["index"])


def list_input_devices() -> list[InputDevice]:
    """Initialise PortAudio, list its input devices, and shut it down again."""
    pa = open_portaudio()
    try:
        return input_devices_of(pa)
    finally:
        pa.terminate()
