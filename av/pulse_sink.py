"""A private PulseAudio daemon with one null sink: a courtroom mixer in software.

What is played into the sink (``paplay``) is recorded from its monitor by
PyAudio exactly as a USB mixer's channels are: PortAudio → ALSA → the
``pulse`` ALSA plugin (Debian ``libasound2-plugins``) → this daemon. The demo
courtroom's microphones and the capture tests use it, so they exercise the
same capture path as a live room.

The daemon is private: its own runtime directory, socket and state under
``root``, no default configuration (``-n``), nothing but the null sink and
the native protocol on a unix socket. It does not touch, and is not touched
by, a desktop's PulseAudio or PipeWire. It is a child process with a
parent-death signal (``setpriv --pdeathsig``, util-linux) so it dies with a
killed parent. :meth:`env` is what a process needs to reach it — set it in
``os.environ`` *before* PortAudio is first initialised in the process.

Needs the Debian packages ``pulseaudio`` and ``pulseaudio-utils`` (``pactl``,
``paplay``); :class:`PulseError` says what is missing or why the daemon did
not come up (with the tail of its log).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Self

from av.wav_source import parse_wav_header
from courtroom_core.errors import CourtroomError

__all__ = ["BINARIES", "PYAUDIO_DEVICE", "PulseError", "PulseSink", "missing_binaries"]

# The ALSA device of the pulse plugin: records PULSE_SOURCE on PULSE_SERVER.
PYAUDIO_DEVICE = "pulse"
BINARIES = ("pulseaudio", "pactl", "paplay")
# PulseAudio's default channel maps, by channel count (also the ALSA pulse plugin's).
_CHANNEL_MAPS = {
    1: "mono",
    2: "front-left,front-right",
    4: "front-left,front-right,rear-left,rear-right",
}


class PulseError(CourtroomError):
    """The private PulseAudio daemon cannot be started or driven."""


def missing_binaries() -> list[str]:
    """The PulseAudio tools not on ``PATH``."""
    return [b for b in BINARIES if shutil.which(b) is None]


class PulseSink:
    """A private PulseAudio daemon under ``root`` with one null sink.

    Args:
        root: an empty directory for the daemon's runtime, socket, state and log.
        sink: the null sink's name (its monitor is ``<sink>.monitor``).
        rate: the sink's sample rate.
        channels: the sink's channel count (1, 2 or 4).

    Use as a context manager, or :meth:`start` / :meth:`stop`.
    """

    def __init__(self, root: Path, *, sink: str, rate: int = 16_000, channels: int = 4) -> None:
        if channels not in _CHANNEL_MAPS:
            raise ValueError(f"channels must be one of {sorted(_CHANNEL_MAPS)}")
        self.root = root
        self.sink = sink
        self.monitor = f"{sink}.monitor"
        self.rate = rate
        self.channels = channels
        self.channel_map = _CHANNEL_MAPS[channels]
        self.socket = root / "native"
        self.log_path = root / "pulseaudio.log"
        self._client_conf = root / "client.conf"
        self._proc: subprocess.Popen[bytes] | None = None
        self._players: list[subprocess.Popen[bytes]] = []

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def server_env(self) -> dict[str, str]:
        """The variables that point PulseAudio clients (and the ALSA plugin) here."""
        return {
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_SOURCE": self.monitor,
            "PULSE_SINK": self.sink,
            "PULSE_CLIENTCONFIG": str(self._client_conf),
        }

    @property
    def env(self) -> dict[str, str]:
        """``os.environ`` plus :attr:`server_env`, for subprocesses."""
        return {**os.environ, **self.server_env}

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, *, timeout: float = 15.0) -> None:
        """Start the daemon and wait until it answers, with the sink as default.

        Raises:
            PulseError: a tool is missing, or the daemon exited or did not
                answer within ``timeout`` seconds (the message holds its log).
        """
        missing = missing_binaries()
        if missing:
            raise PulseError(
                f"PulseAudio tools not found: {', '.join(missing)} "
                "(apt-get install pulseaudio pulseaudio-utils)"
            )
        runtime = self.root / "runtime"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._client_conf.write_text("autospawn = no\n", encoding="utf-8")
        daemon_env = {
            **os.environ,
            "HOME": str(self.root),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_RUNTIME_DIR": str(runtime),
            "PULSE_RUNTIME_PATH": str(runtime / "pulse"),
            "PULSE_STATE_PATH": str(self.root / "state"),
        }
        for key in ("PULSE_SERVER", "PULSE_SOURCE", "PULSE_SINK", "DBUS_SESSION_BUS_ADDRESS"):
            daemon_env.pop(key, None)
        setpriv = shutil.which("setpriv")
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    *([setpriv, "--pdeathsig=TERM"] if setpriv else []),
                    "pulseaudio",
                    "--daemonize=no",
                    "--system=false",
                    "-n",  # no default.pa: nothing but what is loaded below
                    "--exit-idle-time=-1",
                    "--disallow-exit",
                    "--use-pid-file=no",
                    "--realtime=no",
                    "--high-priority=no",
                    "--log-target=stderr",
                    f"--load=module-null-sink sink_name={self.sink} rate={self.rate} "
                    f"channels={self.channels} channel_map={self.channel_map} format=s16le "
                    f"sink_properties=device.description={self.sink}",
                    f"--load=module-native-protocol-unix auth-anonymous=1 socket={self.socket}",
                ],
                env=daemon_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        try:
            self._wait_ready(timeout)
            self.pactl("set-default-sink", self.sink)
            self.pactl("set-default-source", self.monitor)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the players and the daemon (idempotent)."""
        self.stop_players()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def pactl(self, *args: str) -> str:
        """Run ``pactl`` against this daemon and return its stdout.

        Raises:
            PulseError: ``pactl`` failed or took over 10 s.
        """
        try:
            done = subprocess.run(
                ["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10
            )
        except subprocess.TimeoutExpired as exc:
            raise PulseError(f"pactl {' '.join(args)}: no answer within 10 s") from exc
        if done.returncode != 0:
            raise PulseError(f"pactl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def spawn_play(self, path: str | Path) -> subprocess.Popen[bytes]:
        """Start playing a WAV file into the sink; returns at once.

        A file with as many channels as the sink is played with the sink's
        channel map, so file channel *k* is captured as channel *k* (paplay
        would otherwise guess a surround layout and remix). Players still
        running are killed by :meth:`stop_players` / :meth:`stop`.
        """
        args = ["paplay", f"--device={self.sink}"]
        with Path(path).open("rb") as f:
            info = parse_wav_header(f, file_size=Path(path).stat().st_size)
        if info.format.channels == self.channels:
            args.append(f"--channel-map={self.channel_map}")
        proc = subprocess.Popen(
            [*args, str(path)], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._players.append(proc)
        return proc

    def adopt(self, proc: subprocess.Popen[bytes]) -> None:
        """Have :meth:`stop_players` stop ``proc`` too (a player started elsewhere)."""
        self._players.append(proc)

    def stop_players(self) -> None:
        for proc in self._players:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        self._players.clear()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise PulseError(
                    f"pulseaudio exited with {self._proc.returncode}:\n{self.log_tail()}"
                )
            try:
                info = self.pactl("info")
            except PulseError:
                info = ""
            if "Server Name" in info:
                return
            if time.monotonic() > deadline:
                raise PulseError(f"pulseaudio did not answer in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)
