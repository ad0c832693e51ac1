"""`citrate agent providers …` end to end through Typer, with wire-format TEST DOUBLES."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import citrate_agent_tests_wire_servers as W  # registered by conftest.py
import pytest
from typer.testing import CliRunner

from citrate_agent.config import load_settings
from citrate_agent.providers.cli import app

KEY = "sk-proj-cli-0123456789abcdefghijklmnopqrstu"
PASSWORD = "Correct-Horse-Battery-9"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_keychain(monkeypatch: pytest.MonkeyPatch) -> None:
    # No OS keychain in the test: the password-sealed vault is used.
    monkeypatch.setattr("citrate_crypto.secret_store.keychain_backend", lambda: None)


def test_set_key_validates_and_list_never_shows_it(server: Any, tmp_path: Path) -> None:
    d = str(tmp_path)
    r = runner.invoke(app, ["set", "openai", "--base-url", server.url + "/v1", "--data-dir", d])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["set-key", "openai", "--key-stdin", "--data-dir", d], input=f"{KEY}\n{PASSWORD}\n"
    )
    assert r.exit_code == 0, r.output
    assert "valid" in r.output and KEY not in r.output
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    r = runner.invoke(app, ["list", "--json", "--data-dir", d])
    assert r.exit_code == 0, r.output
    doc = {p["name"]: p for p in json.loads(r.output)}
    assert doc["openai"]["key_present"] and doc["openai"]["status"]["state"] == "valid"
    assert KEY not in r.output


def test_validate_reports_a_rejected_key_with_exit_1(server: Any, tmp_path: Path) -> None:
    d = str(tmp_path)
    runner.invoke(app, ["set", "openai", "--base-url", server.url + "/v1", "--data-dir", d])
    r = runner.invoke(
        app,
        ["set-key", "openai", "--key-stdin", "--no-validate", "--data-dir", d],
        input=f"{KEY}\n{PASSWORD}\n",
    )
    assert r.exit_code == 0 and not server.requests
    server.push(W.openai_error(401, "Incorrect API key provided"))
    r = runner.invoke(
        app, ["validate", "openai", "--password-stdin", "--data-dir", d], input=f"{PASSWORD}\n"
    )
    assert r.exit_code == 1 and "invalid_key" in r.output


def test_order_and_set_are_saved_and_checked(tmp_path: Path) -> None:
    d = str(tmp_path)
    assert runner.invoke(app, ["order", "anthropic,local", "--data-dir", d]).exit_code == 0
    assert load_settings(tmp_path).provider_order == ["anthropic", "local"]
    r = runner.invoke(app, ["order", "anthropic,bogus", "--data-dir", d])
    assert r.exit_code == 1 and "error:" in r.output
    r = runner.invoke(
        app,
        [
            "set",
            "openai-compatible",
            "--model",
            "llama3",
            "--base-url",
            "http://127.0.0.1:11434/v1",
            "--enable",
            "--data-dir",
            d,
        ],
    )
    assert r.exit_code == 0, r.output
    ps = load_settings(tmp_path).providers["openai-compatible"]
    assert (ps.model, ps.base_url, ps.enabled) == ("llama3", "http://127.0.0.1:11434/v1", True)
    r = runner.invoke(app, ["set", "openai", "--base-url", "ftp://x", "--data-dir", d])
    assert r.exit_code == 1 and "not an http(s) URL" in r.output
