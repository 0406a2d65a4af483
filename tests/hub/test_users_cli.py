"""``courtroom users`` on the archive of a running hub: changes apply at once."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import websockets

from courtroom_agent.cli import build_parser
from courtroom_core.wire import Hello, encode
from tests.hub.conftest import COURT, COURT_TOKEN, TIMEOUT, RunningHub, close_code
from tests.hub.test_users import PASSWORD, http, login, subscribed


async def users_cli(config: Path, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    """Run ``courtroom users`` as its own process (~3 s: imports and migration check)."""
    command = [sys.executable, "-m", "courtroom_agent.cli", "users", "--config", str(config)]
    result = await asyncio.to_thread(
        subprocess.run,
        [*command, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=4 * TIMEOUT,
    )
    return result.returncode, result.stdout, result.stderr


async def in_process(
    capsys: pytest.CaptureFixture[str], config: Path, *argv: str, stdin: str = ""
) -> tuple[int, str, str]:
    """``courtroom users`` parsed and run here, in a thread (it blocks)."""
    capsys.readouterr()
    args = build_parser().parse_args(["users", "--config", str(config), *argv])
    with mock.patch("sys.stdin", io.StringIO(stdin)):
        code: int = await asyncio.to_thread(args.func, args)
    out, err = capsys.readouterr()
    return code, out, err


async def test_users_cli_add_disable_enable_list_while_hub_runs(
    hub: RunningHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n', encoding="utf-8")
    code, out, err = await users_cli(
        config, "add", "clerk7", "--role", "clerk", "--courtroom", COURT, stdin=PASSWORD + "\n"
    )
    assert code == 0, err
    assert "clerk7" in out and "clerk" in out
    token = await login(hub, "clerk7")
    ws = await subscribed(hub, token)

    code, out, err = await users_cli(config, "disable", "clerk7")
    assert code == 0, err
    assert (await close_code(ws))[0] == 4401
    async with http(hub, token) as client:
        assert (await client.get("/api/courtrooms")).status_code == 401

    # The rest in this process (same code and archive, without 3 s of imports each).
    code, out, _ = await in_process(capsys, config, "list")
    line = next(row for row in out.splitlines() if row.startswith("clerk7"))
    assert "disabled" in line and COURT in line
    assert any(row.startswith("admin ") and "admin" in row for row in out.splitlines())
    assert (await in_process(capsys, config, "enable", "clerk7"))[0] == 0
    assert (await in_process(capsys, config, "passwd", "clerk7", stdin="new-password\n"))[0] == 0
    await login(hub, "clerk7", "new-password")
    code, _, err = await in_process(
        capsys, config, "add", "clerk7", "--role", "clerk", stdin="x" * 9
    )
    assert code == 1 and "exists" in err
    code, _, err = await in_process(
        capsys, config, "add", "short", "--role", "clerk", stdin="abc\n"
    )
    assert code == 2 and "short" in err
    code, _, err = await in_process(capsys, config, "disable", "ghost")
    assert code == 1 and "ghost" in err

    async with http(hub, await hub.token()) as admin:
        rows = (await admin.get("/api/audit", params={"actor": f"cli:{_login()}"})).json()
    assert {row["action"] for row in rows} == {"user.create", "user.update"}


async def test_users_cli_rotate_token_drops_the_connected_agent(
    hub: RunningHub, tmp_path: Path
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n', encoding="utf-8")
    agent, _ = await hub.agent()
    code, out, err = await users_cli(config, "rotate-token", COURT)
    assert code == 0, err
    fresh = out.strip()
    assert len(fresh) >= 32
    assert (await close_code(agent))[0] == 4401  # the hub polls agent tokens every second
    old = await websockets.connect(hub.ws("/ws/agent"), open_timeout=TIMEOUT)
    await old.send(encode(Hello(courtroom=COURT, token=COURT_TOKEN)))
    assert (await close_code(old))[0] == 4401
    await hub.agent(token=fresh)


def _login() -> str:
    import getpass

    return getpass.getuser()
