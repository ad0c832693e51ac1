"""OpenAIProvider against a local OpenAI wire-format TEST DOUBLE (tests/wire_servers.py)."""

from __future__ import annotations

import json

import citrate_agent_tests_wire_servers as W  # registered by conftest.py
import pytest

from citrate_agent.errors import ProviderError
from citrate_agent.providers.base import Message, ToolCall, ToolSpec
from citrate_agent.providers.openai_provider import OpenAIProvider, to_openai_messages
from citrate_agent.schema import ADDRESS, AMOUNT, object_schema

KEY = "sk-test-abcdefghijklmnopqrstuvwxyz0123456789"
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
BALANCE = ToolSpec("balance", "The SALT balance.", object_schema({}))


def _provider(server: object, **kw: object) -> OpenAIProvider:
    args: dict[str, object] = {"timeout": 5.0, "max_retries": 0}
    args.update(kw)
    return OpenAIProvider(KEY, "gpt-test", f"{server.url}/v1", **args)  # type: ignore[attr-defined,arg-type]


def test_streamed_text_reaches_on_text_and_request_is_exact(server: object) -> None:
    server.push(W.openai_text_stream("Hel", "lo ", "there"))  # type: ignore[attr-defined]
    seen: list[str] = []
    turn = _provider(server).complete(
        "be brief", [Message("user", "hi")], [SEND, BALANCE], on_text=seen.append
    )
    assert turn.text == "Hello there"
    assert seen == ["Hel", "lo ", "there"]
    assert turn.tool_calls == ()
    assert turn.provider == "openai"
    req = server.requests[-1]  # type: ignore[attr-defined]
    assert req.method == "POST" and req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body["model"] == "gpt-test"
    assert req.body["stream"] is True
    assert req.body["messages"][0] == {"role": "system", "content": "be brief"}
    assert req.body["messages"][1] == {"role": "user", "content": "hi"}
    tools = {t["function"]["name"]: t for t in req.body["tools"]}
    assert tools["send"]["type"] == "function"
    assert tools["send"]["function"]["parameters"] == json.loads(json.dumps(SEND.parameters))
    assert tools["send"]["function"]["description"] == "Send SALT to an address."
    # stream_options is only for OpenAI itself; compatible servers may reject it.
    assert "stream_options" not in req.body


def test_tool_call_deltas_split_across_chunks_are_joined(server: object) -> None:
    to = "0x" + "ab" * 20
    server.push(  # type: ignore[attr-defined]
        W.openai_tool_stream(
            [
                ("call_1", "send", ['{"to": "', to, '", "amo', 'unt": "1.5"}']),
                ("call_2", "balance", ["{}"]),
            ],
            text="Sending.",
        )
    )
    turn = _provider(server).complete("", [Message("user", "send 1.5")], [SEND, BALANCE])
    assert turn.text == "Sending."
    assert turn.tool_calls == (
        ToolCall("call_1", "send", json.dumps({"to": to, "amount": "1.5"})),
        ToolCall("call_2", "balance", "{}"),
    )
    assert json.loads(turn.tool_calls[0].arguments) == {"to": to, "amount": "1.5"}


def test_conversation_with_tool_turns_is_translated(server: object) -> None:
    server.push(W.openai_text_stream("done"))  # type: ignore[attr-defined]
    history = [
        Message("user", "balance?"),
        Message("assistant", "", tool_calls=(ToolCall("c1", "balance", "{}"),)),
        Message("tool", '{"balance_salt": "5"}', tool_call_id="c1", name="balance"),
    ]
    _provider(server).complete("sys", history, [BALANCE])
    sent = server.requests[-1].body["messages"]  # type: ignore[attr-defined]
    assert sent[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "balance", "arguments": "{}"}}
        ],
    }
    assert sent[3] == {"role": "tool", "tool_call_id": "c1", "content": '{"balance_salt": "5"}'}
    assert to_openai_messages("", [Message("assistant", "")]) == [
        {"role": "assistant", "content": ""}
    ]


def test_compatible_server_without_key_gets_placeholder(server: object) -> None:
    server.push(W.openai_text_stream("ok"))  # type: ignore[attr-defined]
    p = OpenAIProvider(None, "llama3", f"{server.url}/v1", name="openai-compatible", max_retries=0)  # type: ignore[attr-defined]
    turn = p.complete("", [Message("user", "hi")], [])
    assert turn.text == "ok" and turn.provider == "openai-compatible"
    req = server.requests[-1]  # type: ignore[attr-defined]
    assert req.headers["authorization"] == "Bearer not-needed"
    assert "tools" not in req.body


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (lambda: W.openai_error(401, f"Incorrect API key provided: {KEY}"), "invalid_key"),
        (lambda: W.openai_error(429, "slow down", {"retry-after": "7"}), "rate_limited"),
        (lambda: W.openai_error(500, "boom"), "server_error"),
        (lambda: W.openai_error(404, "The model `gpt-test` does not exist"), "wrong_base_url"),
        (lambda: W.Raw(b"<html><body>Not here</body></html>", status=404), "wrong_base_url"),
        (lambda: W.openai_error(400, "bad tools"), "bad_request"),
        (lambda: W.Sse([(None, "{not json")]), "bad_response"),
        (lambda: W.openai_text_stream("partial", truncate=True), "bad_response"),
    ],
)
def test_errors_are_classified_without_the_key(server: object, reply: object, status: str) -> None:
    server.push(reply())  # type: ignore[attr-defined,operator]
    with pytest.raises(ProviderError) as caught:
        _provider(server).complete("", [Message("user", "hi")], [SEND])
    assert caught.value.status == status
    assert caught.value.provider == "openai"
    assert KEY not in str(caught.value)
    assert KEY[10:30] not in str(caught.value)
    if status == "rate_limited":
        assert "7 s" in str(caught.value)


def test_timeout(server: object) -> None:
    server.push(W.Hang())  # type: ignore[attr-defined]
    with pytest.raises(ProviderError) as caught:
        _provider(server, timeout=0.5).complete("", [Message("user", "hi")], [])
    assert caught.value.status == "timeout"


def test_no_network_on_a_closed_port(closed_url: str) -> None:
    p = OpenAIProvider(KEY, "gpt-test", f"{closed_url}/v1", max_retries=0)
    with pytest.raises(ProviderError) as caught:
        p.complete("", [Message("user", "hi")], [])
    assert caught.value.status == "no_network"
    assert KEY not in str(caught.value)
    assert KEY not in repr(p)


def test_one_retry_recovers_from_a_500(server: object) -> None:
    server.push(W.openai_error(500, "blip"), W.openai_text_stream("fine"))  # type: ignore[attr-defined]
    turn = _provider(server, max_retries=1).complete("", [Message("user", "hi")], [])
    assert turn.text == "fine"
    assert len(server.requests) == 2  # type: ignore[attr-defined]


def test_environment_is_never_consulted(server: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-should-not-be-used-000000")
    server.push(W.openai_text_stream("ok"))  # type: ignore[attr-defined]
    assert _provider(server).complete("", [Message("user", "hi")], []).text == "ok"
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"  # type: ignore[attr-defined]
