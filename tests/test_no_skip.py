"""``make test`` fails on a skipped test: a missing system part must not pass silently."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SUITE = """
import pytest

def test_runs():
    assert True

def test_needs_a_server():
    pytest.skip("PostgreSQL binaries not found")

@pytest.mark.xfail(reason="known")
def test_known_bug():
    assert False
"""


@pytest.mark.parametrize(("flag", "outcome"), [("1", 1), ("", 0)])
def test_skip_fails_the_run_only_when_asked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, flag: str, outcome: int
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("COURTROOM_NO_SKIP", flag)
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess("-p", "tests.fixtures.no_skip")
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    assert result.ret == outcome
    if flag:
        result.stdout.fnmatch_lines(
            ["*test_needs_a_server: Skipped: PostgreSQL binaries not found"]
        )
    else:
        result.stdout.no_fnmatch_line("*COURTROOM_NO_SKIP*")


def test_a_failing_run_keeps_its_own_status(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("COURTROOM_NO_SKIP", "1")
    pytester.makepyfile("def test_broken():\n    assert False\n")
    result = pytester.runpytest_subprocess("-p", "tests.fixtures.no_skip")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
