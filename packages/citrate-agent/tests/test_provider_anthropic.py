"""AnthropicProvider against a local Anthropic wire-format TEST DOUBLE (tests/wire_servers.py)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import citrate_agent_tests_wire_servers as W  # registered by conftest.py
import pytest

from citrate_agent.errors import ProviderError
from citrate_agent.providers.anthropic_provider import AnthropicProvider, to_anthropic_messages
from citrate_agent.providers.base import Message, ToolCall, ToolSpec
from citrate_agent.schema import ADDRESS, AMOUNT, object_schema

KEY = "sk-ant-test-0123456789abcdefghijklmnopqrstuvwxyz0123456789"
SEND = ToolSpec(
    "send",
    "Send SALT to an address.",
    object_schema(
        {
            "to": {**ADDRESS, "description": "recipient"},
            "amount": {**AMOUNT, "description": "SALT"},
        },
        ["to", "amount"],
    ),
)


def _provider(server: Any, **kw: Any) -> AnthropicProvider:
    args: dict[str, Any] = {"timeout": 5.0, "max_retries": 0}
    args.update(kw)
    return AnthropicProvider(KEY, "claude-test", server.url, **args)


def test_streamed_text_and_exact_request(server: Any) -> None:
    server.push(W.anthropic_text_stream("Hel", "lo"))
    seen: list[str] = []
    turn = _provider(server).complete(
        "be brief", [Message("user", "hi")], [SEND], on_text=seen.append
    )
    assert turn.text == "Hello" and seen == ["Hel", "lo"]
    assert turn.provider == "anthropic" and turn.model == "claude-test"
    assert turn.usage == {"input_tokens": 11, "output_tokens": 7}
    req = server.requests[-1]
    assert req.method == "POST" and req.path == "/v1/messages"
    # The API documents x-api-key; anthropic 2.x also sends the key as a Bearer token. Both
    # go out, with the SDK's anthropic-version.
    assert req.headers["x-api-key"] == KEY
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["anthropic-version"]
    assert req.body["system"] == "be brief"
    assert req.body["max_tokens"] > 0 and req.body["stream"] is True
    assert req.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert req.body["tools"] == [
        {
            "name": "send",
            "description": "Send SALT to an address.",
            "input_schema": json.loads(json.dumps(SEND.parameters)),
        }
    ]


def test_base_url_with_v1_suffix_works_too(server: Any) -> None:
    server.push(W.anthropic_text_stream("ok"))
    p = AnthropicProvider(KEY, "claude-test", server.url + "/v1/", max_retries=0)
    assert p.complete("", [Message("user", "hi")], []).text == "ok"
    assert server.requests[-1].path == "/v1/messages"


def test_tool_use_input_json_deltas_are_joined(server: Any) -> None:
    to = "0x" + "cd" * 20
    server.push(
        W.anthropic_tool_stream(
            [
                ("toolu_1", "send", ['{"to": "', to, '", "amount"', ': "2"}']),
                ("toolu_2", "send", []),
            ],
            text="On it.",
        )
    )
    turn = _provider(server).complete("", [Message("user", "send 2")], [SEND])
    assert turn.text == "On it."
    assert turn.tool_calls[0] == ToolCall("toolu_1", "send", json.dumps({"to": to, "amount": "2"}))
    assert turn.tool_calls[1] == ToolCall("toolu_2", "send", "{}")


def test_roles_alternate_and_tool_results_merge() -> None:
    history = [
        Message("assistant", "hello"),  # a conversation may not start with the user
        Message("user", "pay two people"),
        Message(
            "assistant",
            "",
            tool_calls=(ToolCall("a", "send", '{"amount": "1"}'), ToolCall("b", "send", "junk")),
        ),
        Message("tool", '{"ok": true}', tool_call_id="a", name="send"),
        Message("tool", '{"error": {"message": "no"}}', tool_call_id="b", name="send"),
        Message("user", "thanks"),
        Message("assistant", "", tool_calls=(ToolCall("c", "send", "{}"),)),
        Message("user", "never mind"),  # c's result is missing
    ]
    turns = to_anthropic_messages(history)
    roles = [t["role"] for t in turns]
    assert roles[0] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles))
    assert turns[0]["content"] == [{"type": "text", "text": "(conversation start)"}]
    merged = turns[4]["content"]
    assert [b["type"] for b in merged] == ["tool_result", "tool_result", "text"]
    assert merged[0] == {
        "type": "tool_result",
        "tool_use_id": "a",
        "content": '{"ok": true}',
        "is_error": False,
    }
    assert merged[1]["is_error"] is True
    assert turns[3]["content"][1]["input"] == {}  # unparsable arguments become {}
    last = turns[-1]["content"]
    assert (
        last[0]["type"] == "tool_result" and last[0]["tool_use_id"] == "c" and last[0]["is_error"]
    )
    assert last[1] == {"type": "text", "text": "never mind"}


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (
            lambda: W.anthropic_error(401, "authentication_error", f"invalid x-api-key {KEY}"),
            "invalid_key",
        ),
        (
            lambda: W.anthropic_error(429, "rate_limit_error", "slow", {"retry-after": "3"}),
            "rate_limited",
        ),
        (lambda: W.anthropic_error(529, "overloaded_error", "busy"), "server_error"),
        (lambda: W.anthropic_error(500, "api_error", "boom"), "server_error"),
        (lambda: W.anthropic_error(404, "not_found_error", "model: claude-test"), "wrong_base_url"),
        (lambda: W.Raw(b"<!doctype html><title>404</title>", status=404), "wrong_base_url"),
        (lambda: W.anthropic_error(400, "invalid_request_error", "bad"), "bad_request"),
        (lambda: W.Sse([("message_start", "{broken")]), "bad_response"),
        (lambda: W.anthropic_text_stream("part", truncate=True), "bad_response"),
    ],
)
def test_errors_are_classified_without_the_key(server: Any, reply: Any, status: str) -> None:
    server.push(reply())
    with pytest.raises(ProviderError) as caught:
        _provider(server).complete("", [Message("user", "hi")], [SEND])
    assert caught.value.status == status
    assert KEY not in str(caught.value) and KEY[8:30] not in str(caught.value)
    if status == "rate_limited":
        assert "3 s" in str(caught.value)


def test_timeout(server: Any) -> None:
    server.push(W.Hang())
    with pytest.raises(ProviderError) as caught:
        _provider(server, timeout=0.5).complete("", [Message("user", "hi")], [])
    assert caught.value.status == "timeout"


def test_missing_key_is_refused_before_any_request() -> None:
    with pytest.raises(ProviderError) as caught:
        AnthropicProvider("", "claude-test")
    assert caught.value.status == "invalid_key"
