"""A live room for real: speech played into PulseAudio, captured by PyAudio, to the hub.

Four microphones: a 4-channel recording (one seat speaking per turn, the
others hearing it 25 dB quieter) is played into a 4-channel null sink; the
agent captures the sink's monitor through PyAudio and transcribes it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from av.pyaudio_source import PyAudioSource
from courtroom_agent.demo_audio import build_demo_recording
from courtroom_agent.runner import run_agent
from hub.server import HubServer
from tests.fixtures.speech import cer
from tests.test_end_to_end import agent_config, hub, login, transcript  # noqa: F401
from transcription.assets import SpeechSample

pytestmark = pytest.mark.slow
ROLES = ["审判长", "原告", "被告", "书记员"]


async def test_pyaudio_capture_to_hub_each_turn_once_on_its_seat(
    pulse_server: object,
    hub: HubServer,  # noqa: F811
    tmp_path: Path,
    speech: list[SpeechSample],
) -> None:
    turns = 4
    recording = build_demo_recording(
        [s.path for s in speech], tmp_path / "room.wav", roles=ROLES, turns=turns, pause_s=1.0
    )
    config = agent_config(hub.port, recording)
    config = config.model_copy(
        update={
            "audio": config.audio.model_copy(
                update={"source": "pyaudio", "file": None, "roles": ROLES}
            )
        }
    )
    source = PyAudioSource("pulse", rate=16000, channels=4)
    stop = asyncio.Event()
    agent_task = asyncio.create_task(
        run_agent(config, data_dir=tmp_path / "agent", source=source, stop=stop)
    )
    for _ in range(300):
        if source.active:
            break
        assert not agent_task.done(), agent_task
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    player = pulse_server.spawn_play(recording)  # type: ignore[attr-defined]
    await asyncio.to_thread(player.wait, 120)
    await asyncio.sleep(1.0)  # the last utterance's endpoint
    stop.set()
    agent = await asyncio.wait_for(agent_task, 60)
    assert source.stats.gaps == ()
    bearer = await login(hub.url)
    stored = await transcript(hub.url, bearer, agent.hearing_id)
    assert len(stored) == turns, [(s["role"], s["text"]) for s in stored]
    for k, segment in enumerate(stored):
        assert segment["role"] == ROLES[k] and segment["channel"] == k
        assert cer(speech[k % 2].text, segment["text"]) <= 0.05, segment["text"]
