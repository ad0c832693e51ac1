"""The provider-neutral conversation: messages, tool calls, and what a provider must do.

The orchestrator keeps the conversation in these types; each provider translates them to its
wire format (OpenAI chat completions with `tools`, Anthropic messages with `tool_use` /
`tool_result` blocks, the local model's constrained JSON) and back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model asked for. `arguments` is the raw JSON text the model wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Message:
    """One turn. User and assistant turns carry `content`; an assistant turn may carry
    `tool_calls`; a tool turn answers one call (`tool_call_id`) with JSON `content`."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None  # the tool's name, on tool turns

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Message:
        return cls(
            role=doc["role"],
            content=doc.get("content", ""),
            tool_calls=tuple(
                ToolCall(c["id"], c["name"], c["arguments"]) for c in doc.get("tool_calls", [])
            ),
            tool_call_id=doc.get("tool_call_id"),
            name=doc.get("name"),
        )


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model sees it: name, description, JSON Schema of the arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class AssistantTurn:
    """What the model answered: text, tool calls, or both."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    model: str = ""
    provider: str = ""
    usage: dict[str, int] = field(default_factory=dict)


TextSink = Callable[[str], None]


class ChatProvider(Protocol):
    """An LLM behind native tool calling.

    `complete` sends the system prompt, the conversation and the tools, streams the answer's
    text to `on_text` as it arrives (if given), and returns the whole turn. It raises
    `citrate_agent.errors.ProviderError` with a `status` of `invalid_key`, `no_network`,
    `rate_limited`, `wrong_base_url`, `server_error`, `timeout`, `bad_response`,
    `bad_request` (another 4xx), `key_unavailable` (the stored key cannot be read),
    `not_installed` (the local runtime is missing) or `not_configured` (no provider at all).
    """

    name: str
    model: str

    def complete(
        self,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_text: TextSink | None = None,
    ) -> AssistantTurn: ...


__all__ = [
    "AssistantTurn",
    "ChatProvider",
    "Message",
    "Role",
    "TextSink",
    "ToolCall",
    "ToolSpec",
]
