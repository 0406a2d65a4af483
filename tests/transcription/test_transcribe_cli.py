"""``courtroom transcribe`` as a user runs it: a real process, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from courtroom_agent.demo_audio import build_demo_recording
from tests.fixtures.speech import cer, write_wav
from transcription.assets import SpeechSample


def courtroom(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "courtroom_agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def room_recording(tmp_path_factory: pytest.TempPathFactory, speech: list[SpeechSample]) -> Path:
    path = tmp_path_factory.mktemp("room") / "room.wav"
    roles = ("审判长", "原告", "被告", "书记员")
    return build_demo_recording([s.path for s in speech], path, roles=roles, turns=4)


def test_transcribe_multichannel_json_each_utterance_once_with_role(
    room_recording: Path, speech: list[SpeechSample]
) -> None:
    done = courtroom(
        "transcribe", str(room_recording), "--format", "json", "--roles", "审判长,原告,被告,书记员"
    )
    assert done.returncode == 0, done.stderr
    segments = json.loads(done.stdout)
    assert [(s["channel"], s["role"]) for s in segments] == [
        (0, "审判长"),
        (1, "原告"),
        (2, "被告"),
        (3, "书记员"),
    ]
    for k, segment in enumerate(segments):
        assert cer(speech[k % 2].text, segment["text"]) <= 0.05
        assert set(segment) >= {"start", "end", "channel", "role", "text", "words"}
        assert segment["words"][0]["start"] == segment["start"]


@pytest.mark.parametrize("fmt", ["txt", "srt", "vtt"])
def test_transcribe_text_formats(room_recording: Path, fmt: str) -> None:
    done = courtroom("transcribe", str(room_recording), "--format", fmt, "--quiet")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    if fmt == "txt":
        lines = out.splitlines()
        assert len(lines) == 4 and lines[0].startswith("[00:00:0") and "声道1：" in lines[0]
    elif fmt == "srt":
        assert out.startswith("1\n00:00:0") and " --> " in out and "\n4\n" in out
    else:
        assert out.startswith("WEBVTT\n\n") and "<v 声道2>" in out


def test_transcribe_roles_count_mismatch_exits_2(room_recording: Path) -> None:
    done = courtroom("transcribe", str(room_recording), "--roles", "审判长,原告")
    assert done.returncode == 2
    assert "4 channels" in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"", "empty"), (b"hello, not audio", "not a WAV")],
)
def test_transcribe_bad_file_exits_2(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "input.wav"
    if content is not None:
        path.write_bytes(content)
    done = courtroom("transcribe", str(path))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_transcribe_unknown_model_exits_nonzero_with_hint(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "quiet.wav", np.zeros(1600, np.int16), 16000)
    done = courtroom("transcribe", str(path), "--model", "no-such-model")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "courtroom models install" in done.stderr


def test_transcribe_progress_bar_on_a_terminal_stderr_never_in_the_output(
    room_recording: Path,
) -> None:
    """On a terminal the user sees progress on stderr; stdout stays the pure transcript."""
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "courtroom_agent.cli", "transcribe", str(room_recording)],
            stdout=subprocess.PIPE,
            stderr=slave,
            env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
        )
        os.close(slave)
        seen = bytearray()
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        assert process.stdout is not None
        out = process.stdout.read().decode("utf-8")
        assert process.wait(timeout=120) == 0
    finally:
        os.close(master)
    terminal = seen.decode("utf-8", errors="replace")
    assert "转写 transcribing" in terminal and "100%" in terminal
    assert len(out.splitlines()) == 4 and "transcribing" not in out
