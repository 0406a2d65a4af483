"""Transcript on the courtroom screens: publish → shown, in Chromium.

Starts a :class:`courtroom_agent.display.DisplayServer` on loopback (no hub,
no agent), opens ``--pages`` display pages in headless Chromium spread over
the five default views (judge, clerk, plaintiff, defendant, gallery), opens a
hearing and publishes ``--finals`` finals at a courtroom's pace (one every
``--interval`` seconds, jittered ±50 %). Each page acknowledges a final after
its DOM update (``requestAnimationFrame``); the server measures
``publish()`` → acknowledgement per page. Prints p50/p95/max per view and
over all pages.

Usage: ``python bench/display_latency.py [--pages 5] [--finals 60] [--interval 0.5]
[--update-readme README.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import async_playwright
from readme_block import machine, percentile, update_readme

from courtroom_agent.display import DEFAULT_VIEWS, DisplayServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
HEARING = "bench-display"
SENTENCES = (
    ("审判长", "现在开庭。请原告陈述诉讼请求及事实与理由。"),
    ("原告", "请求判令被告支付货款人民币十二万元及逾期付款利息。"),
    ("被告", "对原告所述的交货数量有异议，部分货物存在质量问题。"),
    ("审判长", "双方对合同的真实性是否有异议？"),
    ("书记员", "已记录。"),
)


async def run(pages: int, finals: int, interval: float) -> str:
    views = list(DEFAULT_VIEWS)
    with tempfile.TemporaryDirectory() as folder:
        async with (
            DisplayServer(courtroom="第一法庭", evidence=lambda: Path(folder)) as server,
            async_playwright() as playwright,
        ):
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            opened = [views[i % len(views)] for i in range(pages)]
            for view in opened:
                page = await browser.new_page(viewport={"width": 1920, "height": 1080})
                await page.goto(f"{server.url}/display/{view}")
            server.publish("hearing.opened", {"hearing_id": HEARING, "title": "买卖合同纠纷"})
            deadline = time.monotonic() + 30
            while sum(r.pages for r in server.report_now()) < pages:
                if time.monotonic() > deadline:
                    raise SystemExit("the pages did not connect")
                await asyncio.sleep(0.05)
            rng = random.Random(13)
            for i in range(finals):
                role, text = SENTENCES[i % len(SENTENCES)]
                segment = {"channel": 0, "role": role, "text": text, "start": i, "end": i + 1}
                server.publish("transcript.final", {"hearing_id": HEARING, "segment": segment})
                await asyncio.sleep(interval * rng.uniform(0.5, 1.5))
            expected = {view: finals * opened.count(view) for view in set(opened)}
            deadline = time.monotonic() + 10
            while any(len(server.samples(v)) < n for v, n in expected.items()):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            await browser.close()
            lines = [
                f"{pages} pages in Chromium, {finals} finals every {interval:g} s ±50 %; "
                "publish() → page ack after DOM update",
                f"{'view':<10} {'pages':>5} {'shown':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}",
            ]
            everything: list[float] = []
            for view in sorted(set(opened), key=views.index):
                ms = [s * 1000 for s in server.samples(view)]
                everything += ms
                lines.append(
                    f"{view:<10} {opened.count(view):>5} {len(ms):>6} "
                    f"{percentile(ms, 50):>8.1f} {percentile(ms, 95):>8.1f} {max(ms):>8.1f}"
                )
            lines.append(
                f"{'all':<10} {pages:>5} {len(everything):>6} {percentile(everything, 50):>8.1f} "
                f"{percentile(everything, 95):>8.1f} {max(everything):>8.1f}"
                f"   (mean {statistics.fmean(everything):.1f} ms; "
                f"lost {sum(expected.values()) - len(everything)})"
            )
            lines.append(machine())
            return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--finals", type=int, default=60)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--update-readme", type=Path)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found (apt-get install chromium)")
    text = asyncio.run(run(args.pages, args.finals, args.interval))
    print(text)
    if args.update_readme:
        update_readme(args.update_readme, "display", text)


if __name__ == "__main__":
    main()
