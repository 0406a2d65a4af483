"""``courtroom hearing report HEARING_ID``: the compliance report from the local ledger.

Reads ``<data dir>/agent/<courtroom>/ledger/<HEARING_ID>.jsonl``
(:mod:`courtroom_agent.ledger_file`) — no running agent, no hub needed — and
prints :func:`courtroom_core.compliance.compliance_report` as a zh/en table
(the five lights, the interruption log, the open incidents) or, with
``--json``, as JSON. Exit 0 printed, 1 no ledger for that hearing or it
cannot be read, 2 invalid input.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any, Final

from courtroom_core.compliance import compliance_report
from courtroom_core.wire_bodies import FIVE_SYNC_PARTS

__all__ = ["find_ledger", "render_report", "report_main"]

STATUS_WORDS: Final = {"green": "● 绿 green", "amber": "● 黄 amber", "red": "● 红 RED"}


def find_ledger(args: argparse.Namespace) -> Path | None:
    """The hearing's ledger file, or None when there is none.

    Raises:
        ValueError: the hearing id cannot name a ledger file.
        ConfigError: ``--config`` is not a valid courtroom file.
    """
    from courtroom_agent.config import load_agent_config
    from courtroom_agent.ledger_file import LEDGER_DIR, LedgerError, LedgerFile, ledger_directory
    from courtroom_agent.runner import default_data_dir

    data_dir = args.report_data_dir or args.data_dir or default_data_dir()
    config_path = args.report_config or args.config
    try:
        if config_path is not None:
            directory = ledger_directory(load_agent_config(config_path), data_dir=data_dir)
            path = LedgerFile(directory).path(args.hearing_id)
            return path if path.is_file() else None
        LedgerFile(data_dir).path(args.hearing_id)  # checks the id
    except LedgerError as exc:
        raise ValueError(str(exc)) from exc
    found = sorted((data_dir / "agent").glob(f"*/{LEDGER_DIR}/{args.hearing_id}.jsonl"))
    return found[0] if found else None


def report_main(args: argparse.Namespace) -> int:
    from courtroom_agent.config import ConfigError
    from courtroom_agent.ledger_file import LedgerError, LedgerFile

    try:
        path = find_ledger(args)
    except (ValueError, ConfigError) as exc:
        print(f"courtroom hearing report: {exc}", file=sys.stderr)
        return 2
    if path is None:
        print(
            f"courtroom hearing report: 无此庭审的账本 · no ledger for hearing {args.hearing_id}",
            file=sys.stderr,
        )
        return 1
    try:
        events, corrupt = LedgerFile(path.parent).scan(args.hearing_id)
    except LedgerError as exc:
        print(f"courtroom hearing report: {exc}", file=sys.stderr)
        return 1
    report = compliance_report(events, hearing_id=args.hearing_id)
    report["ledger"] = {"path": str(path), "lines": len(events), "corrupt": corrupt}
    if args.report_json or args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(render_report(report))
    return 0


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (a CJK character takes two)."""
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - used)


def _t(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1f}"


def render_report(report: dict[str, Any]) -> str:
    """The report as a readable zh/en table."""
    session = report["session"]
    kind = "最终 final" if report["final"] else "临时 provisional"
    lines = [
        f"庭审 hearing {report['hearing_id']} · 合规报告 compliance report ({kind})",
        f"开庭 opened {session['opened_at'] or '—'} · 闭庭 closed {session['closed_at'] or '—'}",
        f"庭审 open {_t(session['open_s'])} s · 休庭 recess {_t(session['recess_s'])} s",
        "",
        "五同步 · five synchronisations",
    ]
    for part in FIVE_SYNC_PARTS:
        light = report["lights"][part]
        status, label = _pad(STATUS_WORDS[light["status"]], 14), _pad(light["label"], 36)
        lines.append(f"  {status} {label} {light['summary']}")
        for reason in [r for r in light["reasons"] if r != light["summary"]][:4]:
            lines.append(f"  {_pad('', 14)} {_pad('', 36)} {reason}")
    lines += ["", "中断记录 · interruptions"]
    if not report["interruptions"]:
        lines.append("  无 · none")
    for item in report["interruptions"]:
        lawful = "依法 lawful" if item["lawful"] else "异常 UNLAWFUL"
        lines.append(
            f"  {_t(item['from'])}–{_t(item['to'])} s  {item['label']}  [{lawful}]  "
            f"{item['from_at'] or ''}  {item['ordered_by'] or ''}"
        )
    actions = report["actions"]
    lines += [
        "",
        f"设备动作 · device actions: {actions['total']} (确认 confirmed {actions['confirmed']}, "
        f"未确认 unconfirmed {actions['unconfirmed']}, 无法确认 unconfirmable "
        f"{actions['unconfirmable']}, 失败 failed {actions['failed']}); "
        f"overhead p95 {_t(actions['overhead_ms_p95'])} ms",
        "",
        f"未结事件 · open incidents: {report['open_incidents']}",
    ]
    for incident in report["incidents"]:
        if incident["state"] == "signed":
            continue
        lines.append(
            f"  {incident['id']}  {incident['state']}  {incident['source']}  "
            f"{_t(incident['time'])} s  {incident['message']}"
        )
    ledger = report.get("ledger")
    if ledger and ledger["corrupt"]:
        lines.append(f"\n账本损坏行 · corrupt ledger lines skipped: {ledger['corrupt']}")
    return "\n".join(lines)
