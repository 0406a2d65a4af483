"""FLAC files of one segment: exclusive create, write, sync, finalise, hash, read back.

One mono FLAC file per channel (FLAC itself allows at most 8 channels, and a
court replays one seat at a time). Files are created with ``O_EXCL``, so the
recorder can never overwrite a file, and are made read-only once finalised.

Reading an unfinalised FLAC (the recorder was killed): the frames already
encoded are on disk as complete, CRC-protected FLAC frames, and libsndfile
decodes them; only STREAMINFO's total length is still 0 ("unknown"). The
``soundfile`` wrapper then fails to update its position after the last read
(it seeks past the decodable end), so :func:`read_flac` reads through
libsndfile's C call directly. A FLAC frame cut short by the kill fails its CRC
and is not returned.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

from av.recording.errors import RecordingError

__all__ = [
    "SegmentFiles",
    "count_flac_frames",
    "read_flac",
    "segment_file_name",
    "sha256_file",
]

_ROLE_SLUG = re.compile(r"[^a-z0-9_-]+")
_READ_BLOCK = 65536


def segment_file_name(index: int, channel: int, role: str) -> str:
    """``seg000003-ch02-judge.flac``; the role is left out unless it is plain ASCII."""
    slug = _ROLE_SLUG.sub("", role.lower())[:24]
    tail = f"-{slug}" if slug and slug == role.lower() else ""
    return f"seg{index:06d}-ch{channel + 1:02d}{tail}.flac"


class SegmentFiles:
    """The open FLAC files of one segment, one per channel.

    Args:
        directory: the hearing directory.
        names: file name of each channel, in channel order.
        sample_rate: frames per second.

    Raises:
        FileExistsError: one of the files already exists (nothing is created
            for the channels after it; the ones before stay, empty).
        OSError: a file cannot be created.
        RecordingError: libsndfile refuses to open a FLAC encoder.
    """

    def __init__(self, directory: Path, names: list[str], *, sample_rate: int) -> None:
        self.paths = [directory / name for name in names]
        self._files: list[soundfile.SoundFile] = []
        try:
            for path in self.paths:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                try:
                    f = soundfile.SoundFile(
                        fd,
                        mode="w",
                        samplerate=sample_rate,
                        channels=1,
                        format="FLAC",
                        subtype="PCM_16",
                        closefd=True,
                    )
                except (RuntimeError, soundfile.LibsndfileError) as e:
                    os.close(fd)
                    raise RecordingError(f"{path}: libsndfile cannot write FLAC: {e}") from e
                self._files.append(f)
        except BaseException:
            self.abandon()
            raise
        self.frames = 0

    def write(self, pcm: npt.NDArray[np.int16]) -> None:
        """Append ``(frames, channels)`` int16 samples, column *c* to file *c*.

        Raises:
            OSError: the disk refused the data (libsndfile reports it as such).
        """
        for c, f in enumerate(self._files):
            try:
                f.write(np.ascontiguousarray(pcm[:, c]))
            except RuntimeError as e:  # soundfile.LibsndfileError is a RuntimeError
                raise OSError(f"{self.paths[c]}: write failed: {e}") from e
        self.frames += int(pcm.shape[0])

    def sync(self) -> None:
        """``fsync`` every file: encoded FLAC frames survive a power cut too.

        Raises:
            OSError: fsync failed.
        """
        for f in self._files:
            f.flush()

    def close(self) -> list[str]:
        """Finalise the files, make them read-only and return their SHA-256 digests.

        Raises:
            OSError: finalising, syncing or reading back a file failed.
        """
        digests = []
        for f, path in zip(self._files, self.paths, strict=True):
            f.flush()
            f.close()
            os.chmod(path, 0o444)
            digests.append(sha256_file(path))
        self._files = []
        return digests

    def abandon(self) -> None:
        """Close whatever is open without raising (after a failure); files stay."""
        for f in self._files:
            with contextlib.suppress(OSError, RuntimeError):
                f.close()
        self._files = []


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes.

    Raises:
        OSError: the file cannot be read.
    """
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def read_flac(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    """Decode every complete FLAC frame of a file, finalised or not.

    Returns:
        int16 samples ``(frames, channels)`` and the sample rate.

    Raises:
        RecordingError: the file is not a FLAC file libsndfile can open.
        OSError: the file cannot be opened.
    """
    chunks = []
    with _open_flac(path) as f:
        buf = np.empty((_READ_BLOCK, f.channels), dtype=np.int16)
        while (n := _read_into(f, buf)) > 0:
            chunks.append(buf[:n].copy())
        if not chunks:
            return np.empty((0, f.channels), dtype=np.int16), f.samplerate
        return np.concatenate(chunks), f.samplerate


def count_flac_frames(path: Path) -> tuple[int, bool]:
    """Count the decodable frames of a FLAC file.

    Returns:
        the frame count, and whether the file is finalised (STREAMINFO states
        its length and the decodable frames match it).

    Raises:
        RecordingError: the file is not a FLAC file libsndfile can open.
        OSError: the file cannot be opened.
    """
    with _open_flac(path) as f:
        declared = f.frames
        buf = np.empty((_READ_BLOCK, f.channels), dtype=np.int16)
        total = 0
        while (n := _read_into(f, buf)) > 0:
            total += n
    return total, total == declared


def _open_flac(path: Path) -> soundfile.SoundFile:
    try:
        f = soundfile.SoundFile(path)
    except soundfile.LibsndfileError as e:
        raise RecordingError(f"{path}: not a readable FLAC file: {e}") from e
    if f.format != "FLAC":
        f.close()
        raise RecordingError(f"{path}: is {f.format}, not FLAC")
    return f


def _read_into(f: soundfile.SoundFile, buf: npt.NDArray[np.int16]) -> int:
    # soundfile.SoundFile.read() seeks after reading and that seek fails at the
    # end of an unfinalised FLAC; libsndfile's own read call does not seek.
    ptr = soundfile._ffi.cast("short *", buf.ctypes.data)
    return int(soundfile._snd.sf_readf_short(f._file, ptr, buf.shape[0]))
