"""五同步 timing: how long the equipment takes to follow the hearing, and our share.

The demo courtroom's equipment, every device its own simulator process on
loopback (:class:`courtroom_agent.demo_equipment.DemoEquipment`: an Extron
matrix, three PJLink displays, a HyperDeck recorder, VISCA and Pelco-D
cameras), driven by the agent's own rule engine and standard rules
(:mod:`courtroom_agent.rules`) through the running equipment links:

* **hearing opened → every recorder confirmed recording** (HyperDeck
  ``record``, confirmed by ``transport info``), then 休庭 (``stop``);
* **evidence presented → every screen confirmed** (the matrix tie of each
  party output confirmed by the matrix's reply, each display powered and
  switched, confirmed by PJLink inquiries), then withdrawn (routing restored).

For each firing: the **device time** is the longest chain of one device's
actions (their ``confirm_ms``: command, reply and confirming inquiries on the
wire — what the equipment itself costs), and **our overhead** is the rest of
the time from firing the rule to the last confirmation (the engine, queues,
the event loop). Target: our overhead ≤ 100 ms p95.

Usage: ``python bench/five_sync.py [--rounds 30] [--update-readme README.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from readme_block import machine, percentile, update_readme

from courtroom_agent.config import AgentConfig
from courtroom_agent.demo_equipment import DemoEquipment
from courtroom_agent.equipment_runner import Equipment
from courtroom_agent.performer import EquipmentPerformer
from courtroom_agent.rules import ActionResult, RuleEngine, merge_rules
from courtroom_agent.sync_config import SyncConfig


def _split(elapsed_ms: float, results: list[ActionResult]) -> tuple[float, float, bool]:
    """(device time on the critical path, our overhead, all confirmed)."""
    per_device: dict[str, float] = defaultdict(float)
    for result in results:
        per_device[result.action.device] += result.confirm_ms or 0.0
    device = max(per_device.values(), default=0.0)
    ok = all(r.outcome in ("confirmed", "unconfirmable") for r in results)
    return device, max(0.0, elapsed_ms - device), ok


async def _timed(
    engine: RuleEngine, trigger: str, body: dict[str, Any]
) -> tuple[float, list[ActionResult]]:
    started = time.perf_counter()
    results = await engine.fire_and_wait(trigger, body)
    return (time.perf_counter() - started) * 1000.0, results


async def run(rounds: int) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-five-sync-") as tmp:
        async with DemoEquipment(Path(tmp), room="bench") as equipment:
            config = AgentConfig.model_validate(
                {
                    "courtroom": {"id": "bench", "name": "基准法庭"},
                    "hub": {"url": "ws://127.0.0.1:9/ws/agent", "token": "t"},
                    "audio": {
                        "source": "wav",
                        "file": "x.wav",
                        "roles": ["审判长", "原告", "被告", "书记员"],
                    },
                    "mqtt": equipment.mqtt,
                    "devices": equipment.devices,
                    "sync": equipment.sync,
                }
            )
            assert config.sync is not None
            sync: SyncConfig = config.sync
            async with Equipment(config, publish=lambda kind, body: None) as running:
                for link in running.links.values():
                    await asyncio.wait_for(link.wait_online(), 30)
                engine = RuleEngine(
                    merge_rules(sync, []),
                    EquipmentPerformer(running, config),
                    publish=lambda kind, body: None,
                    hearing_time=lambda: 1.0,
                    hearing_id=lambda: "bench-hearing",
                    watch_recorders=3600.0,
                )
                async with engine:
                    # Warm up: displays on (their warm-up is the display's, once a day).
                    await engine.fire_and_wait("hearing.opened", {"time": 0.0})
                    await engine.fire_and_wait(
                        "hearing.recessed", {"time": 1.0, "reason": "recess"}
                    )
                    opened: list[tuple[float, float, bool]] = []
                    presented: list[tuple[float, float, bool]] = []
                    for i in range(rounds):
                        elapsed, results = await _timed(engine, "hearing.resumed", {"time": 2.0})
                        opened.append(
                            _split(elapsed, [r for r in results if r.action.verb == "record"])
                        )
                        await engine.fire_and_wait(
                            "hearing.recessed", {"time": 3.0, "reason": "recess"}
                        )
                        exhibit = {"exhibit": f"E{i}", "input": "evidence-pc", "time": 4.0}
                        elapsed, results = await _timed(engine, "evidence.presented", exhibit)
                        presented.append(_split(elapsed, results))
                        await engine.fire_and_wait(
                            "evidence.withdrawn", {"exhibit": f"E{i}", "time": 5.0}
                        )
    screens = sum(1 for s in sync.screens if s.party)
    lines = [f"{rounds} rounds each; device time = the longest device's chain, overhead = the rest"]
    for name, rows in (
        (f"hearing opened → {len(sync.recorders)} recorder(s) confirmed", opened),
        (f"evidence presented → {screens} screens confirmed (matrix + displays)", presented),
    ):
        device = [d for d, _, _ in rows]
        ours = [o for _, o, _ in rows]
        total = [d + o for d, o, _ in rows]
        failed = sum(1 for _, _, ok in rows if not ok)
        lines.append(
            f"{name}:\n  total p50 {statistics.median(total):.1f} ms, "
            f"p95 {percentile(total, 95):.1f} ms; device p50 {statistics.median(device):.1f} ms; "
            f"our overhead p50 {statistics.median(ours):.1f} ms, "
            f"p95 {percentile(ours, 95):.1f} ms; not confirmed {failed}"
        )
    lines.append(machine())
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--update-readme", type=Path, default=None)
    args = parser.parse_args()
    text = asyncio.run(run(args.rounds))
    print(text)
    if args.update_readme is not None:
        update_readme(args.update_readme, "five-sync", text)


if __name__ == "__main__":
    sys.exit(main())
