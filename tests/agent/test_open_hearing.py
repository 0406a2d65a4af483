"""The open-hearing record: which hearing a restarted agent continues."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from courtroom_agent.open_hearing import (
    OpenHearing,
    forget_open_hearing,
    load_open_hearing,
    take_over,
)

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
SEATS = ("审判长", "原告", "被告")


def hearing(hearing_id: str, at: datetime, seats: tuple[str, ...] = SEATS) -> OpenHearing:
    return OpenHearing(hearing_id, at, "（2026）京0105民初123号", seats)


def test_take_over_without_record_remembers_new_hearing(tmp_path: Path) -> None:
    path = tmp_path / "open-hearing.json"
    new = hearing("fy-01-a", T0)
    chosen, abandoned = take_over(path, new, now=T0, resume_within=3600)
    assert chosen is new and abandoned is None
    assert load_open_hearing(path) == new


def test_take_over_continues_hearing_left_open(tmp_path: Path) -> None:
    path = tmp_path / "open-hearing.json"
    left = hearing("fy-01-a", T0)
    left.save(path)
    later = T0 + timedelta(minutes=3)
    chosen, abandoned = take_over(path, hearing("fy-01-b", later), now=later, resume_within=3600)
    assert chosen == left and abandoned is None
    assert load_open_hearing(path) == left  # still remembered until 闭庭


@pytest.mark.parametrize(
    ("seats", "minutes"),
    [(("审判长", "原告"), 3), (SEATS, 61)],
    ids=["other-seats", "too-old"],
)
def test_take_over_abandons_hearing_it_may_not_continue(
    tmp_path: Path, seats: tuple[str, ...], minutes: int, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "open-hearing.json"
    left = hearing("fy-01-a", T0)
    left.save(path)
    later = T0 + timedelta(minutes=minutes)
    new = hearing("fy-01-b", later, seats)
    with caplog.at_level(logging.ERROR):
        chosen, abandoned = take_over(path, new, now=later, resume_within=3600)
    assert chosen is new and abandoned == left
    assert load_open_hearing(path) == new
    assert "not continued" in caplog.text


def test_corrupt_record_is_kept_aside_not_deleted(tmp_path: Path) -> None:
    path = tmp_path / "open-hearing.json"
    path.write_text('{"hearing_id": "fy-01-a", "opened_at": "yesterday"', encoding="utf-8")
    assert load_open_hearing(path) is None
    assert not path.exists()
    aside = tmp_path / "open-hearing.json.bad-1"
    assert aside.read_text(encoding="utf-8").startswith('{"hearing_id"')
    path.write_text(json.dumps({"hearing_id": "x"}), encoding="utf-8")
    assert load_open_hearing(path) is None
    assert (tmp_path / "open-hearing.json.bad-2").exists() and aside.exists()


def test_record_without_timezone_is_refused(tmp_path: Path) -> None:
    data = hearing("fy-01-a", T0).to_json() | {"opened_at": "2026-03-02T01:30:00"}
    with pytest.raises(ValueError, match="timezone"):
        OpenHearing.from_json(data)


def test_forget_after_close_and_unwritable_directory(tmp_path: Path) -> None:
    path = tmp_path / "open-hearing.json"
    hearing("fy-01-a", T0).save(path)
    forget_open_hearing(path)
    forget_open_hearing(path)  # twice is fine
    assert load_open_hearing(path) is None
    # A record that cannot be written does not stop the hearing.
    missing = tmp_path / "gone" / "open-hearing.json"
    new = hearing("fy-01-b", T0)
    assert take_over(missing, new, now=T0, resume_within=60) == (new, None)
