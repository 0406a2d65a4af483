"""One clock: a beep and a flash at the same instant land at the same hearing time.

The courtroom's microphone hears a beep 3 s into the hearing while its camera
sees a flash at that very moment (a live MJPEG camera whose picture turns
white when the paced audio source reaches 3 s). In the recording, the beep's
first sample and the flash's first video frame must be at most one frame
apart (SPC: the synchronous recording time is one time for sound and picture).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from av.audio import AudioSourceError
from av.camera import TimestampOverlay
from av.recording.segment_writer import read_flac
from av.wav_source import WavFileSource
from courtroom_agent.runner import run_agent
from hub.server import HubServer
from tests.av.burned_time import read_frame, text_errors
from tests.fixtures.speech import write_wav
from tests.test_end_to_end import agent_config, hub  # noqa: F401

pytestmark = pytest.mark.slow
RATE = 16000
FPS = 25
EVENT_AT = 3.0


class FlashCamera:
    """An MJPEG camera at 50 pictures/s, white from ``flash_at()`` for 0.3 s."""

    def __init__(self, flash_at: Callable[[], float | None]) -> None:
        self._flash_at = flash_at
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/cam.mjpg"
        self._stop = threading.Event()
        dark = np.full((240, 320, 3), 40, np.uint8)
        white = np.full((240, 320, 3), 230, np.uint8)
        self._jpeg = {
            flag: cv2.imencode(".jpg", img)[1].tobytes()
            for flag, img in ((False, dark), (True, white))
        }
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            threading.Thread(target=self._stream, args=(client,), daemon=True).start()

    def _stream(self, client: socket.socket) -> None:
        with client:
            client.recv(4096)
            client.sendall(
                b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=frame\r\n\r\n"
            )
            while not self._stop.is_set():
                at = self._flash_at()
                now = time.monotonic()
                lit = at is not None and at <= now < at + 0.3
                jpeg = self._jpeg[lit]
                try:
                    client.sendall(
                        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                        + str(len(jpeg)).encode()
                        + b"\r\n\r\n"
                        + jpeg
                        + b"\r\n"
                    )
                except OSError:
                    return
                time.sleep(0.02)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


@pytest.fixture
def beep_wav(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    total = int(5.0 * RATE)
    pcm = rng.normal(0, 30, total)
    start, end = int(EVENT_AT * RATE), int((EVENT_AT + 0.3) * RATE)
    t = np.arange(end - start) / RATE
    pcm[start:end] += 10000 * np.sin(2 * np.pi * 1000 * t)
    return write_wav(tmp_path / "beep.wav", pcm.astype(np.int16), RATE)


@pytest.fixture
def paced_source(beep_wav: Path) -> WavFileSource:
    return WavFileSource(beep_wav, realtime=True)


@pytest.fixture
def flash_camera(paced_source: WavFileSource) -> Iterator[FlashCamera]:
    def flash_at() -> float | None:
        try:
            return paced_source.started_at + EVENT_AT
        except AudioSourceError:  # not open yet
            return None

    camera = FlashCamera(flash_at)
    yield camera
    camera.close()


async def test_beep_and_flash_within_one_frame(
    hub: HubServer,  # noqa: F811
    tmp_path: Path,
    beep_wav: Path,
    paced_source: WavFileSource,
    flash_camera: FlashCamera,
) -> None:
    config = agent_config(hub.port, beep_wav, realtime=True)
    config = config.model_validate(
        config.model_dump()
        | {"audio": config.audio.model_dump() | {"roles": ["审判长"]}}
        | {"cameras": [{"id": "CAM-1", "source": flash_camera.url, "fps": FPS}]}
    )
    agent = await run_agent(config, data_dir=tmp_path / "agent", source=paced_source)
    hearing = tmp_path / "agent" / "recordings" / "r1" / agent.hearing_id
    manifest = json.loads((hearing / "manifest.json").read_text(encoding="utf-8"))
    first = manifest["segments"][0]
    audio, rate = read_flac(hearing / first["files"][0]["name"])
    beep = (first["first_frame"] + int(np.argmax(np.abs(audio[:, 0]) > 3000))) / rate
    segment = manifest["video_segments"][0]
    assert segment["camera"] == "CAM-1" and segment["index"] == first["index"]
    capture = cv2.VideoCapture(str(hearing / segment["file"]))
    index = 0
    flash = None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if frame[60:, :].mean() > 150:  # below the burned-in time
            flash = segment["start"] + index / FPS
            break
        index += 1
    capture.release()
    assert flash is not None, "the flash never reached the recording"
    assert abs(beep - EVENT_AT) < 0.01
    assert abs(flash - beep) <= 1 / FPS, (beep, flash)

    # The time burned into the picture is the manifest's: started_at + hearing time.
    assert manifest["started_frame"] == 0
    ov = TimestampOverlay(
        courtroom="r1",
        camera="CAM-1",
        epoch=datetime.fromisoformat(manifest["started_at"]),
        title=config.courtroom.name,
    )
    k = 2 * FPS  # hearing ~2 s, before the flash
    t = segment["start"] + k / FPS
    errors = text_errors(
        read_frame(hearing / segment["file"], k), ov, {dt: t + dt for dt in (0.0, -0.5, 0.5, -1.0)}
    )
    assert min(errors, key=lambda dt: errors[dt]) == 0.0, errors
