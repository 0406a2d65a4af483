"""Hub configuration: defaults, TOML loading, and errors that name file and key."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from hub.cli import register, run_hub
from hub.config import CourtroomConfig, HubConfig, load_config
from hub.errors import ConfigError
from hub.security import hash_password

GOOD = """
data_dir = "{data}"
[listen]
port = 9001
[auth]
token_lifetime = 3600
[[courtrooms]]
id = "court-1"
name = "第一法庭"
token_env = "COURT1_TOKEN"
[[users]]
username = "clerk"
password_hash = "{hash}"
"""


def test_config_defaults_without_file() -> None:
    config = load_config(None)
    assert (config.listen.host, config.listen.port) == ("127.0.0.1", 8080)
    assert config.database_url().startswith("sqlite:///") and config.database_url().endswith(
        "courtroom/hub.db"
    )
    assert config.courtrooms == () and config.auth.token_lifetime == 12 * 3600


def test_config_loads_toml_and_resolves_token_env(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(GOOD.format(data=tmp_path, hash=hash_password("pw")), encoding="utf-8")
    config = load_config(path)
    assert config.listen.port == 9001 and config.users[0].username == "clerk"
    assert config.database_url() == f"sqlite:///{tmp_path}/hub.db"
    assert config.courtroom_tokens({"COURT1_TOKEN": "s3cret-token"}) == {"court-1": "s3cret-token"}
    with pytest.raises(ConfigError, match="COURT1_TOKEN is not set"):
        config.courtroom_tokens({})


def test_config_errors_list_every_key_path_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[listen]\nport = 70000\nhots = "x"\n[[courtrooms]]\nid = "bad id!"\nname = "x"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "listen.port" in message and "listen.hots" in message
    assert "courtrooms.0.id" in message
    assert len(info.value.problems) == 3


def test_config_not_toml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[listen\nport = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"(?s)broken\.toml.*not valid TOML.*line 1"):
        load_config(path)


def test_config_secret_token_is_not_in_repr_or_errors(tmp_path: Path) -> None:
    room = CourtroomConfig(id="c", name="n", token="very-secret-token")
    assert "very-secret-token" not in repr(room)
    path = tmp_path / "hub.toml"
    path.write_text('[[courtrooms]]\nid = "c"\nname = "n"\ntoken = "s3cr"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "at least 8" in str(info.value) and "s3cr" not in str(info.value)


def test_config_courtroom_needs_exactly_one_token_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        CourtroomConfig(id="c", name="n")
    with pytest.raises(ValueError, match="exactly one"):
        CourtroomConfig(id="c", name="n", token="long-enough", token_env="X")


def test_config_duplicate_courtroom_ids_are_refused() -> None:
    rooms = [{"id": "c", "name": "a", "token": "12345678"}] * 2
    with pytest.raises(ValueError, match="duplicate courtroom id: c"):
        HubConfig.model_validate({"courtrooms": rooms})


def test_config_command_line_overrides_file(tmp_path: Path) -> None:
    config = load_config(None, listen={"port": 0}, data_dir=str(tmp_path))
    assert config.listen.port == 0 and config.data_dir == tmp_path


def test_config_postgres_url_gets_psycopg_driver() -> None:
    config = load_config(None, database={"url": "postgresql://hub@db/court"})
    assert config.database_url() == "postgresql+psycopg://hub@db/court"


def parse_hub_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="courtroom")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["hub", *argv])


def test_cli_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("[listen]\nport = -1\n", encoding="utf-8")
    assert run_hub(parse_hub_args(["--config", str(path)])) == 2
    assert "listen.port" in capsys.readouterr().err


def test_cli_missing_token_env_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COURT9_TOKEN", raising=False)
    path = tmp_path / "hub.toml"
    path.write_text(
        '[[courtrooms]]\nid = "c9"\nname = "九"\ntoken_env = "COURT9_TOKEN"\n', encoding="utf-8"
    )
    assert run_hub(parse_hub_args(["--config", str(path), "--data-dir", str(tmp_path)])) == 2
    assert "COURT9_TOKEN" in capsys.readouterr().err
