"""Settings come from PGOLF_* variables or flags, and travel to a worker process as variables."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from pgolf import app
from webapp.settings import Settings


def test_defaults_bind_locally_with_sqlite_under_the_data_dir(monkeypatch):
    for name in list(os.environ):
        if name.startswith("PGOLF_"):
            monkeypatch.delenv(name)
    settings = Settings()
    assert (settings.host, settings.port, settings.is_local) == ("127.0.0.1", 8000, True)
    assert settings.records == [Path("records")] and settings.upload_max_bytes == 64 * 2**20
    assert settings.database_url == f"sqlite:///{(Path('out/web') / 'pgolf.sqlite').resolve()}"
    assert settings.queue == "sqlite" and settings.max_concurrent_evals == 1


def test_environment_round_trip(monkeypatch, tmp_path):
    original = Settings(records=[tmp_path / "a", tmp_path / "b"], data_dir=tmp_path, queue="redis",
                        redis_url="redis://queue:6379/1", db="postgresql://pg/pgolf", max_concurrent_evals=3,
                        eval_max_tokens=4096, upload_token="t")
    for name, value in original.as_environment().items():
        monkeypatch.setenv(name, value)
    assert Settings() == original


def test_bad_values_are_refused():
    with pytest.raises(ValidationError):
        Settings(queue="kafka")
    with pytest.raises(ValidationError, match="two heartbeats"):
        Settings(heartbeat_seconds=10, stale_after_seconds=15)


def test_cli_reports_a_bad_setting_in_one_line(monkeypatch):
    monkeypatch.setenv("PGOLF_MAX_CONCURRENT_EVALS", "0")
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "max_concurrent_evals" in result.output and len(result.output.strip().splitlines()) == 1
    assert CliRunner().invoke(app, ["serve", "--help"]).exit_code == 0
