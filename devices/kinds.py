"""One table per device kind: everything the agent, the CLI and the rules know of a protocol.

:data:`KINDS` maps a kind name (the ``kind`` of a ``[[devices]]`` entry) to
its :class:`DeviceKindSpec`. The configuration (``courtroom_agent.config``),
the equipment builder, ``courtroom devices probe|send``, the simulator
command line and the rule engine's confirmed actions (:mod:`devices.actions`)
all read this table and nothing else; adding a protocol means adding its
subpackage and one row here.

=========== ======== ============== ======= =========================================
kind        role     line (default  retries verbs → how each state change is confirmed
                     TCP port)
=========== ======== ============== ======= =========================================
visca       camera   serial         inq. 2, ``power on|off``, ``preset-recall N``,
                                    else 1  ``preset-set N``: the camera's completion
                                            message (``y0 5z FF``) is the confirmation;
                                            ``status`` (power inquiry) answers
pelco-d     camera   serial         1       ``power``, ``preset-recall|set|clear N``:
                                            **sent, unconfirmable** — receivers never
                                            reply; the outcome says so, never "confirmed"
extron-sis  matrix   serial, or TCP read 2, ``tie IN OUT [layer]``/``untie OUT``: the
                     23 with host   else 1  switcher's own reply ``OutNN InNN All``
                                            (matched to the exact tie) confirms;
                                            ``read OUT`` answers the input tied (0 none)
pjlink      display  TCP 4352       query 2 ``power on|off``: ``POWR ?`` answers 1 (on)
                     (idle close    else 1  or 0 (standby); 3 warm-up / 2 cool-down are
                     after 5 s)             *not yet* — polled until ``within`` ends,
                                            then unconfirmed with the state last seen;
                                            ``input CODE``: ``INPT ?`` = CODE;
                                            ``mute on|off``: ``AVMT ?`` both planes
hyperdeck   recorder TCP 9993       info 2, ``record [CLIP]``: ``transport info`` status
                                    record  ``record``; ``stop``: ``stopped`` or
                                    0,      ``preview`` (the deck's ``508`` notification
                                    else 1  precedes its ``200 ok``, so the first
                                            inquiry already sees the new state)
mqtt        mqtt     the room's     0       ``power on|off``, ``input SOURCE``: the
                     broker                 retained ``/state`` carrying the command's
                                            id shows the value; ``set ACTION …``: that
                                            state arrives without ``error``
=========== ======== ============== ======= =========================================

Inquiries (``status``, ``read``) have no expectation: their answer is the
result. Retry counts are per command class (:class:`RetryPolicy`): inquiries
change nothing and are repeated twice; state changes once, and only after a
failure the session marked retryable (VISCA buffer full, Extron busy, PJLink
unavailable time, a timeout); starting a recording is never repeated blindly.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol

from devices import arguments as a
from devices import extron, hyperdeck, pelco, pjlink, visca
from devices.errors import LocalProtocolError, RemoteProtocolError
from devices.mqtt.contract import DeviceState as MqttState
from devices.mqtt.contract import SetCommand
from devices.session import DeviceSession

__all__ = [
    "KINDS",
    "DeviceKindSpec",
    "Expectation",
    "RetryPolicy",
    "Role",
    "SessionFactory",
    "TransportDefaults",
    "Verb",
    "kind_spec",
]


class Role(enum.Enum):
    """What part a device of this kind plays in the courtroom."""

    CAMERA = "camera"
    MATRIX = "matrix"
    DISPLAY = "display"
    RECORDER = "recorder"
    MQTT = "mqtt"


class SessionFactory(Protocol):
    """Builds the sans-I/O session of one configured device."""

    def __call__(
        self, *, name: str, address: int, timeout: float | None, password: str | None
    ) -> DeviceSession: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportDefaults:
    """How a kind's devices are reached.

    Attributes:
        line: the default line: a serial port, a TCP connection, or the
            room's MQTT broker (no line of its own).
        tcp_port: the protocol's TCP port when ``host`` is given without one.
        serial_or_tcp: serial without ``host``, TCP with it (Extron RS-232 / Telnet).
        idle_close_after: a clean hang-up by a device silent this long is its
            idle timeout, not an outage (:class:`devices.link.DeviceLink`).
    """

    line: Literal["serial", "tcp", "mqtt"]
    tcp_port: int | None = None
    serial_or_tcp: bool = False
    idle_close_after: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Extra attempts after a retryable failure, looked up per command.

    ``table`` maps ``key(command)`` (by default the command's class) to a
    count; anything else gets ``default``.
    """

    default: int
    table: Mapping[Hashable, int] = field(default_factory=dict)
    key: Callable[[Any], Hashable] = type

    def __call__(self, command: Any) -> int:
        return self.table.get(self.key(command), self.default)


