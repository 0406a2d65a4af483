"""The demo courtroom's screens: one headless Chromium showing every display view.

``python -m courtroom_agent.demo_screen URL PROFILE_DIR`` waits until the
agent serves its display pages at ``URL`` (the 屏幕总览 page, whose frames
are each a live display page), then becomes Chromium (``exec``): a real
browser standing in for the courtroom's screens, so the display pages report
what they showed and 笔录同步输出展示 is measured as in a real room. Started
by :class:`courtroom_agent.demo_equipment.DemoEquipment`, it dies with the
demo like the simulators.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import urllib.error
import urllib.request

__all__ = ["main"]

WAIT = 120.0
"""Seconds to wait for the display pages (the agent loads its model first)."""


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m courtroom_agent.demo_screen URL PROFILE_DIR", file=sys.stderr)
        return 2
    url, profile = argv
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("demo screens: chromium not found; the display pages have no screen", file=sys.stderr)
        return 1
    deadline = time.monotonic() + WAIT
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                print(f"demo screens: {url} never answered", file=sys.stderr)
                return 1
            time.sleep(0.2)
    flags = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--mute-audio",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1920,1080",
    ]
    os.execv(browser, [browser, *flags, url])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
