"""The video half of ``courtroom av check``: every camera segment, against the audio.

Checked without trusting the manifest: each MP4's SHA-256; that a closed file
holds the frames listed (``ffprobe`` counts the packets without decoding) at
the listed size; that each camera's segments follow the audio's — the same
segment indexes, starting within one video frame of the audio segment, and
not overlapping one another; the camera gaps' own consistency.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from av.recording.manifest import Manifest, SegmentStatus, VideoFile
from av.recording.segment_writer import sha256_file

__all__ = ["check_video", "probe_video"]

_PROBE_TIMEOUT = 60.0
_NOTABLE_GAP = 1.0  # seconds; shorter camera gaps (start-up, a reconnect) are not listed


def probe_video(path: Path, *, ffprobe: str = "ffprobe") -> tuple[int, int, int]:
    """``(frames, width, height)`` of the first video stream of ``path``.

    Raises:
        ValueError: the file has no decodable video stream (the message says why).
        OSError: ffprobe cannot be run.
    """
    try:
        done = subprocess.run(
            [ffprobe, "-v", "error", "-select_streams", "v:0", "-count_packets",
             "-show_entries", "stream=nb_read_packets,width,height", "-of", "csv=p=0",
             str(path)],
            capture_output=True, text=True, timeout=_PROBE_TIMEOUT, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise ValueError(f"ffprobe did not finish in {_PROBE_TIMEOUT:g} s") from exc
    fields = done.stdout.strip().split(",")
    if done.returncode != 0 or len(fields) != 3 or not all(f.isdigit() for f in fields):
        reason = done.stderr.strip().splitlines()[-1:] or ["no video stream"]
        raise ValueError(reason[0])
    width, height, frames = (int(f) for f in fields)
    return frames, width, height


def check_video(directory: Path, m: Manifest, problems: list[str], warnings: list[str]) -> set[str]:
    """Check the manifest's video; return the file names it lists."""
    fps = {c.id: c.fps for c in m.cameras}
    audio_starts = {s.index: s.first_frame / m.sample_rate for s in m.segments}
    ffprobe = shutil.which("ffprobe")
    if m.video_segments and ffprobe is None:
        warnings.append("video: ffprobe not found; frame counts of the MP4 files not checked")
    previous: dict[str, VideoFile] = {}
    for video in m.video_segments:
        where = f"video {video.camera} segment {video.index} ({video.file})"
        if video.camera not in fps:
            problems.append(f"{where}: camera {video.camera!r} is not listed under cameras")
        elif video.fps != fps[video.camera]:
            problems.append(
                f"{where}: {video.fps:g} fps, the camera is listed at {fps[video.camera]:g}"
            )
        _check_timeline(where, video, previous.get(video.camera), audio_starts, problems)
        previous[video.camera] = video
        _check_file(directory, where, video, m.closed, ffprobe, problems, warnings)
    for gap in m.video_gaps:
        if gap.end is None:
            if m.closed:
                problems.append(
                    f"video gap of {gap.camera} from {gap.start:.3f} s is still open "
                    "although the recording is closed"
                )
            else:
                warnings.append(
                    f"camera {gap.camera}: no picture since {gap.start:.1f} s "
                    "(still so when the manifest was last written)"
                )
        elif gap.end < gap.start:
            problems.append(
                f"video gap of {gap.camera} [{gap.start:.3f}, {gap.end:.3f}) is reversed"
            )
        elif gap.end - gap.start >= _NOTABLE_GAP:
            warnings.append(
                f"camera {gap.camera}: no picture from {gap.start:.1f} s to {gap.end:.1f} s "
                "(recorded as 'no signal' frames)"
            )
    return {v.file for v in m.video_segments}


def _check_timeline(
    where: str,
    video: VideoFile,
    before: VideoFile | None,
    audio_starts: dict[int, float],
    problems: list[str],
) -> None:
    frame = 1.0 / video.fps
    if before is not None and video.index <= before.index:
        problems.append(f"{where}: segment indexes of the camera are not increasing")
    if before is not None and (end := before.end) is not None and video.start < end - frame / 2:
        problems.append(f"{where}: starts at {video.start:.3f} s, before the previous one ends")
    audio = audio_starts.get(video.index)
    if audio is None:
        problems.append(f"{where}: there is no audio segment {video.index} beside it")
    elif not 0 <= video.start - audio < frame + 1e-6:
        problems.append(
            f"{where}: starts at {video.start:.3f} s, audio segment {video.index} at "
            f"{audio:.3f} s (more than one frame apart)"
        )


def _check_file(
    directory: Path,
    where: str,
    video: VideoFile,
    closed: bool,
    ffprobe: str | None,
    problems: list[str],
    warnings: list[str],
) -> None:
    path = directory / video.file
    if video.status is SegmentStatus.OPEN:
        if closed:
            problems.append(f"{where}: marked open although the recording is closed")
        else:
            warnings.append(f"{where}: open — being recorded, or the recorder stopped")
        return
    if video.status is SegmentStatus.INTERRUPTED:
        warnings.append(f"{where}: interrupted (encoder or recorder stopped); kept as found")
    if not path.is_file():
        if video.sha256 is not None or video.status is SegmentStatus.CLOSED:
            problems.append(f"{where}: file is missing")
        return
    if video.sha256 is not None and sha256_file(path) != video.sha256:
        problems.append(f"{where}: SHA-256 does not match the manifest (file altered)")
    if ffprobe is None or video.status is not SegmentStatus.CLOSED:
        return
    try:
        frames, width, height = probe_video(path, ffprobe=ffprobe)
    except (ValueError, OSError) as exc:
        problems.append(f"{where}: cannot be read as video: {exc}")
        return
    if frames != video.frames:
        problems.append(f"{where}: holds {frames} frames, manifest says {video.frames}")
    padded = ((video.width or 0) + 1) // 2 * 2, ((video.height or 0) + 1) // 2 * 2
    if (width, height) != padded:
        problems.append(
            f"{where}: picture is {width}×{height}, manifest says {video.width}×{video.height}"
        )
