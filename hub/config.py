"""Hub configuration: a pydantic tree read from TOML at the edge of the program.

Every section forbids unknown keys so a typo is an error, not a silent default.
With no file at all the hub listens on 127.0.0.1:8080 and keeps its archive in
``platformdirs.user_data_dir("courtroom")/hub.db``.

Example ``hub.toml``::

    data_dir = "/var/lib/courtroom"          # optional; holds hub.db

    [listen]
    host = "0.0.0.0"
    port = 8080

    [database]
    url = "postgresql+psycopg://hub@/courtroom"   # optional, default SQLite

    [tls]                                    # optional: serve https:// and wss://
    cert_file = "/etc/courtroom/hub.pem"     # certificate chain, PEM
    key_file = "/etc/courtroom/hub.key"      # its private key, PEM, unencrypted

    [auth]
    token_lifetime = 43200                   # seconds a clerk login lasts
    admin_password_env = "COURTROOM_ADMIN_PASSWORD"

    [limits]                                 # optional; hostile-client bounds
    header_timeout_s = 10
    max_connections = 800
    max_connections_per_client = 200
    max_body_bytes = 65536
    command_timeout_s = 10                   # an agent's answer to a hearing command

    [[courtrooms]]
    id = "court-1"
    name = "第一法庭"
    token_env = "COURT1_TOKEN"               # or: token = "…"

    [[users]]                                # seeds the archive once (see UserConfig)
    username = "clerk"
    password_hash = "scrypt$16384$8$1$…"     # from: courtroom hub --hash-password
    role = "clerk"                           # clerk, judge, supervisor or admin
    courtrooms = ["court-1"]                 # clerk and judge only

Secrets (courtroom tokens, the admin password) are ``SecretStr`` so they never
appear in a repr or a log line; prefer the ``*_env`` forms so they stay out of
the file as well.
"""

from __future__ import annotations

import os
import ssl
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    model_validator,
)

from courtroom_core.config_errors import validation_problems
from hub.errors import ConfigError

__all__ = [
    "AuthConfig",
    "CourtroomConfig",
    "DatabaseConfig",
    "HubConfig",
    "LimitsConfig",
    "ListenConfig",
    "LiveConfig",
    "TlsConfig",
    "UserConfig",
    "default_data_dir",
    "load_config",
]

_Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenConfig(_Section):
    host: str = Field(
        default="127.0.0.1", description="Address to bind; 0.0.0.0 for every interface."
    )
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port; 0 picks a free one.")


class DatabaseConfig(_Section):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the archive. Default: SQLite hub.db in data_dir.",
    )
    status_every_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="Seconds between agent status reports kept in the archive "
        "(all are shown live; 0 keeps every report).",
    )


class AuthConfig(_Section):
    token_lifetime: float = Field(
        default=12 * 3600,
        ge=60,
        le=30 * 86400,
        description="Seconds a clerk's login token is valid.",
    )
    admin_password_env: str | None = Field(
        default=None, description="Environment variable whose value becomes the 'admin' password."
    )
    token_secret_env: str | None = Field(
        default=None,
        description="Environment variable holding the key (32+ bytes) that signs login "
        "tokens. Default: a random key in data_dir/token.key (created 0600), outside "
        "the archive, so logins survive a restart.",
    )
    login_failures_per_account: int = Field(
        default=5, ge=1, le=1000, description="Failed logins per account per window."
    )
    login_failure_window: float = Field(
        default=300.0, ge=1, le=86400, description="Seconds of the per-account window."
    )
    login_failures_per_client_minute: float = Field(
        default=10.0,
        gt=0,
        le=10_000,
        description="Failed logins per client address per minute (token bucket, burst alike).",
    )
    session_recheck: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between re-checks of an open /ws/live token "
        "(revoked, expired, user disabled → closed 4401).",
    )


class LiveConfig(_Section):
    queue_size: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="Messages buffered per browser; a browser further behind is disconnected.",
    )
    close_timeout: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Seconds to wait for a lagging browser to take its close.",
    )


