"""API key validation with a real request, and the shared classification of provider failures.

`validate_key` lists the provider's models (OpenAI and OpenAI-compatible servers:
`GET {base}/models` with `Authorization: Bearer`; Anthropic: `GET /v1/models` with the key and
`anthropic-version` headers exactly as the installed SDK sends them — anthropic 2.x sends the
key as `Authorization: Bearer`, older SDKs as `x-api-key`), through the official SDKs, and
classifies the answer into a `KeyStatus`. A model list proves the key, the base URL and the
network at once, costs nothing, and depends on no particular model name (the earlier product
sent a chat request naming a model that was later retired, so a good key could "fail").

The last status per provider is kept in `DATA_DIR/agent/provider-status.json` (0600, written
atomically) with its timestamp; the key itself is never written there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from citrate_agent.config import agent_dir
from citrate_agent.errors import AgentError, ProviderError
from citrate_crypto._files import atomic_write, ensure_private_dir

if TYPE_CHECKING:
    import httpx2

# The SDKs are imported where they are used: `citrate` loads this module for every command
# (through `citrate agent providers`), and the two SDKs take seconds to import.

STATUS_FILE = "provider-status.json"
OPENAI_BASE_URL = "https://api.openai.com/v1"
#: The Anthropic SDK's convention: the host only; the SDK adds `/v1/messages`, `/v1/models`.
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
#: OpenAI-compatible servers (Ollama, LM Studio, vLLM, the node's /v1) often need no key, but
#: the OpenAI SDK refuses to start without one; this placeholder is what they then receive.
NO_KEY_PLACEHOLDER = "not-needed"
KEYED_PROVIDERS = ("openai", "anthropic", "openai-compatible")

KeyState = Literal[
    "valid", "invalid_key", "no_network", "rate_limited", "wrong_base_url", "server_error"
]

_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-*.]{6,}|xai-[A-Za-z0-9_\-*.]{6,})")


@dataclass(frozen=True)
class KeyStatus:
    """The outcome of one validation request.

    Attributes:
        provider: "openai", "anthropic" or "openai-compatible".
        state: valid | invalid_key | no_network | rate_limited | wrong_base_url | server_error.
        detail: what happened, in words (never the key).
        checked_at: when, ISO 8601 UTC.
        base_url: the base URL that was asked.
    """

    provider: str
    state: KeyState
    detail: str
    checked_at: str
    base_url: str

    @property
    def ok(self) -> bool:
        return self.state == "valid"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def default_base_url(provider: str) -> str:
    """The base URL a provider uses when none is configured (the SDK's own convention)."""
    if provider == "anthropic":
        return ANTHROPIC_BASE_URL
    return OPENAI_BASE_URL


def redact(text: str, secret: str | None) -> str:
    """`text` with the secret, and anything shaped like an API key, replaced by `[redacted]`.

    Servers echo (partly masked) keys in error messages; none of it may reach the user's screen,
    the model, or a log.
    """
    if secret and len(secret) >= 4:
        text = text.replace(secret, "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)


def server_detail(body: object, secret: str | None = None, limit: int = 240) -> str:
    """The server's own error message from an SDK error body, redacted and shortened."""
    message: object = None
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            message = inner.get("message")
        elif isinstance(inner, str):
            message = inner
        if message is None:
            message = body.get("message")
    elif isinstance(body, str):
        message = "an HTML page" if _looks_like_html(body) else body
    if not isinstance(message, str) or not message.strip():
        return ""
    text = " ".join(redact(message, secret).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype", "<html")) or "<body" in head


def _retry_after(response: httpx2.Response | None) -> str:
    if response is None:
        return ""
    value = response.headers.get("retry-after")
    return f"; the server asks to wait {value} s" if value else ""


def http_status_state(code: int) -> str:
    """Map an HTTP status code to a provider error status."""
    if code in (401, 403):
        return "invalid_key"
    if code == 404:
        return "wrong_base_url"
    if code == 408:
        return "timeout"
    if code == 429:
        return "rate_limited"
    if code >= 500:
        return "server_error"
    return "bad_request"


def provider_error(
    provider: str,
    exc: BaseException,
    *,
    key: str | None,
    base_url: str,
    model: str | None = None,
    timeout: float | None = None,
) -> ProviderError:
    """Translate an OpenAI/Anthropic SDK or transport exception into a `ProviderError`.

    The message names the base URL and model where they matter and never contains the key.
    """
    import anthropic
    import httpx2
    import openai

    if isinstance(exc, ProviderError):
        return exc
    settings_hint = f"`citrate agent providers set {provider} --base-url URL --model NAME`"
    if isinstance(
        exc, openai.APITimeoutError | anthropic.APITimeoutError | httpx2.TimeoutException
    ):
        after = f" after {timeout:g} s" if timeout else ""
        return ProviderError(
            provider,
            f"`{base_url}` did not answer in time{after}",
            status="timeout",
            hint="try again; if it keeps happening the service is overloaded or unreachable",
        )
    if isinstance(
        exc, openai.APIConnectionError | anthropic.APIConnectionError | httpx2.TransportError
    ):
        return ProviderError(
            provider,
            f"cannot connect to `{base_url}` ({_cause(exc)})",
            status="no_network",
            hint="check the network connection and the base URL "
            "(`citrate agent providers list` shows it)",
        )
    if isinstance(exc, openai.APIStatusError | anthropic.APIStatusError):
        code = exc.status_code
        state = http_status_state(code)
        detail = server_detail(exc.body, key) or server_detail(_text(exc.response), key)
        said = f": {detail}" if detail else ""
        if state == "invalid_key":
            return ProviderError(
                provider,
                f"the API key was rejected (HTTP {code}){said}",
                status=state,
                hint=f"store a working key: `citrate agent providers set-key {provider}`",
            )
        if state == "rate_limited":
            return ProviderError(
                provider,
                f"rate limited or out of quota (HTTP 429){said}{_retry_after(exc.response)}",
                status=state,
                hint="wait and try again, or check the account's plan and billing",
            )
        if state == "wrong_base_url":
            which = f" or the model `{model}`" if model else ""
            return ProviderError(
                provider,
                f"`{base_url}` answered 404 Not Found: the base URL{which} is wrong{said}",
                status=state,
                hint=f"check the base URL and model name: {settings_hint}",
            )
        if state == "server_error":
            return ProviderError(
                provider,
                f"the service failed (HTTP {code}){said}{_retry_after(exc.response)}",
                status=state,
                hint="try again later; the fault is on the provider's side",
            )
        if state == "timeout":
            return ProviderError(
                provider, f"the request timed out at the server (HTTP 408){said}", status=state
            )
        return ProviderError(
            provider,
            f"the request was refused (HTTP {code}){said}",
            status="bad_request",
            hint=f"check the model name and settings: {settings_hint}",
        )
    if isinstance(
        exc,
        openai.APIResponseValidationError
        | anthropic.APIResponseValidationError
        | ValueError
        | KeyError
        | TypeError
        | AttributeError,
    ):
        return ProviderError(
            provider,
            f"`{base_url}` sent an answer that is not valid {_wire(provider)} "
            f"({type(exc).__name__})",
            status="bad_response",
            hint=f"check that the base URL points at an {_wire(provider)} API: {settings_hint}",
        )
    if isinstance(exc, openai.OpenAIError | anthropic.AnthropicError):
        # Streaming errors sent in-band (an `error` event) and SDK-side failures.
        text = redact(str(exc), key)
        return ProviderError(provider, f"the request failed: {text[:240]}", status="server_error")
    raise exc


def _wire(provider: str) -> str:
    return "Anthropic" if provider == "anthropic" else "OpenAI-format"


def _cause(exc: BaseException) -> str:
    inner = exc.__cause__ or exc.__context__
    return type(inner).__name__ if inner is not None else type(exc).__name__


def _text(response: httpx2.Response | None) -> str:
    import httpx2

    if response is None:
        return ""
    try:
        return response.text
    except (httpx2.HTTPError, UnicodeDecodeError, RuntimeError):
        return ""


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def validate_key(
    provider: str,
    api_key: str | None,
    base_url: str | None = None,
    timeout: float = 10.0,
) -> KeyStatus:
    """Check a key (and base URL) with a real request that lists the provider's models.

    Args:
        provider: "openai", "anthropic" or "openai-compatible".
        api_key: the key; optional for "openai-compatible" (local servers often need none).
        base_url: None for the provider's default (OpenAI `https://api.openai.com/v1`,
            Anthropic `https://api.anthropic.com`; the SDK adds `/v1/models`).
        timeout: seconds for the whole request.

    Returns:
        The classified `KeyStatus`; failures are states, not exceptions.

    Raises:
        AgentError: for an unknown provider, or a missing key/base URL where one is required.
    """
    if provider not in KEYED_PROVIDERS:
        raise AgentError(
            f"`{provider}` has no API key to validate",
            hint=f"use one of {', '.join(KEYED_PROVIDERS)}",
        )
    if provider == "openai-compatible" and not base_url:
        raise AgentError(
            "the openai-compatible provider has no base URL",
            hint="set one: `citrate agent providers set openai-compatible --base-url "
            "http://127.0.0.1:11434/v1 --model NAME`",
        )
    if provider != "openai-compatible" and not api_key:
        raise AgentError(
            f"no API key for `{provider}`", hint=f"`citrate agent providers set-key {provider}`"
        )
    base = (base_url or default_base_url(provider)).rstrip("/")
    try:
        count = _list_models(provider, api_key, base, timeout)
    except Exception as exc:  # classified below; anything unknown is re-raised there
        error = provider_error(provider, exc, key=api_key, base_url=base, timeout=timeout)
        state: KeyState
        if error.status in ("timeout", "no_network"):
            state = "no_network"
        elif error.status == "bad_response":
            state = "wrong_base_url"
        elif error.status in ("invalid_key", "rate_limited", "wrong_base_url", "server_error"):
            state = error.status  # type: ignore[assignment]
        else:
            state = "server_error"
        return KeyStatus(provider, state, error.message, _now(), base)
    return KeyStatus(
        provider,
        "valid",
        f"`{base}` accepted the key and lists {count} model(s)",
        _now(),
        base,
    )


def _list_models(provider: str, api_key: str | None, base: str, timeout: float) -> int:
    """List models; return how many. Raises SDK errors, or ValueError for a non-API answer."""
    import anthropic
    import openai

    if provider == "anthropic":
        aclient = anthropic.Anthropic(
            api_key=api_key,
            base_url=base,
            timeout=timeout,
            max_retries=0,
            default_headers={"x-api-key": api_key or ""},  # see AnthropicProvider
        )
        with aclient:
            raw_a = aclient.models.with_raw_response.list(limit=100)
            return _count_models(raw_a.http_response)
    oclient = openai.OpenAI(
        api_key=api_key or NO_KEY_PLACEHOLDER, base_url=base, timeout=timeout, max_retries=0
    )
    with oclient:
        raw_o = oclient.models.with_raw_response.list()
        return _count_models(raw_o.http_response)


def _count_models(response: httpx2.Response) -> int:
    # A captive portal, a web server or the wrong path can answer 200 with HTML; only a JSON
    # object with a `data` list is a model list.
    try:
        doc = json.loads(response.text)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ValueError("no `data` list")
    return len(doc["data"])


# --------------------------------------------------------------------------- status record


def status_path(data_dir: str | Path | None = None) -> Path:
    """`DATA_DIR/agent/provider-status.json`."""
    return agent_dir(data_dir) / STATUS_FILE


def load_statuses(data_dir: str | Path | None = None) -> dict[str, KeyStatus]:
    """The last validation status per provider (empty when none was recorded).

    The file is only a record of past checks: an unreadable one is treated as empty and
    replaced by the next validation, rather than blocking the agent.
    """
    try:
        doc = json.loads(status_path(data_dir).read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, KeyStatus] = {}
    if not isinstance(doc, dict):
        return out
    for name, raw in doc.items():
        try:
            out[name] = KeyStatus(
                provider=name,
                state=raw["state"],
                detail=str(raw["detail"]),
                checked_at=str(raw["checked_at"]),
                base_url=str(raw["base_url"]),
            )
        except (KeyError, TypeError):
            continue
    return out


def save_status(status: KeyStatus, data_dir: str | Path | None = None) -> Path:
    """Record `status` as the provider's last validation (0600, atomic); return the path."""
    path = status_path(data_dir)
    ensure_private_dir(path.parent)
    doc = {name: s.to_json() for name, s in load_statuses(data_dir).items()}
    doc[status.provider] = status.to_json()
    atomic_write(path, json.dumps(doc, indent=2, sort_keys=True).encode())
    return path


def validate_and_record(
    provider: str,
    api_key: str | None,
    base_url: str | None = None,
    timeout: float = 10.0,
    data_dir: str | Path | None = None,
) -> KeyStatus:
    """`validate_key`, then `save_status`; return the status."""
    status = validate_key(provider, api_key, base_url, timeout)
    save_status(status, data_dir)
    return status


__all__ = [
    "ANTHROPIC_BASE_URL",
    "KEYED_PROVIDERS",
    "NO_KEY_PLACEHOLDER",
    "OPENAI_BASE_URL",
    "STATUS_FILE",
    "KeyState",
    "KeyStatus",
    "default_base_url",
    "http_status_state",
    "load_statuses",
    "provider_error",
    "redact",
    "save_status",
    "server_detail",
    "status_path",
    "validate_and_record",
    "validate_key",
]
