"""``courtroom hub``: run the central hub (archive, REST API, clerk page).

Examples::

    courtroom hub                                   # 127.0.0.1:8080, per-user data dir
    courtroom hub --config /etc/courtroom/hub.toml
    courtroom hub --port 9000 --admin-password '…'  # or COURTROOM_ADMIN_PASSWORD
    courtroom hub --hash-password                   # read a password, print its hash

Users and agent tokens are managed with ``courtroom users`` (:mod:`hub.users_cli`).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from hub.config import HubConfig, load_config
from hub.errors import ConfigError, HubError
from hub.security import hash_password

__all__ = ["read_new_password", "register", "run_hub"]

ADMIN_PASSWORD_ENV = "COURTROOM_ADMIN_PASSWORD"


def register(subparsers: Any) -> None:
    """Add the ``hub`` subcommand to the ``courtroom`` parser."""
    parser = subparsers.add_parser(
        "hub",
        help="run the central hub 运行法庭中心",
        description="Run the hub: agents connect to /ws/agent, clerks open https://HOST:PORT/ "
        "(http:// without [tls]).",
    )
    parser.add_argument("--config", type=Path, help="hub TOML file (default: built-in defaults)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8080; 0 = any free port)")
    parser.add_argument("--data-dir", type=Path, help="directory of hub.db (default per-user)")
    parser.add_argument(
        "--admin-password",
        help=f"set the password of user 'admin' (safer: environment {ADMIN_PASSWORD_ENV})",
    )
    parser.add_argument(
        "--hash-password",
        action="store_true",
        help="read a password and print its hash for a [[users]] entry, then exit",
    )
    parser.set_defaults(func=run_hub)


def run_hub(args: argparse.Namespace) -> int:
    """Entry point of ``courtroom hub``; returns the exit status (0, 1 or 2)."""
    if args.hash_password:
        return _print_hash()
    try:
        config = _config_from_args(args)
        config.courtroom_tokens()  # fail now, with exit 2, if a token variable is unset
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    admin_password = args.admin_password or os.environ.get(ADMIN_PASSWORD_ENV) or None
    if not config.courtrooms:
        print("note: no [[courtrooms]] configured; no agent can connect", file=sys.stderr)
    from hub.server import serve  # FastAPI and SQLAlchemy take seconds to import

    try:
        asyncio.run(serve(config, admin_password=admin_password))
    except HubError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 1
    return 0


def _config_from_args(args: argparse.Namespace) -> HubConfig:
    overrides: dict[str, Any] = {}
    listen = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if listen:
        overrides["listen"] = listen
    if args.data_dir is not None:
        overrides["data_dir"] = str(args.data_dir)
    return load_config(args.config, **overrides)


def _print_hash() -> int:
    password = read_new_password()
    if password is None:
        return 2
    print(hash_password(password))
    return 0


def read_new_password(*, min_length: int = 1) -> str | None:
    """A new password typed twice on a terminal, or one line of stdin.

    Returns None (after saying why on stderr) when the two differ or the
    password is shorter than ``min_length``.
    """
    if sys.stdin.isatty():
        password = getpass.getpass("password 密码: ")
        if password != getpass.getpass("again 再次输入: "):
            print("passwords differ 两次输入不一致", file=sys.stderr)
            return None
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("empty password 密码为空", file=sys.stderr)
        return None
    if len(password) < min_length:
        print(f"password shorter than {min_length} 密码过短", file=sys.stderr)
        return None
    return password
