"""Every ``courtroom … --help`` works: exit 0 and a usage line.

The commands are found by walking the argparse tree of
:func:`courtroom_agent.cli.build_parser`, so a subcommand added later is
covered without touching this file. ``courtroom simulate`` passes its
arguments on to each device kind's own parser; those kinds are walked from
:data:`devices.simulate.KINDS` (plus ``mqtt``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from courtroom_agent.cli import build_parser, main
from devices.simulate import KINDS
from tests.hub.conftest import TIMEOUT


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path below ``parser`` (depth first), e.g. ``("hub", "users")``."""
    found: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*path, name))
                found.extend(_commands(sub, (*path, name)))
    return found


COMMANDS = _commands(build_parser())
SIMULATED = [("simulate", kind) for kind in (*KINDS, "mqtt")]


def test_cli_help_walk_finds_the_known_commands() -> None:
    # Guards the walk itself: if it found nothing, every test below would pass vacuously.
    assert {("hub",), ("simulate",), ("demo",), ("devices", "probe")} <= set(COMMANDS)


@pytest.mark.parametrize("command", [(), *COMMANDS, *SIMULATED], ids=" ".join)
def test_cli_help_exits_zero_with_usage(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert out.startswith("usage: courtroom")
    assert len(out.splitlines()) > 1


@pytest.mark.parametrize("command", [("simulate",), ("simulate", "hyperdeck")], ids=" ".join)
def test_cli_help_as_a_process(command: tuple[str, ...]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "courtroom_agent.cli", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=4 * TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: courtroom simulate")
    assert "Traceback" not in done.stderr


async def test_cli_simulate_hyperdeck_starts_without_options(tmp_path: Path) -> None:
    """``courtroom simulate hyperdeck`` alone serves a HyperDeck on a free port."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "courtroom_agent.cli",
        "simulate",
        "hyperdeck",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=os.environ | {"TMPDIR": str(tmp_path)},
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        words = (await asyncio.wait_for(process.stdout.readline(), 4 * TIMEOUT)).decode().split()
        assert words[:2] == ["tcp", "127.0.0.1"]
        reader, writer = await asyncio.open_connection("127.0.0.1", int(words[2]))
        greeting = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert greeting.startswith(b"500 connection info:")
        writer.close()
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
    err = (await process.stderr.read()).decode()
    assert "directory = " + str(tmp_path) in err
    assert "Traceback" not in err
    made = os.listdir(tmp_path)
    assert len(made) == 1 and made[0].startswith("courtroom-hyperdeck-")
