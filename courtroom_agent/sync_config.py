"""The five-sync configuration (``[sync]`` and ``[[rules]]`` in ``room.toml``).

A court says which device plays which part; the standard rules follow
(:func:`courtroom_agent.rules.standard_rules`)::

    [sync]
    recorders = ["deck"]                  # recorders: record at 开庭/继续, stop at 休庭/闭庭
    matrix = "matrix"                     # the video matrix that routes evidence
    evidence_input = "evidence-pc"        # matrix input carrying this PC's display pages
    follow_hold_s = 1.5                   # a seat speaks this long before the camera moves
    priority_seats = [0]                  # the presiding judge's seat: a shorter hold

    [[sync.screens]]                      # one per screen the parties and the gallery watch
    name = "gallery"                      # its display page view (/display/gallery)
    output = "gallery"                    # the matrix output feeding it
    display = "gallery-projector"         # its PJLink display, powered and switched
    display_input = "31"                  # the display input the matrix output is wired to

    [[sync.seats]]                        # the camera preset that shows each seat
    channel = 0
    camera = "judge-camera"
    preset = 1

Further rules, or rules replacing a standard one (same ``id``)::

    [[rules]]
    id = "lights-on"
    on = ["hearing.opened"]
    [[rules.actions]]
    device = "lights"
    do = "power on"
    within_ms = 2000
    on_failure = "alarm"                 # retry | alarm | incident | ignore
    part = "recording"                   # which of the five it serves (optional)

``do`` is a verb of ``courtroom devices send`` with its arguments; ``{name}``
takes a field of the triggering event (``{input}``, ``{exhibit}``,
``{channel}``) and ``match`` keeps a rule to events whose fields equal
the given values (``match = {channel = 2}``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from courtroom_core.wire_bodies import FIVE_SYNC_PARTS

__all__ = [
    "TRIGGERS",
    "ActionConfig",
    "DisplayConfig",
    "RuleConfig",
    "ScreenConfig",
    "SeatConfig",
    "SyncConfig",
]

_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

TRIGGERS = (
    "hearing.opened",
    "hearing.recessed",
    "hearing.resumed",
    "hearing.closed",
    "evidence.presented",
    "evidence.withdrawn",
    "speaker.changed",
    "device.offline",
    "device.online",
)
"""The events a rule may be fired by."""

Trigger = Literal[
    "hearing.opened",
    "hearing.recessed",
    "hearing.resumed",
    "hearing.closed",
    "evidence.presented",
    "evidence.withdrawn",
    "speaker.changed",
    "device.offline",
    "device.online",
]
Part = Literal["recording", "transcript_display", "evidence_display", "video", "data_upload"]
assert set(Part.__args__) == set(FIVE_SYNC_PARTS)  # type: ignore[attr-defined]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionConfig(_Model):
    """One device action of a rule."""

    device: Annotated[str, Field(pattern=_ID)]
    do: Annotated[str, Field(min_length=1, max_length=200, description="verb and arguments")]
    within_ms: Annotated[int, Field(ge=10, le=120_000)] = Field(
        default=2000, description="the expected state must be confirmed within this"
    )
    on_failure: Literal["retry", "alarm", "incident", "ignore"] = "alarm"
    part: Part | None = None


class RuleConfig(_Model):
    """A rule: on one of the triggers (matching ``match``), run the actions."""

    id: Annotated[str, Field(pattern=_ID)]
    on: Annotated[list[Trigger], Field(min_length=1, max_length=len(TRIGGERS))]
    match: dict[str, str | int] = Field(default_factory=dict, max_length=8)
    actions: Annotated[list[ActionConfig], Field(min_length=1, max_length=64)]
    enabled: bool = True


class ScreenConfig(_Model):
    """A screen the court watches: its display page, matrix output and display."""

    name: Annotated[str, Field(pattern=_ID)]
    output: str | None = Field(default=None, description="matrix output (name or number)")
    display: str | None = Field(default=None, description="PJLink/MQTT display device")
    display_input: str | None = Field(default=None, description="the display's input code")
    party: bool = Field(default=True, description="shows evidence (False: the bench only)")


class SeatConfig(_Model):
    """The camera preset that shows one microphone's seat."""

    channel: Annotated[int, Field(ge=0, le=1023)]
    camera: Annotated[str, Field(pattern=_ID)]
    preset: Annotated[int, Field(ge=0, le=255)]


class SyncConfig(_Model):
    """Which device plays which part of the five synchronisations."""

    recorders: list[Annotated[str, Field(pattern=_ID)]] = Field(default_factory=list, max_length=8)
    matrix: str | None = None
    evidence_input: str | None = Field(
        default=None, description="matrix input carrying the display PC (file exhibits)"
    )
    screens: list[ScreenConfig] = Field(default_factory=list, max_length=32)
    seats: list[SeatConfig] = Field(default_factory=list, max_length=64)
    follow_hold_s: Annotated[float, Field(ge=0.2, le=30)] = 1.5
    priority_seats: list[Annotated[int, Field(ge=0, le=1023)]] = Field(
        default_factory=list, max_length=8
    )
    recorder_within_ms: Annotated[int, Field(ge=100, le=60_000)] = 2000
    matrix_within_ms: Annotated[int, Field(ge=100, le=60_000)] = 1000
    display_within_ms: Annotated[int, Field(ge=100, le=120_000)] = 5000
    camera_within_ms: Annotated[int, Field(ge=100, le=60_000)] = 1000
    watch_recorders_s: Annotated[float, Field(ge=0.2, le=60)] = Field(
        default=1.0, description="seconds between checks that a recorder still records"
    )


class DisplayConfig(_Model):
    """The courtroom display pages this agent serves (``[display]``).

    The pages are read-only and meant for the courtroom's own screens on its
    LAN: listen on the address of the courtroom network, never the WAN.
    """

    host: str = Field(default="127.0.0.1", description="address to serve the display pages on")
    port: Annotated[int, Field(ge=0, le=65535)] = 8780
    evidence_dir: Path | None = Field(
        default=None, description="the evidence folder exhibits are presented from"
    )
    enabled: bool = True
