"""``courtroom demo``: a hub and one demo courtroom in one command.

The demo courtroom's four microphones play real Mandarin speech at real-time
pace into a private PulseAudio mixer that the agent records through PyAudio,
the capture path of a live room (see :mod:`courtroom_agent.demo_microphones`),
then through the same pipeline (gate, recognizers, recorder, spool, hub
link); the hub serves the clerk page. All state lives under
``--data-dir``.

The demo runs a scripted hearing through the agent's control socket, as a
clerk at the courtroom PC would with ``courtroom hearing``: 开庭 with a case
number and the parties' seats, 休庭 (``recess``) for a few seconds, 继续开庭,
and — when ``--duration`` is given — 闭庭 before it ends (:func:`demo_script`).
``--manual`` leaves the courtroom idle for the clerk to drive from the page.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from av.pulse_sink import PulseError
from courtroom_agent.demo_audio import DEMO_ROLES, build_demo_recording
from courtroom_agent.demo_equipment import DemoEquipmentError
from courtroom_agent.demo_microphones import Capture, DemoMicrophones
from hub.errors import HubError
from transcription.assets import NotInstalledError, speech_samples
from transcription.models_cli import speech_dir_from_env

__all__ = ["register"]

logger = logging.getLogger(__name__)

DEMO_COURTROOM = "demo-1"
DEMO_NAME = "第一法庭（演示）"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="运行演示法庭 · run a demo hub and courtroom",
        description="Start a hub and a demo courtroom whose microphones play real Mandarin "
        "speech; open the printed URL and log in to watch the live transcript.",
    )
    parser.add_argument("--port", type=int, default=8080, help="hub port (default 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="hub address (default 127.0.0.1)")
    parser.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    parser.add_argument("--admin-password", default=None, help="password of user 'admin'")
    parser.add_argument("--data-dir", type=Path, default=None, help="where all state is kept")
    parser.add_argument(
        "--capture",
        choices=["auto", "pulse", "wav"],
        default="auto",
        help="how the microphones reach the agent: a private PulseAudio mixer captured "
        "through PyAudio like a live room ('pulse'), the WAV file at real-time pace "
        "('wav'), or PulseAudio when it starts ('auto', the default)",
    )
    parser.add_argument(
        "--manual",
        action="store_true",
        help="法庭保持空闲，由书记员在页面上开庭 · leave the courtroom idle for the clerk "
        "to open, recess and close the hearing from the page",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="DEVICE:FAULT",
        help="演示设备故障 · make a demo device fail from the start: recorder:disk-full, "
        "matrix:drop, display:unplug (the gallery display); the five lights, the incident "
        "and the alarm show it",
    )
    parser.set_defaults(func=_main)


DEMO_CASE = {
    "number": "(2026)演0101民初1号",
    "title": "买卖合同纠纷 · sales contract dispute (demo)",
    "parties": [{"role": role, "channel": channel} for channel, role in enumerate(DEMO_ROLES)],
}


@dataclass(frozen=True, slots=True)
class Step:
    """One order of the scripted hearing, ``at`` seconds after the demo started
    (and not before the agent answers)."""

    at: float
    request: dict[str, Any]


def demo_script(duration: float | None, *, faults: bool = False) -> list[Step]:
    """The scripted hearing: open, recess a few seconds, resume, close before the end.

    Without a duration the hearing recesses after a minute and then runs
    until Ctrl-C (which closes it).
    """
    opening = Step(0.0, {"action": "open", "case": DEMO_CASE})
    fault = (
        [Step(3.0 if duration is None else duration * 0.08, {"action": "fault"})] if faults else []
    )
    if duration is None:
        return [
            opening,
            *fault,
            Step(20.0, PRESENT_FILE),
            Step(35.0, WITHDRAW_FILE),
            Step(45.0, PRESENT_LIVE),
            Step(55.0, WITHDRAW_LIVE),
            Step(60.0, {"action": "recess", "reason": "recess"}),
            Step(68.0, {"action": "resume"}),
        ]
    recess = max(duration * 0.5, 1.0)
    pause = min(max(duration * 0.1, 1.0), 8.0)
    return [
        opening,
        *fault,
        Step(duration * 0.15, PRESENT_FILE),
        Step(duration * 0.25, WITHDRAW_FILE),
        Step(duration * 0.3, PRESENT_LIVE),
        Step(duration * 0.4, WITHDRAW_LIVE),
        Step(recess, {"action": "recess", "reason": "recess"}),
        Step(recess + pause, {"action": "resume"}),
        Step(max(duration - 3.0, recess + pause + 1.0), {"action": "close"}),
    ]


EVIDENCE_FILE = "证据1-借款合同.pdf"
PRESENT_FILE = {
    "action": "present",
    "exhibit": "证据1",
    "label": "借款合同 · loan contract",
    "file": EVIDENCE_FILE,
    "page": 1,
}
WITHDRAW_FILE = {"action": "withdraw", "exhibit": "证据1"}
PRESENT_LIVE = {
    "action": "present",
    "exhibit": "物证2",
    "label": "收据原件（实物展台）· receipt on the document camera",
    "input": "doc-camera",
}
WITHDRAW_LIVE = {"action": "withdraw", "exhibit": "物证2"}


def demo_evidence(folder: Path) -> Path:
    """The demo hearing's evidence folder: a two-page PDF of the contract."""
    from PIL import Image, ImageDraw, ImageFont

    from av.camera.overlay import find_cjk_font

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / EVIDENCE_FILE
    if path.is_file():
        return folder
    found = find_cjk_font()
    font = ImageFont.truetype(str(found), 48) if found is not None else ImageFont.load_default(48)
    pages = []
    for number, lines in enumerate(
        (
            [
                "借款合同",
                "甲方：张某（出借人）",
                "乙方：李某（借款人）",
                "借款金额：人民币伍万元整",
            ],
            [
                "第二条 还款期限",
                "乙方应于2026年6月30日前归还全部借款。",
                "甲方签字：张某  乙方签字：李某",
            ],
        ),
        start=1,
    ):
        page = Image.new("RGB", (1240, 1754), "white")
        draw = ImageDraw.Draw(page)
        for row, text in enumerate(lines):
            draw.text((120, 160 + row * 110), text, fill="black", font=font)
        draw.text((1080, 1640), f"{number}/2", fill="gray", font=font)
        pages.append(page)
    partial = path.with_suffix(".partial")
    pages[0].save(partial, "PDF", save_all=True, append_images=pages[1:], resolution=150)
    partial.replace(path)
    return folder


