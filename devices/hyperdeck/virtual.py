"""A simulated HyperDeck recorder (implements :class:`devices.virtual.VirtualDevice`).

It "records" for real: ``record`` creates ``<clip name>-<UTC timestamp>.clip``
in the directory given to the constructor and :meth:`VirtualHyperDeck.poll`
grows it by ``bytes_per_second`` as ``now`` advances, charging the bytes to
the active slot (slot 1). The file is not a playable QuickTime movie: a text
header line followed by zero bytes, enough to show a recording exists and grew.

Behaviour follows the protocol chapter of the manual: greeting ``500
connection info``, ``200 ok``/``2xx`` blocks, ``1xx`` failures, ``508``/``502``
notifications once ``notify`` asked for them. As a real deck's, a
notification carries only the parameters whose value changed since the last
one (or since ``notify`` was asked): ``508 transport info`` with just
``status: stopped`` and the new timecode, ``502 slot info`` with the ``slot
id`` and what changed on it. A transport change caused by a command is
notified *before* the command's ``200 ok``, as the protocol allows
("asynchronous messages at any time"), so controllers are exercised on it.

Someone at the deck (:meth:`VirtualHyperDeck.control`, the simulator's
control port): ``transport record [NAME]``, ``transport stopped``, ``transport
preview`` press the deck's own buttons; the change is notified at the next
:meth:`~VirtualHyperDeck.poll`.

Device-specific faults (:attr:`VirtualHyperDeck.faults`):

* ``disk-full``: ``record`` → ``104 disk full``; a recording in progress stops
  (``508`` with ``status: stopped``) at the next :meth:`poll`.
* ``no-input``: ``record`` → ``110 no input``.
* ``no-disk``: the slot is empty: ``record`` → ``105 no disk``; a recording
  stops; ``502 slot info`` is sent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from devices.errors import RemoteProtocolError
from devices.hyperdeck.codec import (
    AsyncCode,
    Command,
    CommandDecoder,
    CommandName,
    ErrorCode,
    Response,
    SlotStatus,
    SuccessCode,
    TransportStatus,
    encode_response,
)

__all__ = ["VirtualHyperDeck"]

_FPS = 25  # 1080i50
_CHUNK = 1 << 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class _Slot:
    slot_id: int
    capacity: int
    used: int = 0

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.used)


@dataclass
class _Recording:
    path: Path
    file: BinaryIO
    started: float
    written_until: float
    clip_id: int


class VirtualHyperDeck:
    """One simulated HyperDeck behind one TCP connection.

    Args:
        directory: where recorded clip files are written (must exist).
        model: model name in the greeting and ``device info``.
        slots: number of slots (ids 1…n); slot 1 records.
        slot_capacity: bytes per slot.
        bytes_per_second: growth rate of a recording.
        wall_clock: seconds since the epoch, for clip file names only.
    """

    faults = frozenset({"disk-full", "no-input", "no-disk"})
    protocol_version = "1.11"
    video_format = "1080i50"

    def __init__(
        self,
        directory: Path,
        *,
        model: str = "HyperDeck Studio Mini",
        slots: int = 2,
        slot_capacity: int = 256 << 20,
        bytes_per_second: int = 64_000,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.model = model
        self.bytes_per_second = bytes_per_second
        self._wall_clock = wall_clock
        self.slots = [_Slot(i, slot_capacity) for i in range(1, slots + 1)]
        self.status = TransportStatus.PREVIEW
        self.recording: _Recording | None = None
        self.clips: list[Path] = []
        self._active_faults: set[str] = set()
        self._decoder = CommandDecoder()
        self._notify_transport = False
        self._notify_slot = False
        self._slot_changed = False
        self._last_timecode = 0.0
        self._front_panel = bytearray()  # notifications of front-panel presses, for poll()
        # What the controller was last told, per parameter: notifications carry the rest.
        self._told_transport: dict[str, str] = {}
        self._told_slots: dict[int, dict[str, str]] = {}

    # --- VirtualDevice ----------------------------------------------------------------

    def connected(self, *, now: float) -> bytes:
        """New controller: notifications off, greet with ``500 connection info``."""
        self._decoder = CommandDecoder()
        self._notify_transport = self._notify_slot = False
        params = (("protocol version", self.protocol_version), ("model", self.model))
        return encode_response(Response(AsyncCode.CONNECTION_INFO, "connection info", params))

    def receive(self, data: bytes, *, now: float) -> bytes:
        self._decoder.feed(data)
        out = bytearray(self.poll(now=now))
        while True:
            try:
                command = self._decoder.next_command()
            except RemoteProtocolError as exc:
                out += self._error(ErrorCode(int(exc.code or ErrorCode.SYNTAX_ERROR)))
                continue
            if command is None:
                return bytes(out)
            out += self._execute(command, now)

    def poll(self, *, now: float) -> bytes:
        """Grow the recording; stop it on a full or missing disk (with notifications)."""
        out = bytearray(self._front_panel)
        self._front_panel.clear()
        if self.recording is not None:
            stop_reason = self._grow(now)
            if stop_reason is not None:
                self._stop_recording(now)
                out += self._transport_notification()
        if self._slot_changed:
            self._slot_changed = False
            if self._notify_slot:
                out += self._slot_notification(self.slots[0])
        return bytes(out)

    def set_fault(self, name: str, active: bool) -> None:
        """Switch ``disk-full``, ``no-input`` or ``no-disk`` on or off.

        Raises:
            ValueError: unknown fault name.
        """
        if name not in self.faults:
            raise ValueError(f"unknown HyperDeck fault {name!r} (known: {sorted(self.faults)})")
        if active == (name in self._active_faults):
            return
        self._active_faults.symmetric_difference_update({name})
        if name == "no-disk":
            self._slot_changed = True

    def control(self, words: list[str], *, now: float) -> str:
        """Press a button on the deck (see the module docstring); return what happened.

        Raises:
            ValueError: unknown control command, or the deck refuses (``104
                disk full`` …), as its front panel would.
        """
        match words:
            case ["transport", "record", *name] if len(name) <= 1:
                command = Command.record(name=name[0] if name else None)
                reply = self._record(command, now)
                if not reply.endswith(self._ok()):
                    raise ValueError(f"the deck refuses to record: {reply.decode().strip()}")
                self._front_panel += reply.removesuffix(self._ok())
                return f"recording {self.clips[-1].name}"
            case ["transport", ("stopped" | "stop")]:
                self._front_panel += self._execute(
                    Command.simple(CommandName.STOP), now
                ).removesuffix(self._ok())
                return "stopped"
            case ["transport", "preview"]:
                if self.recording is not None:
                    self._grow(now)
                    self._stop_recording(now)
                self.status = TransportStatus.PREVIEW
                self._front_panel += self._transport_notification()
                return "preview"
        raise ValueError(
            f"unknown HyperDeck control {' '.join(words)!r}; "
            "try: transport record [NAME] | transport stopped | transport preview"
        )

    def close(self) -> None:
        """Close a recording in progress (simulator shutdown); the file stays."""
        if self.recording is not None:
            self.recording.file.close()
            self.recording = None
            self.status = TransportStatus.STOPPED

    # --- commands ---------------------------------------------------------------------

    def _execute(self, command: Command, now: float) -> bytes:
        match command.name:
            case CommandName.PING:
                return self._ok()
            case CommandName.DEVICE_INFO:
                params = (
                    ("protocol version", self.protocol_version),
                    ("model", self.model),
                    ("unique id", "c0u7700m0001"),
                    ("slot count", str(len(self.slots))),
                )
                return encode_response(Response(SuccessCode.DEVICE_INFO, "device info", params))
            case CommandName.TRANSPORT_INFO:
                return encode_response(self._transport_info(SuccessCode.TRANSPORT_INFO, now))
            case CommandName.SLOT_INFO:
                return self._slot_info_command(command)
            case CommandName.NOTIFY:
                return self._notify(command)
            case CommandName.RECORD:
                return self._record(command, now)
            case CommandName.STOP:
                if self.recording is not None:
                    self._grow(now)
                    self._stop_recording(now)
                    return self._transport_notification() + self._ok()
                changed = self.status is not TransportStatus.STOPPED
                self.status = TransportStatus.STOPPED
                return (self._transport_notification() if changed else b"") + self._ok()
        return self._error(ErrorCode.UNSUPPORTED)  # pragma: no cover - enum is exhaustive

    def _record(self, command: Command, now: float) -> bytes:
        if "no-disk" in self._active_faults:
            return self._error(ErrorCode.NO_DISK)
        if "no-input" in self._active_faults:
            return self._error(ErrorCode.NO_INPUT)
        if "disk-full" in self._active_faults or self.slots[0].free == 0:
            return self._error(ErrorCode.DISK_FULL)
        if command.get("append") not in (None, "false"):
            return self._error(ErrorCode.UNSUPPORTED_PARAMETER)
        if self.recording is not None:
            return self._ok()
        stamp = datetime.fromtimestamp(self._wall_clock(), UTC).strftime("%Y%m%dT%H%M%SZ")
        base = _SAFE_NAME.sub("_", command.get("name") or "Clip").strip("._") or "Clip"
        path = self.directory / f"{base}-{stamp}.clip"
        suffix = 1
        while path.exists():
            suffix += 1
            path = self.directory / f"{base}-{stamp}-{suffix}.clip"
        try:
            file = path.open("xb")
            file.write(f"HyperDeck virtual clip {command.get('name') or base} {stamp}\n".encode())
        except OSError:
            return self._error(ErrorCode.DISK_ERROR)
        self.clips.append(path)
        self.recording = _Recording(path, file, now, now, clip_id=len(self.clips))
        self.status = TransportStatus.RECORD
        return self._transport_notification() + self._ok()

    def _notify(self, command: Command) -> bytes:
        if not command.params:
            params = (
                ("transport", _bool(self._notify_transport)),
                ("slot", _bool(self._notify_slot)),
                ("remote", "false"),
                ("configuration", "false"),
            )
            return encode_response(Response(SuccessCode.NOTIFY, "notify", params))
        values = {}
        for key, value in command.params:
            if value not in ("true", "false"):
                return self._error(ErrorCode.INVALID_VALUE)
            values[key] = value == "true"
        transport = values.get("transport", self._notify_transport)
        slot = values.get("slot", self._notify_slot)
        # Subscribing starts from what the deck is now: later notifications carry changes.
        if transport and not self._notify_transport:
            self._told_transport = dict(self._transport_info(AsyncCode.TRANSPORT_INFO, None).fields)
        if slot and not self._notify_slot:
            self._told_slots = {
                s.slot_id: self._slot_info(AsyncCode.SLOT_INFO, s).fields for s in self.slots
            }
        self._notify_transport, self._notify_slot = transport, slot
        return self._ok()

    def _slot_info_command(self, command: Command) -> bytes:
        requested = command.get("slot id")
        if requested is None:
            slot = self.slots[0]
        elif requested.isdigit() and 1 <= int(requested) <= len(self.slots):
            slot = self.slots[int(requested) - 1]
        else:
            return self._error(ErrorCode.INVALID_VALUE)
        return encode_response(self._slot_info(SuccessCode.SLOT_INFO, slot))

    # --- state ------------------------------------------------------------------------

    def _grow(self, now: float) -> str | None:
        """Write the bytes due by ``now``; return why recording must stop, if it must."""
        rec = self.recording
        assert rec is not None
        slot = self.slots[0]
        if "no-disk" in self._active_faults:
            return "no disk"
        if "disk-full" in self._active_faults:
            return "disk full"
        due = int((now - rec.written_until) * self.bytes_per_second)
        size = min(due, slot.free)
        remaining = size
        while remaining > 0:
            n = min(remaining, _CHUNK)
            rec.file.write(bytes(n))
            remaining -= n
        rec.file.flush()
        slot.used += size
        if size > 0:
            rec.written_until += size / self.bytes_per_second
        return "disk full" if slot.free == 0 else None

    def _stop_recording(self, now: float) -> None:
        rec = self.recording
        assert rec is not None
        rec.file.close()
        self._last_timecode = rec.written_until - rec.started
        self.recording = None
        self.status = TransportStatus.STOPPED

    def _transport_notification(self) -> bytes:
        """``508`` with the transport parameters that changed (b"" if none or not asked)."""
        if not self._notify_transport:
            return b""
        now = self._transport_info(AsyncCode.TRANSPORT_INFO, None).fields
        changed = tuple((k, v) for k, v in now.items() if self._told_transport.get(k) != v)
        self._told_transport = now
        if not changed:
            return b""
        return encode_response(Response(AsyncCode.TRANSPORT_INFO, "transport info", changed))

    def _slot_notification(self, slot: _Slot) -> bytes:
        """``502`` with the slot id and the slot's parameters that changed (b"" if none)."""
        now = self._slot_info(AsyncCode.SLOT_INFO, slot).fields
        told = self._told_slots.get(slot.slot_id, {})
        changed = tuple((k, v) for k, v in now.items() if k != "slot id" and told.get(k) != v)
        self._told_slots[slot.slot_id] = now
        if not changed:
            return b""
        params = (("slot id", str(slot.slot_id)), *changed)
        return encode_response(Response(AsyncCode.SLOT_INFO, "slot info", params))

    def _transport_info(self, code: int, now: float | None) -> Response:
        rec = self.recording
        if rec is not None:
            seconds = (now if now is not None else rec.written_until) - rec.started
        else:
            seconds = self._last_timecode
        clip = str(rec.clip_id) if rec is not None else str(len(self.clips))
        params = (
            ("status", self.status.value),
            ("speed", "0"),
            ("slot id", "none" if "no-disk" in self._active_faults else "1"),
            ("clip id", clip if self.clips else "none"),
            ("single clip", "false"),
            ("display timecode", _timecode(seconds)),
            ("timecode", _timecode(seconds)),
            ("video format", self.video_format),
            ("loop", "false"),
        )
        return Response(code, "transport info", params)

    def _slot_info(self, code: int, slot: _Slot) -> Response:
        empty = slot.slot_id == 1 and "no-disk" in self._active_faults
        full = "disk-full" in self._active_faults and slot.slot_id == 1
        seconds = 0 if empty or full else slot.free // self.bytes_per_second
        params = (
            ("slot id", str(slot.slot_id)),
            ("status", (SlotStatus.EMPTY if empty else SlotStatus.MOUNTED).value),
            ("volume name", "" if empty else f"Court-SSD{slot.slot_id}"),
            ("recording time", str(seconds)),
            ("video format", self.video_format),
        )
        return Response(code, "slot info", params)

    @staticmethod
    def _ok() -> bytes:
        return encode_response(Response(SuccessCode.OK, "ok"))

    @staticmethod
    def _error(code: ErrorCode) -> bytes:
        return encode_response(Response(code, code.text))


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _timecode(seconds: float) -> str:
    frames = max(0, round(seconds * _FPS))
    s, f = divmod(frames, _FPS)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h % 24:02d}:{m:02d}:{s:02d}:{f:02d}"
