"""validate_key with real requests to local wire-format TEST DOUBLES, and the status record."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import citrate_agent_tests_wire_servers as W  # registered by conftest.py
import pytest

from citrate_agent.errors import AgentError
from citrate_agent.providers.validation import (
    load_statuses,
    status_path,
    validate_and_record,
    validate_key,
)

OKEY = "sk-proj-validation-0123456789abcdefghijklmnop"
AKEY = "sk-ant-validation-0123456789abcdefghijklmnop"


def test_openai_valid_lists_models_with_bearer(server: Any) -> None:
    status = validate_key("openai", OKEY, server.url + "/v1", timeout=5)
    assert status.state == "valid" and status.ok
    req = server.requests[-1]
    assert (req.method, req.path) == ("GET", "/v1/models")
    assert req.headers["authorization"] == f"Bearer {OKEY}"
    assert status.checked_at.endswith("Z") and status.base_url == server.url + "/v1"


def test_anthropic_valid_lists_models(server: Any) -> None:
    server.push(W.anthropic_models())
    status = validate_key("anthropic", AKEY, server.url, timeout=5)
    assert status.state == "valid"
    req = server.requests[-1]
    assert req.method == "GET" and req.path.split("?")[0] == "/v1/models"
    assert req.headers["x-api-key"] == AKEY
    assert req.headers["anthropic-version"]


def test_openai_compatible_needs_no_key(server: Any) -> None:
    assert validate_key("openai-compatible", None, server.url + "/v1", timeout=5).ok
    assert server.requests[-1].headers["authorization"] == "Bearer not-needed"


@pytest.mark.parametrize(
    ("provider", "reply", "state"),
    [
        (
            "openai",
            lambda: W.openai_error(401, f"Incorrect API key provided: {OKEY}"),
            "invalid_key",
        ),
        ("openai", lambda: W.openai_error(403, "not allowed"), "invalid_key"),
        ("openai", lambda: W.openai_error(429, "quota", {"retry-after": "1"}), "rate_limited"),
        ("openai", lambda: W.openai_error(503, "down"), "server_error"),
        (
            "openai",
            lambda: W.Raw(b"<html><body>nginx 404</body></html>", status=404),
            "wrong_base_url",
        ),
        ("openai", lambda: W.Raw(b"<html><body>a web page</body></html>"), "wrong_base_url"),
        ("openai", lambda: W.Raw(b'{"data": [', content_type="application/json"), "wrong_base_url"),
        (
            "anthropic",
            lambda: W.anthropic_error(401, "authentication_error", "bad key"),
            "invalid_key",
        ),
        ("anthropic", lambda: W.anthropic_error(429, "rate_limit_error", "slow"), "rate_limited"),
        ("anthropic", lambda: W.anthropic_error(500, "api_error", "boom"), "server_error"),
        ("anthropic", lambda: W.Raw(b"<!doctype html>nope", status=404), "wrong_base_url"),
    ],
)
def test_every_failure_class(server: Any, provider: str, reply: Any, state: str) -> None:
    server.push(reply())
    key = OKEY if provider == "openai" else AKEY
    base = server.url + ("/v1" if provider == "openai" else "")
    status = validate_key(provider, key, base, timeout=5)
    assert status.state == state, status.detail
    assert key not in status.detail and key[8:28] not in status.detail
    assert not status.ok


def test_no_network_on_a_closed_port(closed_url: str) -> None:
    status = validate_key("openai", OKEY, f"{closed_url}/v1", timeout=3)
    assert status.state == "no_network"
    status = validate_key("anthropic", AKEY, closed_url, timeout=3)
    assert status.state == "no_network"


def test_a_server_that_never_answers_is_no_network(server: Any) -> None:
    server.push(W.Hang())
    status = validate_key("openai", OKEY, server.url + "/v1", timeout=0.5)
    assert status.state == "no_network" and "did not answer" in status.detail


def test_missing_inputs_are_refused() -> None:
    with pytest.raises(AgentError):
        validate_key("openai", "", None)
    with pytest.raises(AgentError):
        validate_key("openai-compatible", None, None)
    with pytest.raises(AgentError):
        validate_key("local", "x", None)


def test_status_is_recorded_privately_without_the_key(server: Any, tmp_path: Path) -> None:
    server.push(W.openai_error(401, f"bad {OKEY}"))
    first = validate_and_record("openai", OKEY, server.url + "/v1", 5, tmp_path)
    second = validate_and_record("openai-compatible", None, server.url + "/v1", 5, tmp_path)
    path = status_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert OKEY not in text and OKEY[8:28] not in text
    saved = load_statuses(tmp_path)
    assert saved["openai"] == first and saved["openai"].state == "invalid_key"
    assert saved["openai-compatible"] == second and second.ok
    assert json.loads(text)["openai"]["checked_at"] == first.checked_at