async def run_script(
    socket: Path,
    steps: list[Step],
    *,
    start: float,
    ready_within: float = 120.0,
    stage_faults: Callable[[], Awaitable[list[str]]] | None = None,
) -> None:
    """Send ``steps`` to the agent's control socket, each at ``start`` (loop time) + its
    ``at``, once the agent answers."""
    from courtroom_agent.control import ControlError, request

    loop = asyncio.get_running_loop()
    deadline = loop.time() + ready_within
    while True:  # the agent loads its model first: wait until it answers
        try:
            await request(socket, {"action": "status"}, wait=5.0)
            break
        except ControlError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)
    pending: set[asyncio.Task[None]] = set()

    async def send(step: Step) -> None:
        answer = await request(socket, step.request)
        print(
            f"演示 · demo: {step.request['action']} → {answer.get('outcome')} "
            f"{answer.get('message') or ''}".rstrip(),
            flush=True,
        )

    try:
        for step in steps:
            await asyncio.sleep(max(0.0, start + step.at - loop.time()))
            if step.request["action"] == "fault":
                for line in await stage_faults() if stage_faults is not None else []:
                    print(f"演示故障 · demo fault: {line}", flush=True)
                continue
            # Sent on time even while an earlier order waits on a failing device;
            # the agent keeps their order (the hearing and evidence locks).
            task = asyncio.create_task(send(step))
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(0)
        if pending:
            await asyncio.gather(*pending)
    finally:
        for task in pending:
            task.cancel()


