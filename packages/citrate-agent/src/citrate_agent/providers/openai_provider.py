"""OpenAI chat completions with native tool calling, streamed, through the official SDK.

Serves OpenAI itself and any OpenAI-compatible server (the node's `/v1`, Ollama, LM Studio,
vLLM): the base URL is the one that ends in `/v1`, as the SDK expects. The conversation is
translated to the chat format (assistant `tool_calls`, `tool` role results); the answer is
streamed, its text passed to `on_text` as it arrives, and tool-call deltas (which arrive split
across chunks: id and name first, then the arguments in pieces) are put back together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openai

from citrate_agent.errors import ProviderError
from citrate_agent.providers._sdk import SdkProvider
from citrate_agent.providers.base import AssistantTurn, Message, TextSink, ToolCall, ToolSpec
from citrate_agent.providers.validation import NO_KEY_PLACEHOLDER, OPENAI_BASE_URL


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


class OpenAIProvider(SdkProvider):
    """A `ChatProvider` over the OpenAI chat completions API.

    Args:
        api_key: the key; None or "" for OpenAI-compatible servers that need none (the SDK
            insists on one, so they receive a placeholder).
        model: the model name the server serves.
        base_url: None for `https://api.openai.com/v1`; for compatible servers, their `/v1` URL.
            The environment (`OPENAI_BASE_URL`, `OPENAI_API_KEY`) is never consulted.
        timeout: seconds for connecting and between streamed chunks.
        max_retries: SDK retries of connection errors, 408/409/429/5xx (0 or 1: the fallback to
            the next provider is better than a long wait).
        name: the provider name used in errors and turns ("openai" or "openai-compatible").
    """

    def __init__(
        self,
        api_key: str | None,
        model: str,
        base_url: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 1,
        name: str = "openai",
    ) -> None:
        super().__init__(name, api_key, model, (base_url or OPENAI_BASE_URL).rstrip("/"), timeout)
        self._client = openai.OpenAI(
            api_key=api_key or NO_KEY_PLACEHOLDER,
            base_url=self.base_url,
            timeout=self.http_timeout(timeout),
            max_retries=self.retries(max_retries),
        )

    def _open_stream(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> Any:
        # Only OpenAI itself is sure to accept stream_options; some compatible servers reject it.
        official = self.base_url == OPENAI_BASE_URL
        return self._client.chat.completions.create(
            model=self.model,
            messages=to_openai_messages(system, messages),
            stream=True,
            tools=to_openai_tools(tools) if tools else openai.omit,
            stream_options={"include_usage": True} if official else openai.omit,
        )

    def _read(self, stream: Any, on_text: TextSink | None) -> AssistantTurn:
        text: list[str] = []
        calls: dict[int, _PartialCall] = {}
        finish: str | None = None
        model = self.model
        usage: dict[str, int] = {}
        for chunk in stream:
            model = getattr(chunk, "model", None) or model
            if getattr(chunk, "usage", None) is not None:
                usage = {
                    "input_tokens": int(chunk.usage.prompt_tokens or 0),
                    "output_tokens": int(chunk.usage.completion_tokens or 0),
                }
            for choice in chunk.choices or ():
                if choice.index not in (0, None):
                    continue
                delta = choice.delta
                if delta is not None:
                    if delta.content:
                        text.append(delta.content)
                        if on_text is not None:
                            on_text(delta.content)
                    for tc in delta.tool_calls or ():
                        _merge_tool_delta(calls, tc)
                if choice.finish_reason:
                    finish = choice.finish_reason
        if finish is None:
            raise self.cut_off()
        tool_calls = tuple(
            ToolCall(
                id=c.id or f"call_{i}",
                name=c.name,
                arguments=c.arguments or "{}",
            )
            for i, c in sorted(calls.items())
            if c.name
        )
        if any(not c.name for c in calls.values()):
            raise ProviderError(
                self.name,
                "the answer contained a tool call without a tool name",
                status="bad_response",
            )
        return AssistantTurn(
            text="".join(text),
            tool_calls=tool_calls,
            model=model,
            provider=self.name,
            usage=usage,
        )


def _merge_tool_delta(calls: dict[int, _PartialCall], tc: Any) -> None:
    index = getattr(tc, "index", None)
    if index is None:
        # Some compatible servers omit the index: a new id starts a new call, else continue.
        if tc.id and (not calls or calls[max(calls)].id not in ("", tc.id)):
            index = len(calls)
        else:
            index = max(calls) if calls else 0
    part = calls.setdefault(int(index), _PartialCall())
    if tc.id and not part.id:
        part.id = tc.id
    function = getattr(tc, "function", None)
    if function is not None:
        if function.name and not part.name:
            part.name = function.name
        if function.arguments:
            part.arguments += function.arguments


def to_openai_tools(tools: Sequence[ToolSpec]) -> list[Any]:
    """Tools in the chat completions `tools` format (parameters = the JSON Schema)."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": plain_json(t.parameters),
            },
        }
        for t in tools
    ]


def to_openai_messages(system: str, messages: Sequence[Message]) -> list[Any]:
    """The conversation in chat completions format (a list of JSON objects)."""
    out: list[Any] = []
    if system:
        out.append({"role": "system", "content": system})
    for m in messages:
        if m.role == "user":
            out.append({"role": "user", "content": m.content})
        elif m.role == "assistant":
            entry: dict[str, Any] = {"role": "assistant", "content": m.content or None}
            if m.tool_calls:
                entry["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments or "{}"},
                    }
                    for c in m.tool_calls
                ]
            elif entry["content"] is None:
                entry["content"] = ""
            out.append(entry)
        else:
            out.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content})
    return out


def plain_json(value: Any) -> Any:
    """`value` with every mapping made a dict and every sequence a list (what JSON encodes)."""
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    return value


__all__ = ["OpenAIProvider", "plain_json", "to_openai_messages", "to_openai_tools"]
