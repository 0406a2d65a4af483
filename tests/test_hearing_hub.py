"""The clerk drives real agents through the hub: hearing commands, two sites in one
hearing, an offline courtroom, and a recogniser that fails while the record goes on.

A real hub and real agents (real Vosk, real-time looped speech, the lossless
recorder) in one event loop; the clerk speaks only HTTP to the hub.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.async_api import Browser, expect

from av.recording import check_recording
from courtroom_agent.agent import CourtroomAgent
from courtroom_agent.config import AgentConfig
from courtroom_agent.demo_audio import build_demo_recording
from courtroom_agent.runner import run_agent
from hub.config import load_config
from hub.security import hash_password
from hub.server import HubServer
from tests.agent.test_hearing_control import until
from tests.hub.conftest import TIMEOUT
from tests.hub.test_clerk_page import browser  # noqa: F401  (the Chromium fixture)
from tests.hub.test_hearing_pages import expect_state
from tests.test_end_to_end import ROLES, transcript
from transcription.assets import SpeechSample
from transcription.engine import TranscriptionEngine

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "e2e-admin-pass"
CLERK, CLERK_PASSWORD = "clerk1", "clerk-pass-1"
TOKENS = {"r1": "r1-token-0123456789", "r2": "r2-token-0123456789"}
NAMES = {"r1": "第一法庭", "r2": "看守所远程提审室"}


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[HubServer]:
    config = load_config(
        None,
        data_dir=str(tmp_path / "hub"),
        listen={"host": "127.0.0.1", "port": 0},
        courtrooms=[{"id": c, "name": NAMES[c], "token": t} for c, t in TOKENS.items()],
        users=[
            {
                "username": CLERK,
                "password_hash": hash_password(CLERK_PASSWORD),
                "role": "clerk",
                "courtrooms": ["r1", "r2"],
            }
        ],
    )
    (tmp_path / "hub").mkdir()
    async with HubServer(config, admin_password=PASSWORD) as server:
        ready = asyncio.Event()
        task = asyncio.create_task(server.run(ready=ready))
        await asyncio.wait_for(ready.wait(), 6 * TIMEOUT)
        yield server
        server.stop()
        await task


@dataclass
class Court:
    hub: HubServer
    bearer: str
    tmp_path: Path
    wav: Path
    agents: dict[str, tuple[asyncio.Task[CourtroomAgent], asyncio.Event]]

    async def start(self, courtroom: str, **options: Any) -> None:
        config = AgentConfig.model_validate(
            {
                "courtroom": {"id": courtroom, "name": NAMES[courtroom]},
                "hub": {
                    "url": f"ws://127.0.0.1:{self.hub.port}/ws/agent",
                    "token": TOKENS[courtroom],
                },
                "audio": {
                    "source": "wav",
                    "file": str(self.wav),
                    "realtime": True,
                    "loop": True,
                    "roles": ROLES,
                },
                "status_interval_s": 0.5,
            }
        )
        stop = asyncio.Event()
        data_dir = self.tmp_path / courtroom
        task = asyncio.create_task(
            run_agent(config, data_dir=data_dir, stop=stop, open_at_start=False, **options)
        )
        self.agents[courtroom] = (task, stop)

        async def online() -> bool:
            rooms = await self.get("/api/courtrooms")
            return any(r["id"] == courtroom and r["online"] for r in rooms)

        await until(online, f"{courtroom}'s agent never came online")

    async def stop(self) -> None:
        for _, stop in self.agents.values():
            stop.set()
        for task, _ in self.agents.values():
            await asyncio.wait_for(task, 6 * TIMEOUT)

    async def get(self, path: str, **params: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.hub.url) as client:
            reply = await client.get(
                path, params=params, headers={"Authorization": f"Bearer {self.bearer}"}
            )
            reply.raise_for_status()
            return reply.json()

    async def order(self, courtroom: str, body: dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.hub.url, timeout=6 * TIMEOUT) as client:
            return await client.post(
                f"/api/courtrooms/{courtroom}/hearing",
                json=body,
                headers={"Authorization": f"Bearer {self.bearer}"},
            )

    async def events(self, courtroom: str, kind: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self.get(
            f"/api/courtrooms/{courtroom}/events", kind=kind
        )
        return rows


@pytest.fixture
async def court(hub: HubServer, tmp_path: Path, speech: list[SpeechSample]) -> AsyncIterator[Court]:
    wav = build_demo_recording([s.path for s in speech], tmp_path / "room.wav", roles=ROLES)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        reply = await client.post(
            "/api/login", json={"username": CLERK, "password": CLERK_PASSWORD}
        )
        reply.raise_for_status()
    court = Court(hub, reply.json()["token"], tmp_path, wav, {})
    yield court
    await court.stop()


async def test_the_clerk_drives_two_sites_of_one_hearing_through_the_hub(court: Court) -> None:
    # No agent yet: answered 503 at once, never queued.
    started = time.monotonic()
    offline = await court.order("r1", {"action": "open", "case": {"number": "(2026)京01刑初7号"}})
    assert offline.status_code == 503, offline.text
    assert time.monotonic() - started < 1.0
    assert "离线" in offline.json()["detail"]

    await court.start("r1")
    await court.start("r2")
    opened = await court.order(
        "r1", {"action": "open", "case": {"number": "(2026)京01刑初7号", "title": "远程提审"}}
    )
    assert opened.status_code == 200, opened.text
    hearing_id = opened.json()["state"]["hearing_id"]
    assert opened.json()["state"]["state"] == "open"

    refused = await court.order("r1", {"action": "resume"})
    assert refused.status_code == 409, refused.text
    assert "cannot resume a hearing that is open" in refused.json()["message"]

    # The detention-centre room joins the court's hearing on the same clock.
    joined = await court.order("r2", {"action": "open", "join": hearing_id})
    assert joined.status_code == 200, joined.text
    assert joined.json()["state"]["hearing_id"] == hearing_id

    async def both_sites() -> list[dict[str, Any]] | None:
        lines = await transcript(court.hub.url, court.bearer, hearing_id)
        return lines if {line["site"] for line in lines} == {"r1", "r2"} else None

    lines = await until(both_sites, "the two sites' finals never met in one transcript")
    remote = [line for line in lines if line["site"] == "r2"]
    assert {line["site_name"] for line in remote} == {NAMES["r2"]}
    assert {line["role"] for line in remote} <= set(ROLES)
    # One hearing clock: the joined site's lines are timed since 开庭 too.
    (opened_event,) = [
        e
        for e in await court.events("r1", "hearing.opened")
        if e["body"]["hearing_id"] == hearing_id
    ]
    assert all(line["start"] > 0 for line in remote)

    recess = await court.order("r1", {"action": "recess", "reason": "recess"})
    assert recess.status_code == 200 and recess.json()["state"]["reason"] == "recess"
    resumed = await court.order("r1", {"action": "resume"})
    assert resumed.status_code == 200, resumed.text
    for courtroom in ("r2", "r1"):  # the remote site leaves, then 闭庭
        closed = await court.order(courtroom, {"action": "close"})
        assert closed.status_code == 200 and closed.json()["state"]["state"] == "idle"

    # Each command and its outcome is archived, with who ordered it from where.
    async def ledger() -> list[dict[str, Any]] | None:
        rows = await court.events("r1", "command")
        return rows if len(rows) >= 5 else None

    commands = [c["body"] for c in await until(ledger, "commands not archived")]
    assert [(c["action"], c["outcome"]) for c in commands] == [
        ("open", "done"),
        ("resume", "refused"),
        ("recess", "done"),
        ("resume", "done"),
        ("close", "done"),
    ]
    assert {(c["by"], c["source"]) for c in commands} == {(CLERK, "hub")}
    # Both sites recorded their part losslessly; the recess is a lawful interruption.
    for courtroom, interruptions in (("r1", 1), ("r2", 0)):
        directory = court.tmp_path / courtroom / "recordings" / courtroom / hearing_id
        report = check_recording(directory)
        assert report.sound, report.problems
        assert report.incidents == [] and len(report.interruptions) == interruptions
    assert opened_event["body"]["case"]["number"] == "(2026)京01刑初7号"


def failing_engine(fail_at: float, failed_at: list[float]) -> Callable[..., TranscriptionEngine]:
    """Engines whose first one raises once it has heard ``fail_at`` seconds of audio."""

    class Failing(TranscriptionEngine):
        heard = 0.0

        def process(self, pcm: np.ndarray[Any, Any]) -> list[Any]:
            self.heard += len(pcm) / self.input_rate
            if not failed_at and self.heard >= fail_at:
                failed_at.append(time.monotonic())
                raise RuntimeError("injected: the recogniser crashed")
            return super().process(pcm)

    return Failing


async def test_a_failing_recogniser_alarms_within_2_s_and_the_record_goes_on(
    court: Court,
) -> None:
    failed_at: list[float] = []
    await court.start("r1", engine_factory=failing_engine(4.0, failed_at))
    opened = await court.order("r1", {"action": "open", "case": {"number": "(2026)京01民初5号"}})
    assert opened.status_code == 200, opened.text
    hearing_id = opened.json()["state"]["hearing_id"]

    async def alarmed() -> list[dict[str, Any]]:
        rows = await court.events("r1", "av.alarm")
        return [r for r in rows if r["body"]["kind"] == "transcription_failed"]

    raised = await until(alarmed, "no transcription alarm at the hub")
    assert failed_at
    seen = time.monotonic() - failed_at[0]
    print(f"transcription failure → alarm stored at the hub: {seen * 1000:.0f} ms")
    assert seen < 2.0
    assert raised[0]["body"]["active"] is True
    assert "injected" in raised[0]["body"]["detail"]

    # The recogniser was rebuilt: finals keep coming, and the alarm clears.
    async def after_failure() -> list[dict[str, Any]]:
        lines = await transcript(court.hub.url, court.bearer, hearing_id)
        return [line for line in lines if line["start"] > 5.0]

    await until(after_failure, "no final after the recogniser's restart")
    cleared = await until(lambda: _cleared(court), "the transcription alarm never cleared")
    assert cleared["body"]["active"] is False

    closed = await court.order("r1", {"action": "close"})
    assert closed.status_code == 200
    directory = court.tmp_path / "r1" / "recordings" / "r1" / hearing_id
    report = check_recording(directory)
    assert report.sound, report.problems
    assert report.incidents == [] and report.gap_frames == 0
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["closed"]


async def _cleared(court: Court) -> dict[str, Any] | None:
    rows = await court.events("r1", "av.alarm")
    done = [
        r for r in rows if r["body"]["kind"] == "transcription_failed" and not r["body"]["active"]
    ]
    return done[0] if done else None


PROTOCOL_1_COMMIT = "b46e191e65d35dd70df9c7fb6de56d601b875eb7"
"""The last commit whose agent speaks protocol 1 (before hearing control)."""


async def test_an_agent_of_the_previous_protocol_still_delivers_its_hearing(
    court: Court, tmp_path: Path
) -> None:
    # That agent's own code, from this repository's history.
    old = tmp_path / "protocol-1"
    old.mkdir()
    archive = await asyncio.create_subprocess_shell(
        f"git -C {ROOT} archive {PROTOCOL_1_COMMIT} courtroom_agent hub av devices "
        f"transcription | tar -x -C {old}"
    )
    assert await archive.wait() == 0
    assert (old / "hub" / "wire.py").exists()  # where protocol 1 lived
    config = tmp_path / "old-room.toml"
    config.write_text(
        f"""