def _main(args: argparse.Namespace) -> int:
    from courtroom_agent.runner import default_data_dir

    data_dir: Path = args.data_dir or default_data_dir() / "demo"
    try:
        samples = speech_samples(speech_dir=speech_dir_from_env())
    except NotInstalledError as exc:
        print(f"courtroom demo: {exc}", file=sys.stderr)
        return 1
    recording = build_demo_recording(
        [s.path for s in samples], data_dir / "demo-microphones.wav", roles=DEMO_ROLES
    )
    camera = _demo_camera(data_dir / "demo-camera.mp4")
    password = args.admin_password or secrets.token_urlsafe(9)
    faults: list[tuple[str, str]] = []
    for text in args.fault:
        device, _, fault = text.partition(":")
        if not device or not fault:
            print(f"courtroom demo: --fault {text!r}: expected DEVICE:FAULT", file=sys.stderr)
            return 2
        faults.append((device, fault))
    try:
        asyncio.run(
            _run(
                data_dir=data_dir,
                recording=recording,
                host=args.host,
                port=args.port,
                password=password,
                duration=args.duration,
                camera=camera,
                capture=args.capture,
                manual=args.manual,
                faults=faults,
            )
        )
    except (HubError, DemoEquipmentError) as exc:
        print(f"courtroom demo: {exc}", file=sys.stderr)
        return 1
    except PulseError as exc:
        print(f"courtroom demo: --capture pulse: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(
    *,
    data_dir: Path,
    recording: Path,
    host: str,
    port: int,
    password: str,
    duration: float | None,
    camera: Path | None,
    capture: Capture,
    manual: bool,
    faults: list[tuple[str, str]] | None = None,
) -> None:
    # Imported here: the hub and the agent pipeline take seconds to import.
    from courtroom_agent.config import AgentConfig
    from courtroom_agent.demo_equipment import DISPLAY_PASSWORD_ENV, DemoEquipment
    from courtroom_agent.runner import control_socket, run_agent
    from hub.config import load_config
    from hub.server import HubServer

    token = secrets.token_urlsafe(24)
    hub_config = load_config(
        None,
        data_dir=str(data_dir / "hub"),
        listen={"host": host, "port": port},
        courtrooms=[{"id": DEMO_COURTROOM, "name": DEMO_NAME, "token": token}],
    )
    (data_dir / "hub").mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    started = loop.time()
    if duration is not None:
        loop.call_later(duration, stop.set)
    async with (
        HubServer(hub_config, admin_password=password) as hub,
        DemoEquipment(data_dir, room=DEMO_COURTROOM, faults=faults or ()) as equipment,
        DemoMicrophones(recording, capture=capture) as microphones,
    ):
        ready = asyncio.Event()
        hub_task = asyncio.create_task(hub.run(ready=ready), name="hub")
        try:
            await _first(ready.wait(), hub_task)
            hub_ws = f"ws://127.0.0.1:{hub.port}/ws/agent"
            display_port = _free_port()
            await equipment.show_screens(f"http://127.0.0.1:{display_port}/display-wall")
            room_toml = data_dir / "room.toml"
            room_toml.write_text(
                equipment.room_toml(
                    courtroom={"id": DEMO_COURTROOM, "name": DEMO_NAME},
                    hub_url=hub_ws,
                    token=token,
                ),
                encoding="utf-8",
            )
            print(
                f"\n演示法庭已启动 · Demo courtroom running\n"
                f"  打开 Open:      {hub.url}/\n"
                f"  用户 User:      admin\n"
                f"  密码 Password:  {password}\n"
                f"  数据 Data dir:  {data_dir}\n"
                f"  话筒 Mics:      {microphones.path}\n"
                f"  法庭屏幕 Displays: http://127.0.0.1:{display_port}/display\n"
                f"  设备 Devices:   {', '.join(d['name'] for d in equipment.devices)}\n"
                f"                 {DISPLAY_PASSWORD_ENV}={os.environ[DISPLAY_PASSWORD_ENV]} "
                f"courtroom devices probe --config {room_toml}\n"
                f"  按 Ctrl-C 结束 · Ctrl-C to stop\n",
                flush=True,
            )
            agent_config = AgentConfig.model_validate(
                {
                    "courtroom": {"id": DEMO_COURTROOM, "name": DEMO_NAME},
                    "hub": {"url": hub_ws, "token": token},
                    "audio": microphones.audio_config(list(DEMO_ROLES)),
                    "mqtt": equipment.mqtt,
                    "devices": equipment.devices,
                    "sync": equipment.sync,
                    "display": {
                        "port": display_port,
                        "evidence_dir": str(demo_evidence(data_dir / "evidence")),
                    },
                    "cameras": (
                        [{"id": "CAM-1", "source": str(camera), "fps": 10, "loop": True}]
                        if camera is not None
                        else []
                    ),
                }
            )
            script = None
            if not manual:
                steps = demo_script(duration, faults=bool(faults))
                socket = control_socket(agent_config, data_dir=data_dir)
                script = asyncio.create_task(
                    run_script(socket, steps, start=started, stage_faults=equipment.stage_faults),
                    name="demo-script",
                )
            try:
                agent = await run_agent(
                    agent_config,
                    data_dir=data_dir,
                    title="演示庭审 · demo hearing",
                    stop=stop,
                    open_at_start=False,
                )
            finally:
                if script is not None:
                    script.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await script
            if agent.hearing_id:
                print(f"庭审结束 · hearing closed: {agent.hearing_id}, {agent.finals} segments")
        finally:
            hub.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await hub_task


def _free_port() -> int:
    """A free loopback port for the display pages (printed before the agent starts)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _demo_camera(path: Path) -> Path | None:
    """A looping test-card video standing in for the courtroom camera (needs ffmpeg)."""
    if path.is_file():
        return path
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        logger.warning("ffmpeg not found: the demo courtroom has no camera")
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.mp4")
    card = "testsrc2=size=640x360:rate=10:duration=20"
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(partial)]
    subprocess.run(
        [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", card, *encode],
        check=True,
    )
    partial.replace(path)
    return path


async def _first(waiting: Any, hub_task: asyncio.Task[None]) -> None:
    """Wait for the hub to be ready; if it exits first, raise its error."""
    ready = asyncio.ensure_future(waiting)
    await asyncio.wait({ready, hub_task}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        hub_task.result()
        raise HubError("hub stopped during startup")
