"""The camera over RTSP, against GStreamer's RTSP server (H.264 when installed, else MJPEG).

Real OpenCV capture through its FFmpeg backend and the real Camera and
watchdog; the server is killed and restarted on the same port, frozen
(SIGSTOP: a hung camera), asked for a path it does not serve, and put behind
Basic and Digest authentication. Watchdog times are scaled to about a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from av.camera import (
    AlarmKind,
    Camera,
    CameraAddress,
    CameraAlarm,
    CameraCapture,
    CameraEvent,
    CameraOpenError,
    CameraState,
    CameraStateChange,
    CameraStreamError,
    Frame,
)
from av.camera.rtsp_probe import _authorization, _parse_response, rtsp_describe_status
from courtroom_core.backoff import BackoffPolicy
from tests.fixtures.rtsp_server import FPS, HEIGHT, WIDTH, RtspServer

pytestmark = pytest.mark.slow

ServerFactory = Callable[..., RtspServer]

READ_TIMEOUT = 1.0
NO_FRAME_TIMEOUT = 1.0
BACKOFF = BackoffPolicy(initial=0.25, maximum=0.5, jitter=0.0)
PASSWORD = "Gavel7Secret"


def hearing_clock() -> Callable[[], float]:
    t0 = time.monotonic() - 100.0
    return lambda: time.monotonic() - t0


class Events:
    def __init__(self) -> None:
        self.events: list[CameraEvent] = []

    def __call__(self, event: CameraEvent) -> None:
        self.events.append(event)

    def states(self) -> list[CameraStateChange]:
        return [e for e in self.events if isinstance(e, CameraStateChange)]

    def alarms(self, kind: AlarmKind, *, active: bool = True) -> list[CameraAlarm]:
        return [
            e for e in self.events
            if isinstance(e, CameraAlarm) and e.kind is kind and e.active is active
        ]  # fmt: skip

    def json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.events]


def rtsp_camera(url: str, clock: Callable[[], float], events: Events) -> Camera:
    """A camera whose watchdog and reconnect work in about a second."""
    return Camera(
        CameraAddress.parse(url),
        camera="cam1",
        hearing_clock=clock,
        on_event=events,
        no_frame_timeout=NO_FRAME_TIMEOUT,
        check_interval=0.1,
        open_timeout=2.0,
        read_timeout=READ_TIMEOUT,
        backoff=BACKOFF,
    )


async def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    """Poll state that the camera task changes (it has no event to wait on)."""
    try:
        async with asyncio.timeout(within):
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"not {what} within {within} s")


async def read_frames(capture: CameraCapture, count: int) -> list[Frame]:
    frames: list[Frame] = []
    while len(frames) < count:
        frame = await capture.read(wait=5.0)
        assert frame is not None, f"no frame within 5 s after {len(frames)}"
        frames.append(frame)
    return frames


@pytest.mark.parametrize("codec", ["h264", "mjpeg"])
async def test_camera_capture_rtsp_frames_arrive_live_over_tcp(
    rtsp_server: ServerFactory, codec: str
) -> None:
    server = rtsp_server("moving", codec=codec)
    clock = hearing_clock()
    address = CameraAddress.parse(server.url)
    # Room for every frame: FFmpeg's probe burst on a loaded machine can outrun
    # the default 8-frame queue, and dropping the oldest is tested elsewhere.
    async with CameraCapture(
        address, camera="cam1", hearing_clock=clock, open_timeout=1.0, queue_frames=3 * FPS
    ) as cap:
        frames = await read_frames(cap, 3 * FPS)
    assert [f.index for f in frames] == list(range(3 * FPS))
    assert all((f.width, f.height, f.camera) == (WIDTH, HEIGHT, "cam1") for f in frames)
    assert all(f.hearing_time is not None and 100.0 < f.hearing_time < clock() for f in frames)
    assert frames[-1].image.std() > 20  # colour bars, not a grey error picture
    # FFmpeg hands over what it buffered while probing in one burst; after that, live pace.
    live = frames[-FPS:]
    assert live[-1].captured_at - live[0].captured_at == pytest.approx((FPS - 1) / FPS, abs=0.35)
    # OpenCV's default, interleaved in the RTSP connection: no UDP through court firewalls.
    assert server.transports and all(t.startswith("RTP/AVP/TCP") for t in server.transports)


async def test_camera_capture_rtsp_hung_server_fails_without_stale_frames(
    rtsp_server: ServerFactory,
) -> None:
    server = rtsp_server("moving")
    address = CameraAddress.parse(server.url)
    async with CameraCapture(
        address, camera="cam1", open_timeout=2.0, read_timeout=READ_TIMEOUT
    ) as capture:
        await read_frames(capture, 2 * FPS)
        await asyncio.to_thread(server.pause)  # connection open, nothing sent
        hung_at = time.monotonic()
        late: list[Frame] = []
        with pytest.raises(CameraStreamError) as caught:
            async with asyncio.timeout(6 * READ_TIMEOUT):
                while True:
                    frame = await capture.read(wait=0.5)
                    if frame is not None and frame.captured_at > hung_at + 0.5 * READ_TIMEOUT:
                        late.append(frame)
        failed_after = time.monotonic() - hung_at
        # A new connection to the hung server gives up after open_timeout, and says why.
        started = time.monotonic()
        with pytest.raises(CameraOpenError, match=r"no answer within 1\.5 s"):
            await CameraCapture(address, camera="cam1", open_timeout=1.5).__aenter__()
        assert time.monotonic() - started < 1.5 + 1.0
        server.resume()
    assert not caught.value.ended
    # A frame-threaded decoder would hand out one stale frame per thread, each
    # a whole read timeout late; the H.264 parser's own one-frame delay is all
    # that is left with one decoder thread.
    assert len(late) <= (1 if server.codec == "h264" else 0)
    assert failed_after < (len(late) + 1) * READ_TIMEOUT + 1.0


async def test_camera_rtsp_server_killed_goes_offline_and_back_online(
    rtsp_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="av.camera")
    server = rtsp_server("moving")
    events = Events()
    clock = hearing_clock()
    async with rtsp_camera(server.url, clock, events) as camera, asyncio.TaskGroup() as tg:
        task = tg.create_task(camera.run(), name="camera cam1")
        await wait_for(lambda: camera.state is CameraState.ONLINE, 20, "online")
        await asyncio.sleep(0.5)
        killing_at = clock()
        await asyncio.to_thread(server.stop)
        down_at = clock()
        await wait_for(lambda: bool(events.alarms(AlarmKind.NO_FRAMES)), 10, "no-frames alarm")
        connects_down = camera.connects
        await asyncio.sleep(1.5)  # refused: retries paced by the backoff, no busy loop
        retries = camera.connects - connects_down
        up_at = clock()
        await asyncio.to_thread(server.start)
        await wait_for(lambda: camera.state is CameraState.ONLINE, 20, "online again")
        task.cancel()

    online, offline, back = events.states()
    assert [online.state, offline.state, back.state] == ["online", "offline", "online"]
    assert killing_at <= offline.time < down_at + NO_FRAME_TIMEOUT  # the read failed at once
    (raised,) = events.alarms(AlarmKind.NO_FRAMES)
    (cleared,) = events.alarms(AlarmKind.NO_FRAMES, active=False)
    # The last frame may be one FFmpeg had buffered, handed over just after the kill.
    assert killing_at - 1.0 < raised.since <= down_at + 0.5
    assert down_at < raised.time < up_at < cleared.time
    assert raised.time - raised.since == pytest.approx(NO_FRAME_TIMEOUT, abs=0.5)
    assert 2 <= retries <= 1.5 / BACKOFF.initial + 1
    assert camera.watchdog is not None
    gap = camera.watchdog.gaps[-1]
    assert gap.start <= down_at + 0.5 and gap.end is not None and gap.end >= up_at
    assert server.connects >= 2 and all(t.startswith("RTP/AVP/TCP") for t in server.transports)
    assert [r.message for r in caplog.records if "frames arriving again" in r.message]


@pytest.mark.parametrize(
    ("trouble", "reason"),
    [
        ("wrong path", "RTSP 404 Not Found (无此视频流路径 / no such stream path)"),
        ("refused", "connection refused"),
    ],
)
async def test_camera_rtsp_unreachable_stream_offline_and_retrying(
    rtsp_server: ServerFactory, trouble: str, reason: str
) -> None:
    server = rtsp_server("moving")
    url = server.url_for(path="/no-such-stream")
    if trouble == "refused":
        await asyncio.to_thread(server.stop)
        url = server.url
    events = Events()
    async with rtsp_camera(url, hearing_clock(), events) as camera, asyncio.TaskGroup() as tg:
        task = tg.create_task(camera.run(), name="camera cam1")
        await wait_for(lambda: camera.connects >= 3, 10, "retried")
        assert not task.done()
        task.cancel()
    (offline,) = events.states()
    assert offline.state is CameraState.OFFLINE
    assert f"cannot open {url}: {reason}" in offline.reason
    assert camera.frames_received == 0 and camera.state is CameraState.OFFLINE


@pytest.mark.parametrize("auth", ["basic", "digest"])
async def test_camera_rtsp_authentication_password_checked_and_never_shown(
    rtsp_server: ServerFactory,
    auth: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    server = rtsp_server("moving", user="clerk", password=PASSWORD, auth=auth)
    wrong = server.url_for(user="clerk", password="not-" + PASSWORD)
    right = server.url_for(user="clerk", password=PASSWORD)
    clock = hearing_clock()
    refused, accepted = Events(), Events()
    async with rtsp_camera(wrong, clock, refused) as camera, asyncio.TaskGroup() as tg:
        task = tg.create_task(camera.run(), name="camera wrong password")
        await wait_for(lambda: camera.connects >= 2, 10, "retried")
        task.cancel()
    assert camera.frames_received == 0
    (offline,) = refused.states()
    assert offline.state is CameraState.OFFLINE
    assert "cannot open rtsp://clerk:***@127.0.0.1" in offline.reason
    assert offline.reason.endswith(
        "RTSP 401 Unauthorized (用户名或密码错误 / wrong user name or password)"
    )

    async with rtsp_camera(right, clock, accepted) as camera, asyncio.TaskGroup() as tg:
        task = tg.create_task(camera.run(), name="camera right password")
        await wait_for(lambda: camera.frames_received >= FPS, 20, "frames")
        task.cancel()
    assert [s.state for s in accepted.states()] == [CameraState.ONLINE]
    assert len(server.transports) == 1  # the wrong password never got as far as SETUP

    shown = [str(e) for e in refused.json() + accepted.json()]
    shown += [r.getMessage() for r in caplog.records]
    shown += capfd.readouterr()  # FFmpeg's own messages on stdout/stderr
    assert any("clerk:***@" in text for text in shown)
    assert not [text for text in shown if PASSWORD in text]


@pytest.mark.parametrize("auth", ["basic", "digest"])
async def test_rtsp_describe_status_answers_challenge(
    rtsp_server: ServerFactory, auth: str
) -> None:
    server = rtsp_server("moving", user="clerk", password=PASSWORD, auth=auth)

    def status(**url: str) -> str:
        return rtsp_describe_status(server.url_for(**url), timeout=2.0)

    ok, wrong, anonymous, missing = await asyncio.gather(
        asyncio.to_thread(status, user="clerk", password=PASSWORD),
        asyncio.to_thread(status, user="clerk", password="x" + PASSWORD),
        asyncio.to_thread(status),
        asyncio.to_thread(status, user="clerk", password=PASSWORD, path="/nope"),
    )
    assert ok == "the camera answers (RTSP 200 OK) but its stream cannot be decoded"
    assert wrong.startswith("RTSP 401 Unauthorized") and anonymous.startswith("RTSP 401")
    assert missing.startswith("RTSP 404 Not Found")


def test_rtsp_authorization_digest_rfc2617_vector() -> None:
    challenge = (
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    header = _authorization(
        ["Basic realm=x", challenge], "Mufasa", "Circle Of Life", "/dir/index.html",
        method="GET", cnonce="0a4f113b",
    )  # fmt: skip
    assert header.startswith('Digest username="Mufasa", realm="testrealm@host.com"')
    assert 'qop=auth, nc=00000001, cnonce="0a4f113b"' in header
    assert header.endswith('response="6629fae49393a05397450978507c4ef1"')  # RFC 2617 §3.5
    assert _authorization(["Basic realm=x"], "Aladdin", "open sesame", "/") == (
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="  # RFC 7617 §2
    )


def test_rtsp_parse_response_status_and_challenges() -> None:
    head = (
        b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n"
        b'WWW-Authenticate: Basic realm="cam"\r\n'
        b'www-authenticate: Digest realm="cam", nonce="n1"\r\n\r\njunk after the head'
    )
    assert _parse_response(head) == (
        (401, "Unauthorized"),
        ['Basic realm="cam"', 'Digest realm="cam", nonce="n1"'],
    )
    with pytest.raises(ValueError, match="RTSP"):
        _parse_response(b"HTTP/1.1 200 OK\r\n\r\n")
