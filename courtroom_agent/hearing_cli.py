"""``courtroom hearing open|recess|resume|close|status``: drive the hearing from the courtroom PC.

Talks to the running agent through its local control socket
(:mod:`courtroom_agent.control`): found from ``--config`` (the courtroom id)
and ``--data-dir`` as the agent finds it, or given with ``--socket``.

``courtroom hearing report HEARING_ID [--json] [--data-dir D | --config room.toml]``
needs no running agent: it reads the hearing's local ledger
(:mod:`courtroom_agent.ledger_file`, ``<data dir>/agent/<courtroom>/ledger/``;
without ``--config`` every courtroom's ledger under the data directory is
searched) and prints its compliance report (:mod:`courtroom_core.compliance`):
the five lights, the interruptions and the open incidents, or the JSON.

Exit statuses: 0 done (report: printed, whatever its lights); 1 refused (the
hearing's state does not allow it), failed, no agent running, or no ledger
for that hearing; 2 usage or invalid input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from courtroom_core.hearing import (
    ACTION_LABELS,
    REASON_LABELS,
    STATE_LABELS,
    HearingAction,
    HearingState,
    InterruptionReason,
)

__all__ = ["register"]

_EXIT = {"done": 0, "refused": 1, "failed": 1, "invalid": 2}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "hearing",
        help="庭审控制 · open, recess, resume, close a hearing on the running agent",
        description="开庭、休庭、继续开庭、闭庭 · drive the hearing of this courtroom's running "
        "agent through its local control socket. Exit 0 done, 1 refused/failed/no agent, "
        "2 invalid input.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="the courtroom's TOML file (as for the agent)")
    where.add_argument("--socket", type=Path, help="the agent's control socket")
    parser.add_argument("--data-dir", type=Path, default=None, help="the agent's data directory")
    parser.add_argument("--json", action="store_true", help="print the agent's answer as JSON")
    verbs = parser.add_subparsers(dest="hearing_action", metavar="ACTION", required=True)
    opening = verbs.add_parser("open", help="开庭 · open a hearing")
    opening.add_argument("--case", required=True, help="案号 · case number")
    opening.add_argument("--title", default="", help="案由 · the case's subject / hearing title")
    opening.add_argument(
        "--party",
        action="append",
        default=[],
        metavar="ROLE[:NAME][@CHANNEL]",
        help="当事人及其座位 · a party and the microphone channel (0-based, as in "
        "audio.roles) it speaks from, e.g. 原告:张三@2; repeat for each",
    )
    recess = verbs.add_parser("recess", help="休庭 · interrupt the hearing for a lawful reason")
    recess.add_argument(
        "--reason",
        required=True,
        choices=[r.value for r in InterruptionReason],
        help="; ".join(f"{r.value}: {REASON_LABELS[r]}" for r in InterruptionReason),
    )
    verbs.add_parser("resume", help="继续开庭 · resume after a recess")
    verbs.add_parser("close", help="闭庭 · close the hearing")
    verbs.add_parser("status", help="庭审状态 · show the hearing's state")
    present = verbs.add_parser(
        "present",
        help="举证 · show an exhibit on the courtroom's screens (a file of the evidence "
        "folder, or a live matrix input such as the document camera)",
    )
    present.add_argument("exhibit", help="证据编号 · exhibit id, e.g. 证据1")
    shown = present.add_mutually_exclusive_group(required=True)
    shown.add_argument("--file", help="证据文件 · image or PDF in the evidence folder")
    shown.add_argument("--input", help="实时信号 · matrix input (name or number)")
    present.add_argument("--label", default="", help="证据名称 · what the exhibit is")
    present.add_argument("--page", type=int, default=None, help="PDF 页码 · page (from 1)")
    present.add_argument("--zoom", type=float, default=None, help="缩放 · zoom (0.1-10)")
    turn = verbs.add_parser("page", help="翻页 · the exhibit shown: another page or zoom")
    turn.add_argument("exhibit", help="证据编号 · exhibit id")
    turn.add_argument("--page", type=int, default=None, help="PDF 页码 · page (from 1)")
    turn.add_argument("--zoom", type=float, default=None, help="缩放 · zoom (0.1-10)")
    withdraw = verbs.add_parser("withdraw", help="撤回 · take an exhibit off the screens")
    withdraw.add_argument("exhibit", help="证据编号 · exhibit id")
    report = verbs.add_parser(
        "report",
        help="合规报告 · the hearing's five-sync compliance report, from the local ledger",
    )
    report.add_argument("hearing_id", metavar="HEARING_ID", help="the hearing's id")
    report.add_argument("--json", dest="report_json", action="store_true", help="print JSON")
    report.add_argument(
        "--data-dir",
        dest="report_data_dir",
        type=Path,
        default=None,
        help="the agent's data directory",
    )
    report.add_argument(
        "--config",
        dest="report_config",
        type=Path,
        default=None,
        help="the courtroom's TOML file (finds its ledger directory)",
    )
    parser.set_defaults(func=_main)


def _party(text: str) -> dict[str, Any]:
    """``ROLE[:NAME][@CHANNEL]`` as a party object.

    Raises:
        ValueError: no role, or a channel that is not a number.
    """
    who, _, channel = text.partition("@")
    role, _, name = who.partition(":")
    if not role:
        raise ValueError(f"--party {text!r}: the role is missing")
    party: dict[str, Any] = {"role": role}
    if name:
        party["name"] = name
    if channel:
        if not channel.isdigit():
            raise ValueError(f"--party {text!r}: channel {channel!r} is not a number")
        party["channel"] = int(channel)
    return party


def _request(args: argparse.Namespace) -> dict[str, Any]:
    action = args.hearing_action
    body: dict[str, Any] = {"action": action}
    if action == HearingAction.OPEN:
        case: dict[str, Any] = {"number": args.case, "parties": [_party(p) for p in args.party]}
        if args.title:
            case["title"] = args.title
        body["case"] = case
    elif action == HearingAction.RECESS:
        body["reason"] = args.reason
    elif action in ("present", "page", "withdraw"):
        body["exhibit"] = args.exhibit
        for name in ("label", "file", "input", "page", "zoom"):
            value = getattr(args, name, None)
            if value not in (None, ""):
                body[name] = value
    return body


def _socket(args: argparse.Namespace) -> Path:
    """Raises: ValueError: neither --config nor --socket."""
    if args.socket is not None:
        socket: Path = args.socket
        return socket
    if args.config is None:
        raise ValueError("give --config or --socket (the running agent's control socket)")
    from courtroom_agent.config import load_agent_config
    from courtroom_agent.runner import control_socket, default_data_dir

    config = load_agent_config(args.config)
    return control_socket(config, data_dir=args.data_dir or default_data_dir())


def _main(args: argparse.Namespace) -> int:
    from courtroom_agent.config import ConfigError
    from courtroom_agent.control import ControlError, request

    if args.hearing_action == "report":
        from courtroom_agent.hearing_report import report_main

        return report_main(args)
    try:
        body = _request(args)
        path = _socket(args)
    except (ValueError, ConfigError) as exc:
        print(f"courtroom hearing: {exc}", file=sys.stderr)
        return 2
    try:
        answer = asyncio.run(request(path, body))
    except ControlError as exc:
        print(f"courtroom hearing: 无法连接法庭代理 · {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
    else:
        _show(args.hearing_action, answer)
    outcome = answer.get("outcome")
    return _EXIT.get(outcome, 1) if isinstance(outcome, str) else 1


def _show(action: str, answer: dict[str, Any]) -> None:
    outcome, message = answer.get("outcome"), answer.get("message") or ""
    state = answer.get("state") if isinstance(answer.get("state"), dict) else {}
    assert isinstance(state, dict)
    try:
        label = STATE_LABELS[HearingState(str(state.get("state")))]
    except ValueError:
        label = str(state.get("state"))
    reason = state.get("reason")
    if reason in {r.value for r in InterruptionReason}:
        label += f"（{REASON_LABELS[InterruptionReason(reason)]}）"
    hearing = f" {state['hearing_id']}" if state.get("hearing_id") else ""
    if outcome == "done":
        if action in _EVIDENCE_LABELS:
            print(f"{_EVIDENCE_LABELS[action]}: 完成 · done")
            _show_screens(answer)
        elif action != "status":
            print(f"{ACTION_LABELS[HearingAction(action)]}: 完成 · done")
        print(f"庭审状态 · state: {label}{hearing}")
        return
    verdict = {"refused": "拒绝 · refused", "failed": "失败 · failed", "invalid": "无效 · invalid"}
    _show_screens(answer)
    print(f"{verdict.get(str(outcome), str(outcome))}: {message}", file=sys.stderr)
    print(f"庭审状态 · state: {label}{hearing}", file=sys.stderr)


_EVIDENCE_LABELS = {
    "present": "举证 · present",
    "page": "翻页 · page",
    "withdraw": "撤回 · withdraw",
}
_SCREEN_OUTCOMES = {
    "confirmed": "已确认 · confirmed",
    "unconfirmable": "已发送 · sent (cannot confirm)",
    "unconfirmed": "未确认 · not confirmed",
    "failed": "失败 · failed",
}


def _show_screens(answer: dict[str, Any]) -> None:
    """The evidence-display log's screens of a present/withdraw answer."""
    log = answer.get("log")
    if not isinstance(log, dict):
        return
    for screen in log.get("screens") or []:
        if not isinstance(screen, dict):
            continue
        outcome = _SCREEN_OUTCOMES.get(str(screen.get("outcome")), str(screen.get("outcome")))
        ms = screen.get("ms")
        timing = f" {ms:.0f} ms" if isinstance(ms, (int, float)) else ""
        print(f"  {screen.get('screen')}: {outcome}{timing} {screen.get('message') or ''}".rstrip())
