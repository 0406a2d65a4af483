"""The archive on real SQLite and PostgreSQL: migrations and exactly-once storage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from courtroom_core.wire import Event
from hub.db import EventRow, migrate, open_engine
from hub.store import QUARANTINE_KIND, Archive, SeqConflict, SeqGap

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def final(seq: int, start: float, text: str, hearing: str = "h-1") -> Event:
    segment = {
        "start": start,
        "end": start + 1.5,
        "channel": seq % 2,
        "role": "judge" if seq % 2 else "plaintiff",
        "text": text,
        "confidence": 0.9,
        "words": [{"word": text, "start": start, "end": start + 1.5, "conf": 0.9}],
    }
    return Event(seq=seq, kind="transcript.final", body={"hearing_id": hearing, "segment": segment})


def opened(seq: int, hearing: str = "h-1", at: str = "2025-03-01T09:00:00+08:00") -> Event:
    body = {"hearing_id": hearing, "title": "民事 (2025) 001", "opened_at": at}
    return Event(seq=seq, kind="hearing.opened", body=body)


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Archive]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/archive/hub.db"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = open_engine(url)
    migrate(engine)
    migrate(engine)  # idempotent: a second startup finds the schema at head
    archive = Archive(engine)
    archive.ensure_courtrooms([("c1", "第一法庭"), ("c2", "第二法庭")])
    yield archive
    engine.dispose()


def store(archive: Archive, event: Event, courtroom: str = "c1") -> Any:
    return archive.store_event(courtroom, event, now=NOW)


def test_archive_migrations_create_every_table(archive: Archive) -> None:
    tables = set(sa.inspect(archive.engine).get_table_names())
    assert {"courtrooms", "hearings", "events", "segments", "users", "alembic_version"} <= tables


def test_archive_events_indexed_by_kind_for_newest_alarms(archive: Archive) -> None:
    indexes = {
        i["name"]: i["column_names"] for i in sa.inspect(archive.engine).get_indexes("events")
    }
    assert indexes["ix_events_courtroom_kind_seq"] == ["courtroom", "kind", "seq"]
    if archive.engine.dialect.name == "sqlite":
        query = (
            "EXPLAIN QUERY PLAN SELECT * FROM events WHERE courtroom = 'c1' "
            "AND kind = 'av.alarm' ORDER BY seq DESC LIMIT 200"
        )
        with archive.engine.connect() as connection:
            plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(query))
        assert "ix_events_courtroom_kind_seq" in plan, plan


def test_archive_upgrades_from_first_revision(tmp_path: Path) -> None:
    # A hub installed before the kind index: its archive gains it on start-up.
    from alembic import command
    from alembic.config import Config

    from hub import db

    engine = open_engine(f"sqlite:///{tmp_path}/old/hub.db")
    config = Config()
    config.set_main_option("script_location", str(db._MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    assert "ix_events_courtroom_kind_seq" not in {
        i["name"] for i in sa.inspect(engine).get_indexes("events")
    }
    migrate(engine)
    assert "ix_events_courtroom_kind_seq" in {
        i["name"] for i in sa.inspect(engine).get_indexes("events")
    }
    engine.dispose()


def test_archive_resent_events_are_stored_once(archive: Archive) -> None:
    events = [opened(1), final(2, 1.0, "开庭"), final(3, 2.5, "请坐")]
    acks = [store(archive, e).acked_seq for e in events]
    repeats = [store(archive, e) for e in events]
    assert acks == [1, 2, 3]
    assert [r.duplicate for r in repeats] == [True, True, True]
    assert [r.acked_seq for r in repeats] == [3, 3, 3]
    assert archive.event_count("c1") == 3
    assert [s["text"] for s in archive.transcript("h-1", "c1")] == ["开庭", "请坐"]


def test_archive_gap_is_refused_unstored(archive: Archive) -> None:
    assert store(archive, opened(1)).acked_seq == 1
    for seq in (3, 5):
        with pytest.raises(SeqGap, match=f"event.seq {seq} skips ahead of seq 2"):
            store(archive, final(seq, float(seq), "早"))
    assert archive.event_count("c1") == 1 and archive.acked_seq("c1") == 1
    assert store(archive, final(2, 2.0, "二")).acked_seq == 2
    assert store(archive, final(3, 3.0, "三")).acked_seq == 3
    assert [s["text"] for s in archive.transcript("h-1", "c1")] == ["二", "三"]


def test_archive_resend_keeps_one_segment_per_seq(archive: Archive) -> None:
    for seq in (1, 2, 1, 3, 2, 4, 1, 4):
        event = opened(1) if seq == 1 else final(seq, float(seq), f"s{seq}")
        store(archive, event)
    assert archive.acked_seq("c1") == 4
    assert [s["seq"] for s in archive.transcript("h-1", "c1")] == [2, 3, 4]


def test_archive_courtrooms_have_separate_sequences(archive: Archive) -> None:
    store(archive, opened(1, "h-a"), "c1")
    store(archive, opened(1, "h-b"), "c2")
    store(archive, final(2, 1.0, "b", hearing="h-b"), "c2")
    assert (archive.acked_seq("c1"), archive.acked_seq("c2")) == (1, 2)
    assert archive.transcript("h-a", "c1") == []
    assert len(archive.transcript("h-b", "c2")) == 1


def test_archive_hearing_lifecycle_and_current_hearing(archive: Archive) -> None:
    store(archive, opened(1, "h-1"))
    closed = {"hearing_id": "h-1", "closed_at": "2025-03-01T10:30:00+08:00", "duration": 5400.0}
    result = store(archive, Event(seq=2, kind="hearing.closed", body=closed))
    assert result.hearing is not None and result.hearing.duration == 5400.0
    assert result.hearing.closed_at == datetime(2025, 3, 1, 2, 30, tzinfo=UTC)
    store(archive, opened(3, "h-2", at="2025-03-01T14:00:00+08:00"))
    current = archive.current_hearing("c1")
    assert current is not None and current.id == "h-2" and current.closed_at is None
    assert current.opened_at == datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
    assert [h.id for h in archive.hearings("c1")] == ["h-2", "h-1"]


def test_archive_bad_body_is_quarantined_and_acked(archive: Archive) -> None:
    store(archive, opened(1))
    raw = '{"hearing_id":"h-1","segment":{"start":"nan"}}'
    result = archive.quarantine(
        "c1", seq=2, kind="transcript.final", raw=raw, error="bad start", now=NOW
    )
    assert (result.acked_seq, result.duplicate) == (2, False)
    assert result.quarantined is not None and result.quarantined.body == raw
    assert store(archive, final(3, 1.0, "下一句")).acked_seq == 3
    again = archive.quarantine(
        "c1", seq=2, kind="transcript.final", raw=raw, error="bad start", now=NOW
    )
    assert again.duplicate and again.quarantined is None
    [row] = archive.quarantined("c1")
    assert (row.seq, row.kind, row.body, row.error) == (2, "transcript.final", raw, "bad start")
    [event] = archive.events("c1", kind=QUARANTINE_KIND)
    assert event["seq"] == 2 and event["body"]["quarantine_id"] == row.id
    assert [s["text"] for s in archive.transcript("h-1", "c1")] == ["下一句"]


def test_archive_hearing_id_of_another_courtroom_is_quarantined(archive: Archive) -> None:
    store(archive, opened(1, "h-1"), "c1")
    for seq, event in enumerate([opened(1, "h-1"), final(2, 0.5, "冒名")], start=1):
        taken = Event(seq=seq, kind=event.kind, body=event.body)
        result = store(archive, taken, "c2")
        assert result.quarantined is not None and "belongs to courtroom 'c1'" in (
            result.quarantined.error
        )
        assert result.acked_seq == seq and result.hearing is None and result.segment is None
    hearing = archive.hearing("h-1")
    assert hearing is not None and hearing.courtroom == "c1" and hearing.opened_at is not None
    assert archive.transcript("h-1", "c2") == [] and archive.current_hearing("c2") is None
    assert [q.seq for q in archive.quarantined("c2")] == [2, 1]


def test_archive_repeated_seq_with_other_body_conflicts(archive: Archive) -> None:
    store(archive, opened(1))
    store(archive, final(2, 1.0, "中间"))
    assert store(archive, final(2, 1.0, "中间")).duplicate  # identical: silent duplicate
    for seq, text in ((2, "改写"), (1, "改写")):
        with pytest.raises(SeqConflict, match=f"seq {seq} "):
            store(archive, final(seq, 2.0, text))
    assert store(archive, final(3, 2.0, "之后")).acked_seq == 3
    assert [s["text"] for s in archive.transcript("h-1", "c1")] == ["中间", "之后"]


def test_archive_database_refusal_is_quarantined_not_fatal(postgres_url: str) -> None:
    """PostgreSQL text cannot hold NUL (SQLite stores it): the database refuses one value."""
    engine = open_engine(postgres_url)
    migrate(engine)
    archive = Archive(engine)
    archive.ensure_courtrooms([("c1", "第一法庭")])
    store(archive, opened(1))
    result = store(archive, final(2, 1.0, "空\x00字符"))
    assert result.quarantined is not None and "database refused" in result.quarantined.error
    assert result.acked_seq == 2
    assert "\\u0000" in archive.quarantined("c1")[0].body
    assert store(archive, final(3, 2.0, "继续")).acked_seq == 3
    assert [s["text"] for s in archive.transcript("h-1", "c1")] == ["继续"]
    engine.dispose()


def test_archive_transcript_pages_and_tail_are_bounded(archive: Archive) -> None:
    store(archive, opened(1))
    for seq in range(2, 32):
        store(archive, final(seq, float(seq % 10) + seq / 100, f"第{seq}句"))
    whole = archive.transcript("h-1", "c1")
    assert len(whole) == 30
    tail, more = archive.transcript_tail("h-1", "c1", limit=10, max_bytes=1 << 20)
    assert tail == whole[-10:] and more
    older = archive.transcript("h-1", "c1", before_seq=tail[0]["seq"], limit=10)
    assert older == whole[-20:-10]
    assert archive.transcript("h-1", "c1", after_seq=whole[4]["seq"], limit=3) == whole[5:8]
    assert archive.transcript("h-1", "c1", before_seq=whole[0]["seq"], limit=5) == []
    assert archive.transcript("h-1", "c1", before_seq=999, limit=5) == []
    one = len(json.dumps(whole[-1], ensure_ascii=False, separators=(",", ":")))
    small, more = archive.transcript_tail("h-1", "c1", limit=10, max_bytes=3 * one)
    assert 1 <= len(small) <= 3 and small == whole[-len(small) :] and more
    everything, more = archive.transcript_tail("h-1", "c1", limit=100, max_bytes=1 << 20)
    assert everything == whole and not more


def test_archive_transcript_is_ordered_by_start_then_seq(archive: Archive) -> None:
    store(archive, opened(1))
    store(archive, final(2, 9.0, "late"))
    store(archive, final(3, 1.0, "early"))
    store(archive, final(4, 9.0, "late-2"))
    texts = [s["text"] for s in archive.transcript("h-1", "c1")]
    assert texts == ["early", "late", "late-2"]
    first = archive.transcript("h-1", "c1")[0]
    assert set(first) == {
        *("seq", "site", "site_name", "start", "end", "channel", "role", "text", "confidence"),
        "words",
    }


def test_archive_events_newest_first_pages_with_before_seq(archive: Archive) -> None:
    store(archive, opened(1))
    for seq in range(2, 7):
        store(archive, final(seq, float(seq), f"s{seq}"))
    store(archive, opened(1, "h-other"), "c2")  # another courtroom's seqs never mix in

    def seqs(**options: Any) -> list[int]:
        return [event["seq"] for event in archive.events("c1", **options)]

    assert seqs(newest_first=True, limit=2) == [6, 5]
    assert seqs(newest_first=True, limit=2, before_seq=5) == [4, 3]
    assert seqs(newest_first=True, limit=2, before_seq=3) == [2, 1]
    assert seqs(newest_first=True, limit=2, before_seq=1) == []
    assert seqs(newest_first=True, kind="hearing.opened") == [1]
    assert seqs(newest_first=True, after_seq=2, before_seq=6) == [5, 4, 3]
    assert seqs(after_seq=2, before_seq=6, limit=2) == [3, 4]
    assert seqs() == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="limit"):
        archive.events("c1", limit=0)


def test_archive_keeps_one_status_per_interval_but_acks_all(archive: Archive) -> None:
    # Agents report status every second; the archive keeps one a minute, acks all.
    from datetime import timedelta

    def status(seq: int) -> Event:
        return Event(seq=seq, kind="status", body={"state": "recording", "n": seq})

    results = []
    for k in range(1, 131):  # 130 reports, one a second
        at = NOW + timedelta(seconds=k)
        results.append(archive.store_event("c1", status(k), now=at))
    assert [r.acked_seq for r in results] == list(range(1, 131))
    assert not any(r.duplicate for r in results)
    kept = [e["body"]["n"] for e in archive.events("c1", kind="status")]
    assert kept == [1, 61, 121]
    # An alarm between them is always kept; a resent thinned report is a duplicate.
    alarm = Event(
        seq=131, kind="av.alarm", body={"kind": "dead_mic", "state": "raised", "hearing_id": "h-1"}
    )
    assert not archive.store_event("c1", alarm, now=NOW + timedelta(seconds=131)).duplicate
    assert archive.store_event("c1", status(2), now=NOW + timedelta(seconds=132)).duplicate
    assert [e["seq"] for e in archive.events("c1", kind="av.alarm")] == [131]


def test_store_events_reads_alarms_of_every_archived_shape_in_the_one_shape(
    archive: Archive,
) -> None:
    old = {"kind": "clipping", "state": "raised", "hearing_time": 4.0, "channel": 1,
           "role": "原告", "message": "削波", "hearing_id": "h-1"}  # fmt: skip
    gap = {"type": "gap", "camera": "cam-1", "start": 1.0, "end": 2.0, "hearing_id": "h-1"}
    archive.store_event("c1", Event(seq=1, kind="av.alarm", body=old), now=NOW)
    archive.store_event("c1", Event(seq=2, kind="camera", body=gap), now=NOW)
    # A row archived before bodies were checked: no kind at all. Read as stored.
    with Session(archive.engine) as session, session.begin():
        body = {"message": "old"}
        session.add(EventRow(courtroom="c1", seq=3, kind="av.alarm", body=body, received_at=NOW))
    events = {e["seq"]: e["body"] for e in archive.events("c1")}
    assert events[1] == {
        "kind": "clipping",
        "active": True,
        "severity": "warning",
        "source": "microphone",
        "subject": "1",
        "role": "原告",
        "hearing_id": "h-1",
        "time": 4.0,
        "message": "削波",
    }
    assert events[2] == gap  # no alarm: as stored
    assert events[3] == {"message": "old"}
    # The archive keeps what was received: the event's identity is its digest.
    with Session(archive.engine) as session:
        stored = session.scalar(sa.select(EventRow.body).where(EventRow.seq == 1))
    assert stored == old
