"""Configuration: generated secrets, validation that names the variable, start-up."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from server import ConfigError, create_app


def settings(tmp_path: Path, **env: str) -> dict[str, str]:
    return {"TANDEM_INSTANCE_PATH": str(tmp_path / "instance"), **env}


def test_first_start_creates_the_instance_and_secret_files_0600(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path))
    instance = tmp_path / "instance"
    for name in ("secret_key", "data_keys"):
        mode = stat.S_IMODE((instance / name).stat().st_mode)
        assert mode == 0o600, name
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert str(instance) in app.config["SQLALCHEMY_DATABASE_URI"]
    again = create_app(settings(tmp_path))
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]
    assert again.config["TANDEM_SETTINGS"].data_keys == app.config["TANDEM_SETTINGS"].data_keys


def test_environment_values_win_over_generated_ones(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    old = Fernet.generate_key().decode()
    app = create_app(
        settings(tmp_path, TANDEM_SECRET_KEY="s" * 40, TANDEM_DATA_KEYS=f"{key}, {old}")
    )
    assert app.config["SECRET_KEY"] == "s" * 40
    assert app.config["TANDEM_SETTINGS"].data_keys == (key, old)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TANDEM_NOTIFIER": "pigeon"}, "TANDEM_NOTIFIER"),
        ({"TANDEM_DATABASE_URL": "not a url"}, "TANDEM_DATABASE_URL"),
        ({"TANDEM_DATABASE_URL": "mysql://root@localhost/x"}, "TANDEM_DATABASE_URL"),
        ({"TANDEM_DATABASE_URL": "nosuchdb://x"}, "TANDEM_DATABASE_URL"),
        ({"TANDEM_DATA_KEYS": "not-a-key"}, "TANDEM_DATA_KEYS"),
        ({"TANDEM_DATA_KEYS": f"{Fernet.generate_key().decode()},short"}, "TANDEM_DATA_KEYS"),
        ({"TANDEM_SECRET_KEY": "short"}, "TANDEM_SECRET_KEY"),
        ({"TANDEM_ALLOW_THERAPIST_SIGNUP": "maybe"}, "TANDEM_ALLOW_THERAPIST_SIGNUP"),
        ({"TANDEM_RATELIMIT_ENABLED": "2"}, "TANDEM_RATELIMIT_ENABLED"),
        ({"TANDEM_RATELIMIT_STORAGE": "memcached://x"}, "TANDEM_RATELIMIT_STORAGE"),
        ({"TANDEM_NOTIFIER": "fcm"}, "TANDEM_FIREBASE_CREDENTIALS"),
        (
            {"TANDEM_NOTIFIER": "fcm", "TANDEM_FIREBASE_CREDENTIALS": "/nonexistent.json"},
            "TANDEM_FIREBASE_CREDENTIALS",
        ),
    ],
)
def test_bad_settings_stop_start_up_naming_the_variable(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError) as info:
        create_app(settings(tmp_path, **env))
    assert str(info.value).startswith(f"{variable}: ")
    assert info.value.variable == variable


def test_the_cli_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "TANDEM_INSTANCE_PATH": str(tmp_path), "TANDEM_NOTIFIER": "pigeon"}
    result = subprocess.run(
        [sys.executable, "-c", "from server.cli import main; main()", "db", "current"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "tandem: configuration error: TANDEM_NOTIFIER: unknown notifier 'pigeon' "
        "(expected log or fcm)"
    ]
