"""ProviderRegistry and complete_with_fallback with a real password-sealed SecretStore and local
wire-format TEST DOUBLES for the cloud services."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import citrate_agent_tests_wire_servers as W  # registered by conftest.py
import pytest

from citrate_agent.config import AgentSettings, load_settings, save_settings
from citrate_agent.errors import ProviderError
from citrate_agent.providers.base import AssistantTurn, Message, TextSink, ToolSpec
from citrate_agent.providers.registry import (
    ProviderRegistry,
    UnavailableProvider,
    complete_with_fallback,
)
from citrate_agent.providers.validation import validate_and_record
from citrate_crypto.paths import wallet_dir
from citrate_crypto.sealed import KdfParams
from citrate_crypto.secret_store import SecretStore

PASSWORD = "Correct-Horse-Battery-9"
OKEY = "sk-proj-registry-0123456789abcdefghijklmnop"
AKEY = "sk-ant-registry-0123456789abcdefghijklmnop"


class LocalDouble:
    """TEST DOUBLE for the local model (the real one is tested in test_provider_local.py)."""

    name = "local"

    def __init__(self, model: str) -> None:
        self.model = model

    def complete(
        self,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_text: TextSink | None = None,
    ) -> AssistantTurn:
        return AssistantTurn(text="local answer", model=self.model, provider="local")


@pytest.fixture
def servers() -> Iterator[tuple[Any, Any]]:
    o, a = W.WireServer(), W.WireServer()
    yield o, a
    o.close()
    a.close()


@pytest.fixture
def data_dir(tmp_path: Path, servers: tuple[Any, Any]) -> Path:
    o, a = servers
    settings = AgentSettings()
    settings.providers["openai"].base_url = o.url + "/v1"
    settings.providers["anthropic"].base_url = a.url
    # The configured default names a model the SDK warns about; warnings are errors here.
    settings.providers["anthropic"].model = "claude-test"
    save_settings(settings, tmp_path)
    return tmp_path


def _store(data_dir: Path, password: str = PASSWORD) -> SecretStore:
    return SecretStore(
        wallet_dir(data_dir),
        backend="vault",
        password=lambda: password,
        kdf=KdfParams.owasp_minimum(),
    )


def _registry(data_dir: Path, password: str = PASSWORD) -> ProviderRegistry:
    return ProviderRegistry(
        lambda: load_settings(data_dir),
        lambda: _store(data_dir, password),
        data_dir,
        timeout=5,
        local_factory=LocalDouble,
    )


def _names(providers: Sequence[Any]) -> list[str]:
    return [p.name for p in providers]


def test_key_saved_mid_session_is_used_on_the_next_message(
    data_dir: Path, servers: tuple[Any, Any]
) -> None:
    o, _ = servers
    registry = _registry(data_dir)
    assert _names(registry.resolve()) == ["local"]  # no keys yet
    _store(data_dir).set("openai", OKEY)  # as `citrate wallet secret set openai` does
    providers = registry.resolve()
    assert _names(providers) == ["openai", "local"]  # the cloud key is not skipped for local
    o.push(W.openai_text_stream("from openai"))
    turn, notes = complete_with_fallback(providers, "sys", [Message("user", "hi")], [])
    assert (turn.text, turn.provider, notes) == ("from openai", "openai", [])
    assert o.requests[-1].headers["authorization"] == f"Bearer {OKEY}"


def test_user_order_is_followed_and_disabled_are_left_out(data_dir: Path) -> None:
    store = _store(data_dir)
    store.set("openai", OKEY)
    store.set("anthropic", AKEY)
    registry = _registry(data_dir)
    assert _names(registry.resolve()) == ["openai", "anthropic", "local"]
    settings = load_settings(data_dir)
    settings.provider_order = ["local", "anthropic", "openai"]
    save_settings(settings, data_dir)
    assert _names(registry.resolve()) == ["local", "anthropic", "openai"]
    settings.providers["anthropic"].enabled = False
    settings.provider_order = ["anthropic", "openai"]
    save_settings(settings, data_dir)
    assert _names(registry.resolve()) == ["openai"]


def test_openai_compatible_needs_base_url_and_model_but_no_key(
    data_dir: Path, servers: tuple[Any, Any]
) -> None:
    o, _ = servers
    registry = _registry(data_dir)
    settings = load_settings(data_dir)
    settings.providers["openai-compatible"] = type(settings.providers["openai"])(
        model="llama3", base_url=o.url + "/v1", enabled=True
    )
    settings.provider_order = ["openai-compatible", "local"]
    save_settings(settings, data_dir)
    providers = registry.resolve()
    assert _names(providers) == ["openai-compatible", "local"]
    o.push(W.openai_text_stream("compat"))
    turn, _ = complete_with_fallback(providers, "", [Message("user", "hi")], [])
    assert turn.text == "compat" and turn.provider == "openai-compatible"


def test_failure_falls_back_and_is_reported(data_dir: Path, servers: tuple[Any, Any]) -> None:
    o, a = servers
    store = _store(data_dir)
    store.set("openai", OKEY)
    store.set("anthropic", AKEY)
    o.push(W.openai_error(401, f"Incorrect API key provided: {OKEY}"))
    a.push(W.anthropic_text_stream("from claude"))
    turn, notes = complete_with_fallback(
        _registry(data_dir).resolve(), "", [Message("user", "hi")], []
    )
    assert turn.text == "from claude" and turn.provider == "anthropic"
    assert len(notes) == 1
    assert notes[0].startswith("openai failed (invalid_key)")
    assert "used anthropic" in notes[0]
    assert OKEY not in notes[0]


def test_all_failing_raises_one_error_listing_each(
    data_dir: Path, servers: tuple[Any, Any]
) -> None:
    o, _ = servers
    _store(data_dir).set("openai", OKEY)
    settings = load_settings(data_dir)
    settings.provider_order = ["openai"]
    save_settings(settings, data_dir)
    # The registry's providers retry once (the SDK honours retry-after), so answer 429 twice.
    o.push(W.openai_error(429, "quota", {"retry-after": "0"}), W.openai_error(429, "quota"))
    with pytest.raises(ProviderError) as caught:
        complete_with_fallback(_registry(data_dir).resolve(), "", [Message("user", "hi")], [])
    assert caught.value.status == "rate_limited"
    assert "every configured provider failed" in str(caught.value)


def test_nothing_configured() -> None:
    with pytest.raises(ProviderError) as caught:
        complete_with_fallback([], "", [Message("user", "hi")], [])
    assert caught.value.status == "not_configured"
    assert "set-key" in str(caught.value)


def test_unreadable_key_is_reported_not_skipped(data_dir: Path) -> None:
    _store(data_dir).set("openai", OKEY)
    providers = _registry(data_dir, password="Wrong-Password-Entirely-1").resolve()
    assert _names(providers) == ["openai", "local"]
    assert isinstance(providers[0], UnavailableProvider)
    turn, notes = complete_with_fallback(providers, "", [Message("user", "hi")], [])
    assert turn.provider == "local"
    assert notes and notes[0].startswith("openai failed (key_unavailable)")


def test_describe_shows_state_never_the_key(data_dir: Path, servers: tuple[Any, Any]) -> None:
    o, _ = servers
    _store(data_dir).set("openai", OKEY)
    validate_and_record("openai", OKEY, o.url + "/v1", 5, data_dir)
    infos = {i.name: i for i in _registry(data_dir).describe()}
    assert set(infos) == {"openai", "anthropic", "openai-compatible", "local"}
    assert infos["openai"].configured and infos["openai"].key_present
    assert infos["openai"].status is not None and infos["openai"].status.state == "valid"
    assert infos["openai"].base_url == o.url + "/v1" and infos["openai"].position == 1
    assert not infos["anthropic"].key_present and not infos["anthropic"].configured
    assert not infos["openai-compatible"].enabled
    dumped = json.dumps([i.to_json() for i in infos.values()])
    assert OKEY not in dumped and OKEY[8:28] not in dumped


def test_providers_are_reused_until_their_settings_change(data_dir: Path) -> None:
    _store(data_dir).set("openai", OKEY)
    registry = _registry(data_dir)
    first = registry.resolve()[0]
    assert registry.resolve()[0] is first
    settings = load_settings(data_dir)
    settings.providers["openai"].model = "gpt-other"
    save_settings(settings, data_dir)
    again = registry.resolve()[0]
    assert again is not first and again.model == "gpt-other"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gemma3-270m", None),  # the bundled default
        ("my-model", "models/my-model.gguf"),  # a GGUF the user put in the models directory
        ("/opt/llm/big.gguf", "/opt/llm/big.gguf"),  # or any GGUF by path
    ],
)
def test_the_local_model_setting_picks_the_gguf(
    tmp_path: Path, model: str, expected: str | None
) -> None:
    pytest.importorskip("llama_cpp")
    from citrate_agent.providers.local import LocalProvider

    settings = AgentSettings(provider_order=["local"])
    settings.providers["local"].model = model
    registry = ProviderRegistry(lambda: settings, lambda: _NoSecrets(), tmp_path)
    (provider,) = registry.resolve()
    assert isinstance(provider, LocalProvider) and provider.model == model
    want = (
        None
        if expected is None
        else (tmp_path / expected if expected[0] != "/" else Path(expected))
    )
    assert provider._model_path == want


class _NoSecrets:
    def names(self) -> list[str]:
        return []

    def get(self, name: str) -> str | None:
        return None
