"""Camera parts without I/O: addresses, watchdog, pacer, overlay, thumbnails, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

from av.camera import (
    AlarmKind,
    CameraAddress,
    CameraAlarm,
    CameraGap,
    CameraState,
    CameraStateChange,
    CameraWatchdog,
    Frame,
    FramePacer,
    PictureMeasure,
    PictureProbe,
    SegmentStart,
    Slot,
    SourceKind,
    Thumbnailer,
    TimestampOverlay,
)

MOVING = PictureMeasure(luma=120.0, change=12.0)
STILL = PictureMeasure(luma=120.0, change=0.0)
DARK = PictureMeasure(luma=3.0, change=0.0)
BEIJING = timezone(timedelta(hours=8))


def frame_at(t: float, index: int = 0) -> Frame:
    return Frame("cam1", index, np.zeros((24, 32, 3), np.uint8), captured_at=t, hearing_time=t)


# -- addresses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "target"),
    [
        (0, SourceKind.DEVICE, 0),
        ("2", SourceKind.DEVICE, 2),
        ("/dev/video1", SourceKind.DEVICE, "/dev/video1"),
        ("rtsp://10.0.0.5/stream1", SourceKind.RTSP, "rtsp://10.0.0.5/stream1"),
        ("http://cam/video.mjpg", SourceKind.HTTP, "http://cam/video.mjpg"),
        ("HTTPS://cam/video.mjpg", SourceKind.HTTP, "HTTPS://cam/video.mjpg"),
        ("/srv/clip.mp4", SourceKind.FILE, "/srv/clip.mp4"),
        ("file:///srv/clip.mp4", SourceKind.FILE, "/srv/clip.mp4"),
    ],
)
def test_camera_address_parse_kinds(spec: str | int, kind: SourceKind, target: str | int) -> None:
    address = CameraAddress.parse(spec)
    assert (address.kind, address.target) == (kind, target)


@pytest.mark.parametrize("spec", ["", "udp://1.2.3.4:5000", "-1"])
def test_camera_address_parse_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        CameraAddress.parse(spec)


def test_camera_address_redacted_hides_password() -> None:
    address = CameraAddress.parse("rtsp://admin:s3cret@10.0.0.5:554/ch1?x=1")
    assert address.redacted == "rtsp://admin:***@10.0.0.5:554/ch1?x=1"
    assert "s3cret" not in repr(CameraAddress.parse("http://cam/x").redacted)


def test_camera_address_rejects_mismatched_kind() -> None:
    with pytest.raises(ValueError):
        CameraAddress(SourceKind.RTSP, "http://cam/x")


# -- watchdog ----------------------------------------------------------------


def test_camera_watchdog_first_frame_goes_online_and_closes_start_gap() -> None:
    dog = CameraWatchdog("cam1", start=10.0)
    events = dog.frame(10.4, MOVING)
    assert events == [
        CameraStateChange(camera="cam1", state=CameraState.ONLINE, time=10.4),
        CameraGap(camera="cam1", start=10.0, end=10.4),
    ]
    assert dog.state is CameraState.ONLINE and not dog.needs_reconnect


def test_camera_watchdog_no_frames_raises_alarm_offline_and_gap() -> None:
    dog = CameraWatchdog("cam1", start=0.0, no_frame_timeout=2.0)
    dog.frame(0.1, MOVING)
    dog.frame(1.0, MOVING)
    assert dog.check(2.9) == []
    events = dog.check(3.0)
    assert [type(e) for e in events] == [CameraStateChange, CameraAlarm]
    alarm = events[1]
    assert isinstance(alarm, CameraAlarm)
    assert (alarm.kind, alarm.active, alarm.since, alarm.time) == (
        AlarmKind.NO_FRAMES, True, 1.0, 3.0,
    )  # fmt: skip
    assert dog.state is CameraState.OFFLINE and dog.needs_reconnect
    assert dog.check(4.0) == []  # raised once
    back = dog.frame(7.5, MOVING)
    assert CameraGap(camera="cam1", start=1.0, end=7.5) in back
    cleared = [e for e in back if isinstance(e, CameraAlarm)]
    assert [(a.kind, a.active) for a in cleared] == [(AlarmKind.NO_FRAMES, False)]
    assert dog.gaps == [
        CameraGap(camera="cam1", start=0.0, end=0.1),
        CameraGap(camera="cam1", start=1.0, end=7.5),
    ]


def test_camera_watchdog_disconnect_is_offline_at_once_alarm_later() -> None:
    dog = CameraWatchdog("cam1", start=0.0, no_frame_timeout=5.0)
    dog.frame(1.0, MOVING)
    events = dog.disconnected(1.2, "read failed")
    assert events == [
        CameraStateChange(camera="cam1", state=CameraState.OFFLINE, time=1.2, reason="read failed")
    ]
    assert dog.gaps[-1] == CameraGap(camera="cam1", start=1.0)
    assert dog.disconnected(2.0, "refused") == []
    assert [e.kind for e in dog.check(6.0) if isinstance(e, CameraAlarm)] == [AlarmKind.NO_FRAMES]


def test_camera_watchdog_frozen_picture_alarm_after_threshold_time() -> None:
    dog = CameraWatchdog("cam1", start=0.0, frozen_after=3.0)
    dog.frame(0.0, MOVING)
    dog.frame(1.0, MOVING)
    raised = [dog.frame(1.0 + i * 0.5, STILL) for i in range(1, 9)]
    flat = [e for batch in raised for e in batch if isinstance(e, CameraAlarm)]
    assert len(flat) == 1
    assert (flat[0].kind, flat[0].since, flat[0].time) == (AlarmKind.FROZEN, 1.0, 4.0)
    cleared = dog.frame(6.0, MOVING)
    assert [(e.kind, e.active) for e in cleared if isinstance(e, CameraAlarm)] == [
        (AlarmKind.FROZEN, False)
    ]


def test_camera_watchdog_black_picture_alarm_not_also_frozen() -> None:
    dog = CameraWatchdog("cam1", start=0.0, black_after=2.0, frozen_after=1.0)
    events = [e for i in range(0, 31) for e in dog.frame(i * 0.1, DARK)]
    alarms = [e for e in events if isinstance(e, CameraAlarm)]
    assert [(a.kind, a.since, a.time) for a in alarms] == [(AlarmKind.BLACK, 0.0, 2.0)]
    assert AlarmKind.BLACK in dog.active


def test_camera_alarm_json_message_chinese_first() -> None:
    alarm = CameraAlarm(camera="cam1", kind=AlarmKind.FROZEN, active=True, time=12.0, since=2.0)
    data = alarm.to_json()
    assert data["kind"] == "frozen" and data["active"] is True
    assert data["message"] == "摄像机 cam1 画面静止已 10 秒 / camera cam1: picture frozen for 10 s"
    with pytest.raises(ValueError):
        CameraAlarm(camera="cam1", kind=AlarmKind.BLACK, active=True, time=1.0, since=2.0)


def test_picture_probe_measures_change_and_luma() -> None:
    probe = PictureProbe()
    image = np.full((240, 320, 3), 200, np.uint8)
    first = probe.measure(image)
    assert first.change is None and first.luma == pytest.approx(200, abs=1)
    assert probe.measure(image).change == 0.0
    image[:120] = 0
    changed = probe.measure(image)
    assert changed.change is not None and changed.change > 50


# -- pacer -------------------------------------------------------------------


def slots(outputs: list[SegmentStart | Slot]) -> list[Slot]:
    return [o for o in outputs if isinstance(o, Slot)]


def test_frame_pacer_constant_rate_repeats_and_drops() -> None:
    pacer = FramePacer(fps=10, stale_after=1.0)
    pacer.roll(0, 0.0)
    out: list[SegmentStart | Slot] = []
    # 5 fps camera for 1 s, then a 20 fps burst for 0.5 s
    for i in range(6):
        out += pacer.push(frame_at(i * 0.2, i))
    for i in range(1, 11):
        out += pacer.push(frame_at(1.0 + i * 0.05, 100 + i))
    out += pacer.finish(1.55)
    assert out[0] == SegmentStart(0, 0.0)
    got = slots(out)
    assert [s.number for s in got] == list(range(16))  # 0.0 … 1.5 inclusive
    assert [round(s.time, 6) for s in got] == [round(k / 10, 6) for k in range(16)]
    for s in got:
        assert s.frame is not None and s.frame.hearing_time is not None
        assert abs(s.frame.hearing_time - s.time) <= 0.1 + 1e-9  # half the 5 fps period
    stats = pacer.stats
    assert stats.slots == 16 and stats.missing == 0
    assert stats.repeated == sum(s.repeated for s in got) >= 4
    assert stats.dropped >= 4  # half of the burst found no slot
    assert stats.frames_in == 16


def test_frame_pacer_fills_silence_with_missing_slots() -> None:
    pacer = FramePacer(fps=10, stale_after=0.3, max_delay=0.5)
    pacer.roll(0, 0.0)
    got = slots(pacer.push(frame_at(0.0)) + pacer.advance(2.0))
    assert [s.number for s in got] == list(range(16))  # up to 2.0 - 0.5
    assert [s.frame is None for s in got] == [False] * 4 + [True] * 12
    assert pacer.stats.missing == 12


def test_frame_pacer_roll_switches_at_boundary_time() -> None:
    pacer = FramePacer(fps=10)
    pacer.roll(0, 0.0)
    pacer.roll(1, 0.5)
    out: list[SegmentStart | Slot] = []
    for i in range(10):
        out += pacer.push(frame_at(i * 0.1, i))
    out += pacer.finish(1.0)
    starts = [o for o in out if isinstance(o, SegmentStart)]
    assert starts == [SegmentStart(0, 0.0), SegmentStart(1, 0.5)]
    got = slots(out)
    assert [(s.segment, s.number) for s in got][4:7] == [(0, 4), (1, 0), (1, 1)]
    with pytest.raises(ValueError):
        pacer.roll(1, 2.0)


def test_frame_pacer_ignores_frames_before_first_segment() -> None:
    pacer = FramePacer(fps=10)
    assert pacer.push(frame_at(0.0)) == []
    pacer.roll(3, 0.15)
    out = pacer.push(frame_at(0.2, 1)) + pacer.finish(0.2)
    assert out[0] == SegmentStart(3, 0.15) and slots(out)[0].time == pytest.approx(0.15)
    assert pacer.stats.dropped == 0


# -- overlay -----------------------------------------------------------------


def test_timestamp_overlay_lines_show_wall_time_of_hearing_time() -> None:
    epoch = datetime(2025, 3, 4, 14, 0, 0, tzinfo=BEIJING)
    overlay = TimestampOverlay(courtroom="FY-101", camera="CAM-1", epoch=epoch)
    assert overlay.lines(187.46) == ("2025-03-04 14:03:07.4 +08:00", "FY-101 CAM-1")
    whole = TimestampOverlay(courtroom="r", camera="c", epoch=epoch, fraction_digits=0)
    assert whole.lines(86400.999)[0] == "2025-03-05 14:00:00 +08:00"


def test_timestamp_overlay_draws_inside_its_box_only() -> None:
    overlay = TimestampOverlay(
        courtroom="FY-101", camera="CAM-1", epoch=datetime(2025, 1, 1, tzinfo=UTC)
    )
    picture = np.full((240, 320, 3), 128, np.uint8)
    drawn = overlay.draw(picture.copy(), 5.0)
    box = overlay.box(320, 240)
    changed = np.argwhere((drawn != picture).any(axis=2))
    assert changed.size
    assert changed[:, 0].min() >= box.y0 and changed[:, 0].max() < box.y1
    assert changed[:, 1].min() >= box.x0 and changed[:, 1].max() < box.x1
    region = drawn[box.y0 : box.y1, box.x0 : box.x1]
    assert (region > 200).any() and (region < 30).mean() > 0.5  # white text on black
    later = overlay.draw(picture.copy(), 6.0)
    assert not np.array_equal(later[box.y0 : box.y1], drawn[box.y0 : box.y1])


@pytest.mark.parametrize("name", ["法庭一", "", "a\nb"])
def test_timestamp_overlay_rejects_non_ascii_ids(name: str) -> None:
    with pytest.raises(ValueError, match="ASCII"):
        TimestampOverlay(courtroom=name, camera="c", epoch=datetime(2025, 1, 1, tzinfo=UTC))


def test_timestamp_overlay_rejects_naive_epoch() -> None:
    with pytest.raises(ValueError):
        TimestampOverlay(courtroom="r", camera="c", epoch=datetime(2025, 1, 1))


# -- thumbnails --------------------------------------------------------------


def test_thumbnailer_every_interval_and_bounded() -> None:
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)  # worst case for JPEG
    thumbnailer = Thumbnailer("cam1", interval=2.0, max_width=320, max_bytes=20_000)
    made = []
    for i in range(50):
        f = Frame("cam1", i, noise, captured_at=i * 0.1, hearing_time=i * 0.1)
        if (t := thumbnailer.offer(f)) is not None:
            made.append(t)
    assert [round(t.hearing_time, 1) for t in made] == [0.0, 2.0, 4.0]
    for t in made:
        assert t.size <= 20_000 and t.width <= 320
        decoded = cv2.imdecode(np.frombuffer(t.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None and decoded.shape == (t.height, t.width, 3)
        assert t.metadata()["bytes"] == t.size
