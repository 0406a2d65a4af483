"""LevelMeter on synthetic signals: exact dBFS, clipping, silence, cadence by frame count."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from av.audio import AudioBlock
from av.levels import FLOOR_DBFS, ChannelLevel, LevelMeter, LevelReport, MeterConfig, to_dbfs

RATE = 16_000
ROLES4 = ("审判长", "原告", "被告", "书记员")


def sine(dbfs_peak: float, *, seconds: float = 1.0, freq: float = 1000.0) -> npt.NDArray[np.int16]:
    """A sine whose samples hit its crest (1 kHz at 16 kHz: 16 samples per period)."""
    t = np.arange(int(RATE * seconds)) / RATE
    amplitude = 32768 * 10 ** (dbfs_peak / 20)
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def blocks_of(pcm: npt.NDArray[np.int16], sizes: list[int], *, start: int = 0) -> list[AudioBlock]:
    """Cut ``pcm`` into consecutive blocks of the given sizes (the last size repeats)."""
    out, pos, i = [], 0, 0
    while pos < len(pcm):
        n = sizes[min(i, len(sizes) - 1)]
        out.append(AudioBlock(start_frame=start + pos, pcm=pcm[pos : pos + n], captured_at=0.0))
        pos += n
        i += 1
    return out


def meter_all(meter: LevelMeter, blocks: list[AudioBlock]) -> list[LevelReport]:
    reports = [r for b in blocks for r in meter.feed(b)]
    last = meter.flush()
    return reports + ([last] if last is not None else [])


def test_to_dbfs_full_scale_and_floor() -> None:
    assert to_dbfs(32768) == 0.0
    assert to_dbfs(16384) == pytest.approx(-6.0206, abs=1e-4)
    assert to_dbfs(1) == pytest.approx(-90.309, abs=1e-3)
    assert to_dbfs(0) == FLOOR_DBFS


@pytest.mark.parametrize("dbfs", [-1.0, -6.0, -20.0, -40.0])
def test_level_meter_sine_reads_its_peak_and_rms(dbfs: float) -> None:
    meter = LevelMeter(rate=RATE, roles=["原告"])
    reports = meter_all(meter, blocks_of(sine(dbfs)[:, None], [1600]))
    assert len(reports) == 10
    for report in reports:
        [level] = report.channels
        assert level.peak_dbfs == pytest.approx(dbfs, abs=0.01)
        assert level.rms_dbfs == pytest.approx(dbfs - 10 * math.log10(2), abs=0.01)
        assert level.clipped == 0 and not level.silent


def test_level_meter_full_scale_square_clips_every_sample() -> None:
    square = np.where(np.arange(RATE) % 32 < 16, 32767, -32768).astype(np.int16)
    reports = meter_all(LevelMeter(rate=RATE, roles=["证人"]), blocks_of(square[:, None], [1000]))
    assert len(reports) == 10
    for report in reports:
        [level] = report.channels
        assert level.peak_dbfs == 0.0
        assert level.rms_dbfs == pytest.approx(0.0, abs=0.001)
        assert level.clipped == 1600


def test_level_meter_clip_threshold_is_inclusive() -> None:
    config = MeterConfig(clip_dbfs=-0.1)
    assert config.clip_sample == 32393
    pcm = np.zeros((1600, 2), dtype=np.int16)
    pcm[[10, 20, 30], 0] = [32393, -32393, 32767]
    pcm[[10, 20], 1] = [32392, -32392]
    [report] = LevelMeter(rate=RATE, roles=["a", "b"], config=config).feed(AudioBlock(0, pcm, 0.0))
    assert [c.clipped for c in report.channels] == [3, 0]
    assert MeterConfig(clip_dbfs=0.0).clip_sample == 32767


def test_level_meter_digital_silence_reads_floor_and_silent() -> None:
    pcm = np.zeros((3200, 1), dtype=np.int16)
    reports = LevelMeter(rate=RATE, roles=["书记员"]).feed(AudioBlock(0, pcm, 0.0))
    assert [r.channels[0] for r in reports] == [
        ChannelLevel(
            channel=0, role="书记员", peak_dbfs=FLOOR_DBFS, rms_dbfs=FLOOR_DBFS, silent=True
        )
    ] * 2


def test_level_meter_four_channels_keep_their_own_levels() -> None:
    levels = [-3.0, -12.0, -24.0, -70.0]
    freqs = [500.0, 1000.0, 2000.0, 4000.0]  # all hit their crest at 16 kHz
    pcm = np.stack([sine(db, freq=f) for db, f in zip(levels, freqs, strict=True)], axis=1)
    reports = meter_all(LevelMeter(rate=RATE, roles=ROLES4), blocks_of(pcm, [800]))
    assert len(reports) == 10
    for report in reports:
        assert [c.role for c in report.channels] == list(ROLES4)
        for level, db in zip(report.channels, levels, strict=True):
            crest = to_dbfs(round(32768 * 10 ** (db / 20)))  # -70 dBFS is a crest of 10 LSB
            assert level.peak_dbfs == pytest.approx(crest, abs=1e-9)
            assert level.rms_dbfs == pytest.approx(crest - 3.0103, abs=0.05)
        assert [c.silent for c in report.channels] == [False, False, False, True]


def test_level_meter_report_json() -> None:
    pcm = np.stack([sine(-6.0), np.zeros(RATE, dtype=np.int16)], axis=1)
    [report] = LevelMeter(rate=RATE, roles=["原告", "被告"]).feed(AudioBlock(0, pcm[:1600], 0.0))
    assert report.to_json() == {
        "hearing_time": 0.1,
        "duration": 0.1,
        "channels": [
            {
                "channel": 0,
                "role": "原告",
                "peak_dbfs": -6.0,
                "rms_dbfs": -9.01,
                "clipped": 0,
                "silent": False,
            },
            {
                "channel": 1,
                "role": "被告",
                "peak_dbfs": -96.0,
                "rms_dbfs": -96.0,
                "clipped": 0,
                "silent": True,
            },
        ],
    }


@pytest.mark.parametrize("sizes", [[1600], [160], [1], [7], [1000], [4410], [1599, 1, 3201]])
def test_level_meter_cadence_independent_of_block_size(sizes: list[int]) -> None:
    rng = np.random.default_rng(1)
    pcm = rng.normal(0, 3000, (RATE * 2 + 500, 2)).astype(np.int16)
    reference = meter_all(LevelMeter(rate=RATE, roles=["a", "b"]), blocks_of(pcm, [len(pcm)]))
    reports = meter_all(LevelMeter(rate=RATE, roles=["a", "b"]), blocks_of(pcm, sizes))
    assert reports == reference
    assert [r.hearing_time for r in reports] == [k / 10 for k in range(1, 21)] + [32500 / RATE]
    assert reports[-1].duration == 500 / RATE


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=20))
def test_level_meter_any_blocking_gives_same_reports(sizes: list[int]) -> None:
    rng = np.random.default_rng(2)
    pcm = rng.integers(-20000, 20000, (12_345, 1)).astype(np.int16)
    whole = meter_all(LevelMeter(rate=RATE, roles=["a"]), blocks_of(pcm, [len(pcm)]))
    assert meter_all(LevelMeter(rate=RATE, roles=["a"]), blocks_of(pcm, sizes)) == whole


@pytest.mark.parametrize(("rate", "per_second"), [(44_100, 10), (11_025, 10), (48_000, 25)])
def test_level_meter_windows_exact_at_any_rate(rate: int, per_second: int) -> None:
    pcm = np.full((rate, 1), 1000, dtype=np.int16)
    meter = LevelMeter(rate=rate, roles=["a"], config=MeterConfig(reports_per_second=per_second))
    reports = meter_all(meter, blocks_of(pcm, [333]))
    assert len(reports) == per_second
    frames = [round(r.duration * rate) for r in reports]
    assert sum(frames) == rate
    assert [round(r.hearing_time * rate) for r in reports] == [
        (k + 1) * rate // per_second for k in range(per_second)
    ]


def test_level_meter_gap_reports_partial_window_and_skips_empty_ones() -> None:
    meter = LevelMeter(rate=RATE, roles=["a"])
    loud = np.full((800, 1), 16384, dtype=np.int16)
    assert meter.feed(AudioBlock(0, loud, 0.0)) == []
    # Frames 800..4799 were dropped by the source; audio resumes at window 3 (0.3-0.4 s).
    reports = meter.feed(AudioBlock(4800, np.zeros((1600, 1), dtype=np.int16), 0.0))
    assert [(r.hearing_time, r.duration) for r in reports] == [(0.05, 0.05), (0.4, 0.1)]
    assert reports[0].channels[0].rms_dbfs == pytest.approx(-6.02, abs=0.01)
    assert reports[1].channels[0].silent
    assert meter.flush() is None


def test_level_meter_flush_reports_unfinished_window_once() -> None:
    meter = LevelMeter(rate=RATE, roles=["a"])
    meter.feed(AudioBlock(0, np.full((2000, 1), 100, dtype=np.int16), 0.0))
    last = meter.flush()
    assert last is not None and last.hearing_time == 2000 / RATE and last.duration == 400 / RATE
    assert meter.flush() is None


def test_level_meter_rejects_overlap_and_wrong_channels() -> None:
    meter = LevelMeter(rate=RATE, roles=["a", "b"])
    meter.feed(AudioBlock(0, np.zeros((100, 2), dtype=np.int16), 0.0))
    with pytest.raises(ValueError, match="before frame 100"):
        meter.feed(AudioBlock(50, np.zeros((100, 2), dtype=np.int16), 0.0))
    with pytest.raises(ValueError, match="2 channels"):
        meter.feed(AudioBlock(100, np.zeros((100, 3), dtype=np.int16), 0.0))


@pytest.mark.parametrize(
    "kwargs",
    [{"reports_per_second": 0}, {"clip_dbfs": 0.5}, {"clip_dbfs": -7.0}, {"silence_dbfs": -97.0}],
)
def test_meter_config_out_of_range_raises(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MeterConfig(**kwargs)  # type: ignore[arg-type]


def test_level_values_validate() -> None:
    with pytest.raises(ValueError, match="peak_dbfs"):
        ChannelLevel(channel=0, role="a", peak_dbfs=1.0, rms_dbfs=-10.0)
    with pytest.raises(ValueError, match="channel order"):
        LevelReport(
            hearing_time=0.1,
            duration=0.1,
            channels=(ChannelLevel(channel=1, role="a", peak_dbfs=-1.0, rms_dbfs=-3.0),),
        )
    with pytest.raises(ValueError, match="at least one"):
        LevelMeter(rate=RATE, roles=[])
