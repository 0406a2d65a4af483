"""Audio capture: the source interface and its implementations.

* :class:`WavFileSource` plays a WAV file as if it were a microphone.
* :class:`PyAudioSource` records a PortAudio input device (PulseAudio, ALSA).
"""

from av.audio import AudioBlock, AudioFormat, AudioSource, AudioSourceError
from av.devices import InputDevice, list_input_devices, resolve_input_device
from av.pyaudio_source import CaptureStats, Gap, PyAudioSource
from av.wav_source import WavFileSource, WavInfo

__all__ = [
    "AudioBlock",
    "AudioFormat",
    "AudioSource",
    "AudioSourceError",
    "CaptureStats",
    "Gap",
    "InputDevice",
    "PyAudioSource",
    "WavFileSource",
    "WavInfo",
    "list_input_devices",
    "resolve_input_device",
]