[courtroom]
id = "r1"
name = "第一法庭"
[hub]
url = "ws://127.0.0.1:{court.hub.port}/ws/agent"
token = "{TOKENS["r1"]}"
[audio]
source = "wav"
file = "{court.wav}"
realtime = true
roles = {json.dumps(ROLES, ensure_ascii=False)}
""",
        encoding="utf-8",
    )
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "courtroom_agent.cli", "agent", "--config", str(config),
        "--data-dir", str(tmp_path / "old-agent"),
        cwd=old, env={**os.environ, "PYTHONPATH": str(old)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:

        async def online() -> bool:
            rooms = await court.get("/api/courtrooms")
            return any(r["id"] == "r1" and r["online"] for r in rooms)

        await until(online, "the protocol-1 agent never came online")
        too_old = await court.order("r1", {"action": "recess", "reason": "recess"})
        assert too_old.status_code == 503, too_old.text
        assert "too old" in too_old.json()["detail"]

        async def finals() -> list[dict[str, Any]]:
            rows = await court.get("/api/hearings", courtroom="r1")
            return await transcript(court.hub.url, court.bearer, rows[0]["id"]) if rows else []

        lines = await until(finals, "the protocol-1 agent's finals were not archived")
        assert {line["role"] for line in lines} <= set(ROLES)
    finally:
        agent.terminate()
        _, err = await asyncio.wait_for(agent.communicate(), 6 * TIMEOUT)
    assert agent.returncode == 0, err.decode()[-2000:]
    (hearing,) = await court.get("/api/hearings", courtroom="r1")
    assert hearing["closed_at"]


async def test_the_clerk_page_drives_a_real_agent(
    court: Court,
    browser: Browser,  # noqa: F811
) -> None:
    expect.set_options(timeout=TIMEOUT * 1000 * 4)
    await court.start("r1")
    page = await browser.new_page(viewport={"width": 1280, "height": 760})
    await page.goto(court.hub.url)
    await page.fill("#username", CLERK)
    await page.fill("#password", CLERK_PASSWORD)
    await page.click("#login-button")
    await page.click('button[data-room="r1"]')
    await expect(page.locator("#conn")).to_have_class("conn conn-live")
    await expect_state(page, "空闲", {"#hc-open"})

    await page.fill("#case-number", "(2026)京0105民初88号")
    await page.fill("#case-title", "借款合同纠纷")
    await page.click("#hc-open")
    await expect_state(page, "庭审中", {"#hc-recess", "#hc-close"})
    await expect(page.locator("#hearing-title")).to_contain_text("借款合同纠纷")
    await expect(page.locator("#finals li").first).to_be_visible()  # the agent's finals

    await page.select_option("#recess-reason", "closed-evidence")
    await page.click("#hc-recess")
    await expect_state(page, "休庭中 · 不公开举证质证", {"#hc-resume", "#hc-close"})
    await page.screenshot(path=court.tmp_path / "clerk-recess-real-agent.png")
    await page.click("#hc-resume")
    await expect_state(page, "庭审中", {"#hc-recess", "#hc-close"})
    await page.click("#hc-close")
    await page.click("#hc-close-yes")
    await expect_state(page, "空闲", {"#hc-open"})

    (hearing,) = await court.get("/api/hearings", courtroom="r1")
    assert hearing["closed_at"]
    directory = court.tmp_path / "r1" / "recordings" / "r1" / hearing["id"]
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    (interruption,) = manifest["interruptions"]
    assert interruption["reason"] == "closed-evidence"
    assert interruption["ordered_by"] == interruption["resumed_by"] == CLERK
    assert check_recording(directory).incidents == []
