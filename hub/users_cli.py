"""``courtroom users``: manage the hub's users and agent tokens in the archive.

Works on the archive directly (the database ``--config hub.toml`` names, the
same resolution as the hub), so it is safe while the hub runs: the running
hub reads users and sessions afresh on every request, re-checks open live
sockets every second and reloads agent tokens every second. Every change is
written to the audit log with actor ``cli:<login name>``.

Examples::

    courtroom users --config hub.toml add clerk1 --role clerk --courtroom fy-01
    courtroom users --config hub.toml passwd clerk1     # typed twice, or one stdin line
    courtroom users --config hub.toml disable clerk1    # its tokens stop at once
    courtroom users --config hub.toml enable clerk1
    courtroom users --config hub.toml role clerk1 --role judge --courtroom fy-01
    courtroom users --config hub.toml list
    courtroom users --config hub.toml rotate-token fy-01  # prints the new agent token once
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.cli import read_new_password
from hub.config import load_config
from hub.errors import HubError
from hub.security import hash_password, utc_now

if TYPE_CHECKING:  # SQLAlchemy takes seconds to import: not for every `courtroom --help`
    from hub.audit import AuditLog
    from hub.users import UserDirectory, UserInfo

__all__ = ["register", "run_users"]

MIN_PASSWORD = 8
ROLES = ("clerk", "judge", "supervisor", "admin")  # hub.users.Role, without importing it


def register(subparsers: Any) -> None:
    """Add the ``users`` subcommand to the ``courtroom`` parser."""
    parser = subparsers.add_parser(
        "users",
        help="manage hub users and agent tokens 用户管理",
        description="Add, change, disable and list hub users; rotate agent tokens. "
        "Safe while the hub runs; changes apply at once.",
    )
    parser.add_argument("--config", type=Path, help="hub TOML file (names the archive)")
    parser.add_argument("--data-dir", type=Path, help="directory of hub.db (default per-user)")
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create a user (password from tty twice, or stdin)")
    add.add_argument("username")
    _role_options(add, required=True)
    passwd = sub.add_parser("passwd", help="set a user's password (revokes their sessions)")
    passwd.add_argument("username")
    for name, text in (
        ("disable", "disable a user (their tokens stop at once)"),
        ("enable", "enable a user again"),
    ):
        sub.add_parser(name, help=text).add_argument("username")
    role = sub.add_parser("role", help="change a user's role and courtrooms")
    role.add_argument("username")
    _role_options(role, required=True)
    sub.add_parser("list", help="list users")
    rotate = sub.add_parser("rotate-token", help="new agent token for a courtroom, printed once")
    rotate.add_argument("courtroom")
    parser.set_defaults(func=run_users)


def _role_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--role", choices=ROLES, required=required)
    parser.add_argument(
        "--courtroom",
        action="append",
        default=[],
        help="a courtroom this clerk or judge may see (repeat for several)",
    )


def run_users(args: argparse.Namespace) -> int:
    """Entry point of ``courtroom users``; 0 done, 1 refused, 2 bad input/config."""
    from hub.audit import AuditLog
    from hub.db import migrate, open_engine
    from hub.users import UserDirectory

    try:
        overrides = {} if args.data_dir is None else {"data_dir": str(args.data_dir)}
        config = load_config(args.config, **overrides)
        engine = open_engine(config.database_url())
        migrate(engine)
    except HubError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        return _ACTIONS[args.action](args, UserDirectory(engine), AuditLog(engine))
    except HubError as exc:
        print(f"users: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _audit(audit: AuditLog, action: str, target: str, **detail: Any) -> None:
    """Append one record; ``action`` is a :class:`hub.audit.Action` value."""
    from hub.audit import Action, AuditRecord

    actor = f"cli:{getpass.getuser()}"
    audit.append(
        [
            AuditRecord(
                at=utc_now(), action=Action(action), actor=actor, target=target, detail=detail
            )
        ]
    )


def _show(info: UserInfo) -> str:
    state = "enabled 启用" if info.enabled else "disabled 停用"
    rooms = ",".join(info.courtrooms) or ("*" if info.role in ("supervisor", "admin") else "-")
    return f"{info.username:<24} {info.role.value:<11} {state:<12} {rooms}"


def _add(args: argparse.Namespace, users: UserDirectory, audit: AuditLog) -> int:
    from hub.users import Role

    password = read_new_password(min_length=MIN_PASSWORD)
    if password is None:
        return 2
    info = users.create_user(
        args.username,
        password_hash=hash_password(password),
        role=Role(args.role),
        courtrooms=args.courtroom,
        now=utc_now(),
    )
    _audit(audit, "user.create", info.username, role=info.role.value)
    print(_show(info))
    return 0


def _passwd(args: argparse.Namespace, users: UserDirectory, audit: AuditLog) -> int:
    password = read_new_password(min_length=MIN_PASSWORD)
    if password is None:
        return 2
    info = users.update_user(args.username, password_hash=hash_password(password), now=utc_now())
    _audit(audit, "user.update", info.username, changed=["password"])
    print(_show(info))
    return 0


_Action = Callable[[argparse.Namespace, "UserDirectory", "AuditLog"], int]


def _set_enabled(enabled: bool) -> _Action:
    def run(args: argparse.Namespace, users: UserDirectory, audit: AuditLog) -> int:
        info = users.update_user(args.username, enabled=enabled, now=utc_now())
        _audit(audit, "user.update", info.username, changed=["enabled"], enabled=enabled)
        print(_show(info))
        return 0

    return run


def _role(args: argparse.Namespace, users: UserDirectory, audit: AuditLog) -> int:
    from hub.users import Role

    info = users.update_user(
        args.username, role=Role(args.role), courtrooms=args.courtroom, now=utc_now()
    )
    _audit(
        audit,
        "user.update",
        info.username,
        changed=["role", "courtrooms"],
        role=info.role.value,
        courtrooms=list(info.courtrooms),
    )
    print(_show(info))
    return 0


def _list(_args: argparse.Namespace, users: UserDirectory, _audit_log: AuditLog) -> int:
    for info in users.list_users():
        print(_show(info))
    return 0


def _rotate(args: argparse.Namespace, users: UserDirectory, audit: AuditLog) -> int:
    token = users.rotate_agent_token(args.courtroom, now=utc_now())
    _audit(audit, "agent_token.rotate", args.courtroom)
    print(token)
    print(
        "the running hub drops the connected agent within a second; "
        "give the agent this token 请将新令牌配置到法庭代理",
        file=sys.stderr,
    )
    return 0


_ACTIONS: dict[str, _Action] = {
    "add": _add,
    "passwd": _passwd,
    "disable": _set_enabled(False),
    "enable": _set_enabled(True),
    "role": _role,
    "list": _list,
    "rotate-token": _rotate,
}