class TlsConfig(_Section):
    """``[tls]``: the hub's certificate; with it the hub serves https:// and wss://.

    The pair is loaded while the configuration is validated, so a missing
    file, a key that does not match the certificate or an encrypted key is
    refused at start-up, naming ``tls.cert_file`` / ``tls.key_file``.
    """

    cert_file: FilePath = Field(description="PEM certificate (chain) the hub presents.")
    key_file: FilePath = Field(description="PEM private key of cert_file (unencrypted).")

    @model_validator(mode="after")
    def _pair_loads(self) -> Self:
        try:
            self.server_context()
        except ValueError as exc:
            raise ValueError(f"key_file: {exc}") from exc
        return self

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context (TLS 1.2 or later) holding the pair.

        Raises:
            ValueError: the pair does not load: unreadable, not PEM, the key
                does not match the certificate, or the key is encrypted.
        """
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            # An encrypted key would prompt on the terminal: refuse it instead.
            context.load_cert_chain(self.cert_file, self.key_file, password=_no_password)
        except (ssl.SSLError, OSError, TypeError) as exc:
            raise ValueError(
                f"certificate {self.cert_file} and key {self.key_file} do not load "
                f"as a pair 证书与私钥不匹配或无法读取: {exc}"
            ) from exc
        return context


def _no_password() -> str:
    raise TypeError("the key is encrypted; give an unencrypted key file")


class LimitsConfig(_Section):
    """What one network client may hold of the hub (see :mod:`hub.edge`)."""

    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        allow_inf_nan=False,
        description="Seconds a connection may take to send a complete request head "
        "and body, counted from connect and from the previous response; then it gets "
        "408 and is closed (websockets only until their upgrade).",
    )
    keepalive_timeout_s: int = Field(
        default=5,
        ge=1,
        le=300,
        description="Seconds an idle keep-alive connection is kept open.",
    )
    max_connections: int = Field(
        default=800,
        ge=1,
        le=100_000,
        description="Open connections (HTTP and websocket) at most; beyond it the "
        "connection waiting longest for its request head is closed, or the newcomer "
        "gets 503. Lowered at startup to fit the process' open-file limit.",
    )
    max_connections_per_client: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="HTTP connections one client address may hold at once (websockets "
        "stop counting once upgraded); beyond it the newcomer gets 503.",
    )
    command_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        allow_inf_nan=False,
        description="Seconds the hub waits for an agent's answer to a hearing command "
        "(POST /api/courtrooms/{id}/hearing); then the request gets 504.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest request body; a larger one is refused with 413 before it is read.",
    )


class CourtroomConfig(_Section):
    id: _Id
    name: str = Field(min_length=1, max_length=200)
    token: SecretStr | None = Field(
        default=None, description="The agent's token (prefer token_env)."
    )
    token_env: str | None = Field(
        default=None, description="Environment variable holding the token."
    )

    @model_validator(mode="after")
    def _one_token_source(self) -> Self:
        if (self.token is None) == (self.token_env is None):
            raise ValueError("give exactly one of 'token' or 'token_env'")
        if self.token is not None and len(self.token.get_secret_value()) < 8:
            raise ValueError("token must be at least 8 characters")
        return self

    def resolve_token(self, env: Mapping[str, str]) -> str:
        """Return the agent token for this courtroom.

        Raises:
            ConfigError: ``token_env`` names a variable that is unset or empty.
        """
        if self.token is not None:
            return self.token.get_secret_value()
        assert self.token_env is not None
        value = env.get(self.token_env, "")
        if not value:
            raise ConfigError(
                "<environment>",
                [f"courtrooms[{self.id}].token_env: variable {self.token_env} is not set"],
            )
        return value


class UserConfig(_Section):
    """A user created in the archive at startup if absent — never updated after.

    Once the user exists, the archive is the source of truth: a changed
    password, role or courtrooms here is ignored (use ``courtroom users``).
    """

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    password_hash: str = Field(pattern=r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")
    role: Literal["clerk", "judge", "supervisor", "admin"] = Field(
        default="clerk", description="clerk, judge (their courtrooms), supervisor, admin."
    )
    courtrooms: tuple[_Id, ...] = Field(
        default=(), max_length=256, description="Courtrooms a clerk or judge may see."
    )


class HubConfig(_Section):
    data_dir: Path | None = Field(
        default=None, description="Directory for hub.db (default per-user)."
    )
    listen: ListenConfig = Field(default_factory=ListenConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    tls: TlsConfig | None = Field(default=None, description="Serve https/wss with this pair.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    courtrooms: tuple[CourtroomConfig, ...] = ()
    users: tuple[UserConfig, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        for what, names in (
            ("courtroom id", [c.id for c in self.courtrooms]),
            ("username", [u.username for u in self.users]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {what}: {', '.join(dupes)}")
        return self

    def database_url(self) -> str:
        """The archive URL: ``database.url`` or SQLite ``hub.db`` in the data dir.

        A bare ``postgresql://`` URL is given the installed psycopg 3 driver.
        """
        url = self.database.url
        if url is None:
            data_dir = self.data_dir or default_data_dir()
            return f"sqlite:///{(data_dir / 'hub.db').absolute()}"
        if url.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    def courtroom_tokens(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Map each courtroom id to its agent token.

        Raises:
            ConfigError: listing every courtroom whose ``token_env`` is unset.
        """
        env = os.environ if env is None else env
        tokens: dict[str, str] = {}
        problems: list[str] = []
        for courtroom in self.courtrooms:
            try:
                tokens[courtroom.id] = courtroom.resolve_token(env)
            except ConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ConfigError("<environment>", problems)
        return tokens


def default_data_dir() -> Path:
    """The per-user data directory the hub uses when none is configured."""
    return Path(platformdirs.user_data_dir("courtroom"))


def load_config(path: Path | None, **overrides: Any) -> HubConfig:
    """Read ``path`` (TOML) into a :class:`HubConfig`; ``None`` means defaults.

    Args:
        path: the TOML file, or None for the built-in defaults.
        **overrides: top-level sections or keys that replace the file's, e.g.
            ``listen={"host": "0.0.0.0", "port": 9000}`` from the command line.

    Raises:
        ConfigError: the file is unreadable, not TOML, or has invalid values;
            the message names the file and each problem with its key path.
    """
    source = str(path) if path is not None else "<defaults>"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(source, [f"cannot read file: {exc.strerror}"]) from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(source, [f"not valid TOML: {exc}"]) from exc
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    try:
        return HubConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, validation_problems(exc)) from exc
