"""The agent's local hearing ledger and ``courtroom hearing report`` over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from courtroom_agent.cli import main
from courtroom_agent.ledger_file import RESERVE_BYTES, LedgerError, LedgerFile
from tests.core.test_compliance import AT, H, closed, good_hearing, opened, source, upload


def write(ledger: LedgerFile, events: list[tuple[str, dict[str, object]]]) -> None:
    for kind, body in events:
        assert ledger.append(H, kind, body)


def test_ledger_round_trip(tmp_path: Path) -> None:
    ledger = LedgerFile(tmp_path / "ledger")
    events = good_hearing()
    write(ledger, events)
    assert ledger.read(H) == events
    assert ledger.hearings() == [H]
    lines = (tmp_path / "ledger" / f"{H}.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"kind": events[0][0], "body": events[0][1]}
    assert ledger._open == {}  # hearing.closed closed (and fsynced) the file


def test_ledger_each_line_flushed_before_close(tmp_path: Path) -> None:
    ledger = LedgerFile(tmp_path)
    ledger.append(H, *opened())
    ledger.append(H, *source("seat:0", 0.1, True))
    # Another reader (the report) sees both lines while the agent still holds the file.
    assert [k for k, _ in LedgerFile(tmp_path).read(H)] == ["hearing.opened", "source.state"]


def test_ledger_corrupt_lines_skipped_and_counted(tmp_path: Path) -> None:
    ledger = LedgerFile(tmp_path)
    write(ledger, [opened(), source("seat:0", 0.1, True)])
    ledger.close()
    with (tmp_path / f"{H}.jsonl").open("ab") as handle:
        handle.write(b"not json\n")
        handle.write(b'{"kind": "nonsense.kind", "body": {}}\n')
        handle.write(b'{"kind": "source.state", "body": {"source": "seat:0"}}\n')
        handle.write(b'{"kind": "upload.report", "body": {}, "extra": 1}\n')
        handle.write(b"\xff\xfe\n")
        handle.write(json.dumps({"kind": "upload.report", "body": upload(5.0, 1.0)[1]}).encode())
        handle.write(b"\n")
        handle.write(b'{"kind": "hearing.closed", "bo')  # torn by a crash
    events, corrupt = LedgerFile(tmp_path).scan(H)
    assert [k for k, _ in events] == ["hearing.opened", "source.state", "upload.report"]
    assert corrupt == 6


def test_ledger_overflow_drops_but_keeps_essential_kinds(tmp_path: Path) -> None:
    ledger = LedgerFile(tmp_path, max_bytes=2000)
    ledger.append(H, *opened())
    kept = 1
    for i in range(100):
        kept += ledger.append(H, *upload(float(i), 0.5))
    assert ledger.dropped(H) == 101 - kept > 0
    assert (tmp_path / f"{H}.jsonl").stat().st_size <= 2000
    assert ledger.append(H, *closed(120.0))  # essential: into the reserve
    assert ledger.append(
        H,
        "incident",
        {
            "hearing_id": H,
            "id": "i1",
            "kind": "k",
            "state": "open",
            "part": "recording",
            "source": "s",
            "message": "m",
            "time": 1.0,
            "at": AT,
        },
    )
    assert (tmp_path / f"{H}.jsonl").stat().st_size <= 2000 + RESERVE_BYTES
    assert not ledger.append(H, *upload(200.0, 0.5))
    events = ledger.read(H)
    assert events[-1][0] == "incident" and events[-2][0] == "hearing.closed"


@pytest.mark.parametrize("bad", ["", "../etc/passwd", "a/b", ".hidden", "x" * 129, "空"])
def test_ledger_refuses_unfit_hearing_id(tmp_path: Path, bad: str) -> None:
    ledger = LedgerFile(tmp_path)
    with pytest.raises(LedgerError, match="hearing id"):
        ledger.append(bad, *opened())
    assert list(tmp_path.iterdir()) == []


def test_ledger_refuses_body_not_json(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="not JSON"):
        LedgerFile(tmp_path).append(H, "upload.report", {"lag_s": float("nan")})


def test_ledger_write_failure_is_ledger_error(tmp_path: Path) -> None:
    blocker = tmp_path / "ledger"
    blocker.write_text("a file where the directory should be", encoding="utf-8")
    with pytest.raises(LedgerError, match="cannot write"):
        LedgerFile(blocker).append(H, *opened())


# -- courtroom hearing report -------------------------------------------------------


def _room(tmp_path: Path) -> Path:
    path = tmp_path / "room.toml"
    path.write_text(
        '[courtroom]\nid = "room-1"\nname = "第一法庭"\n'
        '[hub]\nurl = "ws://127.0.0.1:9/ws/agent"\ntoken = "t"\n'
        '[audio]\nroles = ["审判长"]\n',
        encoding="utf-8",
    )
    return path


def test_report_cli_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    write(LedgerFile(data / "agent" / "room-1" / "ledger"), good_hearing())
    assert main(["hearing", "report", H, "--data-dir", str(data)]) == 0
    table = capsys.readouterr().out
    assert "合规报告 compliance report (最终 final)" in table
    for label in ("录音录像", "笔录展示", "证据展示", "视频摄录", "数据上传"):
        assert label in table
    assert table.count("● 绿 green") == 5
    assert "40.0–60.0 s  休庭 · recess  [依法 lawful]" in table
    assert "未结事件 · open incidents: 0" in table
    config = _room(tmp_path)
    args = ["hearing", "report", H, "--json", "--config", str(config), "--data-dir", str(data)]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["final"] is True and report["ledger"]["corrupt"] == 0
    assert {light["status"] for light in report["lights"].values()} == {"green"}


def test_report_cli_red_and_open_incident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = LedgerFile(tmp_path / "agent" / "room-1" / "ledger")
    write(
        ledger,
        [
            opened(),
            source("recorder:deck", 0.1, True),
            source("recorder:deck", 5.0, False),
            (
                "incident",
                {
                    "hearing_id": H,
                    "id": "inc-9",
                    "kind": "recorder_failed",
                    "state": "open",
                    "part": "recording",
                    "source": "recorder:deck",
                    "message": "硬盘已满 · disk full",
                    "time": 5.1,
                    "at": AT,
                },
            ),
        ],
    )
    assert main(["hearing", "report", H, "--data-dir", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "临时 provisional" in table
    assert "● 红 RED" in table
    assert "inc-9  open  recorder:deck" in table


def test_report_cli_no_ledger_or_bad_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hearing", "report", "nope", "--data-dir", str(tmp_path)]) == 1
    assert "no ledger" in capsys.readouterr().err
    assert main(["hearing", "report", "../x", "--data-dir", str(tmp_path)]) == 2
    assert "hearing id" in capsys.readouterr().err


def test_hearing_verbs_still_need_config_or_socket(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hearing", "status"]) == 2
    assert "--config or --socket" in capsys.readouterr().err