#: ``(command sent, a decoded reply or inquiry answer) -> whether it shows the state``.
Check = Callable[[Any, Any], bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectation:
    """How a state-changing verb is confirmed (see the module table).

    Attributes:
        text: what confirms it, ``中文 · English``, for the clerk and the ledger.
        reply: the command's own reply confirms it when this returns True.
        query: else, the inquiry to send (built from the command) …
        state: … until its answer satisfies this, or ``within`` runs out.
        interval: seconds between two inquiries.
        unconfirmable: the protocol has no replies; the outcome is
            "sent, unconfirmable", never "confirmed".
    """

    text: str
    reply: Check | None = None
    query: Callable[[Any], Any] | None = None
    state: Check | None = None
    interval: float = 0.05
    unconfirmable: bool = False

    def __post_init__(self) -> None:
        if (self.query is None) != (self.state is None):
            raise ValueError("an expectation's query and state come together")
        if not self.unconfirmable and self.reply is None and self.query is None:
            raise ValueError("an expectation needs a reply check or a query")


@dataclass(frozen=True, slots=True, kw_only=True)
class Verb:
    """One operator verb of a kind.

    Attributes:
        usage: ``tie IN OUT [all|video|audio]``, for help and errors.
        build: args (and matrix names) → the protocol command.
        expect: how its effect is confirmed; None for an inquiry, whose
            answer is the result.
    """

    usage: str
    build: a.Builder
    expect: Expectation | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceKindSpec:
    """Everything about one device kind (one row of :data:`KINDS`).

    Attributes:
        name: the ``kind`` in ``room.toml``.
        role: the part such devices play.
        description: one line, ``中文 · English``.
        session: builds a device's session; None for MQTT devices, which
            share the room's broker link.
        transport: how the devices are reached.
        reply_timeout: seconds a command may take by default (a camera's
            move, a display's answer); bounds :func:`devices.actions.perform`.
        retries: the retry policy per command.
        probe: a harmless inquiry proving the device answers; None if it never does.
        verbs: the operator's verbs, by name.
        addresses: the allowed ``address`` range (serial bus address), inclusive.
        simulator: module of the kind's virtual device and the frame end that
            ends injected garbage (``courtroom simulate KIND``); None if none.
    """

    name: str
    role: Role
    description: str
    session: SessionFactory | None
    transport: TransportDefaults
    reply_timeout: float
    retries: RetryPolicy
    probe: Callable[[], Any] | None
    verbs: Mapping[str, Verb]
    addresses: tuple[int, int] = (1, 255)
    simulator: tuple[str, bytes] | None = None

    @property
    def has_line(self) -> bool:
        """Whether each device has its own serial or TCP line (all but MQTT)."""
        return self.session is not None

    @property
    def named_ports(self) -> bool:
        """Whether devices of this kind take ``inputs``/``outputs`` names (a matrix)."""
        return self.role is Role.MATRIX

    def verb(self, verb: str) -> Verb:
        """The row of ``verb``.

        Raises:
            LocalProtocolError: this kind has no such verb; the message lists them.
        """
        found = self.verbs.get(verb)
        if found is None:
            raise LocalProtocolError(
                f"{self.name} devices understand: {', '.join(sorted(self.verbs))} (not {verb!r})"
            )
        return found

    def build(
        self,
        verb: str,
        args: Sequence[str],
        *,
        inputs: Mapping[str, int] | None = None,
        outputs: Mapping[str, int] | None = None,
    ) -> Any:
        """The protocol command for ``verb args``.

        Raises:
            LocalProtocolError: unknown verb or bad arguments; the message
                names the verb and says what was expected.
        """
        row = self.verb(verb)
        try:
            return row.build(args, inputs or {}, outputs or {})
        except (IndexError, ValueError, RemoteProtocolError, LocalProtocolError) as exc:
            detail = exc.message if isinstance(exc, LocalProtocolError) else exc
            raise LocalProtocolError(
                f"{verb} {' '.join(args)}: {detail or 'missing argument'} (usage: {row.usage})"
            ) from exc


def kind_spec(kind: str) -> DeviceKindSpec:
    """The row of ``kind``.

    Raises:
        LocalProtocolError: unknown kind; the message lists the known ones.
    """
    try:
        return KINDS[kind]
    except KeyError:
        raise LocalProtocolError(
            f"unknown device kind {kind!r} (known: {', '.join(KINDS)})"
        ) from None


# --- checks -------------------------------------------------------------------


def _answered(command: Any, reply: Any) -> bool:
    return True


def _tie_reported(command: Any, reply: Any) -> bool:
    return isinstance(reply, extron.TieReply) and (reply.input, reply.output, reply.layer) == (
        command.input,
        command.output,
        command.layer,
    )


def _pjlink_power(command: Any, reply: Any) -> bool:
    return reply is (pjlink.PowerState.ON if command.on else pjlink.PowerState.OFF)


def _pjlink_input(command: Any, reply: Any) -> bool:
    return bool(reply == command.source)


def _pjlink_mute(command: Any, reply: Any) -> bool:
    return isinstance(reply, pjlink.MuteState) and reply.video == reply.audio == command.on


def _transport(*statuses: hyperdeck.TransportStatus) -> Check:
    def check(command: Any, reply: Any) -> bool:
        return isinstance(reply, hyperdeck.TransportInfo) and reply.status in statuses

    return check


def _mqtt_value(key: str, arg: str) -> Check:
    def check(command: Any, reply: Any) -> bool:
        return isinstance(reply, MqttState) and reply.values.get(key) == command.args.get(arg)

    return check


def _transport_info(command: Any) -> Any:
    return hyperdeck.Command.simple(hyperdeck.CommandName.TRANSPORT_INFO)


# --- sessions -----------------------------------------------------------------


def _visca_session(
    *, name: str, address: int, timeout: float | None, password: str | None
) -> DeviceSession:
    if timeout is None:
        return visca.ViscaSession(address=address, device=name, initialize=True)
    return visca.ViscaSession(
        address=address, device=name, initialize=True, completion_timeout=timeout
    )


def _pelco_session(
    *, name: str, address: int, timeout: float | None, password: str | None
) -> DeviceSession:
    return pelco.PelcoDSession(address=address, device=name)


def _extron_session(
    *, name: str, address: int, timeout: float | None, password: str | None
) -> DeviceSession:
    return extron.ExtronSession(device=name, password=password, reply_timeout=timeout or 2.0)


def _pjlink_session(
    *, name: str, address: int, timeout: float | None, password: str | None
) -> DeviceSession:
    return pjlink.PJLinkSession(device=name, password=password, reply_timeout=timeout or 2.0)


def _hyperdeck_session(
    *, name: str, address: int, timeout: float | None, password: str | None
) -> DeviceSession:
    return hyperdeck.HyperDeckSession(device=name, timeout=timeout or 2.0, notify=True)


# --- the table ----------------------------------------------------------------

_CAMERA_MOVED = "摄像机报告动作完成 · the camera's completion message"
_PELCO = "已发送，Pelco-D 无应答，无法确认 · sent; Pelco-D receivers never reply: unconfirmable"

_VISCA = DeviceKindSpec(
    name="visca",
    role=Role.CAMERA,
    description="VISCA 云台摄像机 · Sony VISCA PTZ camera (RS-232/RS-422)",
    session=_visca_session,
    transport=TransportDefaults(line="serial"),
    reply_timeout=10.0,  # the session's motion timeout: a preset move takes seconds
    retries=RetryPolicy(
        default=1,
        table={
            visca.PowerInquiry: 2,
            visca.PanTiltPositionInquiry: 2,
            visca.ZoomPositionInquiry: 2,
        },
    ),
    probe=visca.PowerInquiry,
    verbs={
        "power": Verb(
            usage="power on|off",
            build=a.simple(lambda x: visca.Power(on=a.on_off(x))),
            expect=Expectation(text=_CAMERA_MOVED, reply=_answered),
        ),
        "preset-recall": Verb(
            usage="preset-recall N",
            build=a.simple(lambda x: visca.PresetRecall(a.number(x))),
            expect=Expectation(text=_CAMERA_MOVED, reply=_answered),
        ),
        "preset-set": Verb(
            usage="preset-set N",
            build=a.simple(lambda x: visca.PresetSet(a.number(x))),
            expect=Expectation(text=_CAMERA_MOVED, reply=_answered),
        ),
        "status": Verb(usage="status", build=a.simple(a.no_args(visca.PowerInquiry))),
    },
    addresses=(1, 7),
    simulator=("devices.visca.virtual", b"\xff"),
)

_PELCO_D = DeviceKindSpec(
    name="pelco-d",
    role=Role.CAMERA,
    description="Pelco-D 云台摄像机 · Pelco-D PTZ camera (RS-485, no replies)",
    session=_pelco_session,
    transport=TransportDefaults(line="serial"),
    reply_timeout=1.0,  # only the write: nothing ever answers
    retries=RetryPolicy(default=1),
    probe=None,
    verbs={
        "power": Verb(
            usage="power on|off",
            build=a.simple(lambda x: pelco.CameraPower(a.on_off(x))),
            expect=Expectation(text=_PELCO, unconfirmable=True),
        ),
        "preset-recall": Verb(
            usage="preset-recall N",
            build=a.simple(lambda x: pelco.PresetGoto(a.number(x))),
            expect=Expectation(text=_PELCO, unconfirmable=True),
        ),
        "preset-set": Verb(
            usage="preset-set N",
            build=a.simple(lambda x: pelco.PresetSet(a.number(x))),
            expect=Expectation(text=_PELCO, unconfirmable=True),
        ),
        "preset-clear": Verb(
            usage="preset-clear N",
            build=a.simple(lambda x: pelco.PresetClear(a.number(x))),
            expect=Expectation(text=_PELCO, unconfirmable=True),
        ),
    },
    simulator=("devices.pelco.virtual", b""),
)

_TIE_TEXT = "矩阵回报切换 · the matrix's own reply OutNN InNN <layer> to the tie"

_EXTRON = DeviceKindSpec(
    name="extron-sis",
    role=Role.MATRIX,
    description="Extron 矩阵切换器 · Extron SIS matrix switcher (RS-232 or Telnet)",
    session=_extron_session,
    transport=TransportDefaults(line="serial", tcp_port=23, serial_or_tcp=True),
    reply_timeout=2.0,
    retries=RetryPolicy(default=1, table={extron.ReadTie: 2, extron.QueryFirmware: 2}),
    probe=extron.QueryFirmware,
    verbs={
        "tie": Verb(
            usage="tie IN OUT [all|video|audio]",
            build=a.tie,
            expect=Expectation(text=_TIE_TEXT, reply=_tie_reported),
        ),
        "untie": Verb(
            usage="untie OUT",
            build=a.untie,
            expect=Expectation(text=_TIE_TEXT, reply=_tie_reported),
        ),
        "read": Verb(usage="read OUT", build=a.read),
        "status": Verb(usage="status", build=a.simple(a.no_args(extron.QueryFirmware))),
    },
    simulator=("devices.extron.virtual", b"\r\n"),
)

_PJLINK = DeviceKindSpec(
    name="pjlink",
    role=Role.DISPLAY,
    description="PJLink 显示屏/投影机 · PJLink class 1 display or projector (TCP)",
    session=_pjlink_session,
    # Displays hang up on a connection idle for ~30 s: normal, not an outage.
    transport=TransportDefaults(line="tcp", tcp_port=4352, idle_close_after=5.0),
    reply_timeout=2.0,
    retries=RetryPolicy(
        default=1,
        table={
            pjlink.PowerQuery: 2,
            pjlink.InputQuery: 2,
            pjlink.MuteQuery: 2,
            pjlink.ErrorStatusQuery: 2,
            pjlink.LampQuery: 2,
            pjlink.InputListQuery: 2,
            pjlink.NameQuery: 2,
            pjlink.ManufacturerQuery: 2,
            pjlink.ProductQuery: 2,
            pjlink.InfoQuery: 2,
            pjlink.ClassQuery: 2,
        },
    ),
    probe=pjlink.PowerQuery,
    verbs={
        "power": Verb(
            usage="power on|off",
            build=a.simple(lambda x: pjlink.PowerSet(a.on_off(x))),
            expect=Expectation(
                text="显示屏电源状态到位 · POWR ? answers 1 (on) / 0 (standby); "
                "3 warm-up and 2 cool-down are not yet",
                query=lambda command: pjlink.PowerQuery(),
                state=_pjlink_power,
                interval=0.1,
            ),
        ),
        "input": Verb(
            usage="input CODE",
            build=a.simple(
                lambda x: pjlink.InputSet(pjlink.InputSource.from_code(a.one_word(x, "CODE")))
            ),
            expect=Expectation(
                text="显示屏输入已切换 · INPT ? answers the input set",
                query=lambda command: pjlink.InputQuery(),
                state=_pjlink_input,
            ),
        ),
        "mute": Verb(
            usage="mute on|off",
            build=a.simple(lambda x: pjlink.MuteSet(pjlink.MuteTarget.AV, a.on_off(x))),
            expect=Expectation(
                text="显示屏静音状态到位 · AVMT ? answers video and audio as set",
                query=lambda command: pjlink.MuteQuery(),
                state=_pjlink_mute,
            ),
        ),
        "status": Verb(usage="status", build=a.simple(a.no_args(pjlink.PowerQuery))),
    },
    simulator=("devices.pjlink.virtual", b"\r"),
)

_HD = hyperdeck.CommandName

_HYPERDECK = DeviceKindSpec(
    name="hyperdeck",
    role=Role.RECORDER,
    description="HyperDeck 硬盘录像机 · Blackmagic HyperDeck recorder (TCP)",
    session=_hyperdeck_session,
    transport=TransportDefaults(line="tcp", tcp_port=9993),
    reply_timeout=2.0,
    retries=RetryPolicy(
        default=1,
        key=lambda command: getattr(command, "name", None),
        table={
            _HD.TRANSPORT_INFO: 2,
            _HD.SLOT_INFO: 2,
            _HD.DEVICE_INFO: 2,
            _HD.PING: 2,
            _HD.RECORD: 0,  # never start a recording twice blindly
        },
    ),
    probe=lambda: hyperdeck.Command.simple(_HD.DEVICE_INFO),
    verbs={
        "record": Verb(
            usage="record [CLIP]",
            build=a.simple(a.record),
            expect=Expectation(
                text="录像机报告录制中 · transport info status = record",
                query=_transport_info,
                state=_transport(hyperdeck.TransportStatus.RECORD),
            ),
        ),
        "stop": Verb(
            usage="stop",
            build=a.simple(a.no_args(lambda: hyperdeck.Command.simple(_HD.STOP))),
            expect=Expectation(
                text="录像机报告已停止 · transport info status = stopped or preview",
                query=_transport_info,
                state=_transport(
                    hyperdeck.TransportStatus.STOPPED, hyperdeck.TransportStatus.PREVIEW
                ),
            ),
        ),
        "status": Verb(
            usage="status",
            build=a.simple(a.no_args(lambda: hyperdeck.Command.simple(_HD.TRANSPORT_INFO))),
        ),
    },
    simulator=("devices.hyperdeck.virtual", b"\r\n"),
)

_MQTT = DeviceKindSpec(
    name="mqtt",
    role=Role.MQTT,
    description="MQTT 设备（继电器、显示屏）· MQTT relay, display or panel on the room's broker",
    session=None,
    transport=TransportDefaults(line="mqtt"),
    reply_timeout=5.0,  # the MQTT link's default wait for the confirming state
    retries=RetryPolicy(default=0),  # a lost /set is not re-published: QoS 1 delivers it
    probe=None,  # the retained availability says whether it is there
    verbs={
        "power": Verb(
            usage="power on|off",
            build=a.simple(
                lambda x: SetCommand("power", {"state": "on" if a.on_off(x) else "off"})
            ),
            expect=Expectation(
                text="设备状态主题显示电源 · the /state with the command's id shows power",
                reply=_mqtt_value("power", "state"),
            ),
        ),
        "input": Verb(
            usage="input SOURCE",
            build=a.simple(lambda x: SetCommand("input", {"source": a.one_word(x, "SOURCE")})),
            expect=Expectation(
                text="设备状态主题显示输入 · the /state with the command's id shows the input",
                reply=_mqtt_value("input", "source"),
            ),
        ),
        "set": Verb(
            usage="set ACTION [KEY=VALUE …]",
            build=a.simple(a.mqtt_set),
            expect=Expectation(
                text="设备状态主题确认，无错误 · the /state with the command's id, no error",
                reply=_answered,
            ),
        ),
    },
)

#: Every device kind, by name (the ``kind`` of ``room.toml``). See the module docstring.
KINDS: Mapping[str, DeviceKindSpec] = MappingProxyType(
    {spec.name: spec for spec in (_VISCA, _PELCO_D, _EXTRON, _PJLINK, _HYPERDECK, _MQTT)}
)
