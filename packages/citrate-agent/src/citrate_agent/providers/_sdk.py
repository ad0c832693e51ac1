"""What the SDK-backed providers (OpenAI, Anthropic) share: settings checks, the HTTP client's
timeouts and retries, closing, and the translation of every SDK failure into a `ProviderError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx2

from citrate_agent.errors import ProviderError
from citrate_agent.providers.base import AssistantTurn, Message, TextSink, ToolSpec
from citrate_agent.providers.validation import provider_error


class SdkProvider(ABC):
    """Base of `OpenAIProvider` and `AnthropicProvider`.

    Subclasses set `_client` (the SDK's client) and implement `_open_stream` (the streaming
    request in their wire format) and `_read` (the stream back into an `AssistantTurn`).
    """

    _client: Any

    def __init__(
        self, name: str, api_key: str | None, model: str, base_url: str, timeout: float
    ) -> None:
        if not model:
            raise ProviderError(
                name,
                "no model name is configured",
                status="bad_request",
                hint=f"`citrate agent providers set {name} --model NAME`",
            )
        self.name = name
        self.model = model
        self.base_url = base_url
        self.timeout = timeout
        self._key = api_key or None

    def __repr__(self) -> str:  # never the key
        return (
            f"{type(self).__name__}(name={self.name!r}, model={self.model!r}, "
            f"base={self.base_url!r})"
        )

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    def complete(
        self,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_text: TextSink | None = None,
    ) -> AssistantTurn:
        """Send the conversation and tools; stream the text to `on_text`; return the turn.

        Raises:
            ProviderError: status invalid_key, no_network, rate_limited, wrong_base_url,
                server_error, timeout, bad_request or bad_response.
        """
        with self.mapped_errors():
            stream = self._open_stream(system, messages, tools)
            with stream:
                return self._read(stream, on_text)

    @abstractmethod
    def _open_stream(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> Any:
        """Start the streamed request in the provider's wire format."""

    @abstractmethod
    def _read(self, stream: Any, on_text: TextSink | None) -> AssistantTurn:
        """Turn the stream into a turn, passing text to `on_text` as it arrives."""

    @staticmethod
    def http_timeout(timeout: float) -> httpx2.Timeout:
        """`timeout` seconds between streamed chunks; at most 10 s to connect."""
        return httpx2.Timeout(timeout, connect=min(timeout, 10.0))

    @staticmethod
    def retries(max_retries: int) -> int:
        """0 or 1 SDK retries: falling back to the next provider beats a long wait."""
        return max(0, min(max_retries, 1))

    @contextmanager
    def mapped_errors(self) -> Iterator[None]:
        """Raise every SDK or transport failure inside as a `ProviderError` (never the key)."""
        try:
            yield
        except ProviderError:
            raise
        except Exception as exc:  # mapped; unknown exception types are re-raised
            raise provider_error(
                self.name,
                exc,
                key=self._key,
                base_url=self.base_url,
                model=self.model,
                timeout=self.timeout,
            ) from None

    def cut_off(self) -> ProviderError:
        """The error for a stream that closed before the server said the answer was complete."""
        return ProviderError(
            self.name,
            f"`{self.base_url}` ended the answer stream before it was complete",
            status="bad_response",
            hint="try again; if it repeats, the server or a proxy is cutting responses",
        )


__all__ = ["SdkProvider"]
