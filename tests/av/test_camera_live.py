"""Camera (capture + watchdog + recorder + thumbnails) against a real ffmpeg MJPEG stream.

The stream is killed and restarted, paused, frozen and black; watchdog
times are scaled down to about a second so the suite stays quick.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import pytest

from av.camera import (
    AlarmKind,
    Camera,
    CameraAddress,
    CameraAlarm,
    CameraEvent,
    CameraRecorder,
    CameraState,
    CameraStateChange,
    Thumbnail,
    Thumbnailer,
)
from courtroom_core.backoff import BackoffPolicy
from tests.fixtures.camera_stream import MjpegStream

pytestmark = pytest.mark.slow

StreamFactory = Callable[[str], MjpegStream]


def fast_camera(
    stream: MjpegStream,
    clock: Callable[[], float],
    got: Recorded,
    *,
    recorder: CameraRecorder | None = None,
    thumbnailer: Thumbnailer | None = None,
) -> Camera:
    """A camera whose watchdog and reconnect work in about a second."""
    return Camera(
        CameraAddress.parse(stream.url),
        camera="cam1",
        hearing_clock=clock,
        recorder=recorder,
        thumbnailer=thumbnailer,
        on_event=got.events.append,
        on_thumbnail=got.thumbnails.append,
        no_frame_timeout=1.0,
        frozen_after=1.0,
        black_after=1.0,
        check_interval=0.1,
        open_timeout=1.0,
        read_timeout=1.0,
        backoff=BackoffPolicy(initial=0.2, maximum=0.4),
    )


class Recorded:
    def __init__(self) -> None:
        self.events: list[CameraEvent] = []
        self.thumbnails: list[Thumbnail] = []

    def alarms(self, kind: AlarmKind, *, active: bool = True) -> list[CameraAlarm]:
        return [
            e for e in self.events
            if isinstance(e, CameraAlarm) and e.kind is kind and e.active is active
        ]  # fmt: skip

    def states(self) -> list[CameraState]:
        return [e.state for e in self.events if isinstance(e, CameraStateChange)]


async def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    """Poll state that the camera task changes (it has no event to wait on)."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert condition(), what


@contextmanager
def hearing() -> Iterator[Callable[[], float]]:
    t0 = time.monotonic()
    yield lambda: time.monotonic() - t0


async def test_camera_stream_killed_and_restarted_records_gap(
    camera_stream: StreamFactory, tmp_path: Path
) -> None:
    stream = camera_stream("testsrc2")
    got = Recorded()
    with hearing() as clock:
        rec = CameraRecorder(camera="cam1", directory=tmp_path, fps=10, stale_after=0.3)
        async with rec:
            async with (
            fast_camera(
                stream, clock, got, recorder=rec, thumbnailer=Thumbnailer("cam1", interval=0.5)
            ) as camera,
            asyncio.TaskGroup() as tg,
        ):  # fmt: skip
                task = tg.create_task(camera.run(), name="camera cam1")
                await wait_for(lambda: camera.state is CameraState.ONLINE, 30, "online")
                start = clock()
                rec.roll(0, start)
                await asyncio.sleep(1.0)
                down_at = clock()
                await asyncio.to_thread(stream.stop)
                stopped_at = clock()
                await wait_for(lambda: bool(got.alarms(AlarmKind.NO_FRAMES)), 15, "no-frames alarm")
                assert camera.state is CameraState.OFFLINE
                await asyncio.to_thread(stream.start)
                up_at = clock()
                await wait_for(lambda: camera.state is CameraState.ONLINE, 30, "online again")
                await asyncio.sleep(0.5)
                end = clock()
                task.cancel()
            await rec.close(end=end)

    assert got.states() == [CameraState.ONLINE, CameraState.OFFLINE, CameraState.ONLINE]
    (raised,) = got.alarms(AlarmKind.NO_FRAMES)
    (cleared,) = got.alarms(AlarmKind.NO_FRAMES, active=False)
    # The last frame may arrive while the stream stops, or from FFmpeg's buffer just after.
    assert down_at - 1.0 < raised.since <= stopped_at + 0.5
    assert stopped_at < raised.time < up_at < cleared.time
    assert "无画面" in raised.message
    gaps = camera.watchdog.gaps if camera.watchdog else []
    assert len(gaps) == 2 and gaps[1].end is not None
    assert gaps[1].start <= stopped_at + 0.5 and gaps[1].end >= up_at
    assert camera.connects >= 2
    assert len(got.thumbnails) >= 3 and all(t.camera == "cam1" for t in got.thumbnails)

    (segment,) = rec.segments
    assert segment.frames == pytest.approx((end - start) * 10, abs=1)
    gap_s = gaps[1].end - gaps[1].start
    assert segment.missing == pytest.approx(gap_s * 10 - 2 * 3, abs=4)  # stale_after 0.3 s
    capture = cv2.VideoCapture(str(tmp_path / segment.file), cv2.CAP_FFMPEG)
    decoded = 0
    while capture.read()[0]:
        decoded += 1
    capture.release()
    assert decoded == segment.frames


async def test_camera_hung_stream_reconnects(camera_stream: StreamFactory) -> None:
    stream = camera_stream("testsrc2")
    got = Recorded()
    with hearing() as clock:
        async with (
            fast_camera(stream, clock, got) as camera,
            asyncio.TaskGroup() as tg,
        ):  # fmt: skip
            task = tg.create_task(camera.run(), name="camera cam1")
            await wait_for(lambda: camera.state is CameraState.ONLINE, 30, "online")
            await asyncio.to_thread(stream.pause)  # connection open, no pictures
            await wait_for(lambda: camera.state is CameraState.OFFLINE, 15, "offline")
            await asyncio.to_thread(stream.resume)
            await wait_for(lambda: camera.state is CameraState.ONLINE, 30, "online again")
            task.cancel()
    assert got.alarms(AlarmKind.NO_FRAMES) and got.alarms(AlarmKind.NO_FRAMES, active=False)
    assert camera.connects >= 2


@pytest.mark.parametrize(
    ("pattern", "expected", "absent"),
    [("still", AlarmKind.FROZEN, AlarmKind.BLACK), ("black", AlarmKind.BLACK, AlarmKind.FROZEN)],
)
async def test_camera_bad_picture_alarm(
    camera_stream: StreamFactory, pattern: str, expected: AlarmKind, absent: AlarmKind
) -> None:
    stream = camera_stream(pattern)
    got = Recorded()
    with hearing() as clock:
        async with (
            fast_camera(stream, clock, got) as camera,
            asyncio.TaskGroup() as tg,
        ):  # fmt: skip
            task = tg.create_task(camera.run(), name="camera cam1")
            await wait_for(lambda: bool(got.alarms(expected)), 25, f"{expected} alarm")
            task.cancel()
    (alarm,) = got.alarms(expected)
    assert 1.0 <= alarm.time - alarm.since < 2.0
    assert not got.alarms(absent) and not got.alarms(AlarmKind.NO_FRAMES)
    assert camera.state is CameraState.ONLINE
    assert alarm.to_json()["message"].startswith("摄像机 cam1")
