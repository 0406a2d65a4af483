"""What every benchmark does with its figures: percentiles, the machine, the README block."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of ``values`` by nearest rank; NaN if empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def machine() -> str:
    """The line that says where and when the figures were measured."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"machine: {cores} cores, measured {time.strftime('%Y-%m-%d')}"


def update_readme(path: Path, name: str, text: str) -> None:
    """Replace the ``<!-- bench:NAME -->`` … ``<!-- /bench:NAME -->`` block with ``text``."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    readme = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(readme):
        raise SystemExit(f"{path}: no {begin} … {end} block to update")
    block = f"{begin}\n```\n{text}\n```\n{end}"
    path.write_text(pattern.sub(lambda _: block, readme), encoding="utf-8")
