"""Anthropic messages with native tool use, streamed, through the official SDK.

The system prompt goes in the top-level `system` parameter; tools carry `input_schema`;
assistant tool calls become `tool_use` blocks and their results `tool_result` blocks in the next
user turn. Anthropic requires strictly alternating user/assistant turns that start with a user
turn, and every `tool_use` answered by a `tool_result` in the very next turn; the translation
below guarantees both (consecutive tool results, and a user message that follows them, are
merged into one user turn — the earlier product sent them as separate turns and failed).

Base URL convention: the SDK's, `https://api.anthropic.com` (the SDK appends `/v1/messages`).
A base URL ending in `/v1` is accepted and the suffix dropped, so both spellings work.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anthropic

from citrate_agent.errors import ProviderError
from citrate_agent.providers._sdk import SdkProvider
from citrate_agent.providers.base import AssistantTurn, Message, TextSink, ToolCall, ToolSpec
from citrate_agent.providers.openai_provider import plain_json
from citrate_agent.providers.validation import ANTHROPIC_BASE_URL

DEFAULT_MAX_TOKENS = 4096


@dataclass
class _Block:
    kind: str
    id: str = ""
    name: str = ""
    text: str = ""


def anthropic_base_url(base_url: str | None) -> str:
    """The base URL in the SDK's convention (no trailing `/v1`)."""
    base = (base_url or ANTHROPIC_BASE_URL).rstrip("/")
    return base.removesuffix("/v1")


