"""The courtroom agent's configuration file (TOML), validated by pydantic.

Example ``room.toml``::

    [courtroom]
    id = "fy-01"
    name = "第一法庭"

    [hub]
    url = "wss://hub.court.example:8443/ws/agent"
    token_env = "COURTROOM_TOKEN"      # or: token = "..."
    ca_file = "/etc/courtroom/hub-ca.pem"   # optional; default: the system CAs
    pin_sha256 = "3f9a…"               # optional; SHA-256 of the hub certificate (DER)

    [audio]
    source = "pyaudio"                 # or "wav"
    device = "USB Audio"               # name substring or index
    rate = 48000
    roles = ["审判长", "原告", "被告", "书记员"]   # one per input channel

    [transcription]
    model = "vosk-model-small-cn-0.22"   # name, or path to any Vosk model
    detector = "silero"                  # or "webrtc", "energy"
    endpoint_ms = 500                    # trailing non-speech that ends an utterance

Errors are reported with the file name and the key path of each problem.
"""

from __future__ import annotations

import os
import ssl
import tomllib
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    ValidationError,
    field_validator,
    model_validator,
)

from courtroom_agent.sync_config import DisplayConfig, RuleConfig, SyncConfig
from courtroom_core.config_errors import validation_problems
from courtroom_core.errors import CourtroomError
from devices.kinds import KINDS, DeviceKindSpec

__all__ = [
    "AgentConfig",
    "AudioConfig",
    "AudioDeviceConfig",
    "CameraConfig",
    "ConfigError",
    "CourtroomConfig",
    "DeviceConfig",
    "HubConfig",
    "MicrophonesConfig",
    "MqttConfig",
    "RecordingConfig",
    "TranscriptionConfig",
    "load_agent_config",
    "spool_path",
]

_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class ConfigError(CourtroomError):
    """A configuration file is unreadable or invalid.

    ``str(err)`` lists every problem as ``FILE: key.path: message``, one per line.
    """

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CourtroomConfig(_Model):
    id: Annotated[str, Field(pattern=_ID, description="courtroom id, unique at the hub")]
    name: Annotated[str, Field(min_length=1, max_length=100, description="display name")]
    overlay_font: Path | None = Field(
        default=None,
        description="font with Chinese glyphs for the name burned into the video "
        "(default: WenQuanYi Micro Hei, else fontconfig's zh-cn font)",
    )

    @model_validator(mode="after")
    def _font_exists(self) -> Self:
        if self.overlay_font is not None and not self.overlay_font.is_file():
            raise ValueError(f"overlay_font: no such file: {self.overlay_font}")
        return self


