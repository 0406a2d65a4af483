"""The demo courtroom's microphones: through the capture path of a live room.

The demo's speech (one WAV, a channel per seat) is played into a private
PulseAudio null sink of as many channels (:mod:`av.pulse_sink`), and the agent
records the sink's monitor through PyAudio, exactly as it records a USB
mixer: PortAudio device, callback, bounded queue, capture stamps. Playback
starts once the agent's capture stream exists and repeats until the demo
stops.

Without PulseAudio (``capture="auto"`` on a machine without it, or
``capture="wav"``) the agent reads the WAV file at real-time pace instead,
which is the same pipeline from the audio source on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import wave
from pathlib import Path
from typing import Any, Literal, Self

from av.pulse_sink import PYAUDIO_DEVICE, PulseError, PulseSink

__all__ = ["Capture", "DemoMicrophones"]

logger = logging.getLogger(__name__)

Capture = Literal["auto", "pulse", "wav"]
SINK = "courtroom_demo"


class DemoMicrophones:
    """Plays ``recording`` into the demo room's microphones.

    Args:
        recording: the demo speech, one channel per seat.
        capture: ``"pulse"`` (PulseAudio → PyAudio, fail if unavailable),
            ``"wav"`` (the file at real-time pace), or ``"auto"`` (PulseAudio
            when it starts, else the file).

    Raises (on enter):
        PulseError: ``capture="pulse"`` and PulseAudio cannot be started.
    """

    def __init__(self, recording: Path, *, capture: Capture = "auto") -> None:
        self._recording = recording
        self._capture = capture
        self._sink: PulseSink | None = None
        self._root: Path | None = None
        self._player: asyncio.Task[None] | None = None
        self._saved_env: dict[str, str | None] = {}
        self.fallback_reason: str | None = None
        with wave.open(str(recording)) as w:
            self._rate, self._channels = w.getframerate(), w.getnchannels()

    @property
    def path(self) -> str:
        """How the microphones reach the agent, for the console."""
        if self._sink is not None:
            return f"PulseAudio {self._sink.sink} → PyAudio ({self._channels} 声道 channels)"
        return f"WAV {self._recording.name} (实时 real-time pace)"

    def audio_config(self, roles: list[str]) -> dict[str, Any]:
        """The agent's ``[audio]`` table for these microphones."""
        if self._sink is not None:
            return {
                "source": "pyaudio",
                "device": PYAUDIO_DEVICE,
                "rate": self._rate,
                "roles": roles,
            }
        return {
            "source": "wav",
            "file": str(self._recording),
            "realtime": True,
            "loop": True,
            "roles": roles,
        }

    async def __aenter__(self) -> Self:
        if self._capture == "wav":
            return self
        # A short path of its own: the daemon's unix socket must fit in 108 bytes.
        self._root = Path(tempfile.mkdtemp(prefix="courtroom-demo-pulse-"))
        sink = PulseSink(self._root, sink=SINK, rate=self._rate, channels=self._channels)
        try:
            await asyncio.to_thread(sink.start)
        except (PulseError, ValueError) as exc:
            self._cleanup()
            if self._capture == "pulse":
                raise
            self.fallback_reason = str(exc).splitlines()[0]
            logger.warning("PulseAudio unavailable (%s); playing the WAV file", exc)
            return self
        # PortAudio (in this process) reads these when it first opens the pulse device.
        self._saved_env = {key: os.environ.get(key) for key in sink.server_env}
        os.environ.update(sink.server_env)
        self._sink = sink
        self._player = asyncio.create_task(self._play_forever(sink), name="demo-microphones")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._player is not None:
            self._player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._player
        self._cleanup()

    def _cleanup(self) -> None:
        if self._sink is not None:
            self._sink.stop()
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._sink = None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    async def _play_forever(self, sink: PulseSink) -> None:
        # Speech played before anyone records the sink would be heard by nobody;
        # the daemon's list of recording streams is the only sign (no event to wait on).
        outputs = ("list", "short", "source-outputs")
        while not (await asyncio.to_thread(sink.pactl, *outputs)).strip():  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        try:
            while True:
                player = sink.spawn_play(self._recording)
                code = await asyncio.to_thread(player.wait)
                if code != 0:
                    logger.error("paplay exited with %d; the demo microphones fall silent", code)
                    return
        finally:
            sink.stop_players()
