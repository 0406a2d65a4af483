"""Reading the time burned into a recorded video frame, without OCR."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from av.camera import TimestampOverlay

__all__ = ["read_frame", "text_errors"]


def read_frame(path: Path, index: int) -> npt.NDArray[np.uint8]:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        for _ in range(index + 1):
            ok, image = capture.read()
            assert ok, f"{path} has fewer than {index + 1} frames"
    finally:
        capture.release()
    return np.asarray(image, dtype=np.uint8)


def text_errors(
    decoded: npt.NDArray[np.uint8], ov: TimestampOverlay, times: dict[float, float]
) -> dict[float, float]:
    """How far the burned text is from the overlay drawn for each of ``times``.

    Mean grey difference over the pixels where those renderings disagree (the
    changing digits): an OCR-free reading of the burned-in time.
    """
    grey = cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY).astype(int)
    drawn = {
        key: cv2.cvtColor(ov.draw(np.zeros_like(decoded), t), cv2.COLOR_BGR2GRAY).astype(int)
        for key, t in times.items()
    }
    stack = np.stack(list(drawn.values()))
    mask = (stack != stack[0]).any(axis=0)
    assert mask.sum() > 20
    return {key: float(np.abs(grey[mask] - d[mask]).mean()) for key, d in drawn.items()}
