"""CameraRecorder: real ffmpeg, MP4 segments read back with OpenCV.

Frames are synthesised with hearing times given by the test, so no test here
waits for a clock.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from av.camera import CameraRecorder, Frame, TimestampOverlay, VideoSegment
from tests.fixtures.camera_stream import require_ffmpeg

pytestmark = pytest.mark.slow

FPS = 10
W, H = 320, 240
EPOCH = datetime(2025, 3, 4, 6, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _ffmpeg() -> None:
    require_ffmpeg()


def picture(k: int) -> npt.NDArray[np.uint8]:
    """A moving test picture: a bright bar sweeping over a gradient."""
    image = np.zeros((H, W, 3), np.uint8)
    image[:, :, 1] = np.linspace(40, 200, W, dtype=np.uint8)[None, :]
    x = (k * 11) % (W - 20)
    image[:, x : x + 20] = 230
    return image


def frames(times: list[float]) -> list[Frame]:
    return [
        Frame("cam1", i, picture(i), captured_at=t, hearing_time=t) for i, t in enumerate(times)
    ]


def read_back(path: Path) -> list[npt.NDArray[np.uint8]]:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    assert capture.isOpened(), f"cannot open {path}"
    out: list[npt.NDArray[np.uint8]] = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        out.append(np.asarray(image, dtype=np.uint8))
    capture.release()
    return out


def overlay() -> TimestampOverlay:
    return TimestampOverlay(courtroom="FY-101", camera="CAM-1", epoch=EPOCH)


def text_errors(
    decoded: npt.NDArray[np.uint8], ov: TimestampOverlay, time: float, other: float
) -> tuple[float, float]:
    """How far the decoded text is from the overlay rendered for ``time`` and for ``other``.

    Compared only where the two renderings differ (the changing digits), as
    mean absolute grey difference: an OCR-free reading of the burned-in time.
    """
    grey = cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY).astype(int)
    right = cv2.cvtColor(ov.draw(np.zeros((H, W, 3), np.uint8), time), cv2.COLOR_BGR2GRAY)
    wrong = cv2.cvtColor(ov.draw(np.zeros((H, W, 3), np.uint8), other), cv2.COLOR_BGR2GRAY)
    mask = right != wrong
    assert mask.sum() > 20
    return (
        float(np.abs(grey[mask] - right[mask].astype(int)).mean()),
        float(np.abs(grey[mask] - wrong[mask].astype(int)).mean()),
    )


async def test_camera_recorder_segments_constant_rate_with_burned_time(tmp_path: Path) -> None:
    closed: list[VideoSegment] = []
    ov = overlay()
    # a 12 fps-ish camera with jitter and a 0.6 s hole in the middle
    rng = np.random.default_rng(7)
    times = [k / 12 + rng.uniform(-0.01, 0.01) for k in range(1, 36) if not 18 <= k < 25]
    async with CameraRecorder(
        camera="cam1", directory=tmp_path, fps=FPS, overlay=ov, on_segment=closed.append,
        stale_after=0.25,
    ) as recorder:  # fmt: skip
        recorder.roll(0, 0.0)
        recorder.roll(1, 1.5)
        for frame in frames(times):
            await recorder.push(frame)
        await recorder.close(end=3.0)
    assert [s.index for s in closed] == [0, 1]
    first, second = recorder.segments
    assert (first.file, first.start, first.frames) == ("cam1-00000.mp4", 0.0, 15)
    assert (second.file, second.start, second.frames) == ("cam1-00001.mp4", 1.5, 15)
    assert first.complete and second.complete
    assert first.missing == 0 and second.missing >= 2  # the hole is "no signal"
    assert second.end == pytest.approx(3.0)
    for segment in (first, second):
        assert len(segment.sha256) == 64
        decoded = read_back(tmp_path / segment.file)
        assert len(decoded) == segment.frames
        assert decoded[0].shape == (H, W, 3)
        for k in (0, 7, 14):
            t = segment.start + k / FPS
            box = ov.box(W, H)
            assert decoded[k][box.y0 : box.y1, box.x0 : box.x1].mean() < 60  # black box
            for other in (t + 1.0, t + 0.1):
                right, wrong = text_errors(decoded[k], ov, t, other)
                assert right < 40 and wrong > 2 * right, (segment.index, k, other, right, wrong)
        # outside the box the camera picture is kept
        outside = decoded[3][H // 2 :, :, 1].astype(int)
        assert outside.std() > 20


async def test_camera_recorder_without_frames_records_no_signal(tmp_path: Path) -> None:
    async with CameraRecorder(camera="cam1", directory=tmp_path, fps=FPS, size=(W, H)) as recorder:
        recorder.roll(0, 10.0)
        await recorder.advance(12.5)  # slots up to 12.0 (max_delay 0.5)
        await recorder.close(end=12.5)
    (segment,) = recorder.segments
    assert segment.frames == 25 and segment.missing == 25
    decoded = read_back(tmp_path / segment.file)
    assert len(decoded) == 25
    assert abs(float(decoded[5].mean()) - 48) < 15  # dark grey "NO SIGNAL"


async def test_camera_recorder_killed_encoder_leaves_playable_file(tmp_path: Path) -> None:
    recorder = CameraRecorder(
        camera="cam1", directory=tmp_path, fps=FPS, keyframe_interval=1.0, preset="ultrafast"
    )
    async with recorder:
        recorder.roll(0, 0.0)
        for frame in frames([k / FPS for k in range(45)]):
            await recorder.push(frame)
        await asyncio.sleep(0.5)  # let the encoder take the pipe's contents
        encoder = recorder._open  # a power cut: the encoder dies without a trailer
        assert encoder is not None
        os.kill(encoder.process.pid, signal.SIGKILL)
        await encoder.process.wait()
    (segment,) = recorder.segments
    assert not segment.complete
    decoded = read_back(tmp_path / segment.file)
    # fragments are cut at keyframes (1 s): at most about one second is lost
    assert 45 - FPS - 5 <= len(decoded) <= 45


async def test_camera_recorder_never_overwrites(tmp_path: Path) -> None:
    existing = tmp_path / "cam1-00000.mp4"
    existing.write_bytes(b"evidence")
    async with CameraRecorder(camera="cam1", directory=tmp_path, fps=FPS) as recorder:
        recorder.roll(0, 0.0)
        with pytest.raises(Exception) as caught:
            for frame in frames([k / FPS for k in range(200)]):
                await recorder.push(frame)
                await asyncio.sleep(0)
    assert type(caught.value).__name__ == "CameraRecordingError"
    assert existing.read_bytes() == b"evidence"