class HubConfig(_Model):
    """``[hub]``: where the hub is, the courtroom's token, and how to trust the hub.

    For a ``wss://`` URL the hub's certificate is verified against the system
    CAs, or only against ``ca_file`` when given; host names are checked.
    ``pin_sha256`` further requires that exact certificate
    (``openssl x509 -in hub.pem -outform DER | sha256sum``).
    """

    url: Annotated[str, Field(pattern=r"^wss?://", description="hub agent websocket URL")]
    token: str | None = Field(default=None, min_length=1, description="courtroom token")
    token_env: str | None = Field(default=None, description="env var holding the token")
    ca_file: FilePath | None = Field(
        default=None, description="PEM CA certificate(s) trusted for the hub (wss:// only)"
    )
    pin_sha256: str | None = Field(
        default=None,
        description="hex SHA-256 of the hub certificate's DER encoding (wss:// only)",
    )

    @field_validator("pin_sha256")
    @classmethod
    def _pin_is_sha256(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.replace(":", "").strip().lower()
        if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
            raise ValueError("must be 64 hex digits: SHA-256 of the hub certificate (DER)")
        return digits

    @model_validator(mode="after")
    def _one_token(self) -> Self:
        if (self.token is None) == (self.token_env is None):
            raise ValueError("give exactly one of 'token' or 'token_env'")
        if not self.url.startswith("wss://"):
            for key in ("ca_file", "pin_sha256"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key}: needs a wss:// url")
        if self.ca_file is not None:
            self.ssl_context()
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client TLS context trusting ``ca_file``; None means the system CAs.

        Raises:
            ValueError: ``ca_file`` holds no usable PEM certificate.
        """
        if self.ca_file is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_verify_locations(cafile=self.ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"ca_file: {self.ca_file} holds no usable certificate: {exc}") from exc
        return context

    def resolve_token(self) -> str:
        """The token, read from the environment if configured so.

        Raises:
            ValueError: the named environment variable is unset or empty.
        """
        if self.token is not None:
            return self.token
        assert self.token_env is not None
        value = os.environ.get(self.token_env, "")
        if not value:
            raise ValueError(f"hub.token_env: environment variable {self.token_env} is not set")
        return value


class AudioDeviceConfig(_Model):
    """One capture device of several (an entry of ``audio.devices``)."""

    device: str | int = Field(description="PyAudio device name (or part of it) or index")
    channels: Annotated[int, Field(ge=1, le=64, description="input channels recorded")]


class AudioConfig(_Model):
    """``[audio]``: where the microphones come from, one role per channel.

    One device with N channels (``device``, N = the number of ``roles``), or
    several devices merged into one stream (``devices``; channels in device
    order, the first device's clock is the master)::

        [audio]
        devices = [{device = "USB Mixer A", channels = 8}, {device = "USB Mixer B", channels = 8}]
        rate = 48000
        roles = ["审判长", "审判员1", ...]     # 16 roles: A's 8 channels, then B's
    """

    source: Literal["pyaudio", "wav"] = "pyaudio"
    device: str | int | None = Field(default=None, description="PyAudio device name or index")
    devices: list[AudioDeviceConfig] | None = Field(
        default=None, min_length=1, max_length=8, description="several devices, merged in order"
    )
    file: Path | None = Field(default=None, description="WAV file for source = 'wav'")
    realtime: bool = Field(default=True, description="pace a WAV file at real time")
    loop: bool = Field(default=False, description="replay a WAV file forever")
    rate: Annotated[int, Field(ge=8000, le=192_000)] = 16000
    block_ms: Annotated[int, Field(ge=10, le=1000)] = 100
    roles: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1, max_length=64)]

    @model_validator(mode="after")
    def _file_for_wav(self) -> Self:
        if self.source == "wav" and self.file is None:
            raise ValueError("source = 'wav' needs 'file'")
        if self.source == "pyaudio" and self.file is not None:
            raise ValueError("'file' is only for source = 'wav'")
        if len(set(self.roles)) != len(self.roles):
            raise ValueError("roles must be distinct")
        if self.devices is not None:
            if self.device is not None or self.source != "pyaudio":
                raise ValueError("audio.devices is for source = 'pyaudio', instead of 'device'")
            specs = [d.device for d in self.devices]
            if len(set(specs)) != len(specs):
                raise ValueError("audio.devices lists a device more than once")
            channels = sum(d.channels for d in self.devices)
            if channels != len(self.roles):
                raise ValueError(
                    f"audio.roles has {len(self.roles)} names but audio.devices record "
                    f"{channels} channels in all: give one role per channel, in device order"
                )
        return self


SpeechDetector = Literal["silero", "webrtc", "energy"]
"""The names of :data:`transcription.vad.DETECTORS` (a test keeps the two equal)."""


class TranscriptionConfig(_Model):
    model: str = Field(default="vosk-model-small-cn-0.22", description="model name or path")
    detector: SpeechDetector = Field(
        default="silero", description="what decides a frame is speech (see transcription.vad)"
    )
    speech_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5
    endpoint_ms: Annotated[int, Field(ge=100, le=3000)] = 500
    dominance_db: Annotated[float, Field(gt=0, le=60)] = 15.0
    min_level_dbfs: Annotated[float, Field(ge=-90, le=0)] = -60.0


DeviceKind = Literal["visca", "pelco-d", "extron-sis", "pjlink", "hyperdeck", "mqtt"]
"""The kinds of :data:`devices.kinds.KINDS` (a test keeps the two equal)."""


class DeviceConfig(_Model):
    """One piece of courtroom equipment (a ``[[devices]]`` table).

    Serial devices give ``port`` as a pyserial URL or path (``/dev/ttyUSB0``,
    ``socket://host:port``, ``rfc2217://…``); TCP devices give ``host`` (and
    ``port`` if not the protocol's default); MQTT devices use the courtroom's
    broker. An Extron matrix is on serial without ``host``, on Telnet with it.
    """

    name: Annotated[str, Field(pattern=_ID, description="device name used in commands")]
    kind: DeviceKind
    port: str | int | None = Field(default=None, description="serial path/URL, or TCP port")
    host: str | None = Field(default=None, description="TCP host")
    baudrate: Annotated[int, Field(ge=1200, le=921_600)] = 9600
    address: Annotated[int, Field(ge=1, le=255)] = 1
    password_env: str | None = Field(default=None, description="env var holding the password")
    inputs: dict[str, Annotated[int, Field(ge=0, le=512)]] = Field(
        default_factory=dict, description="matrix input names, e.g. doc-camera = 1"
    )
    outputs: dict[str, Annotated[int, Field(ge=1, le=512)]] = Field(
        default_factory=dict, description="matrix output names, e.g. judge = 1"
    )
    timeout: Annotated[float, Field(gt=0, le=60)] | None = None

    @property
    def spec(self) -> DeviceKindSpec:
        """The table row of this device's kind (:mod:`devices.kinds`)."""
        return KINDS[self.kind]

    @model_validator(mode="after")
    def _connection(self) -> Self:
        spec = self.spec
        line = spec.transport.line
        if line == "mqtt":
            if self.port is not None or self.host is not None:
                raise ValueError("mqtt devices use the courtroom's broker: no 'host' or 'port'")
        elif line == "serial" and (self.host is None or not spec.transport.serial_or_tcp):
            if not isinstance(self.port, str) or not self.port:
                raise ValueError(f"{self.kind} on a serial line needs 'port' = device path or URL")
        else:
            if not self.host:
                raise ValueError(f"{self.kind} needs 'host'")
            if isinstance(self.port, str):
                raise ValueError("'port' of a TCP device must be a number")
        low, high = spec.addresses
        if not low <= self.address <= high:
            raise ValueError(f"{self.kind} address must be {low}-{high}")
        if (self.inputs or self.outputs) and not spec.named_ports:
            matrices = ", ".join(k for k, v in KINDS.items() if v.named_ports)
            raise ValueError(f"'inputs' and 'outputs' are only for a matrix ({matrices})")
        return self

    @property
    def has_line(self) -> bool:
        """Whether the device has its own serial or TCP line (all kinds but MQTT)."""
        return self.spec.has_line

    @property
    def tcp_port(self) -> int:
        """The TCP port: configured, or the protocol's default.

        Raises:
            ValueError: a serial or MQTT device (no TCP port).
        """
        if isinstance(self.port, int):
            return self.port
        default = self.spec.transport.tcp_port
        if default is None:
            raise ValueError(f"{self.kind} devices have no TCP port")
        return default


class MqttConfig(_Model):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password_env: str | None = None


class MicrophonesConfig(_Model):
    """Microphone alarms (``[microphones]``), times in seconds of audio."""

    dead_after_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    all_silent_after_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    silent_below_dbfs: Annotated[float, Field(ge=-96, le=0)] = -60.0
    speech_above_dbfs: Annotated[float, Field(ge=-96, le=0)] = -40.0


class RecordingConfig(_Model):
    """Recording disk headroom (``[recording]``): alarms well before the disk fills.

    Times are recording left at the hearing's data rate (every microphone and
    the cameras' measured video).
    """

    disk_warn_s: Annotated[float, Field(ge=0, le=7 * 86_400)] = Field(
        default=3600.0, description="recording time left that raises a disk_low warning"
    )
    disk_critical_s: Annotated[float, Field(ge=0, le=7 * 86_400)] = Field(
        default=600.0, description="recording time left that raises a critical disk_low"
    )
    disk_min_free_mib: Annotated[int, Field(ge=0, le=1 << 24)] = Field(
        default=1024, description="free space (MiB) under which a warning is raised anyway"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.disk_critical_s > self.disk_warn_s:
            raise ValueError("disk_critical_s must not exceed disk_warn_s")
        return self


class CameraConfig(_Model):
    """One courtroom camera (a ``[[cameras]]`` table), recorded beside the audio.

    ``id`` is burned into the picture with the synchronous recording time, so
    it is ASCII (``CAM-1``, ``judge``).
    """

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]
    source: str | int = Field(description="device index, rtsp:// or http:// URL, or a file")
    fps: Annotated[int, Field(ge=1, le=60)] = 25
    loop: bool = Field(default=False, description="replay a file source forever")
    thumbnail_interval: Annotated[float, Field(ge=1, le=600)] = Field(
        default=5.0, description="seconds between thumbnails for the hub's patrol wall"
    )
    no_frame_timeout: Annotated[float, Field(gt=0, le=60)] = Field(
        default=5.0, description="seconds without a frame before the camera is offline"
    )
    frozen_after: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=10.0, description="seconds of an unchanging picture before a frozen alarm"
    )
    black_after: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=10.0, description="seconds of a black picture before a black alarm"
    )


class AgentConfig(_Model):
    courtroom: CourtroomConfig
    hub: HubConfig
    audio: AudioConfig
    transcription: TranscriptionConfig = TranscriptionConfig()
    microphones: MicrophonesConfig = MicrophonesConfig()
    recording: RecordingConfig = RecordingConfig()
    spool: Path | None = Field(default=None, description="event spool file (SQLite)")
    mqtt: MqttConfig | None = Field(
        default=None, description="the courtroom's broker (default: an embedded one)"
    )
    devices: list[DeviceConfig] = Field(default_factory=list, max_length=64)
    cameras: list[CameraConfig] = Field(default_factory=list, max_length=16)
    sync: SyncConfig | None = Field(
        default=None, description="which device plays which part of the five synchronisations"
    )
    rules: list[RuleConfig] = Field(default_factory=list, max_length=128)
    display: DisplayConfig = DisplayConfig()
    status_interval_s: Annotated[float, Field(gt=0, le=300)] = Field(
        default=1.0,
        description="seconds between status reports to the hub (recording state, "
        "levels, devices): how stale the patrol view may be",
    )

    @model_validator(mode="after")
    def _unique_devices(self) -> Self:
        for what, names in (
            ("device names", [d.name for d in self.devices]),
            ("camera ids", [c.id for c in self.cameras]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {what}: {', '.join(dupes)}")
        # Each device's link owns its line; two on one port would split its bytes.
        ports = [str(d.port) for d in self.devices if d.host is None and d.has_line]
        if shared := sorted({p for p in ports if ports.count(p) > 1}):
            raise ValueError(
                f"serial port used by two devices: {', '.join(shared)} (one device per "
                "serial line; a VISCA daisy chain or a shared RS-485 bus is not supported)"
            )
        return self


def spool_path(config: AgentConfig, *, data_dir: Path) -> Path:
    """The courtroom's event spool: ``spool`` from the config, else under ``data_dir``.

    Its directory (``<data dir>/agent/<courtroom>/``) also holds the control
    socket and the local ledger.
    """
    return config.spool or data_dir / "agent" / config.courtroom.id / "spool.sqlite"


def load_agent_config(path: Path) -> AgentConfig:
    """Read and validate ``path``.

    Raises:
        ConfigError: unreadable file, bad TOML, or invalid values; each problem
            names its key path. The CLI prints it and exits 2.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc.strerror or exc}"]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from exc
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, validation_problems(exc)) from exc
    if config.audio.file is not None and not config.audio.file.is_absolute():
        audio = config.audio.model_copy(update={"file": path.parent / config.audio.file})
        config = config.model_copy(update={"audio": audio})
    return config
