"""CameraCapture against a real MJPEG-over-HTTP stream served by ffmpeg, and a file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from av.camera import CameraAddress, CameraCapture, CameraOpenError, CameraStreamError, Frame
from tests.fixtures.camera_stream import FPS, HEIGHT, WIDTH, MjpegStream

pytestmark = pytest.mark.slow

StreamFactory = Callable[[str], MjpegStream]


def hearing_clock() -> Callable[[], float]:
    t0 = time.monotonic() - 100.0
    return lambda: time.monotonic() - t0


async def read_frames(capture: CameraCapture, count: int, *, wait: float = 5.0) -> list[Frame]:
    frames: list[Frame] = []
    while len(frames) < count:
        frame = await capture.read(wait=wait)
        assert frame is not None, f"no frame within {wait} s after {len(frames)}"
        frames.append(frame)
    return frames


async def test_camera_capture_http_mjpeg_frames_arrive_stamped(
    camera_stream: StreamFactory,
) -> None:
    stream = camera_stream("testsrc2")
    clock = hearing_clock()
    address = CameraAddress.parse(stream.url)
    async with CameraCapture(address, camera="cam1", hearing_clock=clock) as capture:
        frames = await read_frames(capture, 12)
    assert [f.index for f in frames] == list(range(12))
    assert all((f.width, f.height, f.camera) == (WIDTH, HEIGHT, "cam1") for f in frames)
    times = [f.hearing_time for f in frames]
    assert all(t is not None and 100.0 < t < clock() for t in times)
    span = frames[-1].captured_at - frames[0].captured_at
    assert span == pytest.approx(11 / FPS, abs=0.35)  # paced like a camera
    assert capture.stats.frames_dropped == 0


async def test_camera_capture_slow_consumer_drops_oldest_counted(
    camera_stream: StreamFactory,
) -> None:
    stream = camera_stream("testsrc2")
    address = CameraAddress.parse(stream.url)
    async with CameraCapture(address, camera="cam1", queue_frames=3) as capture:
        await read_frames(capture, 1)
        await asyncio.sleep(1.0)  # about 10 frames arrive; 3 fit
        queued = capture.stats
        frames = await read_frames(capture, 3, wait=0.01)
    assert queued.frames_queued == 3 and queued.frames_dropped >= 4
    assert queued.frames_captured == 1 + queued.frames_dropped + queued.frames_queued
    newest = frames[-1].index
    assert [f.index for f in frames] == [newest - 2, newest - 1, newest]  # the newest were kept


async def test_camera_capture_server_gone_raises_stream_error(
    camera_stream: StreamFactory,
) -> None:
    stream = camera_stream("testsrc2")
    address = CameraAddress.parse(stream.url)
    async with CameraCapture(address, camera="cam1", read_timeout=2.0) as capture:
        await read_frames(capture, 2)
        await asyncio.to_thread(stream.stop)
        with pytest.raises(CameraStreamError) as caught:
            async with asyncio.timeout(5):
                while True:
                    await capture.read(wait=1.0)
    assert not caught.value.ended and caught.value.camera == "cam1"


async def test_camera_capture_refused_raises_open_error(camera_stream: StreamFactory) -> None:
    stream = camera_stream("testsrc2")
    await asyncio.to_thread(stream.stop)
    capture = CameraCapture(CameraAddress.parse(stream.url), camera="cam1", open_timeout=2.0)
    with pytest.raises(CameraOpenError, match="cam1"):
        await capture.__aenter__()


async def test_camera_capture_file_paced_then_ends(camera_video_file: Path) -> None:
    address = CameraAddress.parse(camera_video_file)
    started = time.monotonic()
    async with CameraCapture(address, camera="file") as capture:
        frames: list[Frame] = []
        with pytest.raises(CameraStreamError) as caught:
            while True:
                frame = await capture.read(wait=5.0)
                assert frame is not None
                frames.append(frame)
    assert caught.value.ended
    assert len(frames) == 30
    assert time.monotonic() - started == pytest.approx(3.0, abs=0.6)
    assert frames[0].hearing_time is None  # no hearing clock given


async def test_camera_capture_file_loops(camera_video_file: Path) -> None:
    address = CameraAddress.parse(camera_video_file)
    async with CameraCapture(address, camera="file", loop_file=True, pace_files=False) as capture:
        frames = await read_frames(capture, 45)
    assert frames[-1].index == 44


@pytest.mark.parametrize("spec", ["/dev/video63", "63"], ids=["path", "index"])
async def test_camera_capture_absent_v4l2_device_raises_open_error(spec: str) -> None:
    """A USB camera unplugged before the hearing: OpenCV's V4L2 backend, a clear error.

    (This machine has no video devices, so only the failure path of a local
    camera can be exercised here; URLs and files are tested with real streams.)
    """
    address = CameraAddress.parse(spec)
    capture = CameraCapture(address, camera="usb-cam", open_timeout=2.0)
    with pytest.raises(CameraOpenError, match="usb-cam") as caught:
        await capture.__aenter__()
    assert "63" in str(caught.value)