class AnthropicProvider(SdkProvider):
    """A `ChatProvider` over the Anthropic messages API.

    Args:
        api_key: the key, sent as the installed SDK sends it (anthropic 2.x: `Authorization:
            Bearer`; older SDKs: `x-api-key`). The environment is never consulted.
        model: e.g. "claude-3-5-haiku-latest".
        base_url: None for `https://api.anthropic.com`.
        timeout: seconds for connecting and between streamed events.
        max_retries: SDK retries (0 or 1).
        max_tokens: the answer's token limit (required by the API).
    """

    def __init__(
        self,
        api_key: str,
        model: str,
        base_url: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 1,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        if not api_key:
            raise ProviderError(
                "anthropic",
                "no API key is stored",
                status="invalid_key",
                hint="`citrate agent providers set-key anthropic`",
            )
        super().__init__("anthropic", api_key, model, anthropic_base_url(base_url), timeout)
        self.max_tokens = max_tokens
        self._client = anthropic.Anthropic(
            api_key=api_key,
            base_url=self.base_url,
            # The API documents `x-api-key`; this SDK sends the key as a Bearer token. Send
            # both, so the request authenticates whichever the server checks.
            default_headers={"x-api-key": api_key},
            timeout=self.http_timeout(timeout),
            max_retries=self.retries(max_retries),
        )

    def _open_stream(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> Any:
        return self._client.messages.create(
            model=self.model,
            max_tokens=self.max_tokens,
            system=system if system else anthropic.omit,
            messages=to_anthropic_messages(messages),
            tools=to_anthropic_tools(tools) if tools else anthropic.omit,
            stream=True,
        )

    def _read(self, stream: Any, on_text: TextSink | None) -> AssistantTurn:
        blocks: dict[int, _Block] = {}
        model = self.model
        usage: dict[str, int] = {}
        stopped = False
        for event in stream:
            kind = event.type
            if kind == "message_start":
                model = event.message.model or model
                if event.message.usage is not None:
                    usage["input_tokens"] = int(event.message.usage.input_tokens or 0)
            elif kind == "content_block_start":
                block = event.content_block
                if block.type == "tool_use":
                    blocks[event.index] = _Block("tool_use", id=block.id, name=block.name)
                elif block.type == "text":
                    blocks[event.index] = _Block("text", text=block.text or "")
                    if block.text and on_text is not None:
                        on_text(block.text)
                else:  # thinking and other blocks are not part of the answer
                    blocks[event.index] = _Block(block.type)
            elif kind == "content_block_delta":
                target = blocks.get(event.index)
                if target is None:
                    raise ValueError("a delta for a block that never started")
                delta = event.delta
                if delta.type == "text_delta":
                    target.text += delta.text
                    if on_text is not None:
                        on_text(delta.text)
                elif delta.type == "input_json_delta":
                    target.text += delta.partial_json
            elif kind == "message_delta":
                if event.usage is not None and event.usage.output_tokens is not None:
                    usage["output_tokens"] = int(event.usage.output_tokens)
            elif kind == "message_stop":
                stopped = True
        if not stopped:
            raise self.cut_off()
        text = "".join(b.text for _, b in sorted(blocks.items()) if b.kind == "text")
        calls = tuple(
            ToolCall(id=b.id, name=b.name, arguments=b.text or "{}")
            for _, b in sorted(blocks.items())
            if b.kind == "tool_use"
        )
        return AssistantTurn(
            text=text, tool_calls=calls, model=model, provider=self.name, usage=usage
        )


def to_anthropic_tools(tools: Sequence[ToolSpec]) -> list[Any]:
    """Tools in the messages API format (`input_schema` = the JSON Schema)."""
    return [
        {"name": t.name, "description": t.description, "input_schema": plain_json(t.parameters)}
        for t in tools
    ]


def to_anthropic_messages(messages: Sequence[Message]) -> list[Any]:
    """The conversation as strictly alternating user/assistant turns of content blocks.

    - Tool results (and a user message right after them) become one user turn, tool results
      first, as the API requires.
    - A `tool_use` whose result is missing gets an error `tool_result`, and a result whose
      call is not in the previous turn becomes plain text, so the API never rejects the turn.
    - The first turn is a user turn; consecutive turns of one role are merged.
    """
    turns: list[dict[str, Any]] = []
    pending: list[str] = []  # tool_use ids of the last assistant turn not yet answered

    def user_turn() -> list[dict[str, Any]]:
        if not turns or turns[-1]["role"] != "user":
            turns.append({"role": "user", "content": []})
        content: list[dict[str, Any]] = turns[-1]["content"]
        return content

    def close_pending() -> None:
        if pending:
            content = user_turn()
            for call_id in pending:
                content.insert(
                    _results_end(content),
                    {
                        "type": "tool_result",
                        "tool_use_id": call_id,
                        "content": json.dumps({"error": {"message": "no result was recorded"}}),
                        "is_error": True,
                    },
                )
            pending.clear()

    for m in messages:
        if m.role == "tool":
            content = user_turn()
            if m.tool_call_id in pending:
                pending.remove(m.tool_call_id)
                content.insert(
                    _results_end(content),
                    {
                        "type": "tool_result",
                        "tool_use_id": m.tool_call_id,
                        "content": m.content or "{}",
                        "is_error": _is_error(m.content),
                    },
                )
            else:
                label = m.name or m.tool_call_id or "a tool"
                content.append({"type": "text", "text": f"Result of {label}: {m.content}"})
        elif m.role == "user":
            close_pending()
            if m.content.strip():
                user_turn().append({"type": "text", "text": m.content})
        else:
            close_pending()
            if not turns:
                turns.append(
                    {"role": "user", "content": [{"type": "text", "text": "(conversation start)"}]}
                )
            if turns[-1]["role"] != "assistant":
                turns.append({"role": "assistant", "content": []})
            content = turns[-1]["content"]
            if m.content.strip():
                content.append({"type": "text", "text": m.content})
            for call in m.tool_calls:
                content.append(
                    {"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call)}
                )
                pending.append(call.id)
    close_pending()
    for turn in turns:
        if not turn["content"]:  # an empty message; the API refuses empty content
            turn["content"] = [{"type": "text", "text": "(empty)"}]
    return turns


def _results_end(content: list[dict[str, Any]]) -> int:
    """Where the next tool_result goes: after the other results, before any text."""
    index = 0
    while index < len(content) and content[index]["type"] == "tool_result":
        index += 1
    return index


def _input(call: ToolCall) -> dict[str, Any]:
    # The model wrote these arguments; if they were not a JSON object the tool already
    # answered with an error, and the API only accepts an object here.
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _is_error(content: str) -> bool:
    try:
        doc = json.loads(content)
    except ValueError:
        return False
    return isinstance(doc, dict) and "error" in doc


__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicProvider",
    "anthropic_base_url",
    "to_anthropic_messages",
    "to_anthropic_tools",
]
